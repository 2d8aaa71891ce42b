package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Guard defaults: the levels at which large mailbox providers review or
// throttle a sender. A former-employee list can easily be 10 % dead
// mailboxes; sending all of it would get the organisation's domain blocked
// in the middle of its breach notice.
const (
	DefaultGuardWindow     = 200
	DefaultGuardMinimum    = 50
	DefaultGuardHardBounce = 0.05
	DefaultGuardComplaint  = 0.001
)

func (g GuardSettings) withDefaults() GuardSettings {
	if g.Window <= 0 {
		g.Window = DefaultGuardWindow
	}
	if g.Minimum <= 0 {
		g.Minimum = DefaultGuardMinimum
	}
	if g.HardBounce <= 0 {
		g.HardBounce = DefaultGuardHardBounce
	}
	if g.Complaint <= 0 {
		g.Complaint = DefaultGuardComplaint
	}
	return g
}

// guard pauses a campaign whose recent e-mail outcomes pass its limits.
// Once it has enough sends to judge, it looks at most once a second per
// campaign per process: a burst of bounces costs one query, not one each.
type guard struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

// check evaluates campaign c after a hard bounce or a complaint and
// pauses it, with the reason recorded for the operator, when a limit is
// passed. It reports whether it paused the campaign.
func (g *guard) check(ctx context.Context, st Store, c *Campaign, now time.Time) (bool, error) {
	set := c.Settings.Guard.withDefaults()
	if set.Off || c.Status != CampaignRunning {
		return false, nil
	}
	g.mu.Lock()
	if g.last == nil {
		g.last = map[int64]time.Time{}
	}
	if now.Sub(g.last[c.ID]) < time.Second {
		g.mu.Unlock()
		return false, nil
	}
	g.mu.Unlock()

	h, err := st.Health(ctx, c.ID, Email, set.Window)
	if err != nil {
		return false, err
	}
	if h.Attempted >= int64(set.Minimum) {
		// Judged: the next look may wait a second. Below the minimum the
		// window is small and cheap to count again.
		g.mu.Lock()
		g.last[c.ID] = now
		g.mu.Unlock()
	}
	reason := guardReason(h, set)
	if reason == "" {
		return false, nil
	}
	err = st.SetCampaignStatus(ctx, c.ID, []CampaignStatus{CampaignRunning}, CampaignPaused, now)
	if errors.Is(err, ErrStale) {
		return false, nil // paused or stopped by someone else meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("guard: pause campaign %s: %w", c.Name, err)
	}
	if _, err := ChangeCampaign(ctx, st, c.ID, func(cur *Campaign) error {
		cur.Settings.PauseReason = reason
		return nil
	}); err != nil {
		return true, err
	}
	return true, st.Audit(ctx, AuditEntry{At: now, Actor: "guard", Action: "campaign.auto_pause", Subject: c.Name, Detail: reason})
}

// guardReason says why h passes the limits, or "" when it does not.
func guardReason(h Health, g GuardSettings) string {
	if h.Attempted < int64(g.Minimum) {
		return ""
	}
	rate := func(n int64) float64 { return float64(n) / float64(h.Attempted) }
	switch {
	case rate(h.HardBounced) > g.HardBounce:
		return fmt.Sprintf("paused automatically: %d of the last %d e-mails (%.1f%%) bounced because the mailbox does not exist, above the %.1f%% at which large mail providers review a sender. Clean the list (herald report --unreachable shows who bounced), or raise the limit, then resume.",
			h.HardBounced, h.Attempted, 100*rate(h.HardBounced), 100*g.HardBounce)
	case rate(h.Complaints) > g.Complaint:
		return fmt.Sprintf("paused automatically: %d of the last %d e-mails (%.2f%%) were reported as spam, above the %.2f%% at which large mail providers block a sender. Check the notice's wording and sender, then resume.",
			h.Complaints, h.Attempted, 100*rate(h.Complaints), 100*g.Complaint)
	}
	return ""
}
