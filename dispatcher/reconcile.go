package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Reconciler makes Redis agree with the ledger. Redis is transport, never
// the only copy: whatever it lost (a restart without persistence, an
// evicted key, a task left active without a lease) the ledger still holds
// as pending, queued or sending. The feeder recovers pending and queued
// work whose jobs vanished (feed.go); the reconciler handles the rest:
// scheduled launches, deliveries abandoned in sending, and campaigns with
// nothing left to do. A full pass (`herald reconcile`) also queues every
// queued delivery again and rewinds the feed cursors, for an operator who
// knows Redis lost data. Duplicate jobs are harmless: the ledger claim
// makes a second run a no-op, so reconciling is always safe.
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
	// job (the queue's task timeout).
	StaleAfter time.Duration
	// BatchSize is how many deliveries a job carries (default
	// DefaultBatchSize).
	BatchSize int
}

// ReconcileResult counts what one pass did.
type ReconcileResult struct {
	Campaigns int // running campaigns looked at
	Queued    int // queued deliveries handed to the queue again (full pass)
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

// Run makes one pass over every running campaign. With full set it also
// queues every queued delivery again and rewinds the campaign's feed
// cursors, so that everything unfinished is handed to the queue anew.
func (r *Reconciler) Run(ctx context.Context, full bool) (ReconcileResult, error) {
	var res ReconcileResult
	camps, err := r.Store.Campaigns(ctx)
	if err != nil {
		return res, fmt.Errorf("reconcile: list campaigns: %w", err)
	}
	for _, c := range camps {
		if c.Status == CampaignDraft && !c.Settings.ScheduledAt.IsZero() && !c.Settings.ScheduledAt.After(r.now()) {
			launched, err := r.launchScheduled(ctx, c)
			if err != nil {
				return res, fmt.Errorf("scheduled launch of %s: %w", c.Name, err)
			}
			if launched {
				res.Launched++
			}
		}
		if c.Status != CampaignRunning {
			continue
		}
		res.Campaigns++
		if full {
			if fq, ok := r.Queue.(FeedQueue); ok {
				if err := fq.ResetFed(ctx, c.ID); err != nil {
					return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
				}
			}
			n, err := requeueQueued(ctx, r.Store, r.Queue, c.ID, "", r.batchSize(), r.now(), false)
			res.Queued += n
			if err != nil {
				return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
			}
		}
		m, err := r.resendStale(ctx, c)
		res.Resent += m
		if err != nil {
			return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
		}
		// Is anything left? One row answers it; a count would read every
		// unfinished delivery of a campaign of millions, in every worker,
		// every pass.
		left, err := r.Store.Deliveries(ctx, DeliveryQuery{CampaignID: c.ID, States: Unfinished, Limit: 1})
		if err != nil {
			return res, fmt.Errorf("reconcile campaign %s: %w", c.Name, err)
		}
		if len(left) == 0 {
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

// launchScheduled launches a draft whose time has come, if its notices
// still pass the campaign check: templates or contacts may have changed
// since the schedule was set. A campaign that fails stays a draft, its
// schedule cleared and the reason recorded for the operator (shown where
// a paused campaign's reason is), rather than being tried again every
// pass. It reports whether it launched.
func (r *Reconciler) launchScheduled(ctx context.Context, c *Campaign) (bool, error) {
	ops := &Operations{Store: r.Store, Now: r.Now, Actor: "scheduler"}
	if c.Settings.ScheduleForced {
		err := ops.LaunchForced(ctx, c, "scheduled with --force: the campaign check was not required")
		if ErrorCode(err) == ECONFLICT {
			return false, nil
		}
		return err == nil, err
	}
	// One renderer: the check runs beside the worker's sending.
	rep, err := Check(ctx, r.Store, c, CheckOptions{Workers: 1})
	if err != nil {
		return false, err
	}
	if rep.OK() {
		err := ops.LaunchChecked(ctx, c, rep.Summary())
		if ErrorCode(err) == ECONFLICT {
			return false, nil // another worker launched it first, or someone cancelled it
		}
		if err != nil {
			return false, err
		}
		r.log().Info("scheduled campaign launched", "campaign", c.ID)
		return true, nil
	}
	at := c.Settings.ScheduledAt
	why := fmt.Sprintf("the launch scheduled for %s was not made: the campaign check found problems (%s); fix them, run herald campaign check, and launch or schedule it again", at.UTC().Format(time.RFC3339), rep.Summary())
	_, err = ChangeCampaign(ctx, r.Store, c.ID, func(cur *Campaign) error {
		if cur.Status != CampaignDraft || !cur.Settings.ScheduledAt.Equal(at) {
			return errScheduleMoved
		}
		cur.Settings.ScheduledAt = time.Time{}
		cur.Settings.PauseReason = why
		return nil
	})
	if errors.Is(err, errScheduleMoved) {
		return false, nil // launched, cancelled or rescheduled meanwhile
	}
	if err != nil {
		return false, err
	}
	r.log().Warn("scheduled launch refused by the campaign check", "campaign", c.ID, "problems", len(rep.Problems))
	return false, r.Store.Audit(ctx, AuditEntry{At: r.now(), Actor: "scheduler", Action: "campaign.launch_refused", Subject: c.Name, Detail: rep.Summary()})
}

var errScheduleMoved = errors.New("the schedule changed")

func (r *Reconciler) batchSize() int {
	if r.BatchSize > 0 {
		return r.BatchSize
	}
	return DefaultBatchSize
}

// resendStale takes back deliveries abandoned in sending, a page at a
// time, as a new generation, and queues them.
func (r *Reconciler) resendStale(ctx context.Context, c *Campaign) (int, error) {
	stale := r.StaleAfter
	if stale == 0 {
		stale = 10 * time.Minute
	}
	n := 0
	var after int64
	for {
		now := r.now()
		ds, err := r.Store.Deliveries(ctx, DeliveryQuery{CampaignID: c.ID, States: []State{StateSending}, AfterID: after, UpdatedBefore: now.Add(-stale), Limit: 1000})
		if err != nil || len(ds) == 0 {
			return n, err
		}
		after = ds[len(ds)-1].ID
		ts := make([]Transition, len(ds))
		for i := range ds {
			d := &ds[i]
			ts[i] = Transition{
				DeliveryID: d.ID, From: []State{StateSending}, Generation: d.Generation, Attempt: d.Attempt,
				To: StateQueued, BumpGeneration: true, At: now,
				Diagnostic: "worker stopped while sending; outcome unknown, sending again",
			}
		}
		skipped, _, err := r.Store.Transitions(ctx, ts, nil)
		if err != nil {
			return n, err
		}
		ds = slices.DeleteFunc(ds, func(d Delivery) bool { return slices.Contains(skipped, d.ID) })
		for i := range ds {
			ds[i].Generation++
			ds[i].State = StateQueued
			ds[i].NotBefore = time.Time{}
		}
		if r.Queue != nil && len(ds) > 0 {
			if _, err := r.Queue.Enqueue(ctx, JobsOf(ds, r.batchSize())...); err != nil {
				return n, err
			}
		}
		n += len(ds)
		if len(ds) > 0 {
			r.log().Warn("resending deliveries abandoned in sending", "campaign", c.ID, "deliveries", len(ds))
		}
	}
}

// Loop runs a light pass now and then every interval until ctx ends. It
// does not run a full pass: at a worker's start that would duplicate the
// jobs other workers hold, and the feeder already recovers lost ones.
func (r *Reconciler) Loop(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.Run(ctx, false); err != nil && ctx.Err() == nil {
			r.log().Error("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
