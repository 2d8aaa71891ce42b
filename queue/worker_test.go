package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heraldhq/herald/dispatcher"
)

func TestWorkerRunsExactJob(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		h := &scriptHandler{}
		startWorker(t, b, h, fastWorker())
		jobs := []dispatcher.Job{
			{CampaignID: 42, Channel: dispatcher.Email, Tries: 2, Items: []dispatcher.JobItem{{DeliveryID: 70, Generation: 3}, {DeliveryID: 75}}},
			{CampaignID: 42, Channel: dispatcher.SMS, Items: []dispatcher.JobItem{{DeliveryID: 71}}},
			{CampaignID: 43, Channel: dispatcher.File, Items: []dispatcher.JobItem{{DeliveryID: 80, Generation: 1}}},
		}
		if _, err := NewClient(b, ClientConfig{MaxRetry: 5}).Enqueue(context.Background(), jobs...); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "three jobs to run", func() bool { return len(h.Calls()) >= 3 })
		got := map[int64]dispatcher.Job{}
		for _, c := range h.Calls() {
			got[c.Job.Items[0].DeliveryID] = c.Job
		}
		for _, j := range jobs {
			want := j
			want.Retry, want.MaxRetry = 0, 5
			if !reflect.DeepEqual(got[j.Items[0].DeliveryID], want) {
				t.Errorf("handler got %+v, want %+v", got[j.Items[0].DeliveryID], want)
			}
		}
		waitFor(t, "the queues to empty", func() bool {
			for _, k := range Channels() {
				d := depthOf(t, b, k)
				if d.Pending+d.Active+d.Retry+d.Archived != 0 {
					return false
				}
			}
			return true
		})
		if n := len(h.Calls()); n != 3 {
			t.Errorf("handler ran %d times, want 3", n)
		}
	})
}

// TestSnoozeDoesNotUseRetries proves that a snooze is not a failure: the
// handler sees Retry 0 on every run. With no retries at all (NoRetry), a
// snooze must still delay the job rather than archive it: that is what the
// spare asynq retry is for.
func TestSnoozeDoesNotUseRetries(t *testing.T) {
	for _, tt := range []struct {
		name     string
		maxRetry int
		want     int
	}{
		{"default retries", 0, DefaultMaxRetry},
		{"no retries", NoRetry, 0},
		{"one retry", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, b *Backend) {
				snooze := &dispatcher.SnoozeError{After: 10 * time.Millisecond, Reason: "campaign paused"}
				h := &scriptHandler{results: []error{snooze, snooze, nil}}
				startWorker(t, b, h, fastWorker())
				if _, err := NewClient(b, ClientConfig{MaxRetry: tt.maxRetry}).Enqueue(context.Background(), testJob(dispatcher.Email, 1, 0)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the third run", func() bool { return len(h.Calls()) >= 3 })
				for i, c := range h.Calls() {
					if c.Job.Retry != 0 || c.Job.MaxRetry != tt.want {
						t.Errorf("run %d: Retry %d, MaxRetry %d; want 0, %d", i, c.Job.Retry, c.Job.MaxRetry, tt.want)
					}
				}
				waitFor(t, "the task to be done", func() bool {
					d := depthOf(t, b, dispatcher.Email)
					return d.Pending+d.Active+d.Retry+d.Archived == 0
				})
				if n := len(h.Calls()); n != 3 {
					t.Errorf("handler ran %d times, want 3", n)
				}
			})
		})
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		h := &scriptHandler{results: []error{
			errTransient,
			&dispatcher.SendError{Class: dispatcher.Transient, Code: "421"},
			fmt.Errorf("render: %w", context.DeadlineExceeded),
			nil,
		}}
		startWorker(t, b, h, fastWorker())
		if _, err := NewClient(b, ClientConfig{MaxRetry: 5}).Enqueue(context.Background(), testJob(dispatcher.SMS, 1, 0)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the fourth run", func() bool { return len(h.Calls()) >= 4 })
		for i, c := range h.Calls() {
			if c.Job.Retry != i || c.Job.MaxRetry != 5 {
				t.Errorf("run %d: Retry %d, MaxRetry %d; want %d, 5", i, c.Job.Retry, c.Job.MaxRetry, i)
			}
		}
		waitFor(t, "the task to be done", func() bool {
			d := depthOf(t, b, dispatcher.SMS)
			return d.Pending+d.Active+d.Retry+d.Archived == 0
		})
		if n := len(h.Calls()); n != 4 {
			t.Errorf("handler ran %d times, want 4", n)
		}
	})
}

