package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heraldhq/herald/dispatcher"
)

// Worker defaults.
const (
	// DefaultConcurrency is how many jobs a worker runs at once. Sends wait
	// on SMTP and HTTP, not on the CPU.
	DefaultConcurrency = 10
	// DefaultRetryBase is the first back-off after a transient failure; the
	// n-th retry waits RetryBase·2^n, ±20 %.
	DefaultRetryBase = 5 * time.Second
	// DefaultRetryCap caps the back-off.
	DefaultRetryCap = 10 * time.Minute
)

// WorkerConfig configures a Worker. The zero value serves every channel
// with the defaults.
type WorkerConfig struct {
	// Concurrency is how many jobs run at once (0 = DefaultConcurrency).
	Concurrency int
	// Channels are the channels served, with their weights: with email 3
	// and sms 1, and both queues full, three e-mail jobs are taken for each
	// SMS job. Nil serves every channel with weight 1. A worker pulls only
	// from the queues it was started with.
	Channels map[dispatcher.ChannelKind]int
	// StrictPriority takes jobs from a lower-weight channel only when every
	// higher-weight channel's queue is empty.
	StrictPriority bool
	// ShutdownTimeout is how long Run waits for running jobs once its
	// context ends; jobs still running then are put back on the queue and
	// will run again, so handlers must tolerate a second run (0 = asynq's 8 s).
	ShutdownTimeout time.Duration
	// RetryBase and RetryCap shape the back-off after a transient failure:
	// RetryBase·2^retry ±20 %, at most RetryCap (0 = DefaultRetryBase,
	// DefaultRetryCap). A provider's longer Retry-After wins.
	RetryBase time.Duration
	RetryCap  time.Duration
	// PollInterval is how long an idle worker waits before looking at its
	// queues again (0 = asynq's 1 s).
	PollInterval time.Duration
	// DelayedCheckInterval is how often retries and snoozes that are due are
	// moved back to their queue (0 = asynq's 5 s), so it is the precision
	// of back-offs and snoozes.
	DelayedCheckInterval time.Duration
	// Logger receives job outcomes (IDs, channel, retry counts and a
	// redacted error summary) and asynq's own messages (nil discards).
	Logger *slog.Logger
}

// Worker runs queued jobs with a dispatcher.Handler and maps the handler's
// result onto asynq (see the package documentation). Run it once per
// process for the channels it should serve.
type Worker struct {
	b       *Backend
	h       dispatcher.Handler
	cfg     WorkerConfig
	log     *slog.Logger
	running atomic.Bool
}

// NewWorker returns a worker that runs b's jobs with h. Nothing starts
// until Run.
func NewWorker(b *Backend, h dispatcher.Handler, cfg WorkerConfig) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryCap <= 0 {
		cfg.RetryCap = DefaultRetryCap
	}
	if cfg.Channels == nil {
		cfg.Channels = map[dispatcher.ChannelKind]int{}
		for _, k := range Channels() {
			cfg.Channels[k] = 1
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Worker{b: b, h: h, cfg: cfg, log: log}
}

// Run serves jobs until ctx ends, then shuts down gracefully: it stops
// taking jobs, waits up to ShutdownTimeout for running ones, and returns
// once asynq has shut down. Running handlers keep ctx's values but not its
// cancellation, so that a shutdown lets them finish a send rather than cut
// it in half. Run returns nil after a shutdown, or an error if the worker
// cannot start (bad configuration, Redis not answering, already running).
func (w *Worker) Run(ctx context.Context) error {
	if w.h == nil {
		return errors.New("queue worker: nil handler")
	}
	queues := map[string]int{}
	for k, weight := range w.cfg.Channels {
		if _, ok := channelCodes[k]; !ok {
			return dispatcher.Errorf(dispatcher.EINVALID, "queue worker: unknown channel %q: use email, sms or file", k)
		}
		if weight > 0 {
			queues[w.b.QueueName(k)] = weight
		}
	}
	if len(queues) == 0 {
		return dispatcher.Errorf(dispatcher.EINVALID, "queue worker: no channel to serve: give at least one channel a positive weight")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("queue worker: already running")
	}
	defer w.running.Store(false)
	if err := w.b.Ping(ctx); err != nil {
		return fmt.Errorf("start queue worker: %w", err)
	}

	base := context.WithoutCancel(ctx)
	srv := asynq.NewServer(w.b.connOpt, asynq.Config{
		Concurrency:              w.cfg.Concurrency,
		BaseContext:              func() context.Context { return base },
		Queues:                   queues,
		StrictPriority:           w.cfg.StrictPriority,
		IsFailure:                isFailure,
		RetryDelayFunc:           w.retryDelay,
		ShutdownTimeout:          w.cfg.ShutdownTimeout,
		TaskCheckInterval:        w.cfg.PollInterval,
		DelayedTaskCheckInterval: w.cfg.DelayedCheckInterval,
		HealthCheckFunc:          w.healthCheck,
		Logger:                   asynqLogger{w.log},
		LogLevel:                 asynqLevel(w.log),
	})
	if err := srv.Start(asynq.HandlerFunc(w.process)); err != nil {
		return fmt.Errorf("start queue worker: %w", err)
	}
	names := make([]string, 0, len(queues))
	for q := range queues {
		names = append(names, q)
	}
	slices.Sort(names)
	w.log.Info("queue worker started", "queues", names, "concurrency", w.cfg.Concurrency)
	<-ctx.Done()
	w.log.Info("queue worker stopping")
	srv.Shutdown()
	w.log.Info("queue worker stopped")
	return nil
}

func (w *Worker) healthCheck(err error) {
	if err != nil {
		w.log.Warn("queue redis health check failed", "err", err)
	}
}

// process is the asynq handler: it decodes the job, fills in its retry
// counts, runs the domain handler and turns its result into what asynq
// should do.
func (w *Worker) process(ctx context.Context, t *asynq.Task) (err error) {
	taskID, _ := asynq.GetTaskID(ctx)
	j, err := jobOf(t)
	if err != nil {
		w.log.Error("unreadable task archived", "task_id", taskID, "type", t.Type(), "err", err)
		return &taskError{summary: err.Error(), cause: err, skip: true}
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	j.Retry = retried
	j.MaxRetry = max(0, maxRetry-retryHeadroom)
	log := w.log.With("task_id", taskID, "campaign", j.CampaignID, "channel", string(j.Channel),
		"deliveries", len(j.Items), "first_delivery", j.Items[0].DeliveryID, "tries", j.Tries, "retry", j.Retry, "max_retry", j.MaxRetry)

	herr := w.handle(ctx, log, j)
	out := outcome(herr, j.Retry >= j.MaxRetry)
	switch {
	case herr == nil:
		log.Debug("job done")
		return nil
	case out.snooze != nil:
		if retried >= maxRetry {
			// Only after a crash on the spare retry: asynq will archive.
			log.Warn("job snoozed with no retry left; asynq archives it and the reconciler must pick it up", "after", out.snooze.After)
		} else {
			log.Debug("job snoozed", "after", out.snooze.After, "reason", out.snooze.Reason)
		}
	case out.skip:
		log.Warn("job failed, not retrying", "err", out.summary)
	default:
		log.Info("job failed, will retry", "err", out.summary)
	}
	return out
}

// handle runs the domain handler and turns a panic into an error, so that
// asynq's own panic message (which quotes the panic value) never reaches
// Redis. The stack trace is logged: it holds code positions, not data.
func (w *Worker) handle(ctx context.Context, log *slog.Logger, j dispatcher.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("job handler panicked", "stack", string(debug.Stack()))
			err = errHandlerPanic
		}
	}()
	return w.h.Handle(ctx, j)
}

