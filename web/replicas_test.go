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

	a.progress.observe(ctx, 7, 0, 0)
	clock.advance(time.Second)
	b.progress.observe(ctx, 7, 10, 5) // within the interval: the same sample, newer counts
	clock.advance(time.Second)
	ss := b.progress.observe(ctx, 7, 100, 50)
	if len(ss) != 2 || ss[0].attempts != 10 || ss[1].attempts != 100 || ss[1].at.Sub(ss[0].at) != 2*time.Second {
		t.Fatalf("samples after three observations on two replicas: %+v", ss)
	}
	if r := rates(ss); len(r) != 1 || r[0].PerMinute != 2700 {
		t.Errorf("rate %+v, want 2700 a minute", r)
	}
	// A replica that read older counts starts the next sample low; within
	// the interval the higher counts win, so the chart does not dip.
	clock.advance(sampleEvery)
	a.progress.observe(ctx, 7, 40, 20)
	ss = b.progress.observe(ctx, 7, 200, 100)
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
	if got := c.progress.observe(ctx, 7, 200, 100); len(got) != 3 {
		t.Errorf("a new replica sees %d samples, want 3", len(got))
	}

	// Bounded: the oldest samples go.
	for i := range maxSamples + 20 {
		clock.advance(sampleEvery)
		a.progress.observe(ctx, 8, int64(i), int64(i))
	}
	if n, _ := rdb.ZCard(ctx, prefix+"web:progress:8").Result(); n != maxSamples {
		t.Errorf("campaign 8 keeps %d samples, want %d", n, maxSamples)
	}
	if ttl, _ := rdb.PTTL(ctx, prefix+"web:progress:8").Result(); ttl <= 0 || ttl > sampleTTL {
		t.Errorf("samples TTL %v", ttl)
	}
}

// TestDashboardRateAcrossReplicas: the API status of a campaign read on
// one replica shows the rate sampled on another.
func TestDashboardRateAcrossReplicas(t *testing.T) {
	e := newTestEnv(t)
	rdb, prefix := sharedRedis(t)
	clock := &testClock{t: time.Now()}
	a, _ := e.replica(rdb, prefix, clock.now)
	b, _ := e.replica(rdb, prefix, clock.now)
	c := e.campaign("replicas")
	ctx := context.Background()
	if _, err := a.campaignStatus(ctx, c); err != nil {
		t.Fatal(err)
	}
	clock.advance(sampleEvery)
	st, err := b.campaignStatus(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Rate) != 1 {
		t.Errorf("status on the second replica has %d rate points, want 1 (one interval sampled across both)", len(st.Rate))
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
