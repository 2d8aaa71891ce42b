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

// Waits the worker takes in its stride rather than handing a delivery back
// to the queue: a rate limit's next slot or a busy recipient domain is
// usually milliseconds away.
const (
	paceInlineWait = 2 * time.Second
	paceDomainWait = 5 * time.Second
)

// pace applies the channel's rate limit and the recipient domain's
// concurrency limit before a send. It waits for a slot when one is near;
// otherwise it returns how long the delivery should wait in the queue.
// release (never nil) is called after the send.
func (s *Worker) pace(ctx context.Context, k ChannelKind, addr string) (release func(), wait time.Duration, err error) {
	noop := func() {}
	if s.Pacer == nil {
		return noop, 0, nil
	}
	if rate := s.Pacing.Rates[k]; rate > 0 {
		for {
			ok, after, err := s.Pacer.Allow(ctx, "send:"+string(k), rate, burst(rate))
			if err != nil {
				return noop, 0, err
			}
			if ok {
				break
			}
			if after > paceInlineWait {
				return noop, after, nil
			}
			if err := sleepCtx(ctx, after); err != nil {
				return noop, 0, err
			}
		}
	}
	if k == Email && s.Pacing.DomainConcurrency > 0 {
		_, domain, _ := strings.Cut(strings.ToLower(addr), "@")
		lease := s.Pacing.DomainLease
		if lease <= 0 {
			lease = 2 * time.Minute
		}
		name := "domain:" + domain
		deadline := s.now().Add(paceDomainWait)
		for {
			token, ok, err := s.Pacer.Acquire(ctx, name, s.Pacing.DomainConcurrency, lease)
			if err != nil {
				return noop, 0, err
			}
			if ok {
				return func() { _ = s.Pacer.Release(context.WithoutCancel(ctx), name, token) }, 0, nil
			}
			pause := 50*time.Millisecond + rand.N(150*time.Millisecond)
			if s.now().Add(pause).After(deadline) {
				return noop, 200*time.Millisecond + rand.N(300*time.Millisecond), nil
			}
			if err := sleepCtx(ctx, pause); err != nil {
				return noop, 0, err
			}
		}
	}
	return noop, 0, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
