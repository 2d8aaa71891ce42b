package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Worker is the job handler of `herald worker`: it turns one queued delivery into one
// message on one channel and records what happened.
//
// The ledger guards against the queue's at-least-once delivery: a job first
// claims its delivery (queued → sending, with a random attempt id) and only
// the run holding the claim sends and records the outcome. A job whose
// delivery is already final, of another generation, or held by another run
// does nothing. A crash between send and record leaves the delivery in
// sending; the Reconciler resolves it after StaleAfter (see reconcile.go).
type Worker struct {
	Store    Store
	Queue    Queue // for fallback deliveries; nil leaves them pending for the reconciler
	Channels map[ChannelKind]Channel
	Now      func() time.Time
	Logger   *slog.Logger
	// PauseSnooze is how long a job of a paused campaign waits before it
	// looks again. Default 1s, so a resume takes effect within about a
	// second plus the queue's delayed-task check.
	PauseSnooze time.Duration
	// CacheTTL bounds how stale a worker's view of a campaign (status,
	// templates) may be. Default 1s: a pause takes effect within it.
	CacheTTL time.Duration
	// Pacer and Pacing limit send rates across every worker; SMS quiet
	// hours apply with or without them.
	Pacer  Pacer
	Pacing Pacing

	mu    sync.Mutex
	cache map[int64]*campaignEntry
	guard guard
}

type campaignEntry struct {
	mu      sync.Mutex
	camp    *Campaign
	notices *Notices
	err     error
	loaded  time.Time
}

func (s *Worker) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Worker) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// campaign returns the campaign and its compiled templates, from a cache
// refreshed every CacheTTL.
func (s *Worker) campaign(ctx context.Context, id int64) (*Campaign, *Notices, error) {
	ttl := s.CacheTTL
	if ttl == 0 {
		ttl = time.Second
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[int64]*campaignEntry{}
	}
	e := s.cache[id]
	if e == nil {
		e = &campaignEntry{}
		s.cache[id] = e
	}
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded.IsZero() && time.Since(e.loaded) < ttl {
		return e.camp, e.notices, e.err
	}
	camp, err := s.Store.Campaign(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			e.camp, e.notices, e.err, e.loaded = nil, nil, err, time.Now()
		}
		return nil, nil, fmt.Errorf("load campaign %d: %w", id, err)
	}
	ts, err := s.Store.Templates(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("load templates of campaign %d: %w", id, err)
	}
	notices, err := CompileTemplates(camp.DefaultLocale, ts)
	e.camp, e.notices, e.err, e.loaded = camp, notices, err, time.Now()
	return camp, notices, err
}

