package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// scriptChannel is a channel whose outcome per address is scripted.
type scriptChannel struct {
	kind    dispatcher.ChannelKind
	mu      sync.Mutex
	fail    map[string]error
	sent    []*dispatcher.Message
	delay   time.Duration
	attempt atomic.Int64
}

func (c *scriptChannel) Kind() dispatcher.ChannelKind { return c.kind }

func (c *scriptChannel) Send(ctx context.Context, m *dispatcher.Message) (dispatcher.Receipt, error) {
	c.attempt.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fail[m.To]; err != nil {
		return dispatcher.Receipt{}, err
	}
	c.sent = append(c.sent, m)
	return dispatcher.Receipt{ProviderID: "id-" + m.To, Code: "250"}, nil
}

func (c *scriptChannel) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// memQueue is an in-memory dispatcher.FeedQueue: it records every job
// enqueued and keeps the ones not yet taken, with the feed cursors.
type memQueue struct {
	mu      sync.Mutex
	jobs    []dispatcher.Job // every job ever enqueued
	waiting []dispatcher.Job // enqueued and not yet taken
	fed     map[string]int64
	err     error
}

var _ dispatcher.FeedQueue = (*memQueue)(nil)

func (q *memQueue) Enqueue(_ context.Context, jobs ...dispatcher.Job) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	q.jobs = append(q.jobs, jobs...)
	q.waiting = append(q.waiting, jobs...)
	return len(jobs), nil
}

func (q *memQueue) Backlog(_ context.Context, k dispatcher.ChannelKind) (dispatcher.Backlog, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var b dispatcher.Backlog
	for _, j := range q.waiting {
		if j.Channel == k {
			b.Pending++
		}
	}
	return b, q.err
}

func fedKey(campaignID int64, k dispatcher.ChannelKind) string {
	return fmt.Sprintf("%d:%s", campaignID, k)
}

func (q *memQueue) Fed(_ context.Context, campaignID int64, k dispatcher.ChannelKind) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fed[fedKey(campaignID, k)], q.err
}

func (q *memQueue) AdvanceFed(_ context.Context, campaignID int64, k dispatcher.ChannelKind, from, to int64) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return false, q.err
	}
	if q.fed == nil {
		q.fed = map[string]int64{}
	}
	if q.fed[fedKey(campaignID, k)] != from {
		return false, nil
	}
	q.fed[fedKey(campaignID, k)] = to
	return true, nil
}

func (q *memQueue) ResetFed(_ context.Context, campaignID int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, k := range []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS, dispatcher.File} {
		delete(q.fed, fedKey(campaignID, k))
	}
	return q.err
}

// take removes and returns the waiting jobs.
func (q *memQueue) take() []dispatcher.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.waiting
	q.waiting = nil
	return out
}

// put gives jobs back to the waiting list.
func (q *memQueue) put(jobs ...dispatcher.Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = append(q.waiting, jobs...)
}

// lose drops every waiting job and cursor: Redis flushed.
func (q *memQueue) lose() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting, q.fed = nil, nil
}

// itemsOf lists the delivery IDs of jobs.
func itemsOf(jobs ...dispatcher.Job) []int64 {
	var ids []int64
	for _, j := range jobs {
		for _, it := range j.Items {
			ids = append(ids, it.DeliveryID)
		}
	}
	return ids
}

var campaignSeq atomic.Int64

type fixture struct {
	st     dispatcher.Store
	camp   *dispatcher.Campaign
	email  *scriptChannel
	sms    *scriptChannel
	q      *memQueue
	w      *dispatcher.Worker
	feeder *dispatcher.Feeder
}

