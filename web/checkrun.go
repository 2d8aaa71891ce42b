package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
)

// The campaign check in the console and the API.
//
// A launch runs the campaign check first, as `herald campaign launch`
// does: every contact's notice is rendered on every channel they may get
// (dispatcher.Check), and a campaign whose notices would go out wrong is
// not launched unless an operator confirms it separately. The check is
// CPU-bound: measured on the 2-vCPU development machine it renders about
// 30,000 contacts a second with two renderers (100,000 contacts in 3.1–
// 4.5 s on SQLite and PostgreSQL, a million in 32 s on PostgreSQL), so
// 5.8 million contacts take three minutes or more: longer than a request
// may wait. A check therefore runs in the background of the server that
// started it, one at a time per server, and records its progress where
// every replica reads it (Redis when there is one). A request that starts
// a check waits up to checkWait for it, which covers a campaign of tens
// of thousands of people; a larger one answers with the progress, and
// the operator (or the API client) launches once the check has passed.
//
// A check's result is kept for the campaign as it was checked: its
// revision (name, sender, settings, status), a digest of its templates
// and the last contact checked. A launch goes by a passed result only
// while all three are unchanged (contacts are only ever added, so one
// above the last checked is new); otherwise the campaign is checked
// again.

const (
	// checkWait is how long a request that starts or joins a check
	// waits for its result before answering with its progress.
	checkWait = 3 * time.Second
	// checkBeat is how often a running check records its progress,
	// which also shows it is alive.
	checkBeat = time.Second
	// checkDeadAfter is how long a check may go unheard before it counts
	// as interrupted (its server stopped) and another may start.
	checkDeadAfter = 30 * time.Second
	// checkKeep is how long a check's result is kept.
	checkKeep = 24 * time.Hour
)

// States of a check run.
const (
	checkQueued      = "queued"      // waiting for another campaign's check on the same server
	checkRunning     = "running"     // rendering
	checkPassed      = "passed"      // every notice renders
	checkProblems    = "problems"    // the check found problems: a launch is refused
	checkFailed      = "failed"      // the check itself could not finish (the ledger did not answer)
	checkInterrupted = "interrupted" // its server stopped before it finished
)

// checkRun is one run of the campaign check, as the replicas share it.
type checkRun struct {
	ID         string                  `json:"id"`
	CampaignID int64                   `json:"campaign_id"`
	Campaign   string                  `json:"campaign"`
	State      string                  `json:"state"`
	By         string                  `json:"by"` // who started it, as the audit log names them
	StartedAt  time.Time               `json:"started_at"`
	BeatAt     time.Time               `json:"beat_at"`
	FinishedAt time.Time               `json:"finished_at,omitzero"`
	Checked    int64                   `json:"checked"`
	Contacts   int64                   `json:"contacts"` // in the campaign when the check began, for progress
	Error      string                  `json:"error,omitempty"`
	Report     *dispatcher.CheckReport `json:"report,omitempty"`
	// What the check covered.
	Revision    string `json:"revision"`
	Templates   string `json:"templates"`
	LastContact int64  `json:"last_contact"`
}

// state is the run's state at now: a queued or running check not heard
// from for checkDeadAfter was interrupted.
func (r *checkRun) state(now time.Time) string {
	if r == nil {
		return ""
	}
	if (r.State == checkQueued || r.State == checkRunning) && now.Sub(r.BeatAt) > checkDeadAfter {
		return checkInterrupted
	}
	return r.State
}

// active reports whether the run is queued or running at now.
func (r *checkRun) active(now time.Time) bool {
	st := r.state(now)
	return st == checkQueued || st == checkRunning
}

// finished reports whether the run has a result (passed or problems).
func (r *checkRun) finished() bool {
	return r != nil && (r.State == checkPassed || r.State == checkProblems) && r.Report != nil
}

// checkStore keeps the latest check run of each campaign and who may run
// the next one.
type checkStore interface {
	get(ctx context.Context, campaignID int64) (*checkRun, error) // nil, nil when there is none
	// begin records run as its campaign's latest and claims running it,
	// unless another run holds the claim (false).
	begin(ctx context.Context, run *checkRun) (bool, error)
	// put records run's progress or result and renews its claim; false
	// when the claim was lost (another server took over an interrupted
	// check), and the run should stop.
	put(ctx context.Context, run *checkRun) (bool, error)
	// release gives up run's claim.
	release(ctx context.Context, run *checkRun)
}