// forget drops a campaign from the cache so its next job reloads it.
func (s *Worker) forget(id int64) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// Handle sends the delivery of job j. See Handler for what its errors mean.
func (s *Worker) Handle(ctx context.Context, j Job) error {
	log := s.log().With("campaign", j.CampaignID, "delivery", j.DeliveryID, "channel", string(j.Channel))
	camp, notices, err := s.campaign(ctx, j.CampaignID)
	if errors.Is(err, ErrNotFound) {
		log.Info("dropping job of a deleted campaign")
		return nil
	}
	if err != nil && camp == nil {
		return err
	}
	d, err := s.Store.Delivery(ctx, j.DeliveryID)
	if errors.Is(err, ErrNotFound) {
		log.Info("dropping job of a deleted delivery")
		return nil
	}
	if err != nil {
		return fmt.Errorf("load delivery %d: %w", j.DeliveryID, err)
	}
	if d.Generation != j.Generation || d.State.Final() {
		return nil // stale or duplicate job: the ledger already has the answer
	}
	if d.State == StateSending {
		// Another run holds the claim, or crashed holding it; the
		// reconciler settles the latter after StaleAfter.
		return nil
	}
	switch camp.Status {
	case CampaignDraft, CampaignPaused:
		return &SnoozeError{After: s.pauseSnooze(), Reason: "campaign " + string(camp.Status)}
	case CampaignCancelled:
		err := s.Store.Transition(ctx, Transition{
			DeliveryID: d.ID, From: []State{StatePending, StateQueued}, Generation: d.Generation,
			To: StateCancelled, Diagnostic: "campaign cancelled before sending", At: s.now(),
		})
		if err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("cancel delivery %d: %w", d.ID, err)
		}
		return nil
	}
	ch := s.Channels[d.Channel]
	if ch == nil {
		return &PermanentError{Err: fmt.Errorf("no %s channel configured in this worker", d.Channel)}
	}
	if err != nil { // templates failed to compile: nothing of this campaign can be sent
		return s.finish(ctx, log, camp, d, "", StateFailed, "", "", "template error: "+err.Error(), false)
	}
	ct, err := s.Store.Contact(ctx, d.ContactID)
	if err != nil {
		return fmt.Errorf("load contact %d: %w", d.ContactID, err)
	}
	addr := ct.Address(d.Channel)
	if addr == "" {
		return s.finish(ctx, log, camp, d, "", StateSkipped, "", "", "no "+addressNoun(d.Channel)+" on record", true)
	}
	if why := Ineligible(camp.Settings, ct, d.Channel); why != "" { // the campaign's rules changed after planning
		return s.finish(ctx, log, camp, d, "", StateSkipped, "", "", why, true)
	}
	if sup, err := s.Store.IsSuppressed(ctx, d.Channel, addr); err != nil {
		return fmt.Errorf("check suppression: %w", err)
	} else if sup != nil {
		return s.finish(ctx, log, camp, d, "", StateSuppressed, "", "", "on the suppression list: "+sup.Reason, true)
	}
	msg, err := notices.Render(camp, ct, d.Channel)
	if err != nil {
		return s.finish(ctx, log, camp, d, "", StateFailed, "", "", err.Error(), false)
	}
	msg.DeliveryID = d.ID
	release, err := s.pace(ctx, camp, ct, d.Channel, addr)
	if err != nil {
		return err
	}
	defer release()

	attempt := newAttemptID()
	err = s.Store.Transition(ctx, Transition{
		DeliveryID: d.ID, From: []State{StatePending, StateQueued}, Generation: d.Generation,
		To: StateSending, NewAttempt: attempt, Address: addr, At: s.now(),
	})
	if errors.Is(err, ErrStale) {
		return nil // another run claimed it first
	}
	if err != nil {
		return fmt.Errorf("claim delivery %d: %w", d.ID, err)
	}

	rcpt, sendErr := ch.Send(ctx, msg)
	if sendErr == nil {
		return s.finish(ctx, log, camp, d, attempt, StateSent, rcpt.ProviderID, rcpt.Code, rcpt.Detail, false)
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
		log.Info("address invalid", "code", code)
		if err := s.Store.Suppress(ctx, Suppression{Channel: d.Channel, Address: addr, Reason: "invalid", Source: fmt.Sprintf("campaign %s delivery %d: %s", camp.Name, d.ID, code), FirstSeen: s.now(), LastSeen: s.now()}); err != nil {
			log.Warn("could not record suppression", "err", err)
		}
		err := s.finish(ctx, log, camp, d, attempt, StateBouncedHard, "", code, diag, true)
		if paused, gerr := s.guard.check(ctx, s.Store, camp, s.now()); gerr != nil {
			log.Warn("reputation guard failed", "err", gerr)
		} else if paused {
			log.Warn("campaign paused by the reputation guard")
			s.forget(camp.ID) // this worker stops at once; others within CacheTTL
		}
		return err
	case Suppressed:
		if err := s.Store.Suppress(ctx, Suppression{Channel: d.Channel, Address: addr, Reason: "opted_out", Source: fmt.Sprintf("campaign %s delivery %d: %s", camp.Name, d.ID, code), FirstSeen: s.now(), LastSeen: s.now()}); err != nil {
			log.Warn("could not record suppression", "err", err)
		}
		return s.finish(ctx, log, camp, d, attempt, StateSuppressed, "", code, diag, true)
	case Permanent:
		log.Warn("permanent send failure", "code", code)
		return s.finish(ctx, log, camp, d, attempt, StateFailed, "", code, diag, false)
	}
	// Transient.
	if j.LastTry() && (se == nil || se.RetryAfter == 0) {
		return s.finish(ctx, log, camp, d, attempt, StateFailed, "", code, fmt.Sprintf("gave up after %d tries: %s", j.Retry+1, diag), true)
	}
	if err := s.Store.Transition(ctx, Transition{
		DeliveryID: d.ID, From: []State{StateSending}, Generation: d.Generation, Attempt: attempt,
		To: StateQueued, Code: code, Diagnostic: "will retry: " + diag, At: s.now(),
	}); err != nil && !errors.Is(err, ErrStale) {
		return fmt.Errorf("requeue delivery %d: %w", d.ID, err)
	}
	if se != nil && se.RetryAfter > 0 {
		// The provider asked us to slow down: a delay, not a failure.
		return &SnoozeError{After: se.RetryAfter, Reason: "provider asked to retry later"}
	}
	return fmt.Errorf("send delivery %d: %w", d.ID, sendErr)
}

