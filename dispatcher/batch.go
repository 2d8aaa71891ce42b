package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// batch is one run of one job: the deliveries it claimed, what happened to
// each, and what follows (suppressions, fallbacks, re-queued deliveries).
type batch struct {
	w       *Worker
	ch      Channel
	camp    *Campaign
	notices *Notices
	tmplErr error // the campaign's templates did not compile
	job     Job
	attempt string
	log     *slog.Logger
	items   []item
}

// item is one claimed delivery of a batch.
type item struct {
	Claimed
	addr string
	msg  *Message
	// out is the outcome to record, set once the item is settled.
	out Transition
	// again, when set, hands the delivery back to the queue to be tried
	// at out.NotBefore (out is then the move back to queued); tried says
	// whether this try counts against the retry limit.
	again bool
	tried bool
	// fallback asks for the next channel once out is recorded; suppress
	// puts the address on the suppression list with this reason.
	fallback bool
	suppress string
}

// settle sets the item's final outcome.
func (it *item) settle(to State, providerID, code, diag string, fallback bool) {
	it.out.To, it.out.ProviderID, it.out.Code, it.out.Diagnostic = to, providerID, code, diag
	it.fallback = fallback
}

// later hands the item back to the queue until at. A try that reached the
// provider is recorded with an event (support sees "will retry: …"); a
// send that was held back before it started (quiet hours, a rate limit) is
// bookkeeping only.
func (it *item) later(at time.Time, tried bool, code, diag string) {
	at = at.Truncate(time.Microsecond) // the ledger's resolution: the job and the row agree
	it.out.To, it.out.Code, it.out.Diagnostic, it.out.NotBefore = StateQueued, code, diag, at
	it.out.NoEvent = !tried
	it.again, it.tried = true, tried
}

func (b *batch) run(ctx context.Context, claimed []Claimed) error {
	now := b.w.now()
	b.items = make([]item, len(claimed))
	for i := range claimed {
		it := &b.items[i]
		it.Claimed = claimed[i]
		d := &it.Delivery
		it.out = Transition{DeliveryID: d.ID, From: []State{StateSending}, Generation: d.Generation, Attempt: b.attempt, At: now}
	}
	if err := b.prepare(ctx, now); err != nil {
		// Nothing was sent: hand the claims back so that the job, run
		// again, can take them, rather than leave them in sending for
		// the reconciler.
		b.release(ctx)
		return err
	}
	b.send(ctx)
	return b.record(ctx)
}

// release moves the batch's deliveries back from sending to queued, as
// they were, without an event.
func (b *batch) release(ctx context.Context) {
	ts := make([]Transition, len(b.items))
	for i := range b.items {
		ts[i] = b.items[i].out
		ts[i].To, ts[i].NoEvent, ts[i].Code, ts[i].Diagnostic, ts[i].Address = StateQueued, true, "", "", ""
	}
	if _, _, err := b.w.Store.Transitions(context.WithoutCancel(ctx), ts, nil); err != nil {
		b.log.Warn("could not hand claims back; the reconciler takes them after StaleAfter", "deliveries", len(ts), "err", err)
	}
}

// prepare settles what can be settled without sending — no address, not
// eligible, suppressed, the notice does not render, quiet hours — and
// renders the rest.
func (b *batch) prepare(ctx context.Context, now time.Time) error {
	k := b.job.Channel
	var addrs []string
	for i := range b.items {
		it := &b.items[i]
		ct := &it.Contact
		it.addr = ct.Address(k)
		switch {
		case b.tmplErr != nil: // nothing of this campaign can be sent
			it.settle(StateFailed, "", "", "template error: "+b.tmplErr.Error(), false)
		case it.addr == "":
			it.settle(StateSkipped, "", "", "no "+addressNoun(k)+" on record", true)
		default:
			if why := Ineligible(b.camp.Settings, ct, k); why != "" { // the campaign's rules changed after planning
				it.settle(StateSkipped, "", "", why, true)
				continue
			}
			addrs = append(addrs, it.addr)
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	sup, err := b.w.Store.SuppressedAmong(ctx, k, addrs)
	if err != nil {
		return fmt.Errorf("check suppressions: %w", err)
	}
	for i := range b.items {
		it := &b.items[i]
		if it.out.To != "" {
			continue
		}
		it.out.Address = it.addr
		if s, ok := sup[it.addr]; ok {
			it.settle(StateSuppressed, "", "", "on the suppression list: "+s.Reason, true)
			continue
		}
		if k == SMS {
			if wait, ok := quietWait(b.camp, &it.Contact, now); ok {
				it.later(now.Add(wait).Truncate(time.Minute).Add(time.Minute), false, "", "quiet hours in the recipient's time zone")
				continue
			}
		}
		msg, err := b.notices.Render(b.camp, &it.Contact, k)
		if err != nil {
			it.settle(StateFailed, "", "", err.Error(), false)
			continue
		}
		msg.DeliveryID = it.Delivery.ID
		it.msg = msg
	}
	return nil
}

// send sends every rendered message, Parallel at a time.
func (b *batch) send(ctx context.Context) {
	var todo []*item
	for i := range b.items {
		if b.items[i].msg != nil && b.items[i].out.To == "" {
			todo = append(todo, &b.items[i])
		}
	}
	n := b.w.Parallel
	if n <= 0 {
		n = DefaultParallel
	}
	n = min(n, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(todo) {
					return
				}
				b.sendOne(ctx, todo[i])
			}
		})
	}
	wg.Wait()
}

