package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
)

// Campaign reports for the dashboard, the campaign list and /metrics.
//
// A report counts every delivery of a campaign. At a million deliveries
// that is about two seconds of PostgreSQL's time (measured: 1.0 s for the
// outcomes, 0.5 s for reached-by-channel, 0.4 s for the contacts, 0.15 s
// for the states, on a 2-vCPU machine), so computing it for every viewer's
// poll every two seconds would keep the database busy with one viewer and
// overload it with several. Instead a campaign's report is computed at most
// once per freshness period, shared by every viewer and, through Redis, by
// every replica of the server: a report stays fresh five times as long as
// it took (at least sampleEvery, at most reportFreshMax), which bounds the
// ledger's work per watched campaign to a fifth of one connection however
// many people watch. One replica computes at a time (a lock in Redis); the
// others serve the previous copy meanwhile. The rate chart's samples are
// taken from these reports, stamped with the time they were computed.
//
// GET /api/v1/campaigns/{name}/report, which an operator asks for once,
// still reads the ledger every time.
const (
	reportCostFactor = 5
	reportFreshMax   = time.Minute
	// reportKeep is how long a stale copy is kept to serve while another
	// replica computes the next.
	reportKeep = time.Hour
	// reportKeepFinal is how long the report of a finished campaign is
	// kept: it does not change, and the campaign list shows it on every
	// view, so recomputing it each hour would read the ledger for nothing.
	reportKeepFinal = 30 * 24 * time.Hour
	// reportLockTTL bounds how long a replica that died while computing
	// keeps the others waiting.
	reportLockTTL = 2 * time.Minute
)

// sharedReport is a campaign report with when it was computed.
type sharedReport struct {
	Report     *dispatcher.Report `json:"report"`
	At         time.Time          `json:"at"`
	FreshUntil time.Time          `json:"fresh_until"`
	Final      bool               `json:"final,omitempty"` // of a finished campaign: kept for reportKeepFinal
}

// reportStore keeps the latest report of each campaign.
type reportStore interface {
	get(ctx context.Context, campaignID int64) (*sharedReport, error) // nil, nil when there is none
	put(ctx context.Context, campaignID int64, r *sharedReport) error
	// lock claims the computation of the next report; release gives it up.
	lock(ctx context.Context, campaignID int64) (release func(), ok bool, err error)
}

// memoryReports is the report store of a server without Redis.
type memoryReports struct {
	mu      sync.Mutex
	reports map[int64]*sharedReport
}

func (m *memoryReports) get(_ context.Context, id int64) (*sharedReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reports[id], nil
}

func (m *memoryReports) put(_ context.Context, id int64, r *sharedReport) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reports == nil {
		m.reports = map[int64]*sharedReport{}
	}
	m.reports[id] = r
	return nil
}

// lock always succeeds: within a process reportFlight already lets one
// request compute.
func (m *memoryReports) lock(context.Context, int64) (func(), bool, error) {
	return func() {}, true, nil
}

// redisReports keeps each campaign's latest report as JSON at
// <prefix>web:report:<id> (for reportKeep), and the lock on computing the
// next at <prefix>web:report:<id>:lock. It keeps a copy in memory too,
// which serves while Redis does not answer.
type redisReports struct {
	rdb    redis.UniversalClient
	prefix string
	mem    memoryReports
}

func (r *redisReports) key(id int64) string {
	return r.prefix + "web:report:" + strconv.FormatInt(id, 10)
}

func (r *redisReports) get(ctx context.Context, id int64) (*sharedReport, error) {
	b, err := r.rdb.Get(ctx, r.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		mine, _ := r.mem.get(ctx, id)
		return mine, fmt.Errorf("read shared report: %w", err)
	}
	var sr sharedReport
	if err := json.Unmarshal(b, &sr); err != nil {
		return nil, fmt.Errorf("decode shared report: %w", err)
	}
	return &sr, nil
}

