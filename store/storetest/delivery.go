package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

func testInsertDeliveries(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "insert")
	p1, p2 := person(1), person(2)
	res := importPlanned(t, s, c, p1, p2) // email pending for both
	email1 := res.Deliveries[0]

	fallback := []dispatcher.Delivery{
		{CampaignID: c.ID, ContactID: email1.ContactID, Channel: dispatcher.SMS, Seq: 1, State: dispatcher.StatePending,
			Address: p1.Phone, UpdatedAt: t0.Add(time.Hour)},
		{CampaignID: c.ID, ContactID: email1.ContactID, Channel: dispatcher.Email, Seq: 0, State: dispatcher.StatePending}, // exists
		{CampaignID: c.ID, ContactID: res.Deliveries[1].ContactID, Channel: dispatcher.SMS, Seq: 1, State: dispatcher.StateSkipped,
			Diagnostic: "no valid mobile number on record", UpdatedAt: t0},
	}
	got, err := s.InsertDeliveries(ctx, fallback)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID == 0 || got[1].ID != 0 || got[2].ID == 0 {
		t.Fatalf("InsertDeliveries IDs = %+v; want new, 0 (exists), new", got)
	}
	if !got[0].UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("UpdatedAt = %v, want %v", got[0].UpdatedAt, at(time.Hour))
	}
	stored, err := s.Delivery(ctx, got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := got[0]
	if !reflect.DeepEqual(*stored, want) {
		t.Errorf("stored fallback:\n got %+v\nwant %+v", *stored, want)
	}
	for i, wantState := range map[int]dispatcher.State{0: dispatcher.StatePending, 2: dispatcher.StateSkipped} {
		if es := eventStates(t, s, got[i].ID); statesString(es) != string(wantState) {
			t.Errorf("creation events of inserted delivery %d = %v, want [%s]", i, es, wantState)
		}
	}
	// Inserting the same fallback twice (two workers racing) stores one.
	again, err := s.InsertDeliveries(ctx, fallback[:1])
	if err != nil || again[0].ID != 0 {
		t.Errorf("second insert = %+v, %v; want ID 0", again, err)
	}
	if es := eventStates(t, s, got[0].ID); len(es) != 1 {
		t.Errorf("a refused insert appended events: %v", es)
	}
	if got, err := s.InsertDeliveries(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("InsertDeliveries(nil) = %v, %v", got, err)
	}
}

func testTransitionRace(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "race")
	res := importPlanned(t, s, c, person(1))
	d := res.Deliveries[0]
	if err := s.MarkQueued(ctx, []int64{d.ID}, t0); err != nil {
		t.Fatal(err)
	}
	const workers = 20
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Transition(ctx, dispatcher.Transition{DeliveryID: d.ID, From: []dispatcher.State{dispatcher.StateQueued},
				Generation: 0, To: dispatcher.StateSending, NewAttempt: fmt.Sprintf("worker-%d", i), At: t0.Add(time.Minute)})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("workers %d and %d both claimed the delivery", winner, i)
			}
			winner = i
		case !errors.Is(err, dispatcher.ErrStale):
			t.Errorf("worker %d: err = %v, want ErrStale", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no worker claimed the delivery")
	}
	got, err := s.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != dispatcher.StateSending || got.Attempt != fmt.Sprintf("worker-%d", winner) {
		t.Errorf("delivery = %s held by %q, want sending held by worker-%d", got.State, got.Attempt, winner)
	}
	if es := statesString(eventStates(t, s, d.ID)); es != "pending,queued,sending" {
		t.Errorf("events = %s, want exactly one sending event", es)
	}
}

