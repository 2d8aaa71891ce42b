package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Operations are the operator's campaign controls: launch, pause, resume
// and cancel. Each changes the campaign's status in the ledger first; the
// queue follows (workers read the status before every send), so a control
// takes effect on every worker within their campaign cache TTL.
type Operations struct {
	Store Store
	Queue Queue // nil: pending deliveries wait for a worker's reconciler
	Now   func() time.Time
	Actor string // who is acting, for the audit log
}

func (o *Operations) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Launch starts a draft campaign (or a paused one) and queues its pending
// deliveries.
func (o *Operations) Launch(ctx context.Context, c *Campaign) error {
	return o.start(ctx, c, []CampaignStatus{CampaignDraft}, "launch")
}

// Resume continues a paused campaign where it stopped, clearing the
// reason it paused itself, if any.
func (o *Operations) Resume(ctx context.Context, c *Campaign) error {
	if err := o.start(ctx, c, []CampaignStatus{CampaignPaused}, "resume"); err != nil {
		return err
	}
	if c.Settings.PauseReason != "" {
		c.Settings.PauseReason = ""
		return o.Store.SetCampaignSettings(ctx, c.ID, c.Settings)
	}
	return nil
}

func (o *Operations) start(ctx context.Context, c *Campaign, from []CampaignStatus, verb string) error {
	if err := o.move(ctx, c, from, CampaignRunning, verb); err != nil {
		return err
	}
	_, err := QueueUnfinished(ctx, o.Store, o.Queue, c.ID, []State{StatePending}, o.now())
	return err
}

// Pause stops sending: queued jobs wait without using up retries.
func (o *Operations) Pause(ctx context.Context, c *Campaign) error {
	return o.move(ctx, c, []CampaignStatus{CampaignRunning}, CampaignPaused, "pause")
}

// Cancel stops the campaign for good and marks every unsent delivery
// cancelled. It returns how many deliveries were cancelled. Jobs still in
// the queue find their delivery cancelled and drop themselves: no bulk
// delete in Redis, which blocks it at breach scale.
func (o *Operations) Cancel(ctx context.Context, c *Campaign) (int64, error) {
	if err := o.move(ctx, c, []CampaignStatus{CampaignDraft, CampaignRunning, CampaignPaused}, CampaignCancelled, "cancel"); err != nil {
		return 0, err
	}
	n, err := o.Store.CancelUnsent(ctx, c.ID, o.now())
	if err != nil {
		return n, fmt.Errorf("cancel campaign %s: %w", c.Name, err)
	}
	return n, nil
}

func (o *Operations) move(ctx context.Context, c *Campaign, from []CampaignStatus, to CampaignStatus, verb string) error {
	err := o.Store.SetCampaignStatus(ctx, c.ID, from, to, o.now())
	if errors.Is(err, ErrStale) {
		cur, gerr := o.Store.Campaign(ctx, c.ID)
		if gerr != nil {
			return gerr
		}
		return Errorf(ECONFLICT, "cannot %s campaign %s: it is %s", verb, c.Name, cur.Status)
	}
	if err != nil {
		return fmt.Errorf("%s campaign %s: %w", verb, c.Name, err)
	}
	c.Status = to
	if err := o.Store.Audit(ctx, AuditEntry{At: o.now(), Actor: o.Actor, Action: "campaign." + verb, Subject: c.Name}); err != nil {
		return fmt.Errorf("audit %s: %w", verb, err)
	}
	return nil
}

// QueueUnfinished pages through a campaign's deliveries in the given
// states and queues them: pending ones are marked queued first. With a nil
// queue it does nothing. It returns how many jobs were handed to the queue
// (including ones the queue already held).
func QueueUnfinished(ctx context.Context, st Store, q Queue, campaignID int64, states []State, at time.Time) (int, error) {
	if q == nil {
		return 0, nil
	}
	const page = 2000
	total := 0
	var after int64
	for {
		ds, err := st.Deliveries(ctx, DeliveryQuery{CampaignID: campaignID, States: states, AfterID: after, Limit: page})
		if err != nil {
			return total, fmt.Errorf("page deliveries of campaign %d: %w", campaignID, err)
		}
		if len(ds) == 0 {
			return total, nil
		}
		after = ds[len(ds)-1].ID
		var pending []int64
		jobs := make([]Job, 0, len(ds))
		for i := range ds {
			if ds[i].Channel == Postal {
				continue // letters wait for a print batch (postal.go), not for a worker
			}
			if ds[i].State == StatePending {
				pending = append(pending, ds[i].ID)
			}
			jobs = append(jobs, JobOf(&ds[i]))
		}
		if len(pending) > 0 {
			if err := st.MarkQueued(ctx, pending, at); err != nil {
				return total, fmt.Errorf("mark queued: %w", err)
			}
		}
		if len(jobs) > 0 {
			if _, err := q.Enqueue(ctx, jobs...); err != nil {
				return total, fmt.Errorf("enqueue: %w", err)
			}
		}
		total += len(jobs)
		if len(ds) < page {
			return total, nil
		}
	}
}
