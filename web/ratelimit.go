package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Login limits: after this many failures within the window, further
// attempts are refused until the oldest failure leaves the window. The
// per-account limit stops guessing one person's password from many
// addresses; the per-address limit stops trying many accounts from one.
const (
	loginWindow         = 15 * time.Minute
	loginFailsPerUser   = 5
	loginFailsPerIP     = 20
	loginLimiterMaxKeys = 10000
)

// loginLimits counts failed sign-ins. Several replicas of the server share
// the counts through Redis (redisLoginLimiter); without Redis each process
// counts alone (loginLimiter).
type loginLimits interface {
	// blocked returns how long the caller must wait before trying name
	// from ip again, 0 when it may try now.
	blocked(ctx context.Context, name, ip string) time.Duration
	// fail records a failed attempt.
	fail(ctx context.Context, name, ip string)
	// succeed forgets an account's failures; the address's stay, so one
	// good password does not reset guessing at others.
	succeed(ctx context.Context, name string)
}

// loginLimiter counts failed sign-ins per account and per client address,
// in memory: a restart forgives, and several server replicas each keep
// their own count. It is what a server without Redis uses, and what the
// Redis limiter falls back to while Redis does not answer.
type loginLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	user map[string][]time.Time
	ip   map[string][]time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, user: map[string][]time.Time{}, ip: map[string][]time.Time{}}
}

func (l *loginLimiter) blocked(_ context.Context, name, ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wait := waitFor(l.user, strings.ToLower(name), loginFailsPerUser, now)
	if w := waitFor(l.ip, ip, loginFailsPerIP, now); w > wait {
		wait = w
	}
	return wait
}

func (l *loginLimiter) fail(_ context.Context, name, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.user)+len(l.ip) > loginLimiterMaxKeys {
		prune(l.user, now)
		prune(l.ip, now)
	}
	key := strings.ToLower(name)
	l.user[key] = append(recent(l.user[key], now), now)
	l.ip[ip] = append(recent(l.ip[ip], now), now)
}

func (l *loginLimiter) succeed(_ context.Context, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.user, strings.ToLower(name))
}

func waitFor(m map[string][]time.Time, key string, limit int, now time.Time) time.Duration {
	fails := recent(m[key], now)
	m[key] = fails
	if len(fails) == 0 {
		delete(m, key)
	}
	if len(fails) < limit {
		return 0
	}
	return fails[len(fails)-limit].Add(loginWindow).Sub(now)
}

// recent keeps the failures still inside the window.
func recent(fails []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(fails) && now.Sub(fails[i]) >= loginWindow {
		i++
	}
	return fails[i:]
}

func prune(m map[string][]time.Time, now time.Time) {
	for k, v := range m {
		if len(recent(v, now)) == 0 {
			delete(m, k)
		}
	}
}

// redisLoginLimiter keeps the failures in Redis, so that every replica of
// the server counts the same attempts. Each account and each address is a
// sorted set of failure times (in milliseconds, which Lua's numbers and
// their conversion to strings keep exact) holding at most the limit's
// newest, which is all the wait needs; it expires a window after the last
// failure. Keys are <prefix>web:login:{u|ip}:<hash>, the hash of the
// lower-cased name or the address, so no user name is a key. Each decision
// is one Lua script, atomic in Redis, touching one key (fine on Redis
// Cluster). Times come from the servers' clocks (Config.Now), which must
// agree to well within the window, as NTP keeps them.
//
// When Redis does not answer, the limiter counts in memory instead (and
// says so in the log, once a minute at most): sign-in stays limited, per
// process, rather than open or refused.
type redisLoginLimiter struct {
	rdb      redis.UniversalClient
	prefix   string
	now      func() time.Time
	log      *slog.Logger
	fallback *loginLimiter
	warned   warnLimiter
}

// loginCheckScript removes the failures that left the window and returns
// how long until one more attempt is allowed, in milliseconds (0: now).
//
//	KEYS[1]  the account's or address's key
//	ARGV[1]  now, ms      ARGV[2]  window, ms      ARGV[3]  limit
var loginCheckScript = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 0 then return 0 end
return wait
`)

// loginFailScript records one failure and keeps the limit's newest.
//
//	KEYS[1]  the account's or address's key
//	ARGV[1]  now, ms      ARGV[2]  window, ms      ARGV[3]  limit
//	ARGV[4]  a member unique to this failure
var loginFailScript = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`)

func newRedisLoginLimiter(rdb redis.UniversalClient, prefix string, now func() time.Time, log *slog.Logger) *redisLoginLimiter {
	return &redisLoginLimiter{rdb: rdb, prefix: prefix + "web:login:", now: now, log: log, fallback: newLoginLimiter(now)}
}

func (l *redisLoginLimiter) keys(name, ip string) (user, addr string) {
	h := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:16])
	}
	return l.prefix + "u:" + h(strings.ToLower(name)), l.prefix + "ip:" + h(ip)
}

// trouble logs that Redis failed, at most once a minute.
func (l *redisLoginLimiter) trouble(err error) {
	l.warned.warn(l.log, "login limits: Redis does not answer; counting failed sign-ins in this process only", "err", err)
}

func (l *redisLoginLimiter) blocked(ctx context.Context, name, ip string) time.Duration {
	now := l.now().UnixMilli()
	user, addr := l.keys(name, ip)
	var wait time.Duration
	for _, k := range []struct {
		key   string
		limit int
	}{{user, loginFailsPerUser}, {addr, loginFailsPerIP}} {
		w, err := loginCheckScript.Run(ctx, l.rdb, []string{k.key}, now, loginWindow.Milliseconds(), k.limit).Int64()
		if err != nil {
			l.trouble(err)
			return l.fallback.blocked(ctx, name, ip)
		}
		wait = max(wait, time.Duration(w)*time.Millisecond)
	}
	return wait
}

func (l *redisLoginLimiter) fail(ctx context.Context, name, ip string) {
	l.fallback.fail(ctx, name, ip) // the fallback knows the recent failures when it is needed
	now := l.now().UnixMilli()
	nonce, _ := RandomSecret(8) // a failed read leaves it empty: the time alone, still a member
	member := strconv.FormatInt(now, 10) + ":" + nonce
	user, addr := l.keys(name, ip)
	for _, k := range []struct {
		key   string
		limit int
	}{{user, loginFailsPerUser}, {addr, loginFailsPerIP}} {
		if err := loginFailScript.Run(ctx, l.rdb, []string{k.key}, now, loginWindow.Milliseconds(), k.limit, member).Err(); err != nil {
			l.trouble(fmt.Errorf("record a failed sign-in: %w", err))
			return
		}
	}
}

func (l *redisLoginLimiter) succeed(ctx context.Context, name string) {
	l.fallback.succeed(ctx, name)
	user, _ := l.keys(name, "")
	if err := l.rdb.Del(ctx, user).Err(); err != nil {
		l.trouble(fmt.Errorf("forget an account's failures: %w", err))
	}
}