// setup creates a running email,sms campaign with one contact per given
// contact, its first channel's delivery pending.
func setup(t *testing.T, st dispatcher.Store, contacts ...dispatcher.Contact) *fixture {
	t.Helper()
	ctx := context.Background()
	camp := &dispatcher.Campaign{Name: fmt.Sprintf("w%d", campaignSeq.Add(1)), DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
		Status: dispatcher.CampaignDraft, Sender: dispatcher.Sender{FromEmail: "hr@example.no", SMSFrom: "HR"},
		Settings: dispatcher.Settings{QuietHours: "off"}}
	ts := []dispatcher.Template{
		{Channel: dispatcher.Email, Locale: "en", Subject: "Notice {{.Campaign.IncidentRef}}", Text: "Dear {{.Name}}"},
		{Channel: dispatcher.SMS, Locale: "en", Text: "Hi {{.FirstName}}"},
	}
	if err := st.CreateCampaign(ctx, camp, ts); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportContacts(ctx, camp.ID, contacts, func(c *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(camp.Policy, c, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if err := (&dispatcher.Operations{Store: st, Actor: "test"}).Launch(ctx, camp); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, camp: camp, q: &memQueue{},
		email: &scriptChannel{kind: dispatcher.Email, fail: map[string]error{}},
		sms:   &scriptChannel{kind: dispatcher.SMS, fail: map[string]error{}}}
	f.w = &dispatcher.Worker{Store: st, Queue: f.q, MaxRetry: 3,
		Channels: map[dispatcher.ChannelKind]dispatcher.Channel{dispatcher.Email: f.email, dispatcher.SMS: f.sms}}
	f.feeder = &dispatcher.Feeder{Store: st, Queue: f.q}
	return f
}

func person(email, phone string) dispatcher.Contact {
	return dispatcher.Contact{Name: "Åse Kværnø", Email: email, Phone: phone, ExternalID: email + phone}
}

// deliveries returns the contact's deliveries by channel.
func (f *fixture) deliveries(t *testing.T, address string) map[dispatcher.ChannelKind]dispatcher.Delivery {
	t.Helper()
	_, ds := findOne(t, f.st, address)
	return ds
}

// findOne finds the one contact that query (an address or external id)
// names, and its deliveries by channel.
func findOne(t *testing.T, st dispatcher.Store, query string) (dispatcher.Contact, map[dispatcher.ChannelKind]dispatcher.Delivery) {
	t.Helper()
	cs, err := st.FindContacts(context.Background(), query)
	if err != nil || len(cs) != 1 {
		t.Fatalf("find %s: %v %v", query, cs, err)
	}
	ds, err := st.DeliveriesOf(context.Background(), cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[dispatcher.ChannelKind]dispatcher.Delivery{}
	for _, d := range ds {
		out[d.Channel] = d
	}
	return cs[0], out
}

// job returns a job of the contact's delivery on channel k alone.
func (f *fixture) job(t *testing.T, address string, k dispatcher.ChannelKind) dispatcher.Job {
	t.Helper()
	d, ok := f.deliveries(t, address)[k]
	if !ok {
		t.Fatalf("%s has no %s delivery", address, k)
	}
	return dispatcher.NewJob(d)
}

// jobOf returns one job of the given contacts' deliveries on channel k.
func (f *fixture) jobOf(t *testing.T, k dispatcher.ChannelKind, addresses ...string) dispatcher.Job {
	t.Helper()
	var ds []dispatcher.Delivery
	for _, a := range addresses {
		ds = append(ds, f.deliveries(t, a)[k])
	}
	return dispatcher.NewJob(ds...)
}

// drain does what workers with their feeders do until nothing is left that
// can run now: it feeds the queue and runs its jobs. Jobs held back until
// later (by the worker's clock) and snoozed ones stay in the queue. It
// returns how many jobs ran.
func (f *fixture) drain(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	now := time.Now
	if f.w.Now != nil {
		now = f.w.Now
	}
	ran := 0
	var held []dispatcher.Job
	defer func() { f.q.put(held...) }()
	for range 1000 {
		if _, err := f.feeder.Feed(ctx); err != nil {
			t.Fatal(err)
		}
		jobs := f.q.take()
		if len(jobs) == 0 {
			return ran
		}
		for _, j := range jobs {
			if j.NotBefore.After(now()) {
				held = append(held, j)
				continue
			}
			err := f.w.Handle(ctx, j)
			var sn *dispatcher.SnoozeError
			switch {
			case errors.As(err, &sn):
				held = append(held, j)
			case err != nil:
				t.Fatalf("job %+v: %v", j, err)
			}
			ran++
		}
	}
	t.Fatal("the queue did not drain")
	return ran
}
