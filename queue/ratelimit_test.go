package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
)

// limiterEnv is one Redis a rate limiter test runs against.
type limiterEnv struct {
	rl     *RateLimiter
	rdb    redis.UniversalClient
	prefix string
	mini   *miniredis.Miniredis // nil on the real Redis
}

// setTime freezes the embedded Redis's clock at at; only on miniredis.
func (e *limiterEnv) setTime(at time.Time) { e.mini.SetTime(at) }

// eachLimiterEnv runs fn on miniredis (real time unless the test freezes
// it) and, when HERALD_TEST_REDIS_URL is set, on the real Redis, each with
// a fresh key prefix.
func eachLimiterEnv(t *testing.T, fn func(t *testing.T, e *limiterEnv)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) { fn(t, newMiniLimiterEnv(t)) })
	t.Run("redis", func(t *testing.T) { fn(t, newRedisLimiterEnv(t, testenv.RedisURL(t))) })
}

func newMiniLimiterEnv(t testing.TB) *limiterEnv {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatalf("start miniredis: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() {
		_ = rdb.Close()
		m.Close()
	})
	prefix := limiterPrefix(t)
	return &limiterEnv{rl: NewRateLimiter(rdb, prefix), rdb: rdb, prefix: prefix, mini: m}
}

// newRedisLimiterEnv connects to the shared Redis at url and, when the test
// ends, deletes the keys under its own prefix and nothing else.
func newRedisLimiterEnv(t testing.TB, url string) *limiterEnv {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", testenv.RedisVar, err)
	}
	opt.PoolSize = 64
	rdb := redis.NewClient(opt)
	prefix := limiterPrefix(t)
	t.Cleanup(func() {
		deleteKeys(t, rdb, prefix)
		_ = rdb.Close()
	})
	return &limiterEnv{rl: NewRateLimiter(rdb, prefix), rdb: rdb, prefix: prefix}
}

// limiterPrefix is a random key prefix, so tests sharing one Redis never
// see each other's limits.
func limiterPrefix(t testing.TB) string {
	t.Helper()
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	return "hrltest" + hex.EncodeToString(r[:]) + ":"
}

// deleteKeys removes the keys under prefix.
func deleteKeys(t testing.TB, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		if strings.HasPrefix(iter.Val(), prefix) {
			keys = append(keys, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup scan: %v", err)
	}
	if len(keys) > 0 {
		if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
			t.Errorf("cleanup unlink: %v", err)
		}
	}
}

// epoch is the frozen clock of the miniredis tests.
var epoch = time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)

func mustAllow(t *testing.T, e *limiterEnv, name string, rate float64, burst, n int) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := e.rl.AllowN(context.Background(), name, rate, burst, n)
	if err != nil {
		t.Fatalf("AllowN(%s, %v, %d, %d): %v", name, rate, burst, n, err)
	}
	if ok && retry != 0 {
		t.Fatalf("AllowN granted with retryAfter %s, want 0", retry)
	}
	if !ok && retry <= 0 {
		t.Fatalf("AllowN refused with retryAfter %s, want > 0", retry)
	}
	return ok, retry
}

