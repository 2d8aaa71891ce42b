package dispatcher

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Job is one unit of queued work: send a batch of one campaign's
// deliveries on one channel. It carries IDs only; everything personal is
// read from the ledger by the worker.
//
// A job holds many deliveries because the per-job costs — a queue
// round trip to take it and one to finish it, a ledger claim, a ledger
// write of the outcomes — are then paid once per batch, not once per
// person: at millions of people that is the difference between hundreds
// and thousands of notices a second. A job of one delivery (a retry, a
// re-send after a crash) is the same thing with one item.
type Job struct {
	CampaignID int64
	Channel    ChannelKind
	// Items are the deliveries, in ascending DeliveryID order with no
	// repeats (see NewJob).
	Items []JobItem
	// Tries is how many times these deliveries were already tried and
	// failed transiently; a worker gives a delivery up once it reaches the
	// worker's retry limit. It travels with the job because the queue
	// re-enqueues the failed part of a batch as a new job.
	Tries int
	// NotBefore, when set, holds the job back until then (a retry after
	// back-off, quiet hours, a re-send after a soft bounce).
	NotBefore time.Time

	// Filled in by the queue when the job runs: how many times the queue
	// has run this job again after its handler failed as a whole (the
	// ledger was unreachable, say), and how many times it will.
	Retry    int
	MaxRetry int
}

// JobItem names one delivery of a job and the generation it was queued
// at: a job of an older generation (the delivery was re-sent since) finds
// nothing to do.
type JobItem struct {
	DeliveryID int64
	Generation int
}

// NewJob returns the job that sends ds, which must belong to one campaign
// and one channel; items are sorted by delivery ID and repeats dropped.
func NewJob(ds ...Delivery) Job {
	if len(ds) == 0 {
		return Job{}
	}
	j := Job{CampaignID: ds[0].CampaignID, Channel: ds[0].Channel, Items: make([]JobItem, 0, len(ds))}
	for i := range ds {
		j.Items = append(j.Items, JobItem{DeliveryID: ds[i].ID, Generation: ds[i].Generation})
		if ds[i].NotBefore.After(j.NotBefore) {
			j.NotBefore = ds[i].NotBefore
		}
	}
	j.Items = SortItems(j.Items)
	return j
}

// SortItems sorts items by delivery ID and drops repeats (the first of a
// repeated ID wins), in place.
func SortItems(items []JobItem) []JobItem {
	slices.SortStableFunc(items, func(a, b JobItem) int { return cmp.Compare(a.DeliveryID, b.DeliveryID) })
	return slices.CompactFunc(items, func(a, b JobItem) bool { return a.DeliveryID == b.DeliveryID })
}

// JobsOf groups deliveries into jobs of at most size items each, one
// campaign and channel per job, in delivery ID order. A delivery's
// NotBefore holds back the job it is in.
func JobsOf(ds []Delivery, size int) []Job {
	if size <= 0 {
		size = DefaultBatchSize
	}
	type key struct {
		campaign int64
		channel  ChannelKind
	}
	groups := map[key][]Delivery{}
	var order []key
	for _, d := range ds {
		k := key{d.CampaignID, d.Channel}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], d)
	}
	var jobs []Job
	for _, k := range order {
		g := groups[k]
		slices.SortFunc(g, func(a, b Delivery) int { return cmp.Compare(a.ID, b.ID) })
		for start := 0; start < len(g); start += size {
			jobs = append(jobs, NewJob(g[start:min(start+size, len(g))]...))
		}
	}
	return jobs
}

// ItemJobs groups items of one campaign and channel, in order, into jobs of
// at most size items each.
func ItemJobs(campaignID int64, k ChannelKind, items []JobItem, size int) []Job {
	if size <= 0 {
		size = DefaultBatchSize
	}
	jobs := make([]Job, 0, (len(items)+size-1)/size)
	for start := 0; start < len(items); start += size {
		jobs = append(jobs, Job{CampaignID: campaignID, Channel: k, Items: items[start:min(start+size, len(items)):min(start+size, len(items))]})
	}
	return jobs
}

// DefaultBatchSize is how many deliveries one job carries when nothing else
// is configured: enough to pay the per-job queue and ledger round trips
// once per hundred notices, few enough that a batch is sent in well under
// a second and a worker that stops loses little time.
const DefaultBatchSize = 100

// Queue carries jobs to workers. Delivery is at least once: a job may run
// twice, and the worker's claim in the ledger makes the second run a no-op.
// Implementations must be safe for concurrent use.
type Queue interface {
	Enqueue(ctx context.Context, jobs ...Job) (int, error)
}

// FeedQueue is a Queue that the Feeder can keep topped up: it reports how
// much work it holds per channel and keeps, per campaign and channel, how
// far the campaign's pending deliveries have been handed to it. The
// cursor lives with the queued jobs, so that whatever loses the jobs (a
// Redis flushed or replaced) loses the cursor too, and the feeder starts
// again from the ledger.
type FeedQueue interface {
	Queue
	// Backlog counts the jobs of channel k that wait in the queue.
	Backlog(ctx context.Context, k ChannelKind) (Backlog, error)
	// Fed returns the highest delivery ID of the campaign on channel k
	// handed to the queue by the feeder (0: none).
	Fed(ctx context.Context, campaignID int64, k ChannelKind) (int64, error)
	// AdvanceFed moves that cursor from from to to if it is still at
	// from, and reports whether it did: feeders in several processes
	// take disjoint ranges this way.
	AdvanceFed(ctx context.Context, campaignID int64, k ChannelKind, from, to int64) (bool, error)
	// ResetFed forgets the campaign's cursors, so the feeder hands its
	// pending deliveries over again from the start.
	ResetFed(ctx context.Context, campaignID int64) error
}

// Backlog is what one channel's queue holds, counted in jobs.
type Backlog struct {
	Pending   int // ready to run
	Active    int // running now
	Scheduled int // held back until a time (NotBefore, snoozes)
	Retry     int // waiting to be run again after a failure
}

// Waiting is every job not yet finished.
func (b Backlog) Waiting() int { return b.Pending + b.Active + b.Scheduled + b.Retry }

// Handler runs jobs; the queue's worker calls it. Its error tells the queue
// what to do: nil means done (a batch whose deliveries failed one by one
// has re-queued those itself), a *SnoozeError means run again later
// without counting a failure, a *PermanentError means never retry, and any
// other error means retry with back-off.
type Handler interface {
	Handle(ctx context.Context, j Job) error
}

// SnoozeError asks the queue to run the job again after After without
// using up a retry: the campaign is paused, or a rate limit is reached.
type SnoozeError struct {
	After  time.Duration
	Reason string
}

func (e *SnoozeError) Error() string { return fmt.Sprintf("snooze %s: %s", e.After, e.Reason) }

// PermanentError marks a job that must not be retried.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
