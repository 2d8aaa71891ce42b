package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
)

// This file holds herald's pacing in Redis: a rate limit (GCRA) and a
// concurrency limit (a semaphore with leases) that every worker process on
// every machine shares, because the state lives in Redis and each decision
// is one Lua script that Redis runs atomically. Both scripts read the time
// with Redis's TIME, so the clocks of the worker machines do not matter.
//
// Keys are <prefix>rl:{name} and <prefix>sem:{name}. The name is a hash tag:
// on Redis Cluster both keys of one name live in one slot, so a later
// script may touch both. Every key carries a TTL, so a limit nobody uses
// (a recipient domain seen once) vanishes on its own.

// Limits on the arguments. They keep the arithmetic inside the range where
// Lua's doubles are exact to well under a microsecond.
const (
	// MaxRate is the highest rate Allow accepts, per second: far above
	// what any e-mail or SMS provider lets one account send.
	MaxRate = 100_000
	// MaxBurst is the largest burst Allow accepts.
	MaxBurst = 1_000_000
	// maxKeyLen bounds a limit name, which is part of a Redis key.
	maxKeyLen = 200
)

var (
	// ErrCostExceedsBurst is returned by AllowN when n is larger than the
	// burst: such a request could never be granted, however long the
	// caller waits. Raise the burst or split the work.
	ErrCostExceedsBurst = errors.New("cost exceeds burst")
	// ErrLeaseExpired is returned by Release when the token no longer
	// holds a slot: its lease ran out first (and the slot may already
	// have gone to someone else) or it was released before. Nothing is
	// left to undo, but it means the lease is shorter than the work it
	// guards.
	ErrLeaseExpired = errors.New("semaphore lease expired before release")
)

// gcraScript decides one request under the generic cell rate algorithm.
// The key holds the theoretical arrival time (TAT), in microseconds of
// Redis time, of the next request if requests came at exactly the rate.
// A request of n cells is granted when, after adding n emission intervals
// to the TAT, it stays within burst intervals of now; otherwise it is
// refused, nothing is written, and the reply says how long until it would
// be granted.
//
//	KEYS[1]  the limit's key
//	ARGV[1]  emission interval in µs (1e6 / rate), a decimal without exponent
//	ARGV[2]  burst, in cells
//	ARGV[3]  n, the cells asked for
//	reply    {1, 0} granted, or {0, µs to wait} refused
//
// TIME before a write needs effects replication, the default since Redis 5
// and the only mode since 7, so redis.replicate_commands is not called.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = tonumber(stored)
  if tat == nil or tat < now then
    tat = now
  end
end
local newtat = tat + n * interval
local allowat = newtat - burst * interval
if allowat > now then
  return {0, math.ceil(allowat - now)}
end
local ttl = math.ceil((newtat - now) / 1000)
if ttl < 1 then
  ttl = 1
end
redis.call('SET', KEYS[1], string.format('%.3f', newtat), 'PX', string.format('%d', ttl))
return {1, 0}
`)

// acquireScript takes a slot of a semaphore kept as a sorted set of tokens
// scored by lease expiry (µs of Redis time). Expired leases are dropped
// first, so a slot held by a crashed worker frees itself. The key's TTL is
// kept at least as long as the newest lease.
//
//	KEYS[1]  the semaphore's key
//	ARGV[1]  limit: how many tokens may hold a slot at once
//	ARGV[2]  lease in µs
//	ARGV[3]  the new token
//	ARGV[4]  lease in ms, rounded up: the key's TTL
//	reply    1 acquired, 0 full
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[3])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
`)

// RateLimiter paces sends across every worker process that shares one
// Redis: a rate limit per name (Allow, AllowN), such as all e-mail or all
// SMS of the installation, and a concurrency limit per name (Acquire,
// Release), such as the sends in flight to one recipient domain. Providers
// and receiving mail servers count what the whole installation does, so a
// limit kept in each process would multiply by the number of workers.
//
// Names are chosen by the caller ("email", "sms", "domain:gmail.com") and
// become part of Redis keys: they must not hold personal data, braces,
// spaces or control characters. A RateLimiter is safe for concurrent use
// and holds no resources of its own; the Redis client stays the caller's.
type RateLimiter struct {
	rdb       redis.UniversalClient
	prefix    string
	prefixErr error
}

// NewRateLimiter returns a limiter keeping its state in rdb under keys that
// begin with prefix; pass the backend's Namespace so that installations
// sharing one Redis do not share limits. A prefix holding a brace would
// break the keys' hash tag: every call then returns an EINVALID error.
func NewRateLimiter(rdb redis.UniversalClient, prefix string) *RateLimiter {
	l := &RateLimiter{rdb: rdb, prefix: prefix}
	if strings.ContainsAny(prefix, "{}") {
		l.prefixErr = dispatcher.Errorf(dispatcher.EINVALID, "rate limit prefix %q holds a brace: use letters, digits and _ . : -", prefix)
	}
	return l
}

// rateKey is the Redis key of the rate limit name.
func (l *RateLimiter) rateKey(name string) string { return l.prefix + "rl:{" + name + "}" }