func TestAllowBurstThenRefused(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		burst     int
		wantRetry time.Duration // the emission interval
		slack     time.Duration // Lua's doubles hold 2026's µs to ¼µs
	}{
		{"one per second", 1, 5, time.Second, 0},
		{"fast, no burst", 200, 1, 5 * time.Millisecond, 0},
		{"slower than one per second", 0.5, 3, 2 * time.Second, 0},
		{"interval not a whole µs", 3, 2, 333333 * time.Microsecond, time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newMiniLimiterEnv(t)
			e.setTime(epoch)
			for i := range tt.burst {
				if ok, _ := mustAllow(t, e, "sms", tt.rate, tt.burst, 1); !ok {
					t.Fatalf("request %d of the burst of %d refused", i+1, tt.burst)
				}
			}
			ok, retry := mustAllow(t, e, "sms", tt.rate, tt.burst, 1)
			if ok {
				t.Fatalf("request %d after a burst of %d granted", tt.burst+1, tt.burst)
			}
			if d := retry - tt.wantRetry; d < -tt.slack || d > tt.slack {
				t.Errorf("retryAfter = %s, want %s±%s", retry, tt.wantRetry, tt.slack)
			}
			// A refused request takes nothing: asking again at once gets
			// the same answer.
			if _, again := mustAllow(t, e, "sms", tt.rate, tt.burst, 1); again != retry {
				t.Errorf("second refusal retryAfter = %s, want %s", again, retry)
			}
			// One microsecond early is still too early; on time is granted,
			// once.
			e.setTime(epoch.Add(retry - time.Microsecond))
			if ok, _ := mustAllow(t, e, "sms", tt.rate, tt.burst, 1); ok {
				t.Errorf("granted 1µs before retryAfter")
			}
			e.setTime(epoch.Add(retry))
			if ok, _ := mustAllow(t, e, "sms", tt.rate, tt.burst, 1); !ok {
				t.Errorf("refused at retryAfter")
			}
			if ok, _ := mustAllow(t, e, "sms", tt.rate, tt.burst, 1); ok {
				t.Errorf("granted twice at retryAfter")
			}
		})
	}
}

// TestAllowBurstRealTime is the burst test with the clock running, on both
// backends: a slow rate so that no cell drips in while it runs.
func TestAllowBurstRealTime(t *testing.T) {
	eachLimiterEnv(t, func(t *testing.T, e *limiterEnv) {
		const rate, burst = 0.1, 5 // one cell every 10s
		for i := range burst {
			if ok, _ := mustAllow(t, e, "email", rate, burst, 1); !ok {
				t.Fatalf("request %d of the burst refused", i+1)
			}
		}
		ok, retry := mustAllow(t, e, "email", rate, burst, 1)
		if ok {
			t.Fatal("request after the burst granted")
		}
		if retry <= 8*time.Second || retry > 10*time.Second {
			t.Errorf("retryAfter = %s, want just under 10s", retry)
		}
	})
}

// TestAllowRateOverWindow steps a frozen clock through one second a
// millisecond at a time, asking at every step: the grants are exactly the
// burst plus one per whole emission interval.
func TestAllowRateOverWindow(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
		want  int
	}{
		{50, 1, 1 + 50},
		{50, 10, 10 + 50},
		{33.3, 3, 3 + 33}, // interval 30030.03µs: 33.3 intervals in 1s
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("rate=%v,burst=%d", tt.rate, tt.burst), func(t *testing.T) {
			t.Parallel()
			e := newMiniLimiterEnv(t)
			granted := 0
			for ms := range 1001 {
				e.setTime(epoch.Add(time.Duration(ms) * time.Millisecond))
				if ok, _ := mustAllow(t, e, "email", tt.rate, tt.burst, 1); ok {
					granted++
				}
			}
			if granted != tt.want {
				t.Errorf("granted %d over 1s, want %d", granted, tt.want)
			}
		})
	}
}

// TestAllowRateRealTime asks in a tight loop for a short while and checks
// the grants against the wall clock: never more than the rate allows, and
// more than the burst (cells keep coming). The exact count is
// TestAllowRateOverWindow's job; a busy machine can starve this loop.
func TestAllowRateRealTime(t *testing.T) {
	eachLimiterEnv(t, func(t *testing.T, e *limiterEnv) {
		const rate, burst = 100.0, 5
		granted := 0
		start := time.Now()
		for time.Since(start) < 300*time.Millisecond {
			if ok, _ := mustAllow(t, e, "email", rate, burst, 1); ok {
				granted++
			}
		}
		elapsed := time.Since(start).Seconds()
		upper := rate*elapsed + burst
		if float64(granted) > upper {
			t.Errorf("granted %d in %.3fs, more than rate×time+burst = %.1f", granted, elapsed, upper)
		}
		if granted <= burst {
			t.Errorf("granted %d in %.3fs: nothing after the burst of %d", granted, elapsed, burst)
		}
		t.Logf("granted %d in %.3fs at %v/s, burst %d", granted, elapsed, rate, burst)
	})
}

