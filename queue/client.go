package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heraldhq/herald/dispatcher"
)

// Client defaults.
const (
	// DefaultMaxRetry is how many times a transiently failing job is
	// retried before it is given up: with the default back-off (5 s
	// doubling, capped at 10 min) eight retries span about 20 minutes.
	DefaultMaxRetry = 8
	// DefaultTimeout bounds one run of a job; a send is seconds, so a run
	// this long is stuck and is better retried.
	DefaultTimeout = 2 * time.Minute
	// DefaultEnqueueConcurrency is how many goroutines a large Enqueue
	// fans out over: each enqueue is one Redis round trip, and asynq was
	// measured at 80–94k tasks/s with 16–32 goroutines.
	DefaultEnqueueConcurrency = 16
)

// ClientConfig configures a Client. The zero value gives the defaults.
type ClientConfig struct {
	// MaxRetry is how many retries a job gets after transient failures
	// (0 = DefaultMaxRetry; use NoRetry for none). Snoozes do not count.
	MaxRetry int
	// Timeout bounds one run of a job (0 = DefaultTimeout); asynq keeps it
	// in whole seconds, so it is rounded up to at least one second.
	Timeout time.Duration
	// Concurrency is the number of goroutines a batch of jobs fans out
	// over (0 = DefaultEnqueueConcurrency).
	Concurrency int
	// Logger receives batch summaries with counts only (nil discards).
	Logger *slog.Logger
}

// NoRetry as ClientConfig.MaxRetry gives jobs no retry after a transient
// failure (snoozes still work).
const NoRetry = -1

// Client puts jobs on the queue; it implements dispatcher.Queue and is safe
// for concurrent use. It shares the Backend's connection, so it needs no
// Close of its own.
type Client struct {
	b           *Backend
	ac          *asynq.Client
	maxRetry    int
	timeout     time.Duration
	concurrency int
	log         *slog.Logger
}

var _ dispatcher.Queue = (*Client)(nil)

// NewClient returns a Client that enqueues onto b's queues.
func NewClient(b *Backend, cfg ClientConfig) *Client {
	c := &Client{
		b:           b,
		ac:          asynq.NewClientFromRedisClient(b.rdb),
		maxRetry:    cfg.MaxRetry,
		timeout:     cfg.Timeout,
		concurrency: cfg.Concurrency,
		log:         cfg.Logger,
	}
	switch {
	case c.maxRetry == 0:
		c.maxRetry = DefaultMaxRetry
	case c.maxRetry < 0:
		c.maxRetry = 0
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	// asynq stores the timeout in whole seconds and treats 0 as unset.
	c.timeout = max(time.Second, (c.timeout + time.Second - 1).Truncate(time.Second))
	if c.concurrency <= 0 {
		c.concurrency = DefaultEnqueueConcurrency
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Enqueue puts jobs on their channels' queues. A job whose task (same
// campaign, contact, channel and generation) is still in Redis is counted as
// Present, not as an error. Jobs are checked first, so an invalid job
// (unknown channel, missing ID) fails the call with EINVALID before anything
// is enqueued. A batch fans out over a bounded number of goroutines; on the
// first Redis error or when ctx ends the rest is abandoned and the counts of
// what was done are returned with the error. Jobs abandoned that way stay
// queued in the ledger, where the reconciler finds them.
func (c *Client) Enqueue(ctx context.Context, jobs ...dispatcher.Job) (dispatcher.EnqueueResult, error) {
	for _, j := range jobs {
		if err := validJob(j); err != nil {
			return dispatcher.EnqueueResult{}, err
		}
	}
	var enqueued, present atomic.Int64
	result := func() dispatcher.EnqueueResult {
		return dispatcher.EnqueueResult{Enqueued: int(enqueued.Load()), Present: int(present.Load())}
	}
	one := func(ctx context.Context, j dispatcher.Job) error {
		ok, err := c.enqueue(ctx, j)
		switch {
		case err != nil:
			return err
		case ok:
			enqueued.Add(1)
		default:
			present.Add(1)
		}
		return nil
	}

	workers := min(c.concurrency, len(jobs))
	if workers <= 1 {
		for _, j := range jobs {
			if err := ctx.Err(); err != nil {
				return result(), fmt.Errorf("enqueue: %w", err)
			}
			if err := one(ctx, j); err != nil {
				return result(), err
			}
		}
		return result(), nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				if err := one(ctx, jobs[i]); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r := result()
	if r.Enqueued+r.Present == len(jobs) {
		c.log.Debug("enqueued batch", "jobs", len(jobs), "enqueued", r.Enqueued, "present", r.Present)
		return r, nil
	}
	if err := context.Cause(ctx); err != nil {
		err = fmt.Errorf("enqueue batch of %d: %w", len(jobs), err)
		c.log.Warn("enqueue batch stopped", "jobs", len(jobs), "enqueued", r.Enqueued, "present", r.Present, "err", err)
		return r, err
	}
	// Unreachable: workers stop early only after a cancel with a cause.
	return r, fmt.Errorf("enqueue: stopped after %d of %d jobs", r.Enqueued+r.Present, len(jobs))
}

// enqueue adds one job; false means its task was already there.
func (c *Client) enqueue(ctx context.Context, j dispatcher.Job) (bool, error) {
	payload, err := EncodePayload(j)
	if err != nil {
		return false, err
	}
	opts := []asynq.Option{
		asynq.Queue(c.b.QueueName(j.Channel)),
		asynq.TaskID(TaskID(j)),
		// One spare retry: see retryHeadroom.
		asynq.MaxRetry(c.maxRetry + retryHeadroom),
		asynq.Timeout(c.timeout),
	}
	if !j.NotBefore.IsZero() {
		opts = append(opts, asynq.ProcessAt(j.NotBefore))
	}
	_, err = c.ac.EnqueueContext(ctx, asynq.NewTask(taskType(j.Channel), payload), opts...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
		return false, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("enqueue delivery %d: %w", j.DeliveryID, ctx.Err())
	}
	return false, fmt.Errorf("enqueue delivery %d: %w", j.DeliveryID, err)
}

// retryHeadroom is the retry asynq is given beyond herald's MaxRetry. asynq
// archives a task whose retries are used up whatever its handler returns, a
// snooze included; the worker enforces herald's limit itself, so with one
// spare retry a job snoozed on its last try (a provider's Retry-After, a
// paused campaign) is delayed, not archived.
const retryHeadroom = 1