// semKey is the Redis key of the semaphore name.
func (l *RateLimiter) semKey(name string) string { return l.prefix + "sem:{" + name + "}" }

// checkName refuses names that would break the key or its hash tag.
func (l *RateLimiter) checkName(name string) error {
	if l.prefixErr != nil {
		return l.prefixErr
	}
	if name == "" {
		return dispatcher.Errorf(dispatcher.EINVALID, "empty rate limit name: give one such as email or domain:example.com")
	}
	if len(name) > maxKeyLen {
		return dispatcher.Errorf(dispatcher.EINVALID, "rate limit name of %d bytes: keep it under %d", len(name), maxKeyLen)
	}
	for _, r := range name {
		if r == '{' || r == '}' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return dispatcher.Errorf(dispatcher.EINVALID, "rate limit name %q holds %q: use no braces, spaces or control characters", name, r)
		}
	}
	return nil
}

// Allow takes one request from the rate limit name, which grants rate
// requests per second on average and up to burst at once after a quiet
// spell. When refused, retryAfter says how long until one request would be
// granted; the worker turns it into a dispatcher.SnoozeError, a delay that
// does not use up a retry. A refused request takes nothing, so callers that
// give up cost the others nothing.
func (l *RateLimiter) Allow(ctx context.Context, name string, rate float64, burst int) (ok bool, retryAfter time.Duration, err error) {
	return l.AllowN(ctx, name, rate, burst, 1)
}

// AllowN is Allow for a request that costs n cells at once, such as an SMS
// of n segments where the provider's limit counts segments. n larger than
// burst can never be granted and returns ErrCostExceedsBurst.
func (l *RateLimiter) AllowN(ctx context.Context, name string, rate float64, burst, n int) (ok bool, retryAfter time.Duration, err error) {
	if err := l.checkName(name); err != nil {
		return false, 0, err
	}
	if math.IsNaN(rate) || rate <= 0 || rate > MaxRate {
		return false, 0, dispatcher.Errorf(dispatcher.EINVALID, "rate limit %s: rate %v per second is not in (0, %d]", name, rate, MaxRate)
	}
	if burst < 1 || burst > MaxBurst {
		return false, 0, dispatcher.Errorf(dispatcher.EINVALID, "rate limit %s: burst %d is not in [1, %d]", name, burst, MaxBurst)
	}
	if n < 1 {
		return false, 0, dispatcher.Errorf(dispatcher.EINVALID, "rate limit %s: cost %d is below 1", name, n)
	}
	if n > burst {
		return false, 0, fmt.Errorf("rate limit %s: %w: %d cells asked, burst %d", name, ErrCostExceedsBurst, n, burst)
	}
	interval := strconv.FormatFloat(1e6/rate, 'f', -1, 64)
	res, err := gcraScript.Run(ctx, l.rdb, []string{l.rateKey(name)}, interval, burst, n).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", name, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("rate limit %s: script replied %d values, want 2", name, len(res))
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Microsecond, nil
}

// Acquire takes one of limit slots of the semaphore name for at most lease,
// such as one of the N sends allowed in flight to one recipient domain
// across all workers. It returns a token to give to Release when the work
// is done; a worker that dies holding a slot loses it when the lease runs
// out, so choose a lease longer than the work can take (the send timeout)
// but short enough that a crash does not block a domain for long. When all
// slots are taken ok is false and nothing is held.
func (l *RateLimiter) Acquire(ctx context.Context, name string, limit int, lease time.Duration) (token string, ok bool, err error) {
	if err := l.checkName(name); err != nil {
		return "", false, err
	}
	if limit < 1 {
		return "", false, dispatcher.Errorf(dispatcher.EINVALID, "semaphore %s: limit %d is below 1", name, limit)
	}
	if lease < time.Millisecond {
		return "", false, dispatcher.Errorf(dispatcher.EINVALID, "semaphore %s: lease %s is shorter than 1ms", name, lease)
	}
	token, err = newToken()
	if err != nil {
		return "", false, fmt.Errorf("semaphore %s: %w", name, err)
	}
	leaseMS := (lease + time.Millisecond - 1) / time.Millisecond
	got, err := acquireScript.Run(ctx, l.rdb, []string{l.semKey(name)}, limit, lease.Microseconds(), token, int64(leaseMS)).Int64()
	if err != nil {
		return "", false, fmt.Errorf("semaphore %s: acquire: %w", name, err)
	}
	if got != 1 {
		return "", false, nil
	}
	return token, true, nil
}

// Release gives back the slot token holds in the semaphore name. It returns
// ErrLeaseExpired when the token held no slot any more (see there); callers
// usually just log that.
func (l *RateLimiter) Release(ctx context.Context, name, token string) error {
	if err := l.checkName(name); err != nil {
		return err
	}
	n, err := l.rdb.ZRem(ctx, l.semKey(name), token).Result()
	if err != nil {
		return fmt.Errorf("semaphore %s: release: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("semaphore %s: %w", name, ErrLeaseExpired)
	}
	return nil
}

// newToken returns a random semaphore token: unguessable, so one worker
// cannot release another's slot by mistake.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