func (s *Worker) pauseSnooze() time.Duration {
	if s.PauseSnooze > 0 {
		return s.PauseSnooze
	}
	return time.Second
}

// finish records a final state and, when fallback is set and the state
// means this channel cannot reach the person, plans the next channel.
func (s *Worker) finish(ctx context.Context, log *slog.Logger, camp *Campaign, d *Delivery, attempt string, to State, providerID, code, diag string, fallback bool) error {
	from := []State{StatePending, StateQueued}
	if attempt != "" {
		from = []State{StateSending}
	}
	err := s.Store.Transition(ctx, Transition{
		DeliveryID: d.ID, From: from, Generation: d.Generation, Attempt: attempt,
		To: to, ProviderID: providerID, Code: code, Diagnostic: diag, At: s.now(),
	})
	if errors.Is(err, ErrStale) {
		// The reconciler took the delivery back (we were slower than
		// StaleAfter). What we sent is in the event log of the channel,
		// not here; say so loudly for the operator.
		log.Warn("outcome arrived after the delivery was reclaimed", "state", string(to))
		return nil
	}
	if err != nil {
		return fmt.Errorf("record %s for delivery %d: %w", to, d.ID, err)
	}
	if fallback {
		return s.fallback(ctx, camp, d)
	}
	return nil
}

// fallback plans the contact's next channel after d and queues it.
func (s *Worker) fallback(ctx context.Context, camp *Campaign, d *Delivery) error {
	return fallback(ctx, s.Store, s.Queue, camp, d, s.now())
}

// fallback plans the next channel of the policy after d for d's contact,
// once per channel, and queues it when the campaign is running.
func fallback(ctx context.Context, st Store, q Queue, camp *Campaign, d *Delivery, now time.Time) error {
	ct, err := st.Contact(ctx, d.ContactID)
	if err != nil {
		return fmt.Errorf("fallback for delivery %d: %w", d.ID, err)
	}
	existing, err := st.DeliveriesOf(ctx, ct.ID)
	if err != nil {
		return fmt.Errorf("fallback for delivery %d: %w", d.ID, err)
	}
	done := make(map[ChannelKind]bool, len(existing))
	for _, e := range existing {
		done[e.Channel] = true
	}
	next := PlanNext(camp, ct, d.Seq+1, done, now)
	if len(next) == 0 {
		return nil
	}
	stored, err := st.InsertDeliveries(ctx, next)
	if err != nil {
		return fmt.Errorf("fallback for delivery %d: %w", d.ID, err)
	}
	status := camp.Status // camp may be a worker's shared cached copy: do not write to it
	if status == CampaignCompleted && hasPending(stored) {
		// A bounce arrived after every delivery had been sent and the
		// campaign was marked completed: there is work again.
		err := st.SetCampaignStatus(ctx, camp.ID, []CampaignStatus{CampaignCompleted}, CampaignRunning, now)
		if err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("reopen campaign %s for a fallback: %w", camp.Name, err)
		}
		status = CampaignRunning
		_ = st.Audit(ctx, AuditEntry{At: now, Actor: "herald", Action: "campaign.reopen", Subject: camp.Name, Detail: fmt.Sprintf("fallback after delivery %d", d.ID)})
	}
	if status != CampaignRunning {
		return nil // pending until launch or resume queues it
	}
	return enqueuePending(ctx, st, q, stored, now)
}

// enqueuePending marks the pending deliveries among ds queued and hands
// them to q. The ledger is written first: if the process dies before the
// queue has them, the reconciler finds them queued and enqueues again.
func enqueuePending(ctx context.Context, st Store, q Queue, ds []Delivery, at time.Time) error {
	if q == nil {
		return nil
	}
	ids := make([]int64, 0, len(ds))
	jobs := make([]Job, 0, len(ds))
	for i := range ds {
		if ds[i].ID == 0 || !Queueable(&ds[i]) { // letters wait for a print batch
			continue
		}
		ids = append(ids, ds[i].ID)
		jobs = append(jobs, JobOf(&ds[i]))
	}
	if len(ids) == 0 {
		return nil
	}
	if err := st.MarkQueued(ctx, ids, at); err != nil {
		return fmt.Errorf("mark %d deliveries queued: %w", len(ids), err)
	}
	if _, err := q.Enqueue(ctx, jobs...); err != nil {
		return fmt.Errorf("enqueue %d deliveries: %w", len(jobs), err)
	}
	return nil
}

func hasPending(ds []Delivery) bool {
	for i := range ds {
		if ds[i].ID != 0 && ds[i].State == StatePending {
			return true
		}
	}
	return false
}

func newAttemptID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
