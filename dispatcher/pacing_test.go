package dispatcher_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// countingPacer grants a fixed number of sends and domain slots.
type countingPacer struct {
	mu       sync.Mutex
	tokens   int
	held     map[string]int
	limitHit int
}

func (p *countingPacer) Allow(_ context.Context, name string, rate float64, burst int) (bool, time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tokens == 0 {
		return false, 750 * time.Millisecond, nil
	}
	p.tokens--
	return true, 0, nil
}

func (p *countingPacer) Acquire(_ context.Context, name string, limit int, _ time.Duration) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[name] >= limit {
		p.limitHit++
		return "", false, nil
	}
	p.held[name]++
	return "t", true, nil
}

func (p *countingPacer) Release(_ context.Context, name, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held[name]--
	return nil
}

func TestPacing(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	f := setup(t, st, person("a@example.no", "+4791000011"), person("b@example.no", "+4791000012"), person("c@example.no", "+4791000013"))
	pacer := &countingPacer{tokens: 2, held: map[string]int{}}
	f.w.Pacer = pacer
	f.w.Pacing = dispatcher.Pacing{Rates: map[dispatcher.ChannelKind]float64{dispatcher.Email: 5}, DomainConcurrency: 1}

	for _, a := range []string{"a@example.no", "b@example.no"} {
		if err := f.w.Handle(ctx, f.job(t, a, dispatcher.Email)); err != nil {
			t.Fatal(err)
		}
	}
	var sn *dispatcher.SnoozeError
	if err := f.w.Handle(ctx, f.job(t, "c@example.no", dispatcher.Email)); !errors.As(err, &sn) || sn.After != 750*time.Millisecond {
		t.Fatalf("rate limited send: %v", err)
	}
	if d := f.deliveries(t, "c@example.no")[dispatcher.Email]; d.State != dispatcher.StateQueued {
		t.Errorf("a throttled delivery must stay queued, is %s", d.State)
	}
	if pacer.held["domain:example.no"] != 0 {
		t.Errorf("domain slots not released: %v", pacer.held)
	}
	// The domain is full: the send waits.
	pacer.tokens = 1
	pacer.held["domain:example.no"] = 1
	if err := f.w.Handle(ctx, f.job(t, "c@example.no", dispatcher.Email)); !errors.As(err, &sn) || pacer.limitHit != 1 {
		t.Fatalf("domain concurrency: %v", err)
	}
	if f.email.count() != 2 {
		t.Errorf("sent %d", f.email.count())
	}
}

func TestQuietHours(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	f := setup(t, st, person("", "+4791000021"))
	c, _ := st.Campaign(ctx, f.camp.ID)
	c.Settings.QuietHours = "08:00-21:00"
	if err := st.SetCampaignSettings(ctx, c.ID, c.Settings); err != nil {
		t.Fatal(err)
	}
	oslo, _ := time.LoadLocation("Europe/Oslo")
	night := time.Date(2026, 11, 22, 23, 30, 0, 0, oslo)
	w := &dispatcher.Worker{Store: st, Channels: f.w.Channels, Now: func() time.Time { return night }}
	var sn *dispatcher.SnoozeError
	err := w.Handle(ctx, f.job(t, "+4791000021", dispatcher.SMS))
	if !errors.As(err, &sn) || sn.After < 8*time.Hour+30*time.Minute || sn.After > 8*time.Hour+36*time.Minute {
		t.Fatalf("SMS at 23:30 in Oslo: %v, want a wait until 08:00", err)
	}
	morning := time.Date(2026, 11, 23, 8, 5, 0, 0, oslo)
	w = &dispatcher.Worker{Store: st, Channels: f.w.Channels, Now: func() time.Time { return morning }}
	if err := w.Handle(ctx, f.job(t, "+4791000021", dispatcher.SMS)); err != nil || f.sms.count() != 1 {
		t.Fatalf("SMS at 08:05: %v, sent %d", err, f.sms.count())
	}
}