// sendOne paces and sends one message and settles its item. A campaign
// paused or cancelled while its batch is being sent stops at the next
// message (within the worker's campaign cache TTL): what is left goes back
// to the queue, or is cancelled.
func (b *batch) sendOne(ctx context.Context, it *item) {
	if camp, _, err := b.w.campaign(ctx, b.camp.ID); err == nil && camp.Status != CampaignRunning {
		if camp.Status == CampaignCancelled {
			it.settle(StateCancelled, "", "", "campaign cancelled before sending", false)
			return
		}
		it.later(b.w.now(), false, "", "campaign "+string(camp.Status))
		return
	}
	release, wait, err := b.w.pace(ctx, b.job.Channel, it.addr)
	if err != nil {
		// The pacer (Redis) failed: try again shortly, it is not the
		// recipient's doing and not a try.
		it.later(b.w.now().Add(b.w.retryDelay(0)), false, "", "rate limiter unavailable")
		b.log.Warn("pacing failed", "delivery", it.Delivery.ID, "err", err)
		return
	}
	if wait > 0 {
		it.later(b.w.now().Add(wait), false, "", "held back by a rate limit")
		return
	}
	start := time.Now()
	rcpt, sendErr := b.ch.Send(ctx, it.msg)
	took := time.Since(start)
	release()
	if o := b.w.Observer; o != nil {
		defer func() { o.ObserveSend(b.job.Channel, it.out.To, took) }()
	}
	if sendErr == nil {
		it.settle(StateSent, rcpt.ProviderID, rcpt.Code, rcpt.Detail, false)
		return
	}
	var se *SendError
	code, diag := "", sendErr.Error()
	if errors.As(sendErr, &se) {
		code, diag = se.Code, se.Diagnostic
		if diag == "" {
			diag = se.Error()
		}
	}
	switch ClassOf(sendErr) {
	case Invalid:
		it.settle(StateBouncedHard, "", code, diag, true)
		it.suppress = "invalid"
		return
	case Suppressed:
		it.settle(StateSuppressed, "", code, diag, true)
		it.suppress = "opted_out"
		return
	case Permanent:
		it.settle(StateFailed, "", code, diag, false)
		return
	}
	// Transient.
	now := b.w.now()
	if se != nil && se.RetryAfter > 0 {
		// The provider asked us to slow down: a delay, not a failed try.
		it.later(now.Add(se.RetryAfter), true, code, "provider asked to retry later: "+diag)
		it.tried = false
		return
	}
	if b.job.Tries >= b.w.maxRetry() {
		it.settle(StateFailed, "", code, fmt.Sprintf("gave up after %d tries: %s", b.job.Tries+1, diag), true)
		return
	}
	it.later(now.Add(b.w.retryDelay(b.job.Tries)), true, code, "will retry: "+diag)
}