func testTransitionChecks(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "checks")
	res := importPlanned(t, s, c, person(1))
	d := res.Deliveries[0]
	if err := s.MarkQueued(ctx, []int64{d.ID}, t0); err != nil {
		t.Fatal(err)
	}
	claim := dispatcher.Transition{DeliveryID: d.ID, From: []dispatcher.State{dispatcher.StateQueued}, To: dispatcher.StateSending,
		NewAttempt: "a1", Address: "override@example.org", At: t0}
	if err := s.Transition(ctx, claim); err != nil {
		t.Fatal(err)
	}
	queuedOrSending := []dispatcher.State{dispatcher.StateQueued, dispatcher.StateSending}
	steps := []struct {
		name string
		tr   dispatcher.Transition
		err  error
	}{
		{"wrong generation", dispatcher.Transition{From: queuedOrSending, Generation: 1, Attempt: "a1", To: dispatcher.StateSent}, dispatcher.ErrStale},
		{"wrong attempt", dispatcher.Transition{From: queuedOrSending, Attempt: "a2", To: dispatcher.StateSent}, dispatcher.ErrStale},
		{"wrong state", dispatcher.Transition{From: []dispatcher.State{dispatcher.StatePending}, To: dispatcher.StateSent}, dispatcher.ErrStale},
		{"missing row", dispatcher.Transition{DeliveryID: -1, From: queuedOrSending, To: dispatcher.StateSent}, dispatcher.ErrNotFound},
		// soft bounce: the holder gives up this generation
		{"soft bounce", dispatcher.Transition{From: queuedOrSending, Attempt: "a1", To: dispatcher.StateBouncedSoft,
			ProviderID: "<m1@x>", Code: "452 4.2.2", Diagnostic: "mailbox full"}, nil},
		// the reconciler re-queues it as a new generation
		{"retry", dispatcher.Transition{From: []dispatcher.State{dispatcher.StateBouncedSoft}, To: dispatcher.StateQueued,
			BumpGeneration: true}, nil},
		{"old generation", dispatcher.Transition{From: []dispatcher.State{dispatcher.StateQueued}, To: dispatcher.StateSending, NewAttempt: "b1"}, dispatcher.ErrStale},
		{"claim gen 1", dispatcher.Transition{From: []dispatcher.State{dispatcher.StateQueued}, Generation: 1, To: dispatcher.StateSending, NewAttempt: "b1"}, nil},
		{"any attempt", dispatcher.Transition{From: []dispatcher.State{dispatcher.StateSending}, Generation: 1, To: dispatcher.StateSent,
			ProviderID: "<m2@x>", Code: "250"}, nil},
	}
	for i, st := range steps {
		tr := st.tr
		if tr.DeliveryID == 0 {
			tr.DeliveryID = d.ID
		}
		tr.At = t0.Add(time.Duration(i+1) * time.Minute)
		err := s.Transition(ctx, tr)
		if st.err == nil && err != nil || st.err != nil && !errors.Is(err, st.err) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.err)
		}
	}
	got, err := s.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := dispatcher.Delivery{ID: d.ID, CampaignID: c.ID, ContactID: d.ContactID, Channel: dispatcher.Email, Seq: 0,
		State: dispatcher.StateSent, Generation: 1, Attempt: "", Address: "override@example.org", ProviderID: "<m2@x>",
		Code: "250", Diagnostic: "", UpdatedAt: at(9 * time.Minute)}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("after transitions:\n got %+v\nwant %+v", *got, want)
	}
	es, err := s.Events(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if statesString(stateOf(es)) != "pending,queued,sending,bounced_soft,queued,sending,sent" {
		t.Fatalf("events = %s", statesString(stateOf(es)))
	}
	soft := es[3]
	if soft.Code != "452 4.2.2" || soft.Diagnostic != "mailbox full" || soft.ProviderID != "<m1@x>" || !soft.At.Equal(at(5*time.Minute)) {
		t.Errorf("soft bounce event = %+v", soft)
	}
	if err := s.Transition(ctx, dispatcher.Transition{DeliveryID: d.ID, To: dispatcher.StateSent}); err == nil {
		t.Error("a transition without From states succeeded")
	}
}

func stateOf(es []dispatcher.Event) []dispatcher.State {
	out := make([]dispatcher.State, len(es))
	for i, e := range es {
		out[i] = e.State
	}
	return out
}

func testTimes(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "times")
	res := importPlanned(t, s, c, person(1))
	d := res.Deliveries[0]
	when := time.Date(2031, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -9*3600-30*60))
	if err := s.MarkQueued(ctx, []int64{d.ID}, when); err != nil {
		t.Fatal(err)
	}
	got, err := s.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := when.UTC().Truncate(time.Microsecond)
	if !got.UpdatedAt.Equal(want) || got.UpdatedAt.Location() != time.UTC || got.UpdatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("UpdatedAt = %v, want %v (UTC, microseconds)", got.UpdatedAt, want)
	}
	es, err := s.Events(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := es[len(es)-1]; !last.At.Equal(want) || last.At.Location() != time.UTC {
		t.Errorf("event At = %v, want %v", last.At, want)
	}
	// UpdatedBefore compares at microsecond resolution on both backends.
	for _, tc := range []struct {
		before time.Time
		n      int
	}{{want, 0}, {want.Add(time.Microsecond), 1}, {want.Add(-time.Microsecond), 0}} {
		ds, err := s.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: c.ID, UpdatedBefore: tc.before})
		if err != nil || len(ds) != tc.n {
			t.Errorf("Deliveries(UpdatedBefore %v) = %d, %v; want %d", tc.before, len(ds), err, tc.n)
		}
	}
}

