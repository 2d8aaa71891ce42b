package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Reconciler makes Redis agree with the ledger. Redis is transport, never
// the only copy: whatever it lost (a restart without persistence, an
// evicted key, a task left active without a lease) the ledger still holds
// as pending, queued or sending, and the reconciler queues it again. A
// duplicate enqueue of work Redis still has is a no-op (the TaskID guard),
// and a duplicate run is a no-op too (the ledger claim), so reconciling is
// always safe.
//
// Crash policy for `sending`: a delivery that has been in sending longer
// than StaleAfter was claimed by a worker that died between sending and
// recording. Whether the message left is unknown. Herald sends it again,
// as a new generation, with an event saying so: for a breach notice a
// possible duplicate is a lesser harm than a person never told. The event
// log shows both attempts to support staff.
type Reconciler struct {
	Store  Store
	Queue  Queue
	Now    func() time.Time
	Logger *slog.Logger
	// StaleAfter is how long a delivery may stay in sending before it is
	// presumed abandoned. Default 10 minutes; it must exceed the longest
	// send (the queue's task timeout).
	StaleAfter time.Duration
}

// ReconcileResult counts what one pass did.
type ReconcileResult struct {
	Campaigns int // running campaigns looked at
	Queued    int // deliveries handed to the queue
	Resent    int // stale sending deliveries sent again
	Completed int // campaigns found finished and marked completed
	Launched  int // scheduled campaigns launched
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Run makes one pass over every running campaign. With full set it
// re-enqueues queued deliveries too (at worker start and in `herald
// reconcile`); otherwise only pending ones, which nobody has queued yet
// (imports made by a process without a shared queue, fallbacks).
func (r *Reconciler) Run(ctx context.Context, full bool) (ReconcileResult, error) {
	var res ReconcileResult
	camps, err := r.Store.Campaigns(ctx)
	if err != nil {
		return res, fmt.Errorf("reconcile: list campaigns: %w", err)
	}
	for _, c := range camps {
		if c.Status == CampaignDraft && !c.Settings.ScheduledAt.IsZero() && !c.Settings.ScheduledAt.After(r.now()) {
			ops := &Operations{Store: r.Store, Queue: r.Queue, Now: r.Now, Actor: "scheduler"}
			err := ops.Launch(ctx, c)
			if ErrorCode(err) == ECONFLICT {
				continue // another worker launched it first
			}
			if err != nil {
				return res, fmt.Errorf("scheduled launch of %s: %w", c.Name, err)
			}
			res.Launched++
			r.log().Info("scheduled campaign launched", "campaign", c.ID)
		}
		if c.Status != CampaignRunning {
			continue
		}
		res.Campaigns++
		states := []State{StatePending}
		if full {
			states = []State{StatePending, StateQueued}
		}
		n, err := QueueUnfinished(ctx, r.Store, r.Queue, c.ID, states, r.now())
		res.Queued += n
		if err != nil {
			return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
		}
		m, err := r.resendStale(ctx, c)
		res.Resent += m
		if err != nil {
			return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
		}
		left, err := r.Store.CountUnfinished(ctx, c.ID)
		if err != nil {
			return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
		}
		if left == 0 {
			err := r.Store.SetCampaignStatus(ctx, c.ID, []CampaignStatus{CampaignRunning}, CampaignCompleted, r.now())
			if err != nil && !errors.Is(err, ErrStale) {
				return res, fmt.Errorf("complete campaign %s: %w", c.Name, err)
			}
			if err == nil {
				res.Completed++
				r.log().Info("campaign completed", "campaign", c.ID)
			}
		}
	}
	return res, nil
}

func (r *Reconciler) resendStale(ctx context.Context, c *Campaign) (int, error) {
	stale := r.StaleAfter
	if stale == 0 {
		stale = 10 * time.Minute
	}
	n := 0
	var after int64
	for {
		ds, err := r.Store.Deliveries(ctx, DeliveryQuery{CampaignID: c.ID, States: []State{StateSending}, AfterID: after, UpdatedBefore: r.now().Add(-stale), Limit: 1000})
		if err != nil || len(ds) == 0 {
			return n, err
		}
		after = ds[len(ds)-1].ID
		for i := range ds {
			d := &ds[i]
			err := r.Store.Transition(ctx, Transition{
				DeliveryID: d.ID, From: []State{StateSending}, Generation: d.Generation, Attempt: d.Attempt,
				To: StateQueued, BumpGeneration: true, At: r.now(),
				Diagnostic: "worker stopped while sending; outcome unknown, sending again",
			})
			if errors.Is(err, ErrStale) {
				continue
			}
			if err != nil {
				return n, err
			}
			d.Generation++
			d.State = StateQueued
			if r.Queue != nil {
				if _, err := r.Queue.Enqueue(ctx, JobOf(d)); err != nil {
					return n, err
				}
			}
			n++
			r.log().Warn("resending delivery abandoned in sending", "campaign", c.ID, "delivery", d.ID)
		}
	}
}

// Loop runs a full pass, then a light pass every interval until ctx ends.
func (r *Reconciler) Loop(ctx context.Context, every time.Duration) error {
	if _, err := r.Run(ctx, true); err != nil && ctx.Err() == nil {
		r.log().Error("reconcile failed", "err", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := r.Run(ctx, false); err != nil && ctx.Err() == nil {
				r.log().Error("reconcile failed", "err", err)
			}
		}
	}
}