func (r *redisReports) put(ctx context.Context, id int64, sr *sharedReport) error {
	_ = r.mem.put(ctx, id, sr)
	b, err := json.Marshal(sr)
	if err != nil {
		return fmt.Errorf("encode shared report: %w", err)
	}
	keep := reportKeep
	if sr.Final {
		keep = reportKeepFinal
	}
	if err := r.rdb.Set(ctx, r.key(id), b, keep).Err(); err != nil {
		return fmt.Errorf("store shared report: %w", err)
	}
	return nil
}

// unlockScript deletes a lock only if it is still the caller's.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (r *redisReports) lock(ctx context.Context, id int64) (func(), bool, error) {
	token, err := RandomSecret(12)
	if err != nil {
		return func() {}, false, err
	}
	key := r.key(id) + ":lock"
	ok, err := r.rdb.SetNX(ctx, key, token, reportLockTTL).Result()
	if err != nil || !ok {
		return func() {}, false, err
	}
	return func() { _ = unlockScript.Run(context.WithoutCancel(ctx), r.rdb, []string{key}, token).Err() }, true, nil
}

// freshFor is how long a report that took d to compute stays fresh.
func freshFor(d time.Duration) time.Duration {
	return min(max(sampleEvery, reportCostFactor*d), reportFreshMax)
}

// usable reports whether a shared report may be shown for campaign c at
// now: fresh, and for a finished campaign computed after it finished (it
// then never changes).
func (sr *sharedReport) usable(c *dispatcher.Campaign, now time.Time) bool {
	if sr == nil {
		return false
	}
	if c.Status.Final() && !c.FinishedAt.IsZero() {
		return !sr.At.Before(c.FinishedAt)
	}
	return now.Before(sr.FreshUntil)
}

// report returns campaign c's report: the shared one while it is fresh,
// else one computed now (by this replica, or, while another replica
// computes, the previous copy).
func (s *Server) report(ctx context.Context, c *dispatcher.Campaign) (*sharedReport, error) {
	cur := s.sharedReport(ctx, c.ID)
	if cur.usable(c, s.cfg.Now()) {
		return cur, nil
	}
	// One request per campaign and process computes; the others wait for
	// it. The computation outlives the request that started it (the
	// others wait on it too), but not its lock in Redis.
	v, err, _ := s.flight.Do(strconv.FormatInt(c.ID, 10), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportLockTTL)
		defer cancel()
		cur := s.sharedReport(ctx, c.ID)
		now := s.cfg.Now()
		if cur.usable(c, now) {
			return cur, nil
		}
		release, ok, err := s.reports.lock(ctx, c.ID)
		if err != nil {
			s.redisTrouble("shared reports", err)
		}
		if !ok && err == nil && cur != nil {
			return cur, nil // another replica is computing it
		}
		defer release()
		start := time.Now()
		rep, err := s.cfg.Store.Report(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		took := time.Since(start)
		sr := &sharedReport{Report: rep, At: now, FreshUntil: now.Add(freshFor(took)), Final: c.Status.Final() && !c.FinishedAt.IsZero()}
		if err := s.reports.put(ctx, c.ID, sr); err != nil {
			s.redisTrouble("shared reports", err)
		}
		s.log.Debug("campaign report computed", "campaign", c.ID, "took", took, "fresh_for", freshFor(took))
		return sr, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*sharedReport), nil
}

// sharedReport reads the shared report of a campaign (while Redis does not
// answer, this process's latest); nil when there is none.
func (s *Server) sharedReport(ctx context.Context, id int64) *sharedReport {
	sr, err := s.reports.get(ctx, id)
	if err != nil {
		s.redisTrouble("shared reports", err)
	}
	return sr
}

// redisTrouble logs a Redis failure, once a minute at most.
func (s *Server) redisTrouble(what string, err error) {
	s.redisWarn.warn(s.log, what+": Redis does not answer; computing in this process", "err", err)
}

// warnLimiter logs a warning at most once a minute: a Redis that does not
// answer fails every request, and one line a minute says so.
type warnLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (w *warnLimiter) warn(log *slog.Logger, msg string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.last) >= time.Minute {
		w.last = now
		log.Warn(msg, args...)
	}
}
