package dispatcher

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"
)

// Pacer shares send rates and concurrency limits between every worker
// process of an installation (queue.RateLimiter keeps them in Redis).
// Names hold no personal data: "send:email", "domain:example.com".
type Pacer interface {
	Allow(ctx context.Context, name string, rate float64, burst int) (ok bool, retryAfter time.Duration, err error)
	Acquire(ctx context.Context, name string, limit int, lease time.Duration) (token string, ok bool, err error)
	Release(ctx context.Context, name, token string) error
}

// Pacing says how fast the installation may send. The zero value sends as
// fast as the workers can.
type Pacing struct {
	// Rates are sends per second per channel across every worker: set
	// SMS to the Twilio account's throughput so no message waits in
	// Twilio's queue past its validity period, and e-mail to what the
	// relay accepts. Zero or missing means unlimited.
	Rates map[ChannelKind]float64
	// DomainConcurrency caps e-mails in flight to one recipient domain
	// across every worker (receiving servers defer senders that open too
	// many connections); zero means unlimited.
	DomainConcurrency int
	// DomainLease bounds how long a crashed worker holds a domain slot.
	// Default 2 minutes.
	DomainLease time.Duration
}

// burst is the GCRA burst for a rate: a tenth of a second's worth, at
// least one, so workers starting together do not exceed the rate.
func burst(rate float64) int {
	return max(1, int(rate/10))
}

// pace applies quiet hours and rate limits before a send. It returns a
// snooze when the job must wait, and a release func (never nil) to call
// after the send.
func (s *Worker) pace(ctx context.Context, camp *Campaign, ct *Contact, k ChannelKind, addr string) (func(), error) {
	noop := func() {}
	if k == SMS {
		if wait, ok := quietWait(camp, ct, s.now()); ok {
			return noop, &SnoozeError{After: wait, Reason: "quiet hours in the recipient's time zone"}
		}
	}
	if s.Pacer == nil {
		return noop, nil
	}
	if rate := s.Pacing.Rates[k]; rate > 0 {
		ok, wait, err := s.Pacer.Allow(ctx, "send:"+string(k), rate, burst(rate))
		if err != nil {
			return noop, err
		}
		if !ok {
			return noop, &SnoozeError{After: wait, Reason: "channel rate limit"}
		}
	}
	if k == Email && s.Pacing.DomainConcurrency > 0 {
		_, domain, _ := strings.Cut(strings.ToLower(addr), "@")
		lease := s.Pacing.DomainLease
		if lease <= 0 {
			lease = 2 * time.Minute
		}
		name := "domain:" + domain
		token, ok, err := s.Pacer.Acquire(ctx, name, s.Pacing.DomainConcurrency, lease)
		if err != nil {
			return noop, err
		}
		if !ok {
			return noop, &SnoozeError{After: 200*time.Millisecond + rand.N(300*time.Millisecond), Reason: "recipient domain concurrency"}
		}
		return func() { _ = s.Pacer.Release(context.WithoutCancel(ctx), name, token) }, nil
	}
	return noop, nil
}

// quietWait reports how long an SMS to ct must wait for the campaign's
// sending window in the recipient's local time (on every clock the contact
// may have). A few minutes of jitter spread the morning's backlog.
func quietWait(camp *Campaign, ct *Contact, now time.Time) (time.Duration, bool) {
	spec := strings.TrimSpace(camp.Settings.QuietHours)
	if spec == "off" {
		return 0, false
	}
	w := DefaultSMSWindow
	if spec != "" {
		parsed, err := ParseWindow(spec)
		if err != nil {
			return 0, false // validated at creation; an old bad value sends rather than stalls
		}
		w = parsed
	}
	next := w.NextAll(now, ContactZones(ct))
	if !next.After(now) {
		return 0, false
	}
	return next.Sub(now) + rand.N(5*time.Minute), true
}
