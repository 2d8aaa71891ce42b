package dispatcher

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Worker is the job handler of `herald worker`: it turns a job — a batch
// of one campaign's queued deliveries on one channel — into messages and
// records what happened to each.
//
// The ledger guards against the queue's at-least-once delivery: a job first
// claims its deliveries (pending or queued → sending, with a random attempt
// id, in one statement) and only the run holding a claim sends and records
// the outcome. Deliveries already final, of another generation, or held by
// another run are simply not claimed. A crash between send and record
// leaves a delivery in sending; the Reconciler resolves it after
// StaleAfter (see reconcile.go).
//
// A batch costs the ledger three round trips whatever its size — the
// claim (which returns the contacts), one look at the suppression list,
// and one transaction recording every outcome with its event — and the
// queue two (take and finish the job); the messages themselves go out
// Parallel at a time.
type Worker struct {
	Store Store
	// Queue takes the deliveries of a batch that must be tried again later
	// (a transient failure, quiet hours, a rate limit). Nil leaves them
	// queued in the ledger for the reconciler.
	Queue    Queue
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
	// Parallel is how many messages of one batch are sent at once
	// (default DefaultParallel).
	Parallel int
	// MaxRetry is how many times a delivery is tried again after transient
	// failures before its channel is given up (default DefaultMaxRetry).
	MaxRetry int
	// RetryBase and RetryCap shape the back-off between those tries:
	// RetryBase·2^n ±20 %, at most RetryCap (defaults 5 s and 10 min). A
	// provider's longer Retry-After wins.
	RetryBase time.Duration
	RetryCap  time.Duration
	// Observer, when set, is told of every send: for metrics.
	Observer SendObserver

	mu    sync.Mutex
	cache map[int64]*campaignEntry
	guard guard
}

// Worker defaults.
const (
	// DefaultParallel is how many messages of a batch are in flight at
	// once: sends wait on the SMTP relay or Twilio, not on the CPU.
	DefaultParallel = 8
	// DefaultMaxRetry is how many times a transiently failing delivery is
	// tried again: with the default back-off (5 s doubling, capped at
	// 10 min) eight retries span about 20 minutes.
	DefaultMaxRetry = 8
	// DefaultRetryBase is the first back-off after a transient failure.
	DefaultRetryBase = 5 * time.Second
	// DefaultRetryCap caps the back-off.
	DefaultRetryCap = 10 * time.Minute
)

