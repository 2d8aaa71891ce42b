package dispatcher_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// people returns n contacts with e-mail addresses at prefix and phones.
func people(prefix string, n int, phone bool) []dispatcher.Contact {
	var out []dispatcher.Contact
	for i := range n {
		p := person(fmt.Sprintf("%s%d@example.no", prefix, i), "")
		if phone {
			p.Phone = fmt.Sprintf("+479%07d", i)
		}
		out = append(out, p)
	}
	return out
}

func pendingIDs(t *testing.T, st dispatcher.Store, campaignID int64, k dispatcher.ChannelKind) []int64 {
	t.Helper()
	ds, err := st.PendingAfter(context.Background(), campaignID, k, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, it := range ds {
		ids = append(ids, it.DeliveryID)
	}
	return ids
}

func TestFeederWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, people("win", 25, false)...)
		f.feeder.Window, f.feeder.BatchSize = 4, 2
		all := pendingIDs(t, st, f.camp.ID, dispatcher.Email)

		res, err := f.feeder.Feed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Jobs != 4 || res.Deliveries != 8 || !slices.Equal(itemsOf(f.q.jobs...), all[:8]) {
			t.Fatalf("first feed %+v, items %v; want the first 8 deliveries in 4 jobs", res, itemsOf(f.q.jobs...))
		}
		for _, j := range f.q.jobs {
			if j.CampaignID != f.camp.ID || j.Channel != dispatcher.Email || len(j.Items) != 2 {
				t.Errorf("job %+v", j)
			}
		}
		// More than half the window waits: nothing more.
		f.q.waiting = f.q.waiting[1:]
		if res, _ := f.feeder.Feed(ctx); res.Jobs != 0 {
			t.Errorf("fed %+v with 3 of 4 jobs waiting", res)
		}
		// Half or less: topped up to the window, from where it stopped.
		f.q.waiting = f.q.waiting[1:]
		if res, _ := f.feeder.Feed(ctx); res.Jobs != 2 || !slices.Equal(itemsOf(f.q.jobs[4:]...), all[8:12]) {
			t.Errorf("top-up %+v, items %v", res, itemsOf(f.q.jobs[4:]...))
		}
		// Fed deliveries are still pending in the ledger: the cursor, not
		// a state change, says they were handed over.
		if got := pendingIDs(t, st, f.camp.ID, dispatcher.Email); len(got) != 25 {
			t.Errorf("%d pending after feeding, want all 25", len(got))
		}
		// Everything is sent exactly once.
		f.q.take()
		f.q.lose()
		f.drain(t)
		if f.email.count() != 25 {
			t.Errorf("sent %d, want 25", f.email.count())
		}
	})
}