// memoryChecks is the check store of a server without Redis.
type memoryChecks struct {
	mu     sync.Mutex
	runs   map[int64]*checkRun
	claims map[int64]memoryClaim
	now    func() time.Time
}

type memoryClaim struct {
	run   string
	until time.Time
}

func newMemoryChecks(now func() time.Time) *memoryChecks {
	return &memoryChecks{runs: map[int64]*checkRun{}, claims: map[int64]memoryClaim{}, now: now}
}

func (m *memoryChecks) get(_ context.Context, id int64) (*checkRun, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.runs[id]; r != nil {
		cp := *r
		return &cp, nil
	}
	return nil, nil
}

func (m *memoryChecks) begin(_ context.Context, run *checkRun) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[run.CampaignID]; ok && m.now().Before(c.until) {
		return false, nil
	}
	m.claims[run.CampaignID] = memoryClaim{run: run.ID, until: m.now().Add(checkDeadAfter)}
	cp := *run
	m.runs[run.CampaignID] = &cp
	return true, nil
}

func (m *memoryChecks) put(_ context.Context, run *checkRun) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.claims[run.CampaignID]; c.run != run.ID {
		return false, nil
	}
	m.claims[run.CampaignID] = memoryClaim{run: run.ID, until: m.now().Add(checkDeadAfter)}
	cp := *run
	m.runs[run.CampaignID] = &cp
	return true, nil
}

func (m *memoryChecks) release(_ context.Context, run *checkRun) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.claims[run.CampaignID]; c.run == run.ID {
		delete(m.claims, run.CampaignID)
	}
}

// redisChecks keeps each campaign's latest check run as JSON at
// <prefix>web:check:<id> (for checkKeep), and the claim on running the
// next at <prefix>web:check:<id>:claim (the run's ID, for checkDeadAfter,
// renewed with every beat).
type redisChecks struct {
	rdb    redis.UniversalClient
	prefix string
}

func (r *redisChecks) keys(id int64) []string {
	k := r.prefix + "web:check:" + strconv.FormatInt(id, 10)
	return []string{k, k + ":claim"}
}

func (r *redisChecks) get(ctx context.Context, id int64) (*checkRun, error) {
	b, err := r.rdb.Get(ctx, r.keys(id)[0]).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read shared campaign check: %w", err)
	}
	var run checkRun
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, fmt.Errorf("decode shared campaign check: %w", err)
	}
	return &run, nil
}

// beginScript claims KEYS[2] for run ARGV[1] unless it is held, and then
// stores the run ARGV[2] at KEYS[1].
var beginScript = redis.NewScript(`
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
  return 1
end
return 0
`)