func testMarkQueued(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "mark")
	var in []dispatcher.Contact
	for i := range 5 {
		in = append(in, person(i))
	}
	res := importPlanned(t, s, c, in...)
	ids := make([]int64, len(res.Deliveries))
	for i, d := range res.Deliveries {
		ids[i] = d.ID
	}
	// the third is already claimed by a worker: MarkQueued must leave it
	drive(t, s, res.Deliveries[2], dispatcher.StateQueued, dispatcher.StateSending)
	if err := s.MarkQueued(ctx, append(ids, -5), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		d, err := s.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantState, wantEvents := dispatcher.StateQueued, "pending,queued"
		if i == 2 {
			wantState, wantEvents = dispatcher.StateSending, "pending,queued,sending"
		} else if !d.UpdatedAt.Equal(at(time.Hour)) {
			t.Errorf("delivery %d UpdatedAt = %v, want %v", id, d.UpdatedAt, at(time.Hour))
		}
		if d.State != wantState {
			t.Errorf("delivery %d = %s, want %s", id, d.State, wantState)
		}
		if es := statesString(eventStates(t, s, id)); es != wantEvents {
			t.Errorf("delivery %d events = %s, want %s", id, es, wantEvents)
		}
	}
	// Marking again changes nothing and appends nothing.
	if err := s.MarkQueued(ctx, ids, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if es := statesString(eventStates(t, s, ids[0])); es != "pending,queued" {
		t.Errorf("second MarkQueued appended events: %s", es)
	}
	if err := s.MarkQueued(ctx, nil, t0); err != nil {
		t.Errorf("MarkQueued(nil) = %v", err)
	}
}

func testDeliveriesPaging(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "paging")
	other := newCampaign(t, s, "paging-other")
	var in []dispatcher.Contact
	for i := range 7 {
		p := person(i)
		if i == 6 {
			p.Email = "" // email skipped, sms pending
		}
		in = append(in, p)
	}
	res := importPlanned(t, s, c, in...)
	importPlanned(t, s, other, person(100))
	pend := res.Deliveries // 7 pending, in ID order
	// two of them move on, later
	drive(t, s, pend[1], dispatcher.StateQueued)
	drive(t, s, pend[4], dispatcher.StateQueued, dispatcher.StateSending)

	collect := func(q dispatcher.DeliveryQuery) []int64 {
		var ids []int64
		for {
			page, err := s.Deliveries(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > q.Limit && q.Limit > 0 {
				t.Fatalf("page of %d exceeds limit %d", len(page), q.Limit)
			}
			if len(page) == 0 {
				return ids
			}
			for _, d := range page {
				if d.CampaignID != q.CampaignID {
					t.Fatalf("delivery %d of campaign %d in campaign %d's page", d.ID, d.CampaignID, q.CampaignID)
				}
				ids = append(ids, d.ID)
			}
			q.AfterID = page[len(page)-1].ID
		}
	}
	idsOf := func(ds ...dispatcher.Delivery) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	cases := []struct {
		name string
		q    dispatcher.DeliveryQuery
		want []int64
	}{
		{"pending by 2", dispatcher.DeliveryQuery{States: []dispatcher.State{dispatcher.StatePending}, Limit: 2},
			idsOf(pend[0], pend[2], pend[3], pend[5], pend[6])},
		{"unfinished", dispatcher.DeliveryQuery{States: dispatcher.Unfinished, Limit: 3}, idsOf(pend...)},
		{"queued or sending", dispatcher.DeliveryQuery{States: []dispatcher.State{dispatcher.StateQueued, dispatcher.StateSending}, Limit: 1},
			idsOf(pend[1], pend[4])},
		// creation at t0, moves at t0+1m and later: "stuck since before t0+30s" is the untouched ones
		{"updated before", dispatcher.DeliveryQuery{States: dispatcher.Unfinished, UpdatedBefore: t0.Add(30 * time.Second), Limit: 100},
			idsOf(pend[0], pend[2], pend[3], pend[5], pend[6])},
		{"skipped", dispatcher.DeliveryQuery{States: []dispatcher.State{dispatcher.StateSkipped}}, nil},
	}
	skipped, err := s.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: c.ID, States: []dispatcher.State{dispatcher.StateSkipped}})
	if err != nil || len(skipped) != 1 || skipped[0].ContactID != in[6].ID {
		t.Fatalf("skipped deliveries = %+v, %v; want the e-mail of the contact without one", skipped, err)
	}
	cases[len(cases)-1].want = idsOf(skipped...)
	for _, tc := range cases {
		tc.q.CampaignID = c.ID
		if got := collect(tc.q); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	all, err := s.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: c.ID})
	if err != nil || len(all) != 8 {
		t.Errorf("all states, default limit: %d deliveries, %v; want 8", len(all), err)
	}
}

