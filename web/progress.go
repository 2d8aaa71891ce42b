package web

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
)

// Sampling of campaign progress. The ledger holds counts, not their
// history; the server samples a campaign's counts whenever its status is
// read (the dashboard polls every few seconds, Prometheus scrapes), which
// is enough to draw the send rate over the last minutes and estimate an
// ETA. With Redis (redisProgress) the samples are shared by every replica
// of the server and outlive a restart; without it each process keeps its
// own in memory (progressTracker), which start again after a restart.
// Either way a campaign keeps at most maxSamples, so memory and Redis use
// stay bounded.
const (
	sampleEvery = 2 * time.Second
	maxSamples  = 600              // 20 minutes at one sample every 2 s
	etaWindow   = 90 * time.Second // the rate the ETA extrapolates
	// sampleTTL is how long Redis keeps a campaign's samples after the
	// last one: a campaign nobody watched for a day starts afresh.
	sampleTTL = 24 * time.Hour
)

type sample struct {
	at       time.Time
	attempts int64 // deliveries that reached a final state
	done     int64 // contacts reached or unreachable
}

// progressSamples records campaign counts and returns their history.
type progressSamples interface {
	// observe records a campaign's counts as of at, the time they were
	// counted (at most one sample per sampleEvery; within it the newest
	// sample takes the higher counts), and returns its samples, oldest
	// first.
	observe(ctx context.Context, campaignID int64, at time.Time, attempts, done int64) []sample
}

type progressTracker struct {
	mu     sync.Mutex
	series map[int64][]sample
}

func newProgressTracker() *progressTracker {
	return &progressTracker{series: map[int64][]sample{}}
}

func (p *progressTracker) observe(_ context.Context, campaignID int64, now time.Time, attempts, done int64) []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	ss := p.series[campaignID]
	if n := len(ss); n == 0 || now.Sub(ss[n-1].at) >= sampleEvery {
		ss = append(ss, sample{at: now, attempts: attempts, done: done})
		if len(ss) > maxSamples {
			ss = ss[len(ss)-maxSamples:]
		}
		p.series[campaignID] = ss
	} else {
		ss[n-1].attempts, ss[n-1].done = max(ss[n-1].attempts, attempts), max(ss[n-1].done, done)
	}
	return append([]sample(nil), ss...)
}

// redisProgress keeps each campaign's samples in a Redis sorted set,
// <prefix>web:progress:<campaign id>, scored by the sample's time in
// milliseconds, each member "time:attempts:done". One Lua script records
// a sample and returns the set, atomically, so replicas polling at once
// add one sample per interval between them. The set holds maxSamples at
// most (about 25 KB) and expires sampleTTL after its last sample. Times
// are when the counts were taken (see reports.go), by the clock of the
// replica that took them; replicas' clocks must agree to well within
// sampleEvery, as NTP keeps them. While Redis does not answer, the samples
// are kept in memory instead.
type redisProgress struct {
	rdb      redis.UniversalClient
	prefix   string
	log      *slog.Logger
	fallback *progressTracker
	warned   warnLimiter
}

