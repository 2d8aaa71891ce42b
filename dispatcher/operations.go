package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Operations are the operator's campaign controls: launch, pause, resume
// and cancel. Each changes the campaign's status in the ledger; the queue
// follows: the workers' feeders hand the pending deliveries of running
// campaigns to the queue, and workers read the status before every batch,
// so a control takes effect on every worker within their campaign cache
// TTL.
type Operations struct {
	Store Store
	Now   func() time.Time
	Actor string // who is acting, for the audit log
}

func (o *Operations) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Launch starts a draft campaign: the workers' feeders begin handing its
// pending deliveries to the queue.
func (o *Operations) Launch(ctx context.Context, c *Campaign) error {
	return o.move(ctx, c, []CampaignStatus{CampaignDraft}, CampaignRunning, "launch")
}

// Resume continues a paused campaign where it stopped, clearing the
// reason it paused itself, if any.
func (o *Operations) Resume(ctx context.Context, c *Campaign) error {
	if err := o.move(ctx, c, []CampaignStatus{CampaignPaused}, CampaignRunning, "resume"); err != nil {
		return err
	}
	if c.Settings.PauseReason != "" {
		c.Settings.PauseReason = ""
		return o.Store.SetCampaignSettings(ctx, c.ID, c.Settings)
	}
	return nil
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
