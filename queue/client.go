package queue

import (
	"context"
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
	// DefaultMaxRetry is how many times a job whose handler failed as a
	// whole (the ledger did not answer) is run again before it is given
	// up: with the default back-off (5 s doubling, capped at 10 min) eight
	// retries span about 20 minutes. A delivery that fails on its own is
	// retried by the worker, which counts its tries in the job
	// (dispatcher.Worker.MaxRetry).
	DefaultMaxRetry = 8
	// DefaultTimeout bounds one run of a job: a batch of a hundred sends
	// takes seconds, so a run this long is stuck and is better retried.
	DefaultTimeout = 5 * time.Minute
	// DefaultEnqueueConcurrency is how many goroutines a large Enqueue
	// fans out over: each enqueue is one Redis round trip, and asynq was
	// measured at 80–94k tasks/s with 16–32 goroutines.
	DefaultEnqueueConcurrency = 16
)

// ClientConfig configures a Client. The zero value gives the defaults.
type ClientConfig struct {
	// MaxRetry is how many retries a job gets after its handler failed as
	// a whole (0 = DefaultMaxRetry; use NoRetry for none). Snoozes do not
	// count.
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

// Enqueue puts jobs on their channels' queues, one task per job, and
// returns how many it enqueued. Jobs are checked first, so an invalid job
// (unknown channel, no deliveries) fails the call with EINVALID before
// anything is enqueued. Many jobs fan out over a bounded number of
// goroutines; on the first Redis error or when ctx ends the rest is
// abandoned and the count of what was done is returned with the error.
// Jobs abandoned that way stay in the ledger, where the feeder and the
// reconciler find them.
func (c *Client) Enqueue(ctx context.Context, jobs ...dispatcher.Job) (int, error) {
	tasks := make([]*asynq.Task, len(jobs))
	for i, j := range jobs {
		payload, err := EncodePayload(j)
		if err != nil {
			return 0, err
		}
		tasks[i] = asynq.NewTask(taskType(j.Channel), payload)
	}
	var enqueued atomic.Int64
	one := func(ctx context.Context, i int) error {
		if err := c.enqueue(ctx, jobs[i], tasks[i]); err != nil {
			return err
		}
		enqueued.Add(1)
		return nil
	}
	workers := min(c.concurrency, len(jobs))
	if workers <= 1 {
		for i := range jobs {
			if err := ctx.Err(); err != nil {
				return int(enqueued.Load()), fmt.Errorf("enqueue: %w", err)
			}
			if err := one(ctx, i); err != nil {
				return int(enqueued.Load()), err
			}
		}
		return len(jobs), nil
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
				if err := one(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := int(enqueued.Load())
	if n == len(jobs) {
		c.log.Debug("enqueued jobs", "jobs", n)
		return n, nil
	}
	err := fmt.Errorf("enqueue %d jobs: %w", len(jobs), context.Cause(ctx))
	c.log.Warn("enqueue stopped", "jobs", len(jobs), "enqueued", n, "err", err)
	return n, err
}

// enqueue adds one job's task.
func (c *Client) enqueue(ctx context.Context, j dispatcher.Job, t *asynq.Task) error {
	opts := []asynq.Option{
		asynq.Queue(c.b.QueueName(j.Channel)),
		// One spare retry: see retryHeadroom.
		asynq.MaxRetry(c.maxRetry + retryHeadroom),
		asynq.Timeout(c.timeout),
	}
	if !j.NotBefore.IsZero() {
		// asynq schedules in whole seconds (the score is Unix seconds), so
		// a job held until 12:00:00.7 could run at 12:00:00.2 and find its
		// deliveries not yet due: round up.
		at := j.NotBefore.Truncate(time.Second)
		if at.Before(j.NotBefore) {
			at = at.Add(time.Second)
		}
		opts = append(opts, asynq.ProcessAt(at))
	}
	if _, err := c.ac.EnqueueContext(ctx, t, opts...); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("enqueue job of campaign %d (%d deliveries): %w", j.CampaignID, len(j.Items), err)
	}
	return nil
}

// retryHeadroom is the retry asynq is given beyond MaxRetry. asynq
// archives a task whose retries are used up whatever its handler returns, a
// snooze included; the worker enforces the limit itself, so with one spare
// retry a job snoozed on its last try (a paused campaign) is delayed, not
// archived.
const retryHeadroom = 1
