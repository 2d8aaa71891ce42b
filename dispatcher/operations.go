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
// pending deliveries to the queue. Whether it passed the campaign check
// is the caller's business (see LaunchChecked and LaunchForced).
func (o *Operations) Launch(ctx context.Context, c *Campaign) error {
	if err := o.move(ctx, c, []CampaignStatus{CampaignDraft}, CampaignRunning, "launch"); err != nil {
		return err
	}
	return o.clearReason(ctx, c, "launch")
}

// LaunchChecked launches a draft campaign that passed the campaign check;
// summary says what the check found, for the audit log.
func (o *Operations) LaunchChecked(ctx context.Context, c *Campaign, summary string) error {
	if err := o.moveAudited(ctx, c, []CampaignStatus{CampaignDraft}, CampaignRunning, "launch", "campaign.launch", summary); err != nil {
		return err
	}
	return o.clearReason(ctx, c, "launch")
}

// LaunchForced launches a draft campaign past a failed (or skipped)
// campaign check, on an operator's explicit confirmation. It is audited
// as campaign.launch_forced with reasons: what the check found and why
// the operator went ahead.
func (o *Operations) LaunchForced(ctx context.Context, c *Campaign, reasons string) error {
	if err := o.moveAudited(ctx, c, []CampaignStatus{CampaignDraft}, CampaignRunning, "launch", "campaign.launch_forced", reasons); err != nil {
		return err
	}
	return o.clearReason(ctx, c, "launch")
}

// Resume continues a paused campaign where it stopped, clearing the
// reason it paused itself, if any (on the campaign as it is now, so
// that settings saved meanwhile stay).
func (o *Operations) Resume(ctx context.Context, c *Campaign) error {
	if err := o.move(ctx, c, []CampaignStatus{CampaignPaused}, CampaignRunning, "resume"); err != nil {
		return err
	}
	return o.clearReason(ctx, c, "resume")
}

// clearReason clears why the campaign paused itself or why its
// scheduled launch was not made, once it runs (on the campaign as it is
// now, so that settings saved meanwhile stay).
func (o *Operations) clearReason(ctx context.Context, c *Campaign, verb string) error {
	if c.Settings.PauseReason == "" {
		return nil
	}
	cur, err := ChangeCampaign(ctx, o.Store, c.ID, func(cur *Campaign) error {
		cur.Settings.PauseReason = ""
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s campaign %s: clear why it stopped: %w", verb, c.Name, err)
	}
	*c = *cur
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
	return o.moveAudited(ctx, c, from, to, verb, "campaign."+verb, "")
}

// moveAudited moves c from one of from to to and records action with
// detail in the audit log; verb is for messages.
func (o *Operations) moveAudited(ctx context.Context, c *Campaign, from []CampaignStatus, to CampaignStatus, verb, action, detail string) error {
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
	if err := o.Store.Audit(ctx, AuditEntry{At: o.now(), Actor: o.Actor, Action: action, Subject: c.Name, Detail: detail}); err != nil {
		return fmt.Errorf("audit %s: %w", verb, err)
	}
	return nil
}