func TestFeederOnlyRunningCampaignsAndQueuedChannels(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	f := setup(t, st, people("run", 3, false)...)
	draft := setup(t, st, people("draft", 3, false)...)
	if err := (&dispatcher.Operations{Store: st}).Pause(ctx, draft.camp); err != nil {
		t.Fatal(err)
	}
	// A letter-only campaign: its pending letters wait for a print batch.
	letters := &dispatcher.Campaign{Name: fmt.Sprintf("post%d", campaignSeq.Add(1)), DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Postal}}
	if err := st.CreateCampaign(ctx, letters, nil); err != nil {
		t.Fatal(err)
	}
	cs := []dispatcher.Contact{{ExternalID: "L1", Name: "Cy Roe", Postal: dispatcher.PostalAddress{Line1: "3 Oak Ave", PostalCode: "10001", City: "New York"}, Country: "US"}}
	if _, err := st.ImportContacts(ctx, letters.ID, cs, func(c *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(letters.Policy, c, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if err := (&dispatcher.Operations{Store: st}).Launch(ctx, letters); err != nil {
		t.Fatal(err)
	}
	if _, err := f.feeder.Feed(ctx); err != nil {
		t.Fatal(err)
	}
	for _, j := range f.q.jobs {
		if j.CampaignID != f.camp.ID {
			t.Errorf("fed %+v of a campaign that is not running or has only letters", j)
		}
	}
	if got := len(itemsOf(f.q.jobs...)); got != 3 {
		t.Errorf("fed %d deliveries, want the running campaign's 3", got)
	}
}

// TestFeederChannelsIndependent: a full SMS queue (a slow Twilio
// account) does not hold e-mail back.
func TestFeederChannelsIndependent(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	var cs []dispatcher.Contact
	for i := range 10 {
		cs = append(cs, person("", fmt.Sprintf("+4791%06d", i)))      // SMS first
		cs = append(cs, person(fmt.Sprintf("m%d@example.no", i), "")) // e-mail
	}
	f := setup(t, st, cs...)
	f.feeder.Window, f.feeder.BatchSize = 2, 1
	if res, err := f.feeder.Feed(ctx); err != nil || res.Jobs != 4 {
		t.Fatalf("feed %+v, %v; want 2 jobs per channel", res, err)
	}
	// Workers take only e-mail; SMS stays full.
	var sms []dispatcher.Job
	for _, j := range f.q.take() {
		if j.Channel == dispatcher.SMS {
			sms = append(sms, j)
		}
	}
	f.q.put(sms...)
	before := len(f.q.jobs)
	if res, _ := f.feeder.Feed(ctx); res.Jobs != 2 {
		t.Errorf("second feed %+v", res)
	}
	for _, j := range f.q.jobs[before:] {
		if j.Channel != dispatcher.Email {
			t.Errorf("fed SMS into a full queue: %+v", j)
		}
	}
}

// TestFeedersShareTheCursor: feeders in several processes hand over
// disjoint ranges; every delivery is fed once.
func TestFeedersShareTheCursor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, people("share", 60, false)...)
		var wg sync.WaitGroup
		for range 4 {
			fd := &dispatcher.Feeder{Store: st, Queue: f.q, Window: 1000, BatchSize: 3}
			wg.Go(func() {
				for range 5 {
					if _, err := fd.Feed(ctx); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		ids := itemsOf(f.q.jobs...)
		slices.Sort(ids)
		if !slices.Equal(ids, pendingIDs(t, st, f.camp.ID, dispatcher.Email)) {
			t.Errorf("fed %d items %v; want each of the 60 pending deliveries once", len(ids), ids)
		}
	})
}

// TestFeederRoundRobin: two running campaigns share a small window.
func TestFeederRoundRobin(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	a := setup(t, st, people("rra", 20, false)...)
	b := setup(t, st, people("rrb", 20, false)...)
	fd := &dispatcher.Feeder{Store: st, Queue: a.q, Window: 2, BatchSize: 5}
	seen := map[int64]int{}
	for range 4 {
		a.q.take()
		if _, err := fd.Feed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range a.q.jobs {
		seen[j.CampaignID]++
	}
	if seen[a.camp.ID] == 0 || seen[b.camp.ID] == 0 {
		t.Errorf("jobs per campaign %v: one campaign starved the other", seen)
	}
}

// TestFeederFeedsLaterDeliveries: a fallback planned after the cursor
// passed (a higher ID) is handed over too.
func TestFeederFeedsLaterDeliveries(t *testing.T) {
	st := storetest.SQLite(t)
	f := setup(t, st, person("x1@example.no", "+4791000001"), person("x2@example.no", "+4791000002"))
	f.email.fail["x1@example.no"] = &dispatcher.SendError{Class: dispatcher.Invalid, Code: "550 5.1.1"}
	f.drain(t)
	ds := f.deliveries(t, "x1@example.no")
	if ds[dispatcher.SMS].State != dispatcher.StateSent || f.email.count() != 1 {
		t.Errorf("fallback after the cursor passed: %+v", ds)
	}
}

// TestFeederRecoversLostJobs: Redis lost the queue but kept the cursor (or
// a job vanished): once the queue is empty, the feeder rewinds and hands
// the pending deliveries over again; queued ones that are due are queued
// again, and ones not yet due are left for later.
func TestFeederRecoversLostJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, people("lost", 6, false)...)
		if _, err := f.feeder.Feed(ctx); err != nil {
			t.Fatal(err)
		}
		// Two deliveries are waiting for a retry: one due, one not.
		all := pendingIDs(t, st, f.camp.ID, dispatcher.Email)
		soon, later := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
		for i, nb := range []time.Time{soon, later} {
			if err := st.Transition(ctx, dispatcher.Transition{DeliveryID: all[i], From: []dispatcher.State{dispatcher.StatePending},
				To: dispatcher.StateQueued, NotBefore: nb}); err != nil {
				t.Fatal(err)
			}
		}
		f.q.take() // the jobs are gone; the cursor stays
		// The first look at an empty queue waits: another feeder's jobs
		// may be on their way.
		res, err := f.feeder.Feed(ctx)
		if err != nil || res != (dispatcher.FeedResult{}) {
			t.Fatalf("first look: %+v, %v; want nothing done yet", res, err)
		}
		res, err = f.feeder.Feed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rewound != 1 || res.Requeued != 1 {
			t.Fatalf("recovery %+v; want the cursor rewound and the due delivery queued again", res)
		}
		// The next round hands the pending ones over again.
		if _, err := f.feeder.Feed(ctx); err != nil {
			t.Fatal(err)
		}
		f.drain(t)
		if f.email.count() != 5 {
			t.Errorf("sent %d, want the 4 pending and the due one", f.email.count())
		}
		if d, _ := st.Delivery(ctx, all[1]); d.State != dispatcher.StateQueued {
			t.Errorf("the delivery not yet due is %s", d.State)
		}
	})
}