// TestAllowConcurrent hammers one limit from many goroutines (and so many
// connections) and counts the grants: never more than rate×time+burst.
func TestAllowConcurrent(t *testing.T) {
	eachLimiterEnv(t, func(t *testing.T, e *limiterEnv) {
		const rate, burst, workers = 200.0, 10, 16
		var granted, calls atomic.Int64
		ctx := context.Background()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for time.Since(start) < 400*time.Millisecond {
					ok, _, err := e.rl.Allow(ctx, "sms", rate, burst)
					if err != nil {
						errs <- err
						return
					}
					calls.Add(1)
					if ok {
						granted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		close(errs)
		for err := range errs {
			t.Fatalf("Allow: %v", err)
		}
		upper := rate*elapsed + burst
		if float64(granted.Load()) > upper {
			t.Errorf("granted %d in %.3fs, more than rate×time+burst = %.1f", granted.Load(), elapsed, upper)
		}
		if granted.Load() < burst {
			t.Errorf("granted %d, fewer than the burst %d", granted.Load(), burst)
		}
		t.Logf("%d goroutines: %d of %d calls granted in %.3fs (bound %.1f)", workers, granted.Load(), calls.Load(), elapsed, upper)
	})
}

func TestAllowN(t *testing.T) {
	e := newMiniLimiterEnv(t)
	e.setTime(epoch)
	const rate, burst = 10.0, 10 // interval 100ms
	for i := range 2 {
		if ok, _ := mustAllow(t, e, "sms", rate, burst, 4); !ok {
			t.Fatalf("AllowN(4) #%d refused with %d of 10 cells used", i+1, 4*i)
		}
	}
	ok, retry := mustAllow(t, e, "sms", rate, burst, 4)
	if ok {
		t.Fatal("AllowN(4) granted with 8 of 10 cells used")
	}
	if retry != 200*time.Millisecond {
		t.Errorf("retryAfter = %s, want 200ms (two cells short)", retry)
	}
	if ok, _ := mustAllow(t, e, "sms", rate, burst, 2); !ok {
		t.Error("AllowN(2) refused with 2 cells left")
	}
	_, _, err := e.rl.AllowN(context.Background(), "sms", rate, burst, burst+1)
	if !errors.Is(err, ErrCostExceedsBurst) {
		t.Errorf("AllowN(burst+1) = %v, want ErrCostExceedsBurst", err)
	}
}

// TestLimitsAreIndependent checks that names and prefixes separate limits.
func TestLimitsAreIndependent(t *testing.T) {
	e := newMiniLimiterEnv(t)
	e.setTime(epoch)
	other := NewRateLimiter(e.rdb, "other:")
	for _, l := range []struct {
		rl   *RateLimiter
		name string
	}{{e.rl, "email"}, {e.rl, "sms"}, {e.rl, "domain:example.com"}, {other, "email"}} {
		ok, _, err := l.rl.Allow(context.Background(), l.name, 1, 1)
		if err != nil || !ok {
			t.Errorf("first Allow of %s%s = %v, %v; want granted", l.rl.prefix, l.name, ok, err)
		}
	}
}

// TestRateKeyExpires checks the key's name (with its hash tag) and that it
// lives exactly as long as the limit remembers anything.
func TestRateKeyExpires(t *testing.T) {
	e := newMiniLimiterEnv(t)
	e.setTime(epoch)
	ctx := context.Background()
	for range 3 {
		mustAllow(t, e, "domain:gmail.com", 2, 5, 1) // 3 × 500ms of debt
	}
	key := e.prefix + "rl:{domain:gmail.com}"
	if got := e.mini.TTL(key); got != 1500*time.Millisecond {
		t.Errorf("TTL(%s) = %s, want 1.5s", key, got)
	}
	e.mini.FastForward(1500 * time.Millisecond)
	if n, err := e.rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Errorf("key still there after its TTL: %d, %v", n, err)
	}
}

func TestRateKeyExpiresRealRedis(t *testing.T) {
	e := newRedisLimiterEnv(t, testenv.RedisURL(t))
	ctx := context.Background()
	if ok, _ := mustAllow(t, e, "email", 10, 5, 1); !ok {
		t.Fatal("refused")
	}
	ttl, err := e.rdb.PTTL(ctx, e.prefix+"rl:{email}").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 100*time.Millisecond {
		t.Errorf("PTTL = %s, want in (0, 100ms]", ttl)
	}
}

func TestRateLimiterRejectsBadArguments(t *testing.T) {
	e := newMiniLimiterEnv(t)
	ctx := context.Background()
	allow := []struct {
		desc  string
		rl    *RateLimiter
		name  string
		rate  float64
		burst int
		n     int
	}{
		{"empty name", e.rl, "", 1, 1, 1},
		{"brace in name", e.rl, "a{b}", 1, 1, 1},
		{"space in name", e.rl, "gmail .com", 1, 1, 1},
		{"newline in name", e.rl, "x\ny", 1, 1, 1},
		{"long name", e.rl, strings.Repeat("x", 201), 1, 1, 1},
		{"brace in prefix", NewRateLimiter(e.rdb, "h{x}:"), "email", 1, 1, 1},
		{"zero rate", e.rl, "email", 0, 1, 1},
		{"negative rate", e.rl, "email", -5, 1, 1},
		{"NaN rate", e.rl, "email", math.NaN(), 1, 1},
		{"infinite rate", e.rl, "email", math.Inf(1), 1, 1},
		{"rate above MaxRate", e.rl, "email", MaxRate + 1, 1, 1},
		{"zero burst", e.rl, "email", 1, 0, 1},
		{"burst above MaxBurst", e.rl, "email", 1, MaxBurst + 1, 1},
		{"zero cost", e.rl, "email", 1, 1, 0},
	}
	for _, tt := range allow {
		t.Run(tt.desc, func(t *testing.T) {
			ok, _, err := tt.rl.AllowN(ctx, tt.name, tt.rate, tt.burst, tt.n)
			if ok || dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Errorf("AllowN = %v, %v; want EINVALID", ok, err)
			}
		})
	}
	sem := []struct {
		desc  string
		name  string
		limit int
		lease time.Duration
	}{
		{"empty name", "", 1, time.Second},
		{"zero limit", "domain:x", 0, time.Second},
		{"sub-millisecond lease", "domain:x", 1, time.Microsecond},
		{"negative lease", "domain:x", 1, -time.Second},
	}
	for _, tt := range sem {
		t.Run("Acquire "+tt.desc, func(t *testing.T) {
			_, ok, err := e.rl.Acquire(ctx, tt.name, tt.limit, tt.lease)
			if ok || dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Errorf("Acquire = %v, %v; want EINVALID", ok, err)
			}
		})
	}
	if err := e.rl.Release(ctx, "a}b", "token"); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
		t.Errorf("Release with a bad name = %v, want EINVALID", err)
	}
	if keys := e.mini.Keys(); len(keys) != 0 {
		t.Errorf("rejected calls wrote keys %v", keys)
	}
}