// TestRetriesRunOutThenArchive checks that herald's MaxRetry, not asynq's
// (one higher), decides: MaxRetry 2 means three runs, then archive. It also
// checks that the error asynq keeps in Redis is the redacted summary.
func TestRetriesRunOutThenArchive(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		sendErr := fmt.Errorf("send delivery 1001: %w", &dispatcher.SendError{
			Class: dispatcher.Transient, Code: "451 4.7.1", Diagnostic: "<kari.nordmann@example.no>: greylisted, try later",
		})
		h := &scriptHandler{results: []error{sendErr}}
		startWorker(t, b, h, fastWorker())
		j := testJob(dispatcher.Email, 1, 0)
		if _, err := NewClient(b, ClientConfig{MaxRetry: 2}).Enqueue(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the task to be archived", func() bool { return depthOf(t, b, dispatcher.Email).Archived == 1 })
		calls := h.Calls()
		if len(calls) != 3 {
			t.Fatalf("handler ran %d times, want 3", len(calls))
		}
		for i, c := range calls {
			if c.Job.Retry != i || c.Job.MaxRetry != 2 {
				t.Errorf("run %d: Retry %d, MaxRetry %d", i, c.Job.Retry, c.Job.MaxRetry)
			}
		}
		info := archivedTask(t, b, dispatcher.Email)
		if want := "gave up: transient send failure 451 4.7.1"; info.LastErr != want {
			t.Errorf("stored error %q, want %q", info.LastErr, want)
		}
		raw, err := b.Redis().HGet(context.Background(), "asynq:{"+b.QueueName(dispatcher.Email)+"}:t:"+info.ID, "msg").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "kari") || strings.Contains(raw, "greylisted") {
			t.Errorf("the provider's diagnostic reached Redis: %q", raw)
		}
	})
}

func TestPermanentErrorIsArchivedAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		h := &scriptHandler{results: []error{&dispatcher.PermanentError{Err: errors.New("no sms channel configured in this worker")}}}
		startWorker(t, b, h, fastWorker())
		j := testJob(dispatcher.SMS, 1, 0)
		if _, err := NewClient(b, ClientConfig{}).Enqueue(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the task to be archived", func() bool { return depthOf(t, b, dispatcher.SMS).Archived == 1 })
		info := archivedTask(t, b, dispatcher.SMS)
		if info.State != asynq.TaskStateArchived || info.Retried != 0 {
			t.Errorf("task state %v after %d retries, want archived after 0", info.State, info.Retried)
		}
		if n := len(h.Calls()); n != 1 {
			t.Errorf("handler ran %d times, want 1", n)
		}
	})
}

func TestUnreadableTaskIsArchived(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		h := &scriptHandler{}
		startWorker(t, b, h, fastWorker())
		ac := asynq.NewClientFromRedisClient(b.Redis())
		q := asynq.Queue(b.QueueName(dispatcher.Email))
		for _, task := range []*asynq.Task{
			asynq.NewTask(taskType(dispatcher.Email), []byte(`{"email":"x@example.org"}`)),
			asynq.NewTask("send:fax", mustPayload(t, testJob(dispatcher.Email, 1, 0))),
			asynq.NewTask(taskType(dispatcher.Email), mustPayload(t, testJob(dispatcher.SMS, 1, 0))),
		} {
			if _, err := ac.EnqueueContext(context.Background(), task, q, asynq.MaxRetry(5)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "three tasks to be archived", func() bool { return depthOf(t, b, dispatcher.Email).Archived == 3 })
		if n := len(h.Calls()); n != 0 {
			t.Errorf("handler ran %d times for unreadable tasks", n)
		}
	})
}

