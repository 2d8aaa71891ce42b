package web

import (
	"strings"
	"sync"
	"time"
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

// loginLimiter counts failed sign-ins per account and per client address,
// in memory: a restart forgives, and several server replicas each keep
// their own count (the limits still bound guessing to a few per minute).
type loginLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	user map[string][]time.Time
	ip   map[string][]time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, user: map[string][]time.Time{}, ip: map[string][]time.Time{}}
}

// blocked returns how long the caller must wait before trying name from
// ip again, 0 when it may try now.
func (l *loginLimiter) blocked(name, ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wait := waitFor(l.user, strings.ToLower(name), loginFailsPerUser, now)
	if w := waitFor(l.ip, ip, loginFailsPerIP, now); w > wait {
		wait = w
	}
	return wait
}

// fail records a failed attempt.
func (l *loginLimiter) fail(name, ip string) {
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

// succeed forgets an account's failures; the address's stay, so one good
// password does not reset guessing at others.
func (l *loginLimiter) succeed(name string) {
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