// SendObserver learns how long each send to a provider took and how it
// ended (the delivery's state after it: sent, bounced_hard, failed,
// suppressed, or queued to be tried again). Implementations must be safe
// for concurrent use and quick: they run on the send path.
type SendObserver interface {
	ObserveSend(k ChannelKind, outcome State, d time.Duration)
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

func (s *Worker) maxRetry() int {
	if s.MaxRetry > 0 {
		return s.MaxRetry
	}
	if s.MaxRetry < 0 {
		return 0
	}
	return DefaultMaxRetry
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

// Handle sends the deliveries of job j. See Handler for what its errors
// mean: deliveries that fail one by one are recorded (and re-queued when
// they may be tried again) and do not fail the job; an error means the
// job as a whole could not be done (the ledger did not answer) and should
// run again.
func (s *Worker) Handle(ctx context.Context, j Job) error {
	log := s.log().With("campaign", j.CampaignID, "channel", string(j.Channel))
	camp, notices, err := s.campaign(ctx, j.CampaignID)
	if errors.Is(err, ErrNotFound) {
		log.Info("dropping job of a deleted campaign", "deliveries", len(j.Items))
		return nil
	}
	if err != nil && camp == nil {
		return err
	}
	tmplErr := err
	switch camp.Status {
	case CampaignDraft, CampaignPaused:
		return &SnoozeError{After: s.pauseSnooze(), Reason: "campaign " + string(camp.Status)}
	case CampaignCancelled:
		return s.cancel(ctx, j)
	}
	ch := s.Channels[j.Channel]
	if ch == nil {
		return &PermanentError{Err: fmt.Errorf("no %s channel configured in this worker", j.Channel)}
	}
	attempt := newAttemptID()
	claimed, err := s.Store.Claim(ctx, Claim{Items: j.Items, Attempt: attempt, At: s.now()})
	if err != nil {
		return fmt.Errorf("claim %d deliveries: %w", len(j.Items), err)
	}
	if len(claimed) == 0 {
		return nil // a duplicate or stale job: the ledger already has the answers
	}
	b := &batch{w: s, ch: ch, camp: camp, notices: notices, tmplErr: tmplErr, job: j, attempt: attempt, log: log}
	return b.run(ctx, claimed)
}

// cancel records the job's unsent deliveries as cancelled; CancelUnsent
// did most of them when the campaign was cancelled.
func (s *Worker) cancel(ctx context.Context, j Job) error {
	ts := make([]Transition, len(j.Items))
	for i, it := range j.Items {
		ts[i] = Transition{DeliveryID: it.DeliveryID, From: []State{StatePending, StateQueued}, Generation: it.Generation,
			To: StateCancelled, Diagnostic: "campaign cancelled before sending", At: s.now()}
	}
	if _, _, err := s.Store.Transitions(ctx, ts, nil); err != nil {
		return fmt.Errorf("cancel %d deliveries: %w", len(ts), err)
	}
	return nil
}

// pauseSnooze is how long a job of a paused campaign waits, ±20 %, so
// that the jobs of a large pause do not all come back at once.
func (s *Worker) pauseSnooze() time.Duration {
	d := time.Second
	if s.PauseSnooze > 0 {
		d = s.PauseSnooze
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// retryDelay is the back-off before try n+1 of a delivery.
func (s *Worker) retryDelay(n int) time.Duration {
	base, capDelay := s.RetryBase, s.RetryCap
	if base <= 0 {
		base = DefaultRetryBase
	}
	if capDelay <= 0 {
		capDelay = DefaultRetryCap
	}
	return Backoff(n, base, capDelay)
}

// fallback plans the next channel of the policy after d for d's contact,
// once per channel. The new deliveries are pending: the feeder hands them
// to the queue. A completed campaign that gains one (a bounce arrived after
// everything was sent) is running again.
func fallback(ctx context.Context, st Store, camp *Campaign, d *Delivery, now time.Time) error {
	ct, err := st.Contact(ctx, d.ContactID)
	if err != nil {
		return fmt.Errorf("fallback for delivery %d: %w", d.ID, err)
	}
	next, err := planFallbacks(ctx, st, camp, []Claimed{{Delivery: *d, Contact: *ct}}, now)
	if err != nil || len(next) == 0 {
		return err
	}
	stored, err := st.InsertDeliveries(ctx, next[d.ID])
	if err != nil {
		return fmt.Errorf("fallback for delivery %d: %w", d.ID, err)
	}
	return afterFallback(ctx, st, camp.ID, stored, d.ID, now)
}

// planFallbacks plans the next channel after each delivery of cs for its
// contact, passing over channels the contact already has a delivery on,
// and returns the new deliveries by the delivery they follow.
func planFallbacks(ctx context.Context, st Store, camp *Campaign, cs []Claimed, now time.Time) (map[int64][]Delivery, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(cs))
	for i := range cs {
		ids[i] = cs[i].Contact.ID
	}
	existing, err := st.DeliveriesOfContacts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("plan fallbacks for %d contacts: %w", len(cs), err)
	}
	done := make(map[int64]map[ChannelKind]bool, len(cs))
	for _, e := range existing {
		if done[e.ContactID] == nil {
			done[e.ContactID] = map[ChannelKind]bool{}
		}
		done[e.ContactID][e.Channel] = true
	}
	out := make(map[int64][]Delivery, len(cs))
	for i := range cs {
		c := &cs[i]
		if next := PlanNext(camp, &c.Contact, c.Delivery.Seq+1, done[c.Contact.ID], now); len(next) > 0 {
			out[c.Delivery.ID] = next
		}
	}
	return out, nil
}

// afterFallback settles new fallback deliveries with the campaign as it
// is now (read afresh: a worker's copy may be a second old): a completed
// campaign runs again so the feeder hands them over (a bounce arrived
// after everything was sent); in a cancelled campaign they are cancelled,
// as the cancel's bulk update would have if they had existed then.
func afterFallback(ctx context.Context, st Store, campaignID int64, stored []Delivery, after int64, now time.Time) error {
	if !hasPending(stored) {
		return nil
	}
	camp, err := st.Campaign(ctx, campaignID)
	if err != nil {
		return fmt.Errorf("fallback after delivery %d: %w", after, err)
	}
	switch camp.Status {
	case CampaignCompleted:
		err := st.SetCampaignStatus(ctx, camp.ID, []CampaignStatus{CampaignCompleted}, CampaignRunning, now)
		if errors.Is(err, ErrStale) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reopen campaign %s for a fallback: %w", camp.Name, err)
		}
		return st.Audit(ctx, AuditEntry{At: now, Actor: "herald", Action: "campaign.reopen", Subject: camp.Name,
			Detail: fmt.Sprintf("fallback after delivery %d", after)})
	case CampaignCancelled:
		var ts []Transition
		for _, d := range stored {
			if d.ID != 0 && d.State == StatePending {
				ts = append(ts, Transition{DeliveryID: d.ID, From: []State{StatePending}, Generation: d.Generation,
					To: StateCancelled, Diagnostic: "campaign cancelled before sending", At: now})
			}
		}
		if _, _, err := st.Transitions(ctx, ts, nil); err != nil {
			return fmt.Errorf("cancel fallbacks of cancelled campaign %s: %w", camp.Name, err)
		}
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
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
