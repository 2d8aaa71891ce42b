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
	markQueued(t, s, t0, d)
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
	markQueued(t, s, t0, d)
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
	markQueued(t, s, when, d)
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

func testTransitions(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "batch")
	var in []dispatcher.Contact
	for i := range 4 {
		in = append(in, person(i))
	}
	res := importPlanned(t, s, c, in...)
	d := res.Deliveries
	var claimed []dispatcher.Delivery
	for _, x := range d {
		claimed = append(claimed, drive(t, s, x, dispatcher.StateQueued, dispatcher.StateSending))
	}
	sending := []dispatcher.State{dispatcher.StateSending}
	retryAt := t0.Add(3 * time.Hour)
	ts := []dispatcher.Transition{
		{DeliveryID: d[0].ID, From: sending, Attempt: claimed[0].Attempt, To: dispatcher.StateSent,
			Address: "used@example.org", ProviderID: "<p0@x>", Code: "250", At: t0.Add(time.Hour)},
		{DeliveryID: d[1].ID, From: sending, Attempt: claimed[1].Attempt, To: dispatcher.StateBouncedHard,
			Code: "550 5.1.1", Diagnostic: "user unknown", At: t0.Add(time.Hour)},
		{DeliveryID: d[2].ID, From: sending, Attempt: "someone-else", To: dispatcher.StateSent, At: t0.Add(time.Hour)}, // stale
		{DeliveryID: d[3].ID, From: sending, Attempt: claimed[3].Attempt, To: dispatcher.StateQueued,
			NotBefore: retryAt, NoEvent: true, Diagnostic: "quiet hours", At: t0.Add(time.Hour)},
		{DeliveryID: -7, From: sending, To: dispatcher.StateSent}, // missing
	}
	sms := func(x dispatcher.Delivery) dispatcher.Delivery {
		return dispatcher.Delivery{CampaignID: c.ID, ContactID: x.ContactID, Channel: dispatcher.SMS, Seq: 1,
			State: dispatcher.StatePending, UpdatedAt: t0.Add(time.Hour)}
	}
	follow := map[int64][]dispatcher.Delivery{d[1].ID: {sms(d[1])}, d[2].ID: {sms(d[2])}}
	stale, inserted, err := s.Transitions(ctx, ts, follow)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stale, []int64{d[2].ID, -7}) {
		t.Errorf("stale = %v, want [%d -7]", stale, d[2].ID)
	}
	if len(inserted) != 1 || inserted[0].ID == 0 || inserted[0].ContactID != d[1].ContactID {
		t.Fatalf("inserted = %+v; want the SMS fallback of the bounced delivery only", inserted)
	}
	want := []struct {
		state  dispatcher.State
		events string
	}{
		{dispatcher.StateSent, "pending,queued,sending,sent"},
		{dispatcher.StateBouncedHard, "pending,queued,sending,bounced_hard"},
		{dispatcher.StateSending, "pending,queued,sending"},
		{dispatcher.StateQueued, "pending,queued,sending"}, // bookkeeping: no event
	}
	for i, w := range want {
		checkHistory(t, s, i, d[i].ID, w.state, w.events)
	}
	if got, _ := s.Delivery(ctx, d[0].ID); got.Address != "used@example.org" || got.ProviderID != "<p0@x>" || got.Attempt != "" || !got.UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("sent delivery = %+v", got)
	}
	if es, _ := s.Events(ctx, d[1].ID); len(es) == 0 || es[len(es)-1].Code != "550 5.1.1" || es[len(es)-1].Diagnostic != "user unknown" {
		t.Errorf("bounce event = %+v", es)
	}
	if got, _ := s.Delivery(ctx, d[3].ID); !got.NotBefore.Equal(retryAt.UTC().Truncate(time.Microsecond)) || got.Diagnostic != "quiet hours" {
		t.Errorf("requeued delivery NotBefore = %v, diagnostic %q; want %v", got.NotBefore, got.Diagnostic, retryAt)
	}
	if es := eventStates(t, s, inserted[0].ID); statesString(es) != "pending" {
		t.Errorf("fallback creation events = %v", es)
	}
	// The transaction is all or nothing: a transition without From states
	// is refused before anything is written.
	if _, _, err := s.Transitions(ctx, []dispatcher.Transition{{DeliveryID: d[2].ID, From: sending, Attempt: claimed[2].Attempt, To: dispatcher.StateSent}, {DeliveryID: d[3].ID}}, nil); err == nil {
		t.Error("Transitions with a missing From succeeded")
	}
	if got, _ := s.Delivery(ctx, d[2].ID); got.State != dispatcher.StateSending {
		t.Errorf("a refused batch moved delivery %d to %s", d[2].ID, got.State)
	}
	if stale, ins, err := s.Transitions(ctx, nil, nil); err != nil || stale != nil || ins != nil {
		t.Errorf("Transitions(nil) = %v, %v, %v", stale, ins, err)
	}
}