func TestSemaphoreLimitAndRelease(t *testing.T) {
	eachLimiterEnv(t, func(t *testing.T, e *limiterEnv) {
		ctx := context.Background()
		const name, limit, lease = "domain:example.com", 3, time.Minute
		var tokens []string
		for i := range limit {
			tok, ok, err := e.rl.Acquire(ctx, name, limit, lease)
			if err != nil || !ok || tok == "" {
				t.Fatalf("Acquire #%d = %q, %v, %v; want a slot", i+1, tok, ok, err)
			}
			tokens = append(tokens, tok)
		}
		if tokens[0] == tokens[1] || tokens[1] == tokens[2] || tokens[0] == tokens[2] {
			t.Errorf("tokens not distinct: %v", tokens)
		}
		if tok, ok, err := e.rl.Acquire(ctx, name, limit, lease); err != nil || ok || tok != "" {
			t.Fatalf("Acquire beyond the limit = %q, %v, %v; want refused", tok, ok, err)
		}
		// Another name has its own slots.
		if _, ok, err := e.rl.Acquire(ctx, "domain:example.org", limit, lease); err != nil || !ok {
			t.Errorf("Acquire of another name = %v, %v; want a slot", ok, err)
		}
		if err := e.rl.Release(ctx, name, "not-a-token"); !errors.Is(err, ErrLeaseExpired) {
			t.Errorf("Release of an unknown token = %v, want ErrLeaseExpired", err)
		}
		if _, ok, _ := e.rl.Acquire(ctx, name, limit, lease); ok {
			t.Fatal("releasing an unknown token freed a slot")
		}
		if err := e.rl.Release(ctx, name, tokens[1]); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if err := e.rl.Release(ctx, name, tokens[1]); !errors.Is(err, ErrLeaseExpired) {
			t.Errorf("second Release = %v, want ErrLeaseExpired", err)
		}
		tok, ok, err := e.rl.Acquire(ctx, name, limit, lease)
		if err != nil || !ok {
			t.Fatalf("Acquire after Release = %v, %v; want a slot", ok, err)
		}
		if _, ok, _ := e.rl.Acquire(ctx, name, limit, lease); ok {
			t.Fatal("Release freed more than one slot")
		}
		key := e.prefix + "sem:{" + name + "}"
		ttl, err := e.rdb.PTTL(ctx, key).Result()
		if err != nil || ttl <= lease-5*time.Second || ttl > lease {
			t.Errorf("PTTL(%s) = %s, %v; want about the lease %s", key, ttl, err, lease)
		}
		for _, tk := range []string{tokens[0], tokens[2], tok} {
			if err := e.rl.Release(ctx, name, tk); err != nil {
				t.Errorf("Release: %v", err)
			}
		}
		if n, err := e.rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Errorf("semaphore key left after every slot was released: %d, %v", n, err)
		}
	})
}

