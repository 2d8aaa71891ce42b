package dispatcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Feeder keeps the queue topped up from the ledger. The queue never holds
// a whole campaign: it holds a window of a few dozen jobs per channel, and
// the feeder hands over the next pending deliveries, in ID order, as the
// workers take jobs. Redis memory therefore stays flat whether a campaign
// has three hundred people or six million, a pause leaves little queued
// work to step around, and the ledger remains the one list of what is
// left to do.
//
// Every worker process runs a feeder. They share one cursor per campaign
// and channel in the queue (FeedQueue.Fed), advanced with compare-and-set,
// so two feeders never hand over the same range; together they may
// overshoot the window by a page each, which is harmless. Pending
// deliveries added behind the cursor's back — a fallback to the next
// channel, contacts imported into a running campaign — have higher IDs than
// anything handed over, so the cursor reaches them too.
//
// The feeder also recovers lost work. When a channel's queue is empty but
// the ledger still has pending deliveries below the cursor, or queued ones
// that are due, the jobs that carried them are gone (Redis lost them, or a
// process died between the ledger and the queue): it rewinds the cursor
// and queues the queued ones again. A duplicate job costs a claim that
// finds nothing; a lost one would cost a person their notice.
type Feeder struct {
	Store Store
	Queue FeedQueue
	// Channels are the queues to feed (default: every queued channel).
	Channels []ChannelKind
	// BatchSize is the most deliveries one job carries (default
	// DefaultBatchSize). When fewer deliveries are left than a full
	// window holds, jobs are smaller, so that several workers share them.
	BatchSize int
	// Window is how many jobs per channel the feeder keeps ready in the
	// queue; it tops the queue up when fewer than half are left (default
	// DefaultWindow).
	Window int
	Now    func() time.Time
	Logger *slog.Logger

	turn int // round-robin start among running campaigns
	// idle remembers, per campaign and channel, the cursor (plus one) at
	// which the queue was last seen empty with nothing new to feed:
	// recovery waits for a second such look (see recover).
	idle map[idleKey]int64
}

type idleKey struct {
	campaign int64
	channel  ChannelKind
}

// DefaultWindow is the number of jobs per channel kept ready in the queue:
// at a hundred deliveries a job, 6,400 people, under half a second of work
// at the fastest rates measured, and about 40 kB of Redis.
const DefaultWindow = 64

// FeedResult counts what one Feed call did.
type FeedResult struct {
	Jobs       int // jobs handed to the queue
	Deliveries int // deliveries in them
	Rewound    int // cursors rewound because their jobs were lost
	Requeued   int // queued deliveries whose jobs were lost, queued again
}

func (f *Feeder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Feeder) log() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (f *Feeder) channels() []ChannelKind {
	if len(f.Channels) > 0 {
		return f.Channels
	}
	return []ChannelKind{Email, SMS, File}
}

func (f *Feeder) batchSize() int {
	if f.BatchSize > 0 {
		return f.BatchSize
	}
	return DefaultBatchSize
}

func (f *Feeder) window() int {
	if f.Window > 0 {
		return f.Window
	}
	return DefaultWindow
}

// Feed tops up every channel's queue once from the running campaigns,
// taking them in turn so that one large campaign does not starve another.
// A round in which every queue is more than half full costs one Redis
// round trip per channel and nothing of the ledger.
func (f *Feeder) Feed(ctx context.Context) (FeedResult, error) {
	var res FeedResult
	var camps []*Campaign
	for _, k := range f.channels() {
		bl, err := f.Queue.Backlog(ctx, k)
		if err != nil {
			return res, fmt.Errorf("feed %s: %w", k, err)
		}
		if bl.Pending*2 > f.window() {
			continue // still more than half full
		}
		if camps == nil {
			if camps, err = f.Store.Campaigns(ctx); err != nil {
				return res, fmt.Errorf("feed: list campaigns: %w", err)
			}
			camps = slices.DeleteFunc(camps, func(c *Campaign) bool { return c.Status != CampaignRunning })
			if len(camps) == 0 {
				return res, nil
			}
			f.turn++
		}
		if err := f.feedChannel(ctx, k, bl, camps, &res); err != nil {
			return res, err
		}
	}
	if res.Jobs > 0 || res.Rewound > 0 || res.Requeued > 0 {
		f.log().Debug("fed the queue", "jobs", res.Jobs, "deliveries", res.Deliveries, "rewound", res.Rewound, "requeued", res.Requeued)
	}
	return res, nil
}

