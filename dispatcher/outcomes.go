package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// ErrUnmatched is returned by Outcomes.Apply for an event that matches no
// delivery: the intake keeps such messages for inspection.
var ErrUnmatched = errors.New("provider event matches no delivery")

// Outcomes applies provider events to the ledger: it is herald's
// EventSink. It decides what an asynchronous bounce, complaint or status
// callback means for the delivery (its final state), the contact (an
// address found invalid is suppressed and the next channel is tried) and
// the campaign (the reputation guard).
//
// Classes are applied conservatively: only Invalid marks an address bad;
// Permanent (policy, reputation, authentication) is the sender's problem
// and never the contact's; Transient (soft) re-sends after SoftRetryAfter,
// up to SoftLimit soft bounces, then gives the channel up and falls back.
type Outcomes struct {
	Store  Store
	Queue  Queue
	Now    func() time.Time
	Logger *slog.Logger
	// SoftLimit is how many soft bounces a delivery may have before its
	// channel is given up (default 3).
	SoftLimit int
	// SoftRetryAfter is how long to wait before re-sending after a soft
	// bounce (default 4 hours: a full mailbox is emptied, a network
	// problem fixed, on a human time scale).
	SoftRetryAfter time.Duration

	guard guard
}

func (o *Outcomes) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Outcomes) log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Apply records one provider event. It returns ErrUnmatched (wrapped) for
// an event about no known delivery, nil for one applied or deliberately
// ignored (a duplicate), and any other error when the intake should retry
// later (the delivery is still being recorded, the database is down).
func (o *Outcomes) Apply(ctx context.Context, ev ProviderEvent) error {
	at := ev.At
	if at.IsZero() {
		at = o.now()
	}
	log := o.log().With("source", ev.Source, "kind", string(ev.Kind))
	d, err := o.find(ctx, ev)
	if err != nil {
		return err
	}
	log = log.With("campaign", d.CampaignID, "delivery", d.ID, "channel", string(d.Channel))
	camp, err := o.Store.Campaign(ctx, d.CampaignID)
	if err != nil {
		return err
	}
	if d.State == StateSending || d.State == StateQueued || d.State == StatePending {
		// The provider answered before the worker recorded the send (or a
		// resend is under way): ask the intake to try again shortly. The
		// token is not recorded yet, so the retry is not a duplicate.
		return fmt.Errorf("delivery %d is %s: the send is not recorded yet", d.ID, d.State)
	}
	if ev.Token != "" {
		first, err := o.Store.FirstSeen(ctx, ev.Source, ev.Token, at)
		if err != nil {
			return err
		}
		if !first {
			log.Debug("duplicate provider event ignored")
			return nil
		}
	}
	sent := []State{StateSent, StateDelivered}
	move := func(to State, diag string) error {
		err := o.Store.Transition(ctx, Transition{DeliveryID: d.ID, From: sent, Generation: d.Generation,
			To: to, Code: ev.Code, Diagnostic: diag, At: at})
		if errors.Is(err, ErrStale) {
			log.Debug("event for a delivery already settled", "state", string(d.State))
			return errSettled
		}
		return err
	}
	switch ev.Kind {
	case EventDelivered:
		return ignoreSettled(move(StateDelivered, ev.Diagnostic))
	case EventDeferred:
		return ignoreSettled(move(d.State, "delayed: "+ev.Diagnostic))
	case EventComplaint:
		if err := o.Store.MarkComplaint(ctx, d.ID, ev.Source, at); err != nil {
			return err
		}
		if err := o.suppress(ctx, camp, d, "complaint", ev, at); err != nil {
			return err
		}
		log.Warn("complaint recorded")
		return o.checkGuard(ctx, log, camp, at)
	case EventOptOut:
		if err := o.suppress(ctx, camp, d, "opted_out", ev, at); err != nil {
			return err
		}
		if err := move(StateSuppressed, "the person opted out: "+ev.Diagnostic); err != nil {
			return ignoreSettled(err)
		}
		return fallback(ctx, o.Store, camp, d, at)
	case EventBounce:
		return o.bounce(ctx, log, camp, d, ev, at, move)
	}
	return fmt.Errorf("provider event of unknown kind %q", ev.Kind)
}