func testClaim(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "claim")
	var in []dispatcher.Contact
	for i := range 7 {
		p := person(i)
		p.Attrs = map[string]string{"Avdeling": fmt.Sprintf("A%d", i)}
		in = append(in, p)
	}
	res := importPlanned(t, s, c, in...)
	d := res.Deliveries
	queued := drive(t, s, d[1], dispatcher.StateQueued)
	drive(t, s, d[2], dispatcher.StateQueued, dispatcher.StateSending)
	drive(t, s, d[3], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent)
	later := t0.Add(2 * time.Hour)
	if err := s.Transition(ctx, dispatcher.Transition{DeliveryID: d[4].ID, From: []dispatcher.State{dispatcher.StatePending},
		To: dispatcher.StateQueued, NotBefore: later, At: t0}); err != nil {
		t.Fatal(err)
	}
	items := []dispatcher.JobItem{{DeliveryID: d[0].ID}, {DeliveryID: d[1].ID, Generation: queued.Generation},
		{DeliveryID: d[2].ID}, {DeliveryID: d[3].ID}, {DeliveryID: d[4].ID}, {DeliveryID: d[5].ID, Generation: 3}, // wrong generation
		{DeliveryID: d[6].ID}, {DeliveryID: -1}}
	got, err := s.Claim(ctx, dispatcher.Claim{Items: items, Attempt: "w1", At: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, cl := range got {
		ids = append(ids, cl.Delivery.ID)
		if cl.Delivery.State != dispatcher.StateSending || cl.Delivery.Attempt != "w1" || !cl.Delivery.UpdatedAt.Equal(at(time.Hour)) {
			t.Errorf("claimed delivery = %+v", cl.Delivery)
		}
		if cl.Contact.ID != cl.Delivery.ContactID || cl.Contact.Email == "" || cl.Contact.Attrs["Avdeling"] == "" || cl.Contact.Name == "" {
			t.Errorf("claimed contact = %+v for delivery %+v", cl.Contact, cl.Delivery)
		}
	}
	if want := []int64{d[0].ID, d[1].ID, d[6].ID}; !reflect.DeepEqual(ids, want) {
		t.Errorf("claimed %v, want %v (pending or queued, due, right generation)", ids, want)
	}
	if es := statesString(eventStates(t, s, d[0].ID)); es != "pending" {
		t.Errorf("a claim appended events: %s", es)
	}
	// Once due, the held-back one is claimable.
	got, err = s.Claim(ctx, dispatcher.Claim{Items: items, Attempt: "w2", At: later})
	if err != nil || len(got) != 1 || got[0].Delivery.ID != d[4].ID {
		t.Errorf("claim when due = %+v, %v; want delivery %d", got, err, d[4].ID)
	}
	if _, err := s.Claim(ctx, dispatcher.Claim{Items: items}); err == nil {
		t.Error("a claim without an attempt id succeeded")
	}
	if got, err := s.Claim(ctx, dispatcher.Claim{Attempt: "w3"}); err != nil || len(got) != 0 {
		t.Errorf("empty claim = %v, %v", got, err)
	}
}

func testClaimRace(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "claimrace")
	var in []dispatcher.Contact
	for i := range 40 {
		in = append(in, person(i))
	}
	res := importPlanned(t, s, c, in...)
	var items []dispatcher.JobItem
	for _, d := range res.Deliveries {
		items = append(items, dispatcher.JobItem{DeliveryID: d.ID})
	}
	const workers = 8
	got := make([][]dispatcher.Claimed, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			// overlapping halves: every delivery is asked for by several
			mine := items[(i%2)*len(items)/4 : len(items)/2+(i%2)*len(items)/2]
			got[i], errs[i] = s.Claim(ctx, dispatcher.Claim{Items: mine, Attempt: fmt.Sprintf("w%d", i), At: t0})
		})
	}
	close(start)
	wg.Wait()
	owner := map[int64]int{}
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		for _, cl := range got[i] {
			if prev, dup := owner[cl.Delivery.ID]; dup {
				t.Errorf("delivery %d claimed by workers %d and %d", cl.Delivery.ID, prev, i)
			}
			owner[cl.Delivery.ID] = i
		}
	}
	if len(owner) != len(items) {
		t.Errorf("%d of %d deliveries claimed", len(owner), len(items))
	}
	for id, w := range owner {
		d, err := s.Delivery(ctx, id)
		if err != nil || d.Attempt != fmt.Sprintf("w%d", w) {
			t.Errorf("delivery %d held by %q, want w%d (%v)", id, d.Attempt, w, err)
		}
	}
}