// putScript stores run ARGV[2] at KEYS[1] and renews the claim KEYS[2],
// if the claim is still run ARGV[1]'s.
var putScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
`)

func (r *redisChecks) run(ctx context.Context, s *redis.Script, run *checkRun) (bool, error) {
	b, err := json.Marshal(run)
	if err != nil {
		return false, fmt.Errorf("encode campaign check: %w", err)
	}
	n, err := s.Run(ctx, r.rdb, r.keys(run.CampaignID), run.ID, b, checkDeadAfter.Milliseconds(), checkKeep.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store shared campaign check: %w", err)
	}
	return n == 1, nil
}

func (r *redisChecks) begin(ctx context.Context, run *checkRun) (bool, error) {
	return r.run(ctx, beginScript, run)
}

func (r *redisChecks) put(ctx context.Context, run *checkRun) (bool, error) {
	return r.run(ctx, putScript, run)
}

func (r *redisChecks) release(ctx context.Context, run *checkRun) {
	_ = unlockScript.Run(context.WithoutCancel(ctx), r.rdb, r.keys(run.CampaignID)[1:], run.ID).Err()
}

// templatesDigest identifies a campaign's templates: equal sets, equal
// digests.
func templatesDigest(ts []dispatcher.Template) string {
	h := sha256.New()
	for _, t := range ts { // the store returns them in a fixed order
		for _, v := range []string{string(t.Channel), t.Locale, t.Subject, t.Text, t.HTML} {
			h.Write([]byte(strconv.Itoa(len(v))))
			h.Write([]byte{':'})
			h.Write([]byte(v))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// checkWorkers is how many renderers a check uses: all cores but one, so
// that the server keeps answering while a large campaign is checked, and
// at most four (measured: more do not help).
func checkWorkers() int {
	return max(1, min(4, runtime.GOMAXPROCS(0)-1))
}

// latestCheck reads campaign c's latest check run (nil when there is
// none) and whether it is current: finished, and c's revision, templates
// and contacts are still those checked.
func (s *Server) latestCheck(ctx context.Context, c *dispatcher.Campaign) (*checkRun, bool, error) {
	run, err := s.checks.get(ctx, c.ID)
	if err != nil {
		return run, false, err
	}
	current, err := s.isCurrent(ctx, c, run)
	return run, current, err
}

// isCurrent reports whether check run covers campaign c as it is: the run
// finished, and c's revision, templates and contacts are still those
// checked.
func (s *Server) isCurrent(ctx context.Context, c *dispatcher.Campaign, run *checkRun) (bool, error) {
	if !run.finished() || run.Revision != c.Revision {
		return false, nil
	}
	ts, err := s.cfg.Store.Templates(ctx, c.ID)
	if err != nil {
		return false, err
	}
	if templatesDigest(ts) != run.Templates {
		return false, nil
	}
	more, err := s.cfg.Store.Contacts(ctx, c.ID, run.LastContact, 1)
	if err != nil {
		return false, err
	}
	return len(more) == 0, nil
}

// startCheck starts a check of campaign c for p in the background, or
// returns the one already queued or running.
func (s *Server) startCheck(ctx context.Context, p *principal, c *dispatcher.Campaign) (*checkRun, error) {
	cur, err := s.checks.get(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	if cur.active(now) {
		return cur, nil
	}
	ts, err := s.cfg.Store.Templates(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	id, err := RandomSecret(9)
	if err != nil {
		return nil, err
	}
	run := &checkRun{ID: id, CampaignID: c.ID, Campaign: c.Name, State: checkQueued, By: p.actor(), StartedAt: now, BeatAt: now,
		Revision: c.Revision, Templates: templatesDigest(ts)}
	ok, err := s.checks.begin(ctx, run)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Another request or replica began one a moment ago.
		if cur, err = s.checks.get(ctx, c.ID); err != nil {
			return nil, err
		}
		if cur.active(s.cfg.Now()) {
			return cur, nil
		}
		return nil, dispatcher.Errorf(dispatcher.ECONFLICT, "a check of campaign %s is starting: reload the page in a moment", c.Name)
	}
	done := make(chan struct{})
	s.checkMu.Lock()
	s.checkDone[run.ID] = done
	s.checkMu.Unlock()
	s.checkWG.Add(1)
	cc := *c // the check outlives the request, whose handler may go on to change c (a launch)
	go func() {
		defer s.checkWG.Done()
		defer func() {
			s.checkMu.Lock()
			delete(s.checkDone, run.ID)
			s.checkMu.Unlock()
			close(done)
		}()
		s.runCheck(run, &cc)
	}()
	return run, nil
}

// waitCheck waits up to d for run to finish and returns it as it then is.
func (s *Server) waitCheck(ctx context.Context, run *checkRun, d time.Duration) (*checkRun, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	s.checkMu.Lock()
	done := s.checkDone[run.ID]
	s.checkMu.Unlock()
	if done != nil { // this server runs it
		select {
		case <-done:
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return s.checks.get(ctx, run.CampaignID)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cur, err := s.checks.get(ctx, run.CampaignID)
		if err != nil || cur == nil || cur.ID != run.ID || !cur.active(s.cfg.Now()) {
			return cur, err
		}
		select {
		case <-tick.C:
		case <-timer.C:
			return cur, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// runCheck runs the check of run on this server: after any other check
// here has finished, it renders every notice, recording its progress
// every checkBeat, then its result, and audits what it found.
func (s *Server) runCheck(run *checkRun, c *dispatcher.Campaign) {
	ctx, cancel := context.WithCancel(s.bg)
	defer cancel()
	defer s.checks.release(context.WithoutCancel(ctx), run)
	beat := time.NewTicker(checkBeat)
	defer beat.Stop()
	alive := func() bool {
		run.BeatAt = s.cfg.Now()
		ok, err := s.checks.put(ctx, run)
		if err != nil {
			s.redisTrouble("campaign checks", err)
			return true // keep going: the result may still be recorded
		}
		if !ok {
			s.log.Warn("campaign check taken over by another server", "campaign", run.CampaignID, "check", run.ID)
		}
		return ok
	}
	// One check at a time per server: each uses every core but one.
	for waiting := true; waiting; {
		select {
		case s.checkSlot <- struct{}{}:
			waiting = false
		case <-beat.C:
			if !alive() {
				return
			}
		case <-ctx.Done():
			s.interrupted(run)
			return
		}
	}
	defer func() { <-s.checkSlot }()

	start := time.Now()
	run.State = checkRunning
	// The total for the progress bar: the dashboard's shared report,
	// however old, else one computed beside the check (seconds at a
	// million deliveries: longer than a beat, so not in this loop).
	var total atomic.Int64
	if sr := s.sharedReport(ctx, c.ID); sr != nil {
		total.Store(sr.Report.Contacts)
	} else {
		s.checkWG.Add(1)
		go func() {
			defer s.checkWG.Done()
			if sr, err := s.report(ctx, c); err == nil {
				total.Store(sr.Report.Contacts)
			}
		}()
	}
	run.Contacts = total.Load()
	if !alive() {
		return
	}
	if s.checkHook != nil {
		s.checkHook(ctx)
	}
	var checked atomic.Int64
	var rep *dispatcher.CheckReport
	var cerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, cerr = dispatcher.Check(ctx, s.cfg.Store, c, dispatcher.CheckOptions{Workers: checkWorkers(), Progress: func(n int64) {
			for cur := checked.Load(); n > cur && !checked.CompareAndSwap(cur, n); cur = checked.Load() {
			}
			if s.checkHook != nil {
				s.checkHook(ctx)
			}
		}})
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-beat.C:
			run.Checked, run.Contacts = checked.Load(), total.Load()
			if !alive() {
				cancel()
				<-done
				return
			}
		}
	}
	if cerr != nil {
		if s.bg.Err() != nil {
			s.interrupted(run)
			return
		}
		s.log.Error("campaign check failed", "campaign", run.CampaignID, "check", run.ID, "err", cerr)
		run.State, run.Error = checkFailed, "The check could not finish: the ledger did not answer. Run it again; if it fails again, the server log says why."
	} else {
		run.Report, run.Checked, run.LastContact = rep, int64(rep.Contacts), rep.LastContactID
		run.Contacts = max(total.Load(), run.Checked)
		run.State = checkPassed
		if !rep.OK() {
			run.State = checkProblems
		}
	}
	run.FinishedAt = s.cfg.Now()
	wctx := context.WithoutCancel(ctx)
	if !alive() {
		return
	}
	s.log.Info("campaign check finished", "campaign", run.CampaignID, "check", run.ID, "state", run.State, "contacts", run.Checked, "took", time.Since(start).Round(time.Millisecond))
	detail := run.Error
	if run.Report != nil {
		detail = run.State + ": " + run.Report.Summary()
	}
	if err := s.cfg.Store.Audit(wctx, dispatcher.AuditEntry{At: s.cfg.Now(), Actor: run.By, Action: "campaign.check", Subject: run.Campaign, Detail: detail}); err != nil {
		s.log.Error("audit failed", "action", "campaign.check", "campaign", run.CampaignID, "err", err)
	}
}

// interrupted records that run stopped with its server. (A server that
// dies records nothing: its run shows as interrupted once it has not been
// heard from for checkDeadAfter.)
func (s *Server) interrupted(run *checkRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	run.State, run.BeatAt = checkInterrupted, s.cfg.Now()
	if _, err := s.checks.put(ctx, run); err != nil {
		s.redisTrouble("campaign checks", err)
	}
	s.log.Info("campaign check interrupted: the server is stopping", "campaign", run.CampaignID, "check", run.ID)
}

// launchResult is what a launch request came to.
type launchResult struct {
	Launched bool
	Run      *checkRun // the check the launch went by, or the one it waits for
	Current  bool      // Run is finished and still covers the campaign
}

// launch launches draft campaign c for p if a current check of it passed.
// Without one it starts (or joins) a check and waits up to checkWait for
// it, launching if it passes then; otherwise it returns the check, still
// running, with problems, or out of date.
func (s *Server) launch(ctx context.Context, p *principal, c *dispatcher.Campaign) (*launchResult, error) {
	if c.Status != dispatcher.CampaignDraft {
		return nil, dispatcher.Errorf(dispatcher.ECONFLICT, "cannot launch campaign %s: it is %s", c.Name, c.Status)
	}
	run, current, err := s.latestCheck(ctx, c)
	if err != nil {
		return nil, err
	}
	if !current {
		if !run.active(s.cfg.Now()) {
			if run, err = s.startCheck(ctx, p, c); err != nil {
				return nil, err
			}
		}
		if run, err = s.waitCheck(ctx, run, s.checkWait); err != nil {
			return nil, err
		}
		if run == nil { // its record is gone: Redis lost it
			return nil, dispatcher.Errorf(dispatcher.ECONFLICT, "the check of campaign %s was lost (its record in Redis is gone): launch again", c.Name)
		}
		if current, err = s.isCurrent(ctx, c, run); err != nil {
			return nil, err
		}
	}
	res := &launchResult{Run: run, Current: current && run.finished()}
	if !res.Current || run.State != checkPassed {
		return res, nil
	}
	ops := &dispatcher.Operations{Store: s.cfg.Store, Now: s.cfg.Now, Actor: p.actor()}
	if err := ops.LaunchChecked(ctx, c, fmt.Sprintf("check %s of %s passed: %s", run.ID, fmtTime(run.FinishedAt), run.Report.Summary())); err != nil {
		return nil, err
	}
	s.log.Info("campaign control", "user", p.name(), "campaign", c.ID, "action", "launch", "check", run.ID)
	res.Launched = true
	return res, nil
}

// maxForceReason bounds the reason an operator gives for a forced launch.
const maxForceReason = 1000

// launchForced launches draft campaign c past its check for p, with the
// reason p gave; the audit log records it as a forced launch with what
// check run (the latest, as the caller read it; current says whether it
// still covers c) found.
func (s *Server) launchForced(ctx context.Context, p *principal, c *dispatcher.Campaign, run *checkRun, current bool, reason string) error {
	if c.Status != dispatcher.CampaignDraft {
		return dispatcher.Errorf(dispatcher.ECONFLICT, "cannot launch campaign %s: it is %s", c.Name, c.Status)
	}
	if len(reason) > maxForceReason {
		return dispatcher.Errorf(dispatcher.EINVALID, "the reason is longer than %d characters: say briefly why the campaign goes out anyway", maxForceReason)
	}
	var reasons string
	switch {
	case current:
		reasons = fmt.Sprintf("check %s of %s (started by %s) %s: %s", run.ID, fmtTime(run.FinishedAt), run.By, run.State, run.Report.Summary())
	case run.active(s.cfg.Now()):
		reasons = fmt.Sprintf("launched while check %s was still running (%d of %d contacts checked)", run.ID, run.Checked, run.Contacts)
	default:
		reasons = "no current check: launched without checking the notices"
	}
	if reason != "" {
		reasons += "; reason given: " + reason
	}
	ops := &dispatcher.Operations{Store: s.cfg.Store, Now: s.cfg.Now, Actor: p.actor()}
	if err := ops.LaunchForced(ctx, c, reasons); err != nil {
		return err
	}
	s.log.Warn("campaign launched past its check", "user", p.name(), "campaign", c.ID)
	return nil
}

// confirmToken is the launch-anyway form's own token: it binds the
// confirmation to this session, this campaign and the check run whose
// findings the operator read, so that neither the ordinary launch form's
// token nor a confirmation of older findings can force a launch.
func confirmToken(sess *dispatcher.Session, campaignID int64, runID string) string {
	m := hmac.New(sha256.New, []byte(sess.CSRFToken))
	m.Write([]byte("launch-anyway\x00" + strconv.FormatInt(campaignID, 10) + "\x00" + runID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validConfirm checks a launch-anyway form's token in constant time.
func validConfirm(sess *dispatcher.Session, campaignID int64, runID, token string) bool {
	if sess == nil || runID == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(confirmToken(sess, campaignID, runID)), []byte(token))
}