var errSettled = errors.New("delivery already settled")

func ignoreSettled(err error) error {
	if errors.Is(err, errSettled) {
		return nil
	}
	return err
}

func (o *Outcomes) bounce(ctx context.Context, log *slog.Logger, camp *Campaign, d *Delivery, ev ProviderEvent, at time.Time, move func(State, string) error) error {
	switch ev.Class {
	case Invalid:
		if err := move(StateBouncedHard, ev.Diagnostic); err != nil {
			return ignoreSettled(err)
		}
		if err := o.suppress(ctx, camp, d, "invalid", ev, at); err != nil {
			return err
		}
		log.Info("address invalid (asynchronous bounce)", "code", ev.Code)
		if err := fallback(ctx, o.Store, camp, d, at); err != nil {
			return err
		}
		return o.checkGuard(ctx, log, camp, at)
	case Permanent:
		// Spam filters, reputation, authentication: the sender's problem.
		return ignoreSettled(move(StateFailed, "refused by the receiving system for a reason that is not the recipient's (policy, reputation or authentication): "+ev.Diagnostic))
	}
	// Soft: re-send later, or give the channel up.
	if err := move(StateBouncedSoft, ev.Diagnostic); err != nil {
		return ignoreSettled(err)
	}
	evs, err := o.Store.Events(ctx, d.ID)
	if err != nil {
		return err
	}
	soft := 0
	for _, e := range evs {
		if e.State == StateBouncedSoft {
			soft++
		}
	}
	limit := o.SoftLimit
	if limit <= 0 {
		limit = 3
	}
	if soft >= limit {
		log.Info("soft bounces exhausted; falling back", "soft_bounces", soft)
		return fallback(ctx, o.Store, camp, d, at)
	}
	wait := o.SoftRetryAfter
	if wait <= 0 {
		wait = 4 * time.Hour
	}
	again := *d
	again.Generation++
	again.NotBefore = at.Add(wait)
	err = o.Store.Transition(ctx, Transition{DeliveryID: d.ID, From: []State{StateBouncedSoft}, Generation: d.Generation,
		To: StateQueued, BumpGeneration: true, At: at, NotBefore: again.NotBefore,
		Diagnostic: fmt.Sprintf("soft bounce %d of %d: sending again after %s", soft, limit, wait)})
	if err != nil {
		return ignoreSettled(err)
	}
	if o.Queue == nil || camp.Status != CampaignRunning {
		return nil // queued in the ledger: the feeder's recovery or a full reconcile queues it
	}
	_, err = o.Queue.Enqueue(ctx, NewJob(again))
	return err
}

func (o *Outcomes) suppress(ctx context.Context, camp *Campaign, d *Delivery, reason string, ev ProviderEvent, at time.Time) error {
	addr := d.Address
	if addr == "" {
		addr = ev.Address
	}
	if addr == "" {
		return nil
	}
	return o.Store.Suppress(ctx, Suppression{Channel: d.Channel, Address: addr, Reason: reason,
		Source: fmt.Sprintf("campaign %s delivery %d: %s %s", camp.Name, d.ID, ev.Source, ev.Code), FirstSeen: at, LastSeen: at})
}

func (o *Outcomes) checkGuard(ctx context.Context, log *slog.Logger, camp *Campaign, at time.Time) error {
	paused, err := o.guard.check(ctx, o.Store, camp, at)
	if paused {
		log.Warn("campaign paused by the reputation guard")
	}
	return err
}

func (o *Outcomes) find(ctx context.Context, ev ProviderEvent) (*Delivery, error) {
	var d *Delivery
	var err error
	switch {
	case ev.DeliveryID != 0:
		d, err = o.Store.Delivery(ctx, ev.DeliveryID)
	case ev.ProviderID != "":
		d, err = o.Store.DeliveryByProvider(ctx, ev.ProviderID)
	default:
		return nil, ErrUnmatched
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w (delivery %d, provider id given: %t)", ErrUnmatched, ev.DeliveryID, ev.ProviderID != "")
	}
	return d, err
}