func testPendingAfter(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "pendingafter")
	other := newCampaign(t, s, "pendingafter-other")
	var in []dispatcher.Contact
	for i := range 6 {
		p := person(i)
		if i == 4 {
			p.Email = "" // sms first
		}
		in = append(in, p)
	}
	res := importPlanned(t, s, c, in...)
	importPlanned(t, s, other, person(50))
	d := res.Deliveries // 5 e-mail, 1 sms, pending, in ID order
	drive(t, s, d[1], dispatcher.StateQueued)
	var emails []int64
	var smsID int64
	for _, x := range d {
		switch {
		case x.Channel == dispatcher.SMS:
			smsID = x.ID
		case x.ID != d[1].ID:
			emails = append(emails, x.ID)
		}
	}
	var got []int64
	var after int64
	for {
		page, err := s.PendingAfter(ctx, c.ID, dispatcher.Email, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, x := range page {
			if x.Generation != 0 {
				t.Errorf("PendingAfter returned %+v", x)
			}
			got = append(got, x.DeliveryID)
		}
		after = page[len(page)-1].DeliveryID
	}
	if !reflect.DeepEqual(got, emails) {
		t.Errorf("pending e-mails = %v, want %v", got, emails)
	}
	if page, err := s.PendingAfter(ctx, c.ID, dispatcher.SMS, 0, 10); err != nil || len(page) != 1 || page[0].DeliveryID != smsID {
		t.Errorf("pending SMS = %+v, %v; want %d", page, err, smsID)
	}
}

func testSuppressedAmong(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	for _, sup := range []dispatcher.Suppression{
		{Channel: dispatcher.Email, Address: "Gone@Example.org", Reason: "invalid", Source: "test"},
		{Channel: dispatcher.SMS, Address: "+4790000001", Reason: "opted_out", Source: "test"},
		{Channel: dispatcher.Email, Address: "+4790000001", Reason: "manual", Source: "test"}, // another channel's namespace
	} {
		if err := s.Suppress(ctx, sup); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SuppressedAmong(ctx, dispatcher.SMS, []string{"+4790000001", "+4790000002"})
	if err != nil || len(got) != 1 || got["+4790000001"].Reason != "opted_out" {
		t.Errorf("SMS = %+v, %v", got, err)
	}
	got, err = s.SuppressedAmong(ctx, dispatcher.Email, []string{" gone@example.ORG", "here@example.org", "GONE@example.org"})
	if err != nil || len(got) != 2 || got[" gone@example.ORG"].Reason != "invalid" || got["GONE@example.org"].Reason != "invalid" {
		t.Errorf("e-mail = %+v, %v; want both spellings of the suppressed address", got, err)
	}
	if got, err := s.SuppressedAmong(ctx, dispatcher.Email, nil); err != nil || len(got) != 0 {
		t.Errorf("none = %v, %v", got, err)
	}
}

func testDeliveriesOfContacts(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "ofcontacts")
	none := person(3)
	none.Email = ""
	res := importPlanned(t, s, c, person(1), person(2), none)
	var contacts []int64
	seen := map[int64]bool{}
	for _, d := range res.Deliveries {
		if !seen[d.ContactID] {
			seen[d.ContactID] = true
			contacts = append(contacts, d.ContactID)
		}
	}
	got, err := s.DeliveriesOfContacts(ctx, []int64{contacts[2], contacts[0], -1})
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, d := range got {
		desc = append(desc, fmt.Sprintf("%d:%s", d.ContactID, d.Channel))
	}
	want := []string{fmt.Sprintf("%d:email", contacts[0]), fmt.Sprintf("%d:email", contacts[2]), fmt.Sprintf("%d:sms", contacts[2])}
	if !reflect.DeepEqual(desc, want) {
		t.Errorf("DeliveriesOfContacts = %v, want %v (by contact, then policy order)", desc, want)
	}

	// Their histories at once: by delivery, oldest first.
	if err := s.Transition(ctx, dispatcher.Transition{DeliveryID: got[2].ID, From: []dispatcher.State{dispatcher.StatePending},
		To: dispatcher.StateSkipped, Diagnostic: "no number", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.EventsOfDeliveries(ctx, []int64{got[2].ID, got[0].ID, -1})
	if err != nil {
		t.Fatal(err)
	}
	desc = nil
	for _, e := range evs {
		desc = append(desc, fmt.Sprintf("%d:%s", e.DeliveryID, e.State))
	}
	want = []string{fmt.Sprintf("%d:pending", got[0].ID), fmt.Sprintf("%d:pending", got[2].ID), fmt.Sprintf("%d:skipped", got[2].ID)}
	if !reflect.DeepEqual(desc, want) {
		t.Errorf("EventsOfDeliveries = %v, want %v", desc, want)
	}
	if evs, err := s.EventsOfDeliveries(ctx, nil); err != nil || len(evs) != 0 {
		t.Errorf("EventsOfDeliveries(nil) = %v, %v", evs, err)
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
		got := checkHistory(t, s, i, d[i].ID, w.state, w.events)
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
