package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
)

// sharedRedis is one Redis for several server replicas: the real one at
// HERALD_TEST_REDIS_URL (under a key prefix of the test's own, removed
// afterwards), else a miniredis. It returns the client and the prefix.
func sharedRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "herald_test_" + hex.EncodeToString(b[:]) + ":"
	if u := os.Getenv(testenv.RedisVar); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("%s: %v", testenv.RedisVar, err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() {
			ctx := context.Background()
			iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
			_ = rdb.Close()
		})
		return rdb, prefix
	}
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, prefix
}

// testClock is a clock two replicas can share.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// replica is a second server on e's ledger sharing rdb.
func (e *testEnv) replica(rdb redis.UniversalClient, prefix string, now func() time.Time) (*Server, *httptest.Server) {
	e.t.Helper()
	srv, err := New(Config{Store: e.st, Users: e.st, Redis: rdb, RedisPrefix: prefix, Now: now,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	e.t.Cleanup(ts.Close)
	return srv, ts
}

func TestRedisLoginLimiter(t *testing.T) {
	rdb, prefix := sharedRedis(t)
	clock := &testClock{t: time.Now()}
	testLoginLimits(t, newRedisLoginLimiter(rdb, prefix, clock.now, slog.New(slog.DiscardHandler)), clock.advance)
	// Each key holds the limit's newest failures at most, and expires.
	ctx := context.Background()
	l := newRedisLoginLimiter(rdb, prefix, clock.now, slog.New(slog.DiscardHandler))
	for range 3 * loginFailsPerIP {
		l.fail(ctx, "bulk", "198.51.100.1")
	}
	user, addr := l.keys("bulk", "198.51.100.1")
	if n, _ := rdb.ZCard(ctx, user).Result(); n != loginFailsPerUser {
		t.Errorf("account key holds %d failures, want %d", n, loginFailsPerUser)
	}
	if n, _ := rdb.ZCard(ctx, addr).Result(); n != loginFailsPerIP {
		t.Errorf("address key holds %d failures, want %d", n, loginFailsPerIP)
	}
	if ttl, _ := rdb.PTTL(ctx, user).Result(); ttl <= 0 || ttl > loginWindow {
		t.Errorf("account key TTL %v, want up to %v", ttl, loginWindow)
	}
	if strings.Contains(user, "bulk") {
		t.Errorf("key %q names the account", user)
	}
}

// TestLoginLimitsAcrossReplicas signs in wrongly on one server and is
// refused by another that shares its Redis.
func TestLoginLimitsAcrossReplicas(t *testing.T) {
	e := newTestEnv(t)
	rdb, prefix := sharedRedis(t)
	_, a := e.replica(rdb, prefix, time.Now)
	_, b := e.replica(rdb, prefix, time.Now)
	attempt := func(ts *httptest.Server, password string) *http.Response {
		t.Helper()
		c := e.client()
		res, err := c.Get(ts.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		tok := extractToken(t, readAll(t, res))
		res, err = c.PostForm(ts.URL+"/login", url.Values{"csrf_token": {tok}, "name": {"admin-user"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range loginFailsPerUser {
		ts := a
		if i%2 == 1 {
			ts = b
		}
		if res := attempt(ts, "guess guess guess"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	for _, ts := range []*httptest.Server{a, b} {
		if res := attempt(ts, "correct horse battery staple"); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Errorf("right password after %d failures spread over two replicas: %d, want 429", loginFailsPerUser, res.StatusCode)
		}
	}
}

// TestLoginLimiterWithoutRedis: when Redis stops answering, sign-in stays
// limited, by this process's own count.
func TestLoginLimiterWithoutRedis(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialTimeout: 50 * time.Millisecond, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	var logs syncBuffer
	l := newRedisLoginLimiter(rdb, "x:", time.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	m.Close()
	ctx := context.Background()
	for range loginFailsPerUser {
		l.fail(ctx, "ola", "10.0.0.1")
	}
	if w := l.blocked(ctx, "ola", "10.0.0.2"); w <= 0 {
		t.Error("not limited while Redis is down")
	}
	if !strings.Contains(logs.String(), "Redis does not answer") || strings.Count(logs.String(), "level=WARN") != 1 {
		t.Errorf("want one warning, got:\n%s", logs.String())
	}
}

// TestProgressAcrossReplicas: replicas sharing Redis draw one rate chart,
// which a restarted server still has; a campaign keeps maxSamples.
func TestProgressAcrossReplicas(t *testing.T) {
	e := newTestEnv(t)
	rdb, prefix := sharedRedis(t)
	clock := &testClock{t: time.Now().Truncate(time.Second)}
	a, _ := e.replica(rdb, prefix, clock.now)
	b, _ := e.replica(rdb, prefix, clock.now)
	ctx := context.Background()

	a.progress.observe(ctx, 7, clock.now(), 0, 0)
	clock.advance(time.Second)
	b.progress.observe(ctx, 7, clock.now(), 10, 5) // within the interval: the same sample, newer counts
	clock.advance(time.Second)
	ss := b.progress.observe(ctx, 7, clock.now(), 100, 50)
	if len(ss) != 2 || ss[0].attempts != 10 || ss[1].attempts != 100 || ss[1].at.Sub(ss[0].at) != 2*time.Second {
		t.Fatalf("samples after three observations on two replicas: %+v", ss)
	}
	if r := rates(ss); len(r) != 1 || r[0].PerMinute != 2700 {
		t.Errorf("rate %+v, want 2700 a minute", r)
	}
	// A replica that read older counts starts the next sample low; within
	// the interval the higher counts win, so the chart does not dip.
	clock.advance(sampleEvery)
	a.progress.observe(ctx, 7, clock.now(), 40, 20)
	ss = b.progress.observe(ctx, 7, clock.now(), 200, 100)
	if len(ss) != 3 || ss[2].attempts != 200 {
		t.Errorf("samples after a stale observation: %+v", ss)
	}
	for _, p := range rates(ss) {
		if p.PerMinute < 0 {
			t.Errorf("negative rate %+v", p)
		}
	}

	// A restarted server has the history.
	c, _ := e.replica(rdb, prefix, clock.now)
	if got := c.progress.observe(ctx, 7, clock.now(), 200, 100); len(got) != 3 {
		t.Errorf("a new replica sees %d samples, want 3", len(got))
	}

	// Bounded: the oldest samples go.
	for i := range maxSamples + 20 {
		clock.advance(sampleEvery)
		a.progress.observe(ctx, 8, clock.now(), int64(i), int64(i))
	}
	if n, _ := rdb.ZCard(ctx, prefix+"web:progress:8").Result(); n != maxSamples {
		t.Errorf("campaign 8 keeps %d samples, want %d", n, maxSamples)
	}
	if ttl, _ := rdb.PTTL(ctx, prefix+"web:progress:8").Result(); ttl <= 0 || ttl > sampleTTL {
		t.Errorf("samples TTL %v", ttl)
	}
}

// countingStore counts the reports it computes.
type countingStore struct {
	ledger
	mu      sync.Mutex
	reports int
}

func (c *countingStore) Report(ctx context.Context, id int64) (*dispatcher.Report, error) {
	c.mu.Lock()
	c.reports++
	c.mu.Unlock()
	return c.ledger.Report(ctx, id)
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reports
}

// TestReportsSharedAcrossReplicas: many viewers on two replicas polling a
// campaign's status cost one report per freshness period; the rate chart
// on one replica has the samples taken on the other; a finished campaign's
// report is recomputed once after it finished, then never.
func TestReportsSharedAcrossReplicas(t *testing.T) {
	e := newTestEnv(t)
	rdb, prefix := sharedRedis(t)
	clock := &testClock{t: time.Now()}
	st := &countingStore{ledger: e.st}
	replica := func() *Server {
		srv, err := New(Config{Store: st, Users: st, Redis: rdb, RedisPrefix: prefix, Now: clock.now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	a, b := replica(), replica()
	c := e.campaign("replicas")
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := a
			if i%2 == 1 {
				srv = b
			}
			if _, err := srv.campaignStatus(ctx, c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// One per replica at most when both start cold at the same moment.
	if n := st.count(); n < 1 || n > 2 {
		t.Errorf("20 status reads on two replicas computed %d reports, want 1 or 2", n)
	}
	before := st.count()
	for range 10 {
		if _, err := b.campaignStatus(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if st.count() != before {
		t.Errorf("status reads within the freshness period computed %d more reports", st.count()-before)
	}
	clock.advance(sampleEvery)
	s1, err := a.campaignStatus(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.campaignStatus(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.count() != before+1 || !s1.At.Equal(s2.At) {
		t.Errorf("after the freshness period: %d reports, status times %v and %v; want one more, shared", st.count()-before, s1.At, s2.At)
	}
	if len(s2.Rate) != 1 {
		t.Errorf("status on the second replica has %d rate points, want 1 (two reports, computed on both)", len(s2.Rate))
	}

	// Finished: recomputed once after the end, then kept.
	clock.advance(time.Second)
	if err := e.st.SetCampaignStatus(ctx, c.ID, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignCancelled, clock.now()); err != nil {
		t.Fatal(err)
	}
	done, _ := e.st.Campaign(ctx, c.ID)
	before = st.count()
	for range 3 {
		clock.advance(time.Hour / 2)
		if _, err := a.campaignStatus(ctx, done); err != nil {
			t.Fatal(err)
		}
	}
	if st.count() != before+1 {
		t.Errorf("a finished campaign computed %d reports in 90 minutes, want 1", st.count()-before)
	}
	// Its copy in Redis outlives a running campaign's (reportKeep), so the
	// campaign list does not read the ledger again for it each hour.
	if ttl := rdb.TTL(ctx, a.reports.(*redisReports).key(c.ID)).Val(); ttl <= reportKeep {
		t.Errorf("a finished campaign's report is kept for %v, want more than %v", ttl, reportKeep)
	}
}

func TestFreshFor(t *testing.T) {
	for took, want := range map[time.Duration]time.Duration{
		time.Millisecond: sampleEvery, time.Second: 5 * time.Second, 2 * time.Second: 10 * time.Second, time.Minute: reportFreshMax,
	} {
		if got := freshFor(took); got != want {
			t.Errorf("freshFor(%v) = %v, want %v", took, got, want)
		}
	}
}

// extractToken finds the sign-in form's CSRF token in its HTML.
func extractToken(t *testing.T, page string) string {
	t.Helper()
	const marker = `name="csrf_token" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no CSRF token in the sign-in form")
	}
	rest := page[i+len(marker):]
	return rest[:strings.Index(rest, `"`)]
}
