package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// QueueDepth is how many tasks one channel's queue holds in each state, for
// status pages and metrics. The ledger, not this, says how far a campaign
// is: these are tasks in Redis right now.
type QueueDepth struct {
	Channel   dispatcher.ChannelKind
	Queue     string        // asynq queue name
	Pending   int           // waiting for a worker
	Active    int           // running now
	Scheduled int           // enqueued to run later
	Retry     int           // waiting to run again: back-offs and snoozes
	Archived  int           // given up: permanent failures, retries used up, unreadable tasks
	Latency   time.Duration // age of the oldest pending task
	Paused    bool          // the queue is paused in asynq
}

// Depth reports every channel's queue, in the order of Channels; a queue
// nothing was ever enqueued on reports zeros. Each queue costs one short
// Lua script (about a millisecond, even at millions of tasks). asynq's
// inspector takes no context, so ctx is checked between queues only.
func (b *Backend) Depth(ctx context.Context) ([]QueueDepth, error) {
	known, err := b.inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	exists := map[string]bool{}
	for _, q := range known {
		exists[q] = true
	}
	out := make([]QueueDepth, 0, len(Channels()))
	for _, k := range Channels() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("queue depth: %w", err)
		}
		d := QueueDepth{Channel: k, Queue: b.QueueName(k)}
		if exists[d.Queue] {
			info, err := b.inspector.GetQueueInfo(d.Queue)
			if err != nil {
				return nil, fmt.Errorf("queue depth of %s: %w", d.Queue, err)
			}
			d.Pending, d.Active, d.Scheduled, d.Retry, d.Archived = info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived
			d.Latency, d.Paused = info.Latency, info.Paused
		}
		out = append(out, d)
	}
	return out, nil
}