// errHandlerPanic is what a panicking handler's job fails with: a transient
// error, so the job is retried like any other fault of ours.
var errHandlerPanic = errors.New("handler panicked")

// jobOf reads a herald task, checking that its type and payload agree.
func jobOf(t *asynq.Task) (dispatcher.Job, error) {
	k, ok := channelOfType(t.Type())
	if !ok {
		return dispatcher.Job{}, fmt.Errorf("%w: unknown task type", ErrBadPayload)
	}
	j, err := DecodePayload(t.Payload())
	if err != nil {
		return dispatcher.Job{}, err
	}
	if j.Channel != k {
		return dispatcher.Job{}, fmt.Errorf("%w: %s payload in a %s task", ErrBadPayload, j.Channel, k)
	}
	return j, nil
}

// taskError is what a failed job hands to asynq. asynq stores Error() in
// Redis as the task's last error, where asynqmon shows it, so it is a
// summary without the handler's words (which may quote an address); the
// handler's error stays reachable through Unwrap for IsFailure and the
// retry delay. skip adds asynq.SkipRetry: archive now.
type taskError struct {
	summary string
	cause   error
	skip    bool
	snooze  *dispatcher.SnoozeError
}

func (e *taskError) Error() string { return e.summary }

func (e *taskError) Unwrap() []error {
	if e.skip {
		return []error{e.cause, asynq.SkipRetry}
	}
	return []error{e.cause}
}

// outcome decides what asynq does with a job whose handler returned err
// (non-nil): archive a permanent failure or the last transient one
// (lastTry), snooze a snooze, retry anything else.
func outcome(err error, lastTry bool) *taskError {
	if err == nil {
		return nil
	}
	var perm *dispatcher.PermanentError
	if errors.As(err, &perm) {
		return &taskError{summary: "permanent: " + summarize(perm.Err), cause: err, skip: true}
	}
	var snooze *dispatcher.SnoozeError
	if errors.As(err, &snooze) {
		// Reason is herald's own words ("campaign paused"), not a provider's.
		return &taskError{summary: fmt.Sprintf("snoozed for %s: %s", snooze.After, snooze.Reason), cause: err, snooze: snooze}
	}
	if lastTry {
		return &taskError{summary: "gave up: " + summarize(err), cause: err, skip: true}
	}
	return &taskError{summary: summarize(err), cause: err}
}

// summarize describes err without its text: a send failure's class and
// provider code, an application error's code, a context error as itself,
// anything else by its Go type.
func summarize(err error) string {
	var se *dispatcher.SendError
	var ae *dispatcher.Error
	switch {
	case err == nil:
		return "unknown error"
	case errors.As(err, &se):
		if se.Code != "" {
			return fmt.Sprintf("%s send failure %s", se.Class, se.Code)
		}
		return fmt.Sprintf("%s send failure", se.Class)
	case errors.As(err, &ae):
		return "error " + ae.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, errHandlerPanic):
		return errHandlerPanic.Error()
	}
	return fmt.Sprintf("error (%T)", err)
}

// isFailure is asynq's Config.IsFailure: a snooze is not a failure, so it
// neither uses up a retry nor counts in the queue's failure statistics.
func isFailure(err error) bool {
	var snooze *dispatcher.SnoozeError
	return !errors.As(err, &snooze)
}

// retryDelay is asynq's Config.RetryDelayFunc: a snooze waits its After;
// anything else backs off exponentially, or waits a provider's Retry-After
// if that is longer.
func (w *Worker) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var snooze *dispatcher.SnoozeError
	if errors.As(err, &snooze) {
		return max(0, snooze.After)
	}
	d := dispatcher.Backoff(n, w.cfg.RetryBase, w.cfg.RetryCap)
	var se *dispatcher.SendError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = se.RetryAfter
	}
	return d
}
