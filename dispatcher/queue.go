package dispatcher

import (
	"context"
	"fmt"
	"time"
)

// Job is one unit of queued work: send delivery DeliveryID. It carries IDs
// only; everything personal is read from the ledger by the worker.
type Job struct {
	CampaignID int64
	ContactID  int64
	DeliveryID int64
	Channel    ChannelKind
	Generation int
	// NotBefore, when set, holds the job back until then (a re-send after
	// a soft bounce). It is not part of the job's identity.
	NotBefore time.Time

	// Filled in by the queue when the job runs.
	Retry    int // how many times this job has been retried so far
	MaxRetry int // how many retries it gets in all
}

// JobOf returns the job that sends d.
func JobOf(d *Delivery) Job {
	return Job{CampaignID: d.CampaignID, ContactID: d.ContactID, DeliveryID: d.ID, Channel: d.Channel, Generation: d.Generation}
}

// LastTry reports whether a transient failure of this run is final.
func (j Job) LastTry() bool { return j.Retry >= j.MaxRetry }

// Queue carries jobs to workers. Enqueuing a job that is already queued or
// running is not an error: it is counted as present. Implementations must
// be safe for concurrent use.
type Queue interface {
	Enqueue(ctx context.Context, jobs ...Job) (EnqueueResult, error)
}

// EnqueueResult counts what an Enqueue call did.
type EnqueueResult struct {
	Enqueued int // newly added
	Present  int // already queued or running (duplicate guard)
}

// Handler runs jobs; the queue's worker calls it. Its error tells the queue
// what to do: nil means done, a *SnoozeError means run again later without
// counting a failure, a *PermanentError means never retry, and any other
// error means retry with back-off.
type Handler interface {
	Handle(ctx context.Context, j Job) error
}

// SnoozeError asks the queue to run the job again after After without
// using up a retry: the campaign is paused, a rate limit is reached, or the
// recipient is in quiet hours.
type SnoozeError struct {
	After  time.Duration
	Reason string
}

func (e *SnoozeError) Error() string { return fmt.Sprintf("snooze %s: %s", e.After, e.Reason) }

// PermanentError marks a job that must not be retried.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