// archivedTask returns the one archived task of channel k's queue.
func archivedTask(t *testing.T, b *Backend, k dispatcher.ChannelKind) *asynq.TaskInfo {
	t.Helper()
	ts, err := b.inspector.ListArchivedTasks(b.QueueName(k))
	if err != nil || len(ts) != 1 {
		t.Fatalf("archived tasks of %s: %v, %v; want one", k, ts, err)
	}
	if ts[0].State != asynq.TaskStateArchived {
		t.Errorf("task state %v, want archived", ts[0].State)
	}
	return ts[0]
}

func mustPayload(t *testing.T, j dispatcher.Job) []byte {
	t.Helper()
	p, err := EncodePayload(j)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHandlerPanicIsRetried(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		h := &scriptHandler{block: func(_ context.Context, n int) {
			if n == 0 {
				panic("kari.nordmann@example.no")
			}
		}}
		startWorker(t, b, h, fastWorker())
		if _, err := NewClient(b, ClientConfig{}).Enqueue(context.Background(), testJob(dispatcher.File, 1, 0)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the second run", func() bool { return len(h.Calls()) >= 2 })
		if c := h.Calls(); c[0].Job.Retry != 0 || c[1].Job.Retry != 1 {
			t.Errorf("runs saw Retry %d then %d, want 0 then 1", c[0].Job.Retry, c[1].Job.Retry)
		}
	})
}

func TestWorkerServesOnlyItsChannels(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		h := &scriptHandler{}
		cfg := fastWorker()
		cfg.Channels = map[dispatcher.ChannelKind]int{dispatcher.SMS: 1, dispatcher.Email: 0}
		startWorker(t, b, h, cfg)
		c := NewClient(b, ClientConfig{})
		if _, err := c.Enqueue(context.Background(), testJob(dispatcher.Email, 1, 0), testJob(dispatcher.SMS, 2, 0)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the sms job", func() bool { return len(h.Calls()) >= 1 })
		waitFor(t, "the sms queue to empty", func() bool { return depthOf(t, b, dispatcher.SMS).Pending+depthOf(t, b, dispatcher.SMS).Active == 0 })
		if c := h.Calls(); len(c) != 1 || c[0].Job.Channel != dispatcher.SMS {
			t.Errorf("handler calls %+v, want the sms job only", c)
		}
		if d := depthOf(t, b, dispatcher.Email); d.Pending != 1 {
			t.Errorf("email queue has %d pending, want 1 (not served)", d.Pending)
		}
	})
}

// logSignal is a slog handler that closes a channel when a message
// containing match is logged.
type logSignal struct {
	match string
	once  *sync.Once
	ch    chan struct{}
}

func newLogSignal(match string) logSignal {
	return logSignal{match: match, once: new(sync.Once), ch: make(chan struct{})}
}

func (l logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l logSignal) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, l.match) {
		l.once.Do(func() { close(l.ch) })
	}
	return nil
}
func (l logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logSignal) WithGroup(string) slog.Handler      { return l }

// TestGracefulShutdown cancels Run's context while a job runs: the job's
// context stays live, the job finishes and is acknowledged, and Run returns
// after that.
func TestGracefulShutdown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		started, release := make(chan struct{}), make(chan struct{})
		h := &scriptHandler{block: func(ctx context.Context, _ int) {
			close(started)
			<-release
		}}
		shuttingDown := newLogSignal("Waiting for all workers to finish")
		cfg := fastWorker()
		cfg.Logger = slog.New(shuttingDown)
		w := NewWorker(b, h, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()

		if _, err := NewClient(b, ClientConfig{}).Enqueue(context.Background(), testJob(dispatcher.Email, 1, 0)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(waitTimeout):
			t.Fatal("the job never started")
		}
		cancel()
		select {
		case <-shuttingDown.ch:
		case <-time.After(waitTimeout):
			t.Fatal("asynq never began its shutdown")
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) while a job was still running", err)
		default:
		}
		close(release)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return after the job finished")
		}
		c := h.Calls()
		if len(c) != 1 || c[0].CtxErr != nil {
			t.Fatalf("calls %+v: want one run whose context was not cancelled by the shutdown", c)
		}
		if d := depthOf(t, b, dispatcher.Email); d.Pending+d.Active+d.Retry+d.Archived != 0 {
			t.Errorf("after a graceful shutdown the queue holds %+v, want the job done", d)
		}
	})
}