func (f *Feeder) feedChannel(ctx context.Context, k ChannelKind, bl Backlog, camps []*Campaign, res *FeedResult) error {
	window, size := f.window(), f.batchSize()
	room := window - bl.Pending
	idle := bl.Waiting() == 0
	for i := range camps {
		if room <= 0 {
			return nil
		}
		c := camps[(f.turn+i)%len(camps)]
		fed, err := f.Queue.Fed(ctx, c.ID, k)
		if err != nil {
			return fmt.Errorf("feed %s of campaign %d: %w", k, c.ID, err)
		}
		ds, err := f.Store.PendingAfter(ctx, c.ID, k, fed, room*size)
		if err != nil {
			return fmt.Errorf("feed %s of campaign %d: %w", k, c.ID, err)
		}
		key := idleKey{c.ID, k}
		if len(ds) == 0 {
			if idle {
				if err := f.recover(ctx, c, k, fed, res); err != nil {
					return err
				}
			} else {
				delete(f.idle, key)
			}
			continue
		}
		delete(f.idle, key)
		last := ds[len(ds)-1].DeliveryID
		ok, err := f.Queue.AdvanceFed(ctx, c.ID, k, fed, last)
		if err != nil {
			return fmt.Errorf("feed %s of campaign %d: %w", k, c.ID, err)
		}
		if !ok {
			continue // another feeder took this range; look again next time
		}
		// A page smaller than the room left (a small campaign, the tail of
		// a large one) is spread over more, smaller jobs, so that every
		// worker gets a share; a full page makes full jobs.
		jobs := ItemJobs(c.ID, k, ds, min(size, (len(ds)+room-1)/room))
		if _, err := f.Queue.Enqueue(ctx, jobs...); err != nil {
			// Hand the range back if nobody moved on from it; otherwise
			// the recovery above finds it once the queue is empty.
			if _, rerr := f.Queue.AdvanceFed(ctx, c.ID, k, last, fed); rerr != nil {
				f.log().Warn("could not rewind the feed cursor", "campaign", c.ID, "channel", string(k), "err", rerr)
			}
			return fmt.Errorf("feed %s of campaign %d: %w", k, c.ID, err)
		}
		room -= len(jobs)
		res.Jobs += len(jobs)
		res.Deliveries += len(ds)
	}
	return nil
}

// recover runs when channel k's queue holds nothing at all and the feeder
// has nothing new for campaign c: whatever the ledger still holds as
// pending below the cursor, or queued and due, lost its job. It acts on
// the second such look in a row at the same cursor, not the first: work
// another feeder has just taken (its cursor moved) may not have reached
// the queue yet, and handing it over twice would be wasted, if harmless.
func (f *Feeder) recover(ctx context.Context, c *Campaign, k ChannelKind, fed int64, res *FeedResult) error {
	key := idleKey{c.ID, k}
	if f.idle[key] != fed+1 {
		if f.idle == nil {
			f.idle = map[idleKey]int64{}
		}
		f.idle[key] = fed + 1
		return nil
	}
	delete(f.idle, key)
	if fed > 0 {
		left, err := f.Store.PendingAfter(ctx, c.ID, k, 0, 1)
		if err != nil {
			return fmt.Errorf("feed %s of campaign %d: %w", k, c.ID, err)
		}
		if len(left) > 0 {
			if _, err := f.Queue.AdvanceFed(ctx, c.ID, k, fed, 0); err != nil {
				return fmt.Errorf("feed %s of campaign %d: %w", k, c.ID, err)
			}
			res.Rewound++
			f.log().Warn("pending deliveries lost their jobs; handing them over again", "campaign", c.ID, "channel", string(k))
		}
	}
	n, err := requeueQueued(ctx, f.Store, f.Queue, c.ID, k, f.batchSize(), f.now(), true)
	res.Requeued += n
	if n > 0 {
		f.log().Warn("queued deliveries lost their jobs; queued again", "campaign", c.ID, "channel", string(k), "deliveries", n)
	}
	return err
}

// requeueQueued hands the queued deliveries of a campaign on channel k (on
// every channel when k is "") to the queue again, each job held back until
// its deliveries are due, and returns how many it handed over. With
// dueOnly, deliveries not yet due are left to the jobs that hold them.
func requeueQueued(ctx context.Context, st Store, q Queue, campaignID int64, k ChannelKind, size int, now time.Time, dueOnly bool) (int, error) {
	if q == nil {
		return 0, nil
	}
	const page = 2000
	total := 0
	var after int64
	for {
		ds, err := st.Deliveries(ctx, DeliveryQuery{CampaignID: campaignID, States: []State{StateQueued}, AfterID: after, Limit: page})
		if err != nil {
			return total, fmt.Errorf("queued deliveries of campaign %d: %w", campaignID, err)
		}
		if len(ds) == 0 {
			return total, nil
		}
		after = ds[len(ds)-1].ID
		ds = slices.DeleteFunc(ds, func(d Delivery) bool {
			return (k != "" && d.Channel != k) || d.Channel == Postal || (dueOnly && d.NotBefore.After(now))
		})
		if len(ds) > 0 {
			if _, err := q.Enqueue(ctx, jobsByDueTime(ds, size)...); err != nil {
				return total, fmt.Errorf("queue again %d deliveries of campaign %d: %w", len(ds), campaignID, err)
			}
			total += len(ds)
		}
	}
}

// jobsByDueTime groups deliveries into jobs of the same due time (to the
// minute), so that a job is held back until its deliveries may be sent.
func jobsByDueTime(ds []Delivery, size int) []Job {
	byDue := map[time.Time][]Delivery{}
	var dues []time.Time
	for _, d := range ds {
		t := d.NotBefore.Truncate(time.Minute)
		if !d.NotBefore.IsZero() && t.Before(d.NotBefore) {
			t = t.Add(time.Minute)
		}
		if _, ok := byDue[t]; !ok {
			dues = append(dues, t)
		}
		byDue[t] = append(byDue[t], d)
	}
	slices.SortFunc(dues, func(a, b time.Time) int { return a.Compare(b) })
	var jobs []Job
	for _, t := range dues {
		for _, j := range JobsOf(byDue[t], size) {
			j.NotBefore = t
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// Loop feeds every interval until ctx ends. A failed round is logged and
// the next one tries again.
func (f *Feeder) Loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := f.Feed(ctx); err != nil && ctx.Err() == nil {
			f.log().Warn("feeding the queue failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