func TestSemaphoreLeaseExpires(t *testing.T) {
	t.Run("frozen clock", func(t *testing.T) {
		e := newMiniLimiterEnv(t)
		ctx := context.Background()
		const name, lease = "domain:example.com", 30 * time.Second
		e.setTime(epoch)
		first, ok, err := e.rl.Acquire(ctx, name, 2, lease)
		if err != nil || !ok {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		e.setTime(epoch.Add(10 * time.Second))
		if _, ok, err := e.rl.Acquire(ctx, name, 2, lease); err != nil || !ok {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		e.setTime(epoch.Add(lease - time.Microsecond))
		if _, ok, _ := e.rl.Acquire(ctx, name, 2, lease); ok {
			t.Fatal("a slot freed before its lease ran out")
		}
		e.setTime(epoch.Add(lease))
		if _, ok, _ := e.rl.Acquire(ctx, name, 2, lease); !ok {
			t.Fatal("the first lease ran out but its slot was not freed")
		}
		if _, ok, _ := e.rl.Acquire(ctx, name, 2, lease); ok {
			t.Fatal("more than the expired slot was freed")
		}
		if err := e.rl.Release(ctx, name, first); !errors.Is(err, ErrLeaseExpired) {
			t.Errorf("Release after the lease ran out = %v, want ErrLeaseExpired", err)
		}
	})
	t.Run("real clock", func(t *testing.T) {
		eachLimiterEnv(t, func(t *testing.T, e *limiterEnv) {
			ctx := context.Background()
			const name, lease = "domain:example.net", 100 * time.Millisecond
			start := time.Now()
			if _, ok, err := e.rl.Acquire(ctx, name, 1, lease); err != nil || !ok {
				t.Fatalf("Acquire = %v, %v", ok, err)
			}
			if _, ok, _ := e.rl.Acquire(ctx, name, 1, lease); ok {
				t.Fatal("Acquire beyond the limit granted")
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, ok, err := e.rl.Acquire(ctx, name, 1, lease)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the slot of an expired lease was never freed")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if waited := time.Since(start); waited < lease {
				t.Errorf("slot freed after %s, before the lease of %s ran out", waited, lease)
			}
		})
	})
}

// TestSemaphoreConcurrent has many goroutines take and give back slots and
// counts how many hold one at once: never more than the limit.
func TestSemaphoreConcurrent(t *testing.T) {
	eachLimiterEnv(t, func(t *testing.T, e *limiterEnv) {
		const name, limit, workers, rounds = "domain:gmail.com", 3, 12, 40
		ctx := context.Background()
		var inFlight, maxInFlight, acquired atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range rounds {
					tok, ok, err := e.rl.Acquire(ctx, name, limit, 10*time.Second)
					if err != nil {
						errs <- err
						return
					}
					if !ok {
						runtime.Gosched()
						continue
					}
					acquired.Add(1)
					storeMax(&maxInFlight, inFlight.Add(1))
					runtime.Gosched() // the "send"
					inFlight.Add(-1)
					if err := e.rl.Release(ctx, name, tok); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if maxInFlight.Load() > limit {
			t.Errorf("%d slots held at once, limit %d", maxInFlight.Load(), limit)
		}
		if acquired.Load() == 0 {
			t.Error("no goroutine ever got a slot")
		}
		t.Logf("%d of %d acquisitions granted, at most %d held at once", acquired.Load(), workers*rounds, maxInFlight.Load())
	})
}

// storeMax raises m to n if n is larger.
func storeMax(m *atomic.Int64, n int64) {
	for {
		old := m.Load()
		if n <= old || m.CompareAndSwap(old, n) {
			return
		}
	}
}

// The cross-process measurement. The parent starts limitProcs copies of
// the test binary in helper mode; each connects, says ready, waits for the
// word go on stdin, calls Allow in a tight loop for the duration and
// prints its grants.
const (
	helperEnv       = "HERALD_TEST_RL_HELPER" // "1" selects helper mode
	helperPrefixEnv = "HERALD_TEST_RL_PREFIX"
	helperRateEnv   = "HERALD_TEST_RL_RATE"
	helperBurstEnv  = "HERALD_TEST_RL_BURST"
	helperForEnv    = "HERALD_TEST_RL_FOR"
	// measureSecondsEnv overrides the length of the measured run.
	measureSecondsEnv = "HERALD_TEST_RL_SECONDS"
	limitProcs        = 3
)

// TestRateLimitHelperProcess is not a test: it is the body of a helper
// process of TestRateLimitAcrossProcesses.
func TestRateLimitHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestRateLimitAcrossProcesses")
	}
	rate, err := strconv.ParseFloat(os.Getenv(helperRateEnv), 64)
	if err != nil {
		t.Fatal(err)
	}
	burst, err := strconv.Atoi(os.Getenv(helperBurstEnv))
	if err != nil {
		t.Fatal(err)
	}
	dur, err := time.ParseDuration(os.Getenv(helperForEnv))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(os.Getenv(testenv.RedisVar))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	rl := NewRateLimiter(rdb, os.Getenv(helperPrefixEnv))
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "go" {
		t.Fatalf("waiting for go: %q, %v", line, err)
	}
	var granted, calls int
	start := time.Now()
	for time.Since(start) < dur {
		ok, _, err := rl.Allow(ctx, "email", rate, burst)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		if ok {
			granted++
		}
	}
	fmt.Printf("result granted=%d calls=%d seconds=%.6f\n", granted, calls, time.Since(start).Seconds())
}

// TestRateLimitAcrossProcesses measures the limit shared by three worker
// processes on the real Redis (issue 3's acceptance: R/s across 3 processes
// within ±10 %). It reports the achieved rate and fails only outside ±25 %,
// so that a loaded machine does not make it flaky, or when more was granted
// than the limit allows in the wall-clock time of the run:
//
//	HERALD_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run TestRateLimitAcrossProcesses -v ./queue/
func TestRateLimitAcrossProcesses(t *testing.T) {
	url := testenv.RedisURL(t)
	if testing.Short() {
		t.Skip("a measured run of several seconds")
	}
	// A burst of 20 is 100ms of slack: a tight loop in three processes
	// on a busy machine can leave Redis without a caller for tens of
	// milliseconds, and what the limit does not hand out then is lost.
	// It is 2 % of the run's grants and is subtracted from the figure.
	const rate, burst = 200.0, 20
	dur := 5 * time.Second
	if s := os.Getenv(measureSecondsEnv); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want seconds", measureSecondsEnv, s)
		}
		dur = time.Duration(n * float64(time.Second))
	}
	e := newRedisLimiterEnv(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), dur+60*time.Second)
	defer cancel()

	type proc struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Scanner
	}
	procs := make([]*proc, limitProcs)
	for i := range procs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRateLimitHelperProcess$", "-test.count=1", "-test.v=false")
		cmd.Env = append(os.Environ(),
			helperEnv+"=1",
			helperPrefixEnv+"="+e.prefix,
			helperRateEnv+"="+strconv.FormatFloat(rate, 'f', -1, 64),
			helperBurstEnv+"="+strconv.Itoa(burst),
			helperForEnv+"="+dur.String(),
		)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start helper %d: %v", i, err)
		}
		p := &proc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
		procs[i] = p
		t.Cleanup(func() {
			_ = p.stdin.Close()
			_ = p.cmd.Wait() // after ctx ends, CommandContext has killed it
		})
	}
	for i, p := range procs {
		if !scanUntil(p.out, func(s string) bool { return s == "ready" }) {
			t.Fatalf("helper %d never said ready", i)
		}
	}
	started := time.Now()
	for i, p := range procs {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			t.Fatalf("start helper %d: %v", i, err)
		}
	}
	var total, calls int
	var seconds float64
	for i, p := range procs {
		var line string
		if !scanUntil(p.out, func(s string) bool { line = s; return strings.HasPrefix(s, "result ") }) {
			t.Fatalf("helper %d reported no result", i)
		}
		var g, c int
		var s float64
		if _, err := fmt.Sscanf(line, "result granted=%d calls=%d seconds=%f", &g, &c, &s); err != nil {
			t.Fatalf("helper %d: %q: %v", i, line, err)
		}
		t.Logf("process %d: %d granted of %d calls in %.3fs", i+1, g, c, s)
		total += g
		calls += c
		seconds = max(seconds, s)
	}
	window := time.Since(started).Seconds() // every grant happened within it
	if upper := rate*window + burst; float64(total) > upper {
		t.Errorf("%d granted within %.3fs: more than rate×time+burst = %.1f", total, window, upper)
	}
	// The first burst cells come free; the rest drip at the rate.
	achieved := float64(total-burst) / seconds
	dev := (achieved - rate) / rate
	t.Logf("%d processes, limit %v/s burst %d: %d granted in %.3fs = %.2f/s, %+.2f%% off the limit (%.0f calls/s in all)",
		limitProcs, rate, burst, total, seconds, achieved, 100*dev, float64(calls)/seconds)
	if math.Abs(dev) > 0.25 {
		t.Errorf("achieved %.2f/s, more than 25%% off the limit of %v/s", achieved, rate)
	}
}

// scanUntil reads lines until match accepts one (true) or the output ends.
func scanUntil(s *bufio.Scanner, match func(string) bool) bool {
	for s.Scan() {
		if match(strings.TrimSpace(s.Text())) {
			return true
		}
	}
	return false
}

// BenchmarkAllow measures one Allow decision (one script call) on the real
// Redis when HERALD_TEST_REDIS_URL is set, else on miniredis:
//
//	HERALD_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench Allow ./queue/
func BenchmarkAllow(b *testing.B) {
	var e *limiterEnv
	if url := os.Getenv(testenv.RedisVar); url != "" {
		e = newRedisLimiterEnv(b, url)
	} else {
		e = newMiniLimiterEnv(b)
	}
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := e.rl.Allow(ctx, "email", 1000, 10); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