// TestShutdownTimeoutRequeues: a job still running when ShutdownTimeout
// runs out has its context cancelled and goes back to pending, to run
// again in the next worker.
func TestShutdownTimeoutRequeues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		started := make(chan struct{})
		h := &scriptHandler{block: func(ctx context.Context, _ int) {
			close(started)
			<-ctx.Done()
		}}
		cfg := fastWorker()
		cfg.ShutdownTimeout = 100 * time.Millisecond
		stop := startWorker(t, b, h, cfg)
		if _, err := NewClient(b, ClientConfig{}).Enqueue(context.Background(), testJob(dispatcher.Email, 1, 0)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(waitTimeout):
			t.Fatal("the job never started")
		}
		stop()
		waitFor(t, "the handler to see its context end", func() bool {
			c := h.Calls()
			return len(c) == 1 && c[0].CtxErr != nil
		})
		if d := depthOf(t, b, dispatcher.Email); d.Pending != 1 || d.Active != 0 {
			t.Errorf("after the shutdown timeout the queue holds %+v, want the job pending again", d)
		}
	})
}

func TestWorkerRunRejects(t *testing.T) {
	b := newTestBackend(t, "")
	h := &scriptHandler{}
	tests := []struct {
		name string
		w    *Worker
	}{
		{"nil handler", NewWorker(b, nil, WorkerConfig{})},
		{"unknown channel", NewWorker(b, h, WorkerConfig{Channels: map[dispatcher.ChannelKind]int{"fax": 1}})},
		{"no channel", NewWorker(b, h, WorkerConfig{Channels: map[dispatcher.ChannelKind]int{dispatcher.Email: 0}})},
	}
	for _, tt := range tests {
		if err := tt.w.Run(context.Background()); err == nil {
			t.Errorf("%s: Run succeeded", tt.name)
		}
	}

	w := NewWorker(b, h, fastWorker())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, "the worker to be running", func() bool { return w.running.Load() })
	if err := w.Run(context.Background()); err == nil {
		t.Error("a second concurrent Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestOutcome(t *testing.T) {
	mid, last := false, true
	snooze := &dispatcher.SnoozeError{After: time.Minute, Reason: "quiet hours"}
	pii := &dispatcher.SendError{Class: dispatcher.Transient, Code: "452", Diagnostic: "mailbox of ola@example.no full"}
	tests := []struct {
		name       string
		lastTry    bool
		err        error
		summary    string
		skip       bool
		snooze     bool
		isFailure  bool
		skipsRetry bool // errors.Is(asynq.SkipRetry)
	}{
		{"transient", mid, pii, "transient send failure 452", false, false, true, false},
		{"transient on the last try", last, pii, "gave up: transient send failure 452", true, false, true, true},
		{"snooze", mid, snooze, "snoozed for 1m0s: quiet hours", false, true, false, false},
		{"snooze on the last try", last, fmt.Errorf("wrapped: %w", snooze), "snoozed for 1m0s: quiet hours", false, true, false, false},
		{"permanent", mid, &dispatcher.PermanentError{Err: &dispatcher.SendError{Class: dispatcher.Permanent, Code: "535", Diagnostic: "auth failed for ola"}}, "permanent: permanent send failure 535", true, false, true, true},
		{"permanent plain", mid, &dispatcher.PermanentError{Err: errors.New("ola")}, "permanent: error (*errors.errorString)", true, false, true, true},
		{"application error", mid, dispatcher.Errorf(dispatcher.ENOTFOUND, "contact ola@example.no"), "error notfound", false, false, true, false},
		{"plain error", mid, errors.New("dial tcp: ola@example.no"), "error (*errors.errorString)", false, false, true, false},
		{"timeout", mid, fmt.Errorf("x: %w", context.DeadlineExceeded), "timed out", false, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := outcome(tt.err, tt.lastTry)
			if out.Error() != tt.summary || out.skip != tt.skip || (out.snooze != nil) != tt.snooze {
				t.Errorf("outcome = %q skip=%v snooze=%v; want %q skip=%v snooze=%v", out.Error(), out.skip, out.snooze != nil, tt.summary, tt.skip, tt.snooze)
			}
			if strings.Contains(out.Error(), "ola") {
				t.Errorf("summary %q holds personal data", out.Error())
			}
			if got := isFailure(out); got != tt.isFailure {
				t.Errorf("isFailure = %v, want %v", got, tt.isFailure)
			}
			if got := errors.Is(out, asynq.SkipRetry); got != tt.skipsRetry {
				t.Errorf("errors.Is(SkipRetry) = %v, want %v", got, tt.skipsRetry)
			}
			if !errors.Is(out, tt.err) {
				t.Errorf("the handler's error is not in the chain")
			}
		})
	}
	if outcome(nil, mid) != nil {
		t.Error("outcome(nil) is not nil")
	}
}