// record writes every outcome, and the fallbacks they call for, in one
// transaction, then does what follows from them: suppressions, re-queued
// deliveries, the reputation guard.
func (b *batch) record(ctx context.Context) error {
	now := b.w.now()
	ts := make([]Transition, len(b.items))
	var fall []Claimed
	for i := range b.items {
		ts[i] = b.items[i].out
		if b.items[i].fallback {
			fall = append(fall, b.items[i].Claimed)
		}
	}
	follow, err := planFallbacks(ctx, b.w.Store, b.camp, fall, now)
	if err != nil {
		// Record what can be recorded; the deliveries that needed a
		// fallback stay in sending, and the reconciler tries them again
		// after StaleAfter, which finds the same outcome and plans the
		// fallback then.
		b.log.Warn("could not plan fallbacks; their deliveries wait for the reconciler", "deliveries", len(fall), "err", err)
		kept := ts[:0]
		for i := range b.items {
			if !b.items[i].fallback {
				kept = append(kept, b.items[i].out)
			}
		}
		ts, follow = kept, nil
	}
	recorded := make(map[int64]bool, len(ts))
	for _, t := range ts {
		recorded[t.DeliveryID] = true
	}
	stale, inserted, err := b.w.recordOutcomes(ctx, ts, follow)
	if err != nil {
		// What was sent is not recorded: the deliveries stay in sending
		// and the reconciler sends them again after StaleAfter (running
		// the job again would find nothing to claim).
		return &PermanentError{Err: fmt.Errorf("record %d outcomes: %w", len(ts), err)}
	}
	if len(stale) > 0 {
		// The reconciler took these back (we were slower than
		// StaleAfter). What we sent is in the channel's log, not here;
		// say so loudly for the operator.
		b.log.Warn("outcomes arrived after their deliveries were reclaimed", "deliveries", len(stale), "first", stale[0])
	}
	for _, id := range stale {
		recorded[id] = false
	}
	var (
		sups    []Suppression
		counts  = map[State]int{}
		bounced bool
		again   = map[againKey][]Delivery{}
	)
	for i := range b.items {
		it := &b.items[i]
		if !recorded[it.Delivery.ID] {
			continue
		}
		counts[it.out.To]++
		if it.suppress != "" {
			sups = append(sups, Suppression{Channel: b.job.Channel, Address: it.addr, Reason: it.suppress,
				Source: fmt.Sprintf("campaign %s delivery %d: %s", b.camp.Name, it.Delivery.ID, it.out.Code), FirstSeen: now, LastSeen: now})
		}
		if it.out.To == StateBouncedHard {
			bounced = true
		}
		if it.again {
			k := againKey{at: it.out.NotBefore, tried: it.tried}
			again[k] = append(again[k], it.Delivery)
		}
	}
	b.log.Debug("batch done", "claimed", len(b.items), "sent", counts[StateSent], "bounced_hard", counts[StateBouncedHard],
		"failed", counts[StateFailed], "requeued", counts[StateQueued], "stale", len(stale))
	if counts[StateFailed] > 0 {
		b.log.Warn("deliveries failed", "count", counts[StateFailed])
	}
	if len(sups) > 0 {
		if _, err := b.w.Store.SuppressMany(ctx, sups); err != nil {
			b.log.Warn("could not record suppressions", "count", len(sups), "err", err)
		}
	}
	if err := afterFallback(ctx, b.w.Store, b.camp.ID, inserted, b.items[0].Delivery.ID, now); err != nil {
		b.log.Warn("could not settle fallbacks with the campaign's status", "err", err)
	}
	b.requeue(ctx, again)
	if bounced {
		if paused, err := b.w.guard.check(ctx, b.w.Store, b.camp, now); err != nil {
			b.log.Warn("reputation guard failed", "err", err)
		} else if paused {
			b.log.Warn("campaign paused by the reputation guard")
			b.w.forget(b.camp.ID) // this worker stops at once; others within CacheTTL
		}
	}
	return nil
}

// recordOutcomes writes a batch's outcomes, trying a few times over a few
// seconds: the messages have left, and an outcome not recorded means they
// are sent again after StaleAfter.
func (s *Worker) recordOutcomes(ctx context.Context, ts []Transition, follow map[int64][]Delivery) (stale []int64, inserted []Delivery, err error) {
	ctx = context.WithoutCancel(ctx) // a shutdown must not lose what was sent
	for try := range 4 {
		if try > 0 {
			time.Sleep(Backoff(try-1, 250*time.Millisecond, 2*time.Second))
		}
		stale, inserted, err = s.Store.Transitions(ctx, ts, follow)
		if err == nil {
			return stale, inserted, nil
		}
		s.log().Warn("recording outcomes failed", "outcomes", len(ts), "try", try+1, "err", err)
	}
	return nil, nil, err
}

type againKey struct {
	at    time.Time
	tried bool
}

// requeue enqueues the deliveries handed back to the queue, one job per
// due time. They are queued in the ledger already: if the queue is down,
// the reconciler finds them.
func (b *batch) requeue(ctx context.Context, again map[againKey][]Delivery) {
	if len(again) == 0 || b.w.Queue == nil {
		return
	}
	keys := make([]againKey, 0, len(again))
	for k := range again {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].at.Before(keys[j].at) })
	var jobs []Job
	for _, k := range keys {
		j := NewJob(again[k]...)
		j.NotBefore = k.at
		j.Tries = b.job.Tries
		if k.tried {
			j.Tries++
		}
		jobs = append(jobs, j)
	}
	if _, err := b.w.Queue.Enqueue(ctx, jobs...); err != nil {
		b.log.Warn("could not re-queue deliveries; the reconciler will", "jobs", len(jobs), "err", err)
	}
}

// Backoff is base·2^n with ±20 % jitter, at most maxDelay. The jitter
// spreads the retries of a batch that failed together (an SMTP server
// down for a minute) instead of sending them back in one wave.
func Backoff(n int, base, maxDelay time.Duration) time.Duration {
	d := maxDelay
	if n >= 0 && n < 62 && base <= maxDelay>>n {
		d = base << n
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(j, maxDelay)
}