// progressScript records one sample and returns every sample.
//
//	KEYS[1]  the campaign's key
//	ARGV[1]  now, ms   ARGV[2]  sampleEvery, ms   ARGV[3]  maxSamples
//	ARGV[4]  attempts  ARGV[5]  done              ARGV[6]  TTL, ms
var progressScript = redis.NewScript(`
local now, every, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local attempts, done = tonumber(ARGV[4]), tonumber(ARGV[5])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 2 and now - tonumber(last[2]) < every then
	local _, _, a, d = string.find(last[1], '^%d+:(%d+):(%d+)$')
	if a then
		attempts, done = math.max(attempts, tonumber(a)), math.max(done, tonumber(d))
	end
	redis.call('ZREM', KEYS[1], last[1])
	redis.call('ZADD', KEYS[1], last[2], last[2] .. ':' .. string.format('%d', attempts) .. ':' .. string.format('%d', done))
else
	redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1] .. ':' .. ARGV[4] .. ':' .. ARGV[5])
	redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1))
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)

func newRedisProgress(rdb redis.UniversalClient, prefix string, log *slog.Logger) *redisProgress {
	return &redisProgress{rdb: rdb, prefix: prefix + "web:progress:", log: log, fallback: newProgressTracker()}
}

func (p *redisProgress) observe(ctx context.Context, campaignID int64, at time.Time, attempts, done int64) []sample {
	key := p.prefix + strconv.FormatInt(campaignID, 10)
	members, err := progressScript.Run(ctx, p.rdb, []string{key}, at.UnixMilli(), sampleEvery.Milliseconds(), maxSamples,
		attempts, done, sampleTTL.Milliseconds()).StringSlice()
	if err == nil {
		ss, perr := parseSamples(members)
		if perr == nil {
			return ss
		}
		err = perr
	}
	p.warned.warn(p.log, "progress samples: Redis does not answer; keeping them in this process only", "campaign", campaignID, "err", err)
	return p.fallback.observe(ctx, campaignID, at, attempts, done)
}

// parseSamples reads the members progressScript returns.
func parseSamples(members []string) ([]sample, error) {
	out := make([]sample, 0, len(members))
	for _, m := range members {
		parts := strings.Split(m, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("progress sample %q is not time:attempts:done", m)
		}
		var v [3]int64
		for i, p := range parts {
			n, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("progress sample %q: %w", m, err)
			}
			v[i] = n
		}
		out = append(out, sample{at: time.UnixMilli(v[0]), attempts: v[1], done: v[2]})
	}
	return out, nil
}

// RatePoint is the send rate over one sampling interval.
type RatePoint struct {
	At        time.Time `json:"at"`
	PerMinute float64   `json:"per_minute"`
}

// rates turns samples into per-minute send rates.
func rates(ss []sample) []RatePoint {
	var out []RatePoint
	for i := 1; i < len(ss); i++ {
		dt := ss[i].at.Sub(ss[i-1].at).Minutes()
		if dt <= 0 {
			continue
		}
		d := float64(ss[i].attempts - ss[i-1].attempts)
		if d < 0 {
			d = 0
		}
		out = append(out, RatePoint{At: ss[i].at, PerMinute: d / dt})
	}
	return out
}

// eta estimates when the contacts in progress will be done, from the rate
// at which contacts finished over the last etaWindow. ok is false when
// nothing moved in that window.
func eta(ss []sample, inProgress int64) (time.Duration, bool) {
	if len(ss) < 2 || inProgress <= 0 {
		return 0, false
	}
	last := ss[len(ss)-1]
	first := ss[0]
	for i := len(ss) - 2; i >= 0; i-- {
		first = ss[i]
		if last.at.Sub(ss[i].at) >= etaWindow {
			break
		}
	}
	dt := last.at.Sub(first.at)
	moved := last.done - first.done
	if dt <= 0 || moved <= 0 {
		return 0, false
	}
	perSec := float64(moved) / dt.Seconds()
	return time.Duration(float64(inProgress) / perSec * float64(time.Second)).Round(time.Second), true
}

// ChannelProgress is one channel's deliveries by state.
type ChannelProgress struct {
	Channel dispatcher.ChannelKind     `json:"channel"`
	Total   int64                      `json:"total"`
	States  map[dispatcher.State]int64 `json:"states"`
}

// BounceCount is how many deliveries of one channel ended in one failure
// class.
type BounceCount struct {
	Channel dispatcher.ChannelKind `json:"channel"`
	State   dispatcher.State       `json:"state"`
	Label   string                 `json:"label"`
	N       int64                  `json:"n"`
}

// QueueInfo is one channel's queue in Redis.
type QueueInfo struct {
	Channel        dispatcher.ChannelKind `json:"channel"`
	Pending        int                    `json:"pending"`
	Active         int                    `json:"active"`
	Scheduled      int                    `json:"scheduled"`
	Retry          int                    `json:"retry"`
	Archived       int                    `json:"archived"`
	LatencySeconds float64                `json:"latency_seconds"`
	Paused         bool                   `json:"paused"`
}

// CampaignStatus is a campaign's progress as the dashboard and the API
// show it.
type CampaignStatus struct {
	Campaign    string                           `json:"campaign"`
	Status      dispatcher.CampaignStatus        `json:"status"`
	Contacts    int64                            `json:"contacts"`
	Reached     int64                            `json:"reached"`
	ReachedBy   map[dispatcher.ChannelKind]int64 `json:"reached_by"`
	Fallback    int64                            `json:"fallback"`
	Unreachable int64                            `json:"unreachable"`
	InProgress  int64                            `json:"in_progress"`
	Invalid     int64                            `json:"invalid"`
	Rejected    int64                            `json:"rejected_rows"`
	PercentDone float64                          `json:"percent_done"`
	Channels    []ChannelProgress                `json:"channels"`
	Bounces     []BounceCount                    `json:"bounces"`
	Rate        []RatePoint                      `json:"rate"`
	PerMinute   float64                          `json:"per_minute"`
	ETASeconds  *float64                         `json:"eta_seconds,omitempty"`
	Queues      []QueueInfo                      `json:"queues,omitempty"`
	At          time.Time                        `json:"at"`
}

// bounceStates are the failure states the dashboard counts, with their
// labels.
var bounceStates = []struct {
	state dispatcher.State
	label string
}{
	{dispatcher.StateBouncedHard, "invalid address (hard bounce)"},
	{dispatcher.StateBouncedSoft, "temporary problem (soft bounce)"},
	{dispatcher.StateFailed, "failed (not the address's fault)"},
	{dispatcher.StateSuppressed, "suppressed (do-not-contact list)"},
}

// campaignStatus computes c's progress from its shared report (see
// reports.go) and the queue. At is when the counts were taken.
func (s *Server) campaignStatus(ctx context.Context, c *dispatcher.Campaign) (*CampaignStatus, error) {
	sr, err := s.report(ctx, c)
	if err != nil {
		return nil, err
	}
	r := sr.Report
	st := &CampaignStatus{
		Campaign: c.Name, Status: c.Status, Contacts: r.Contacts, Reached: r.Reached, ReachedBy: r.ReachedBy,
		Fallback: r.Fallback, Unreachable: r.Unreachable, InProgress: r.InProgress, Invalid: r.Invalid,
		Rejected: r.RejectedRows, At: sr.At.UTC(),
	}
	if st.ReachedBy == nil {
		st.ReachedBy = map[dispatcher.ChannelKind]int64{}
	}
	if r.Contacts > 0 {
		st.PercentDone = float64(r.Reached+r.Unreachable) / float64(r.Contacts) * 100
	}
	byChannel := map[dispatcher.ChannelKind]*ChannelProgress{}
	var attempts int64
	for _, k := range c.Policy {
		cp := &ChannelProgress{Channel: k, States: map[dispatcher.State]int64{}}
		byChannel[k] = cp
	}
	for _, sc := range r.States {
		cp := byChannel[sc.Channel]
		if cp == nil {
			cp = &ChannelProgress{Channel: sc.Channel, States: map[dispatcher.State]int64{}}
			byChannel[sc.Channel] = cp
		}
		cp.States[sc.State] += sc.N
		cp.Total += sc.N
		if sc.State.Final() && sc.State != dispatcher.StateSkipped && sc.State != dispatcher.StateCancelled {
			attempts += sc.N
		}
	}
	for _, k := range c.Policy {
		st.Channels = append(st.Channels, *byChannel[k])
		for _, b := range bounceStates {
			st.Bounces = append(st.Bounces, BounceCount{Channel: k, State: b.state, Label: b.label, N: byChannel[k].States[b.state]})
		}
	}
	ss := s.progress.observe(ctx, c.ID, sr.At, attempts, r.Reached+r.Unreachable)
	st.Rate = rates(ss)
	if n := len(st.Rate); n > 0 {
		// The current rate: the average over the last few intervals, so
		// one quiet poll does not read as a stall.
		k := min(n, 5)
		var sum float64
		for _, p := range st.Rate[n-k:] {
			sum += p.PerMinute
		}
		st.PerMinute = sum / float64(k)
	}
	if c.Status == dispatcher.CampaignRunning {
		if d, ok := eta(ss, r.InProgress); ok {
			secs := d.Seconds()
			st.ETASeconds = &secs
		}
	}
	if s.cfg.Backend != nil {
		depth, err := s.cfg.Backend.Depth(ctx)
		if err != nil {
			s.log.Warn("queue depth", "err", err)
		}
		for _, d := range depth {
			st.Queues = append(st.Queues, QueueInfo{Channel: d.Channel, Pending: d.Pending, Active: d.Active, Scheduled: d.Scheduled,
				Retry: d.Retry, Archived: d.Archived, LatencySeconds: d.Latency.Seconds(), Paused: d.Paused})
		}
	}
	return st, nil
}

// rejectCache keeps the reject report of recent console imports for
// download, in memory, for one hour, for the session that uploaded it.
// The ledger keeps the rejects too; this is the file as the operator
// expects it right after an upload.
type rejectCache struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]*rejectEntry
}

type rejectEntry struct {
	owner   string // session id hash
	csv     []byte
	expires time.Time
}

const (
	rejectTTL      = time.Hour
	rejectMaxFiles = 32
	rejectMaxBytes = 32 << 20 // per file; more is cut (the ledger has them all)
)

func newRejectCache(now func() time.Time) *rejectCache {
	return &rejectCache{now: now, entries: map[string]*rejectEntry{}}
}

// put stores a report and returns its id.
func (c *rejectCache) put(owner string, csv []byte) (string, error) {
	id, err := RandomSecret(12)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	for len(c.entries) >= rejectMaxFiles {
		var oldest string
		for k, e := range c.entries {
			if oldest == "" || e.expires.Before(c.entries[oldest].expires) {
				oldest = k
			}
		}
		delete(c.entries, oldest)
	}
	c.entries[id] = &rejectEntry{owner: owner, csv: csv, expires: now.Add(rejectTTL)}
	return id, nil
}

// get returns the report id for its owner.
func (c *rejectCache) get(owner, id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || e.owner != owner || c.now().After(e.expires) {
		return nil, false
	}
	return e.csv, true
}