func TestRetryDelay(t *testing.T) {
	w := NewWorker(nil, nil, WorkerConfig{RetryBase: 5 * time.Second, RetryCap: 10 * time.Minute})
	within := func(d, lo, hi time.Duration) bool { return d >= lo && d <= hi }
	for n, base := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second} {
		for range 50 {
			d := w.retryDelay(n, errTransient, nil)
			if !within(d, base*8/10, base*12/10) {
				t.Fatalf("retry %d: delay %s outside %s ±20%%", n, d, base)
			}
		}
	}
	for _, n := range []int{7, 8, 20, 61, 62, 63, 1000} {
		if d := w.retryDelay(n, errTransient, nil); !within(d, 8*time.Minute, 10*time.Minute) {
			t.Errorf("retry %d: delay %s, want capped near 10m", n, d)
		}
	}
	if d := w.retryDelay(5, &taskError{cause: &dispatcher.SnoozeError{After: 3 * time.Second}}, nil); d != 3*time.Second {
		t.Errorf("snooze delay %s, want 3s", d)
	}
	if d := w.retryDelay(0, &dispatcher.SnoozeError{After: -time.Second}, nil); d != 0 {
		t.Errorf("negative snooze delay %s, want 0", d)
	}
	if d := w.retryDelay(0, &dispatcher.SendError{Class: dispatcher.Transient, RetryAfter: time.Hour}, nil); d != time.Hour {
		t.Errorf("a provider's Retry-After of 1h gave %s", d)
	}
	if d := w.retryDelay(3, &dispatcher.SendError{Class: dispatcher.Transient, RetryAfter: time.Second}, nil); d < 30*time.Second {
		t.Errorf("a short Retry-After shortened the back-off to %s", d)
	}
}

func TestAsynqLogger(t *testing.T) {
	sig := newLogSignal("Starting processing")
	l := asynqLogger{slog.New(sig)}
	l.Info("Starting ", "processing")
	select {
	case <-sig.ch:
	default:
		t.Error("Info did not reach the slog handler")
	}
	l.Fatal("does not exit") // reaching the next line is the test
	if got := asynqLevel(slog.New(slog.NewTextHandler(nil, &slog.HandlerOptions{Level: slog.LevelWarn}))); got != asynq.WarnLevel {
		t.Errorf("asynqLevel = %v, want warn", got)
	}
	if got := asynqLevel(slog.New(slog.DiscardHandler)); got != asynq.ErrorLevel {
		t.Errorf("asynqLevel(discard) = %v, want error", got)
	}
}
