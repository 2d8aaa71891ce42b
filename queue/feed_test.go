package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

func TestFeedCursor(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		c := NewClient(b, ClientConfig{})
		if fed, err := c.Fed(ctx, 7, dispatcher.Email); err != nil || fed != 0 {
			t.Fatalf("new cursor = %d, %v; want 0", fed, err)
		}
		steps := []struct {
			from, to int64
			ok       bool
		}{
			{0, 100, true},
			{0, 200, false}, // someone moved on
			{100, 250, true},
			{250, 0, true}, // rewound
			{0, 40, true},
		}
		for _, s := range steps {
			ok, err := c.AdvanceFed(ctx, 7, dispatcher.Email, s.from, s.to)
			if err != nil || ok != s.ok {
				t.Fatalf("AdvanceFed(%d→%d) = %v, %v; want %v", s.from, s.to, ok, err, s.ok)
			}
		}
		if fed, _ := c.Fed(ctx, 7, dispatcher.Email); fed != 40 {
			t.Errorf("cursor %d, want 40", fed)
		}
		if fed, _ := c.Fed(ctx, 7, dispatcher.SMS); fed != 0 {
			t.Errorf("another channel's cursor moved: %d", fed)
		}
		if fed, _ := c.Fed(ctx, 8, dispatcher.Email); fed != 0 {
			t.Errorf("another campaign's cursor moved: %d", fed)
		}
		if ttl := b.Redis().PTTL(ctx, c.fedKey(7, dispatcher.Email)).Val(); ttl <= 0 || ttl > feedTTL {
			t.Errorf("cursor TTL %v, want at most %v", ttl, feedTTL)
		}
		// Racing feeders: from the same cursor exactly one wins.
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				ok, err := c.AdvanceFed(ctx, 7, dispatcher.Email, 40, int64(1000+i))
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d feeders advanced the same cursor", won.Load())
		}
		if err := c.ResetFed(ctx, 7); err != nil {
			t.Fatal(err)
		}
		if fed, _ := c.Fed(ctx, 7, dispatcher.Email); fed != 0 {
			t.Errorf("cursor %d after reset", fed)
		}
	})
}

// TestBacklogMatchesInspector holds Backlog, which reads asynq's keys
// directly, to what asynq's own inspector reports.
func TestBacklogMatchesInspector(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		c := NewClient(b, ClientConfig{})
		if bl, err := c.Backlog(ctx, dispatcher.Email); err != nil || bl != (dispatcher.Backlog{}) {
			t.Fatalf("empty queue = %+v, %v", bl, err)
		}
		held := testJob(dispatcher.Email, 9, 0)
		held.NotBefore = time.Now().Add(time.Hour)
		if _, err := c.Enqueue(ctx, testJob(dispatcher.Email, 1, 0), testJob(dispatcher.Email, 2, 0), testJob(dispatcher.Email, 3, 0), held, testJob(dispatcher.SMS, 1, 0)); err != nil {
			t.Fatal(err)
		}
		// One job runs and blocks, one fails and waits for its retry.
		release := make(chan struct{})
		var started atomic.Int32
		h := &scriptHandler{results: []error{nil, errTransient, nil}, block: func(ctx context.Context, n int) {
			if n == 0 {
				started.Add(1)
				<-release
			}
		}}
		cfg := fastWorker()
		cfg.Concurrency, cfg.RetryBase, cfg.RetryCap = 2, time.Hour, time.Hour
		cfg.Channels = map[dispatcher.ChannelKind]int{dispatcher.Email: 1}
		stop := startWorker(t, b, h, cfg)
		defer func() { close(release); stop() }()
		waitFor(t, "one job running and one failed", func() bool {
			d := depthOf(t, b, dispatcher.Email)
			return started.Load() == 1 && d.Active == 1 && d.Retry == 1
		})
		bl, err := c.Backlog(ctx, dispatcher.Email)
		if err != nil {
			t.Fatal(err)
		}
		d := depthOf(t, b, dispatcher.Email)
		want := dispatcher.Backlog{Pending: d.Pending, Active: d.Active, Scheduled: d.Scheduled, Retry: d.Retry}
		if bl != want || bl.Scheduled != 1 || bl.Waiting() != 3 {
			t.Errorf("Backlog = %+v, inspector %+v", bl, want)
		}
		if bl, _ := c.Backlog(ctx, dispatcher.SMS); bl.Pending != 1 {
			t.Errorf("sms backlog %+v", bl)
		}
	})
}