func testCancelUnsent(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "cancel")
	other := newCampaign(t, s, "cancel-other")
	var in []dispatcher.Contact
	for i := range 5 {
		in = append(in, person(i))
	}
	res := importPlanned(t, s, c, in...)
	otherRes := importPlanned(t, s, other, person(9))
	d := res.Deliveries
	drive(t, s, d[1], dispatcher.StateQueued)
	drive(t, s, d[2], dispatcher.StateQueued, dispatcher.StateSending)
	drive(t, s, d[3], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent)
	n, err := s.CancelUnsent(ctx, c.ID, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("CancelUnsent = %d, want 3 (two pending, one queued)", n)
	}
	want := []struct {
		state  dispatcher.State
		events string
	}{
		{dispatcher.StateCancelled, "pending,cancelled"},
		{dispatcher.StateCancelled, "pending,queued,cancelled"},
		{dispatcher.StateSending, "pending,queued,sending"},
		{dispatcher.StateSent, "pending,queued,sending,sent"},
		{dispatcher.StateCancelled, "pending,cancelled"},
	}
	for i, w := range want {
		got, err := s.Delivery(ctx, d[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != w.state {
			t.Errorf("delivery %d = %s, want %s", i, got.State, w.state)
		}
		if es := statesString(eventStates(t, s, d[i].ID)); es != w.events {
			t.Errorf("delivery %d events = %s, want %s", i, es, w.events)
		}
		if w.state == dispatcher.StateCancelled && !got.UpdatedAt.Equal(at(time.Hour)) {
			t.Errorf("cancelled delivery %d UpdatedAt = %v", i, got.UpdatedAt)
		}
	}
	if got, err := s.Delivery(ctx, otherRes.Deliveries[0].ID); err != nil || got.State != dispatcher.StatePending {
		t.Errorf("other campaign's delivery = %+v, %v; want untouched", got, err)
	}
	if n, err := s.CancelUnsent(ctx, c.ID, t0); err != nil || n != 0 {
		t.Errorf("second CancelUnsent = %d, %v; want 0", n, err)
	}
}

func testCountUnfinished(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "count")
	none := person(9)
	none.Email, none.Phone = "", ""
	res := importPlanned(t, s, c, person(1), person(2), person(3), person(4), none)
	d := res.Deliveries
	drive(t, s, d[1], dispatcher.StateQueued)
	drive(t, s, d[2], dispatcher.StateQueued, dispatcher.StateSending)
	drive(t, s, d[3], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent)
	if n, err := s.CountUnfinished(ctx, c.ID); err != nil || n != 3 {
		t.Errorf("CountUnfinished = %d, %v; want 3 (pending, queued, sending)", n, err)
	}
	if n, err := s.CountUnfinished(ctx, c.ID+1000); err != nil || n != 0 {
		t.Errorf("CountUnfinished(missing) = %d, %v; want 0", n, err)
	}
}

func testOrdering(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "order", dispatcher.Email, dispatcher.SMS, dispatcher.File)
	p := person(1)
	cs := []dispatcher.Contact{p}
	// plan only the last channel first, then add earlier ones: DeliveriesOf
	// must follow the policy (seq), not insertion order.
	if _, err := s.ImportContacts(ctx, c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return []dispatcher.Delivery{{Channel: dispatcher.File, Seq: 2, State: dispatcher.StatePending, Address: ct.Email, UpdatedAt: t0}}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertDeliveries(ctx, []dispatcher.Delivery{
		{CampaignID: c.ID, ContactID: cs[0].ID, Channel: dispatcher.SMS, Seq: 1, State: dispatcher.StatePending, UpdatedAt: t0},
		{CampaignID: c.ID, ContactID: cs[0].ID, Channel: dispatcher.Email, Seq: 0, State: dispatcher.StatePending, UpdatedAt: t0},
	}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.DeliveriesOf(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []dispatcher.ChannelKind
	for _, d := range ds {
		got = append(got, d.Channel)
	}
	if !reflect.DeepEqual(got, []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS, dispatcher.File}) {
		t.Errorf("DeliveriesOf order = %v, want policy order", got)
	}
	final := drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent, dispatcher.StateDelivered)
	es, err := s.Events(ctx, final.ID)
	if err != nil {
		t.Fatal(err)
	}
	if statesString(stateOf(es)) != "pending,queued,sending,sent,delivered" {
		t.Errorf("events = %s", statesString(stateOf(es)))
	}
	for i := 1; i < len(es); i++ {
		if es[i].ID <= es[i-1].ID || es[i].At.Before(es[i-1].At) || es[i].DeliveryID != final.ID {
			t.Errorf("events out of order at %d: %+v then %+v", i, es[i-1], es[i])
		}
	}
	if es, err := s.Events(ctx, -1); err != nil || len(es) != 0 {
		t.Errorf("Events(missing) = %v, %v; want none", es, err)
	}
	if ds, err := s.DeliveriesOf(ctx, -1); err != nil || len(ds) != 0 {
		t.Errorf("DeliveriesOf(missing) = %v, %v; want none", ds, err)
	}
}
