package dispatcher_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// countingPacer grants a fixed number of sends, then asks to wait; and a
// fixed number of slots per domain.
type countingPacer struct {
	mu       sync.Mutex
	tokens   int
	wait     time.Duration
	refill   bool // grant again after one refusal (the wait passed)
	held     map[string]int
	limitHit int
	refused  int
}

func (p *countingPacer) Allow(_ context.Context, name string, rate float64, burst int) (bool, time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tokens == 0 {
		p.refused++
		if p.refill {
			p.tokens = 1
		}
		return false, p.wait, nil
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
	pacer := &countingPacer{tokens: 2, wait: 30 * time.Second, held: map[string]int{}}
	f.w.Pacer = pacer
	f.w.Pacing = dispatcher.Pacing{Rates: map[dispatcher.ChannelKind]float64{dispatcher.Email: 5}, DomainConcurrency: 1}
	f.w.Parallel = 1

	// Two tokens for three messages, and the next one half a minute away:
	// the third goes back to the queue until then, not counted as a try.
	before := time.Now()
	if err := f.w.Handle(ctx, f.jobOf(t, dispatcher.Email, "a@example.no", "b@example.no", "c@example.no")); err != nil {
		t.Fatal(err)
	}
	c := f.deliveries(t, "c@example.no")[dispatcher.Email]
	if c.State != dispatcher.StateQueued || c.NotBefore.Before(before.Add(30*time.Second)) || f.email.count() != 2 {
		t.Fatalf("throttled delivery %+v, sent %d", c, f.email.count())
	}
	if len(f.q.jobs) != 1 || f.q.jobs[0].Tries != 0 || itemsOf(f.q.jobs...)[0] != c.ID {
		t.Errorf("jobs %+v", f.q.jobs)
	}
	if evs, _ := st.Events(ctx, c.ID); statesOf(evs) != "pending" {
		t.Errorf("a rate limit wrote history: %s", statesOf(evs))
	}
	if pacer.held["domain:example.no"] != 0 {
		t.Errorf("domain slots not released: %v", pacer.held)
	}

	// A slot a moment away is waited for in the worker.
	pacer.wait, pacer.refill = 20*time.Millisecond, true
	due := c.NotBefore.Add(time.Second)
	f.w.Now = func() time.Time { return due }
	if err := f.w.Handle(ctx, f.q.jobs[0]); err != nil {
		t.Fatal(err)
	}
	if got := f.deliveries(t, "c@example.no")[dispatcher.Email]; got.State != dispatcher.StateSent || pacer.refused != 2 {
		t.Errorf("after a short wait: %+v, refused %d", got, pacer.refused)
	}
}

func TestPacingDomainFull(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	f := setup(t, st, person("d@example.no", "+4791000014"))
	pacer := &countingPacer{tokens: 10, held: map[string]int{"domain:example.no": 1}}
	f.w.Pacer = pacer
	f.w.Pacing = dispatcher.Pacing{DomainConcurrency: 1}
	// A clock that runs a second per look, so the worker's few seconds of
	// patience pass at once.
	var tick time.Duration
	start := time.Now()
	f.w.Now = func() time.Time { tick += time.Second; return start.Add(tick) }
	if err := f.w.Handle(ctx, f.job(t, "d@example.no", dispatcher.Email)); err != nil {
		t.Fatal(err)
	}
	d := f.deliveries(t, "d@example.no")[dispatcher.Email]
	if d.State != dispatcher.StateQueued || pacer.limitHit == 0 || f.email.count() != 0 || len(f.q.jobs) != 1 {
		t.Errorf("delivery to a full domain %+v, limit hit %d, sent %d, jobs %d", d, pacer.limitHit, f.email.count(), len(f.q.jobs))
	}
}
