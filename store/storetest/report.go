package storetest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

// scenario builds a campaign (policy email,sms) whose contacts end in every
// outcome the report distinguishes, and returns the contact IDs by role.
type scenario struct {
	c *dispatcher.Campaign
	// reached by e-mail; reached by SMS after a hard bounce; reached by SMS
	// without e-mail (not a fallback: skipped is not a failure)
	byEmail, bySMSAfterBounce, bySMSOnly int64
	// unreachable: bounced with no phone, no address at all, failed with no
	// phone, cancelled
	bouncedNoPhone, noAddress, failedNoPhone, cancelled int64
	// in progress: pending, and sending after a failed e-mail
	pending, sendingAfterFail int64
}

func buildScenario(t *testing.T, s dispatcher.Store) scenario {
	t.Helper()
	ctx := ctxOf(t)
	sc := scenario{c: newCampaign(t, s, "report")}
	c := sc.c
	noPhone := func(n int) dispatcher.Contact { p := person(n); p.Phone = ""; return p }
	noEmail := func(n int) dispatcher.Contact { p := person(n); p.Email = ""; return p }
	fallbackTo := func(contact int64, phone string) dispatcher.Delivery {
		t.Helper()
		ct, err := s.Contact(ctx, contact)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.DeliveriesOf(ctx, contact)
		if err != nil {
			t.Fatal(err)
		}
		done := map[dispatcher.ChannelKind]bool{}
		for _, d := range ds {
			done[d.Channel] = true
		}
		planned := dispatcher.PlanFrom(c.Policy, ct, 1, done, at(0))
		got, err := s.InsertDeliveries(ctx, planned)
		if err != nil {
			t.Fatal(err)
		}
		last := got[len(got)-1]
		if phone != "" && (last.Channel != dispatcher.SMS || last.State != dispatcher.StatePending) {
			t.Fatalf("fallback for %d planned %+v, want a pending sms", contact, got)
		}
		return last
	}
	var ds []dispatcher.Delivery

	sc.byEmail, ds = only(t, s, c, person(1))
	drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent)

	p := person(2)
	sc.bySMSAfterBounce, ds = only(t, s, c, p)
	drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateBouncedHard)
	drive(t, s, fallbackTo(sc.bySMSAfterBounce, p.Phone), dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent)

	sc.bySMSOnly, ds = only(t, s, c, noEmail(3))
	drive(t, s, byChannel(t, ds, dispatcher.SMS), dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent, dispatcher.StateDelivered)

	sc.bouncedNoPhone, ds = only(t, s, c, noPhone(4))
	drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateBouncedHard)
	fallbackTo(sc.bouncedNoPhone, "") // sms skipped

	none := person(5)
	none.Email, none.Phone = "", ""
	sc.noAddress, _ = only(t, s, c, none)

	sc.failedNoPhone, ds = only(t, s, c, noPhone(6))
	drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateFailed)
	fallbackTo(sc.failedNoPhone, "")

	sc.cancelled, ds = only(t, s, c, person(7))
	drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateCancelled)

	sc.pending, _ = only(t, s, c, person(8))

	p = person(9)
	sc.sendingAfterFail, ds = only(t, s, c, p)
	drive(t, s, ds[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateFailed)
	drive(t, s, fallbackTo(sc.sendingAfterFail, p.Phone), dispatcher.StateQueued, dispatcher.StateSending)

	rejects := []dispatcher.Reject{
		{Row: 11, Reason: "no address", Severity: dispatcher.SeverityError, Hash: "a"},
		{Row: 12, Reason: "bad phone", Severity: dispatcher.SeverityError, Hash: "b"},
		{Row: 13, Column: "email", Reason: "bad e-mail", Severity: dispatcher.SeverityWarning, Hash: "c"},
	}
	if _, err := s.AddRejects(ctx, c.ID, rejects); err != nil {
		t.Fatal(err)
	}
	return sc
}

// count is a StateCount, for short tables.
func count(k dispatcher.ChannelKind, st dispatcher.State, n int64) dispatcher.StateCount {
	return dispatcher.StateCount{Channel: k, State: st, N: n}
}

func testReport(t *testing.T, s dispatcher.Store) {
	sc := buildScenario(t, s)
	// A second campaign must not leak into the first one's numbers.
	other := newCampaign(t, s, "report-other")
	res := importPlanned(t, s, other, person(1), person(2))
	drive(t, s, res.Deliveries[0], dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent)

	got, err := s.Report(ctxOf(t), sc.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	E, S := dispatcher.Email, dispatcher.SMS
	want := &dispatcher.Report{
		CampaignID:   sc.c.ID,
		Contacts:     9,
		Reached:      3,
		ReachedBy:    map[dispatcher.ChannelKind]int64{E: 1, S: 2},
		Fallback:     1, // the hard bounce reached by SMS; not the SMS-only contact
		Unreachable:  4,
		InProgress:   2,
		Invalid:      2,
		RejectedRows: 2,
		States: []dispatcher.StateCount{
			count(E, dispatcher.StatePending, 1),
			count(E, dispatcher.StateSent, 1),
			count(E, dispatcher.StateBouncedHard, 2),
			count(E, dispatcher.StateFailed, 2),
			count(E, dispatcher.StateSkipped, 2),
			count(E, dispatcher.StateCancelled, 1),
			count(S, dispatcher.StateSending, 1),
			count(S, dispatcher.StateSent, 1),
			count(S, dispatcher.StateDelivered, 1),
			count(S, dispatcher.StateSkipped, 3),
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Report:\n got %+v\nwant %+v", got, want)
	}
	if got.Reached+got.Unreachable+got.InProgress != got.Contacts {
		t.Errorf("reached %d + unreachable %d + in progress %d != contacts %d", got.Reached, got.Unreachable, got.InProgress, got.Contacts)
	}
	if _, err := s.Report(ctxOf(t), sc.c.ID+1000); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("Report(missing) err = %v, want ErrNotFound", err)
	}
}

func testReportEmpty(t *testing.T, s dispatcher.Store) {
	c := newCampaign(t, s, "empty")
	got, err := s.Report(ctxOf(t), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := &dispatcher.Report{CampaignID: c.ID, ReachedBy: map[dispatcher.ChannelKind]int64{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("empty Report = %+v, want %+v", got, want)
	}
}

func testUnreachable(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	sc := buildScenario(t, s)
	wantIDs := []int64{sc.bouncedNoPhone, sc.noAddress, sc.failedNoPhone, sc.cancelled}
	var got []dispatcher.ContactDeliveries
	after := int64(0)
	pages := 0
	for {
		page, err := s.Unreachable(ctx, sc.c.ID, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d exceeds limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		pages++
		got = append(got, page...)
		after = page[len(page)-1].Contact.ID
	}
	if pages != 2 {
		t.Errorf("%d pages of at most 3, want 2", pages)
	}
	var ids []int64
	for _, cd := range got {
		ids = append(ids, cd.Contact.ID)
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("unreachable contacts = %v, want %v", ids, wantIDs)
	}
	wantStates := map[int64]string{
		sc.bouncedNoPhone: "bounced_hard,skipped",
		sc.noAddress:      "skipped,skipped",
		sc.failedNoPhone:  "failed,skipped",
		sc.cancelled:      "cancelled",
	}
	for _, cd := range got {
		var states []dispatcher.State
		for i, d := range cd.Deliveries {
			states = append(states, d.State)
			if d.ContactID != cd.Contact.ID || d.Seq != i {
				t.Errorf("contact %d delivery %d = %+v, want its own, in seq order", cd.Contact.ID, i, d)
			}
		}
		if s := statesString(states); s != wantStates[cd.Contact.ID] {
			t.Errorf("contact %d deliveries = %s, want %s", cd.Contact.ID, s, wantStates[cd.Contact.ID])
		}
		if cd.Contact.Name == "" || cd.Contact.CampaignID != sc.c.ID {
			t.Errorf("unreachable contact not filled in: %+v", cd.Contact)
		}
	}
	if page, err := s.Unreachable(ctx, sc.c.ID, 0, 0); err != nil || len(page) != 4 {
		t.Errorf("Unreachable with default limit = %d, %v; want 4", len(page), err)
	}
}

func testNotFound(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	const missing = 987654
	checks := map[string]error{}
	_, checks["Campaign"] = s.Campaign(ctx, missing)
	_, checks["Contact"] = s.Contact(ctx, missing)
	_, checks["Delivery"] = s.Delivery(ctx, missing)
	checks["DeleteCampaign"] = s.DeleteCampaign(ctx, missing)
	checks["SetCampaignStatus"] = s.SetCampaignStatus(ctx, missing, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignRunning, t0)
	checks["Transition"] = s.Transition(ctx, dispatcher.Transition{DeliveryID: missing, From: []dispatcher.State{dispatcher.StateQueued}, To: dispatcher.StateSending})
	_, checks["Report"] = s.Report(ctx, missing)
	_, checks["ImportContacts"] = s.ImportContacts(ctx, missing, []dispatcher.Contact{person(1)}, nil)
	for name, err := range checks {
		if !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("%s(missing): err = %v, want ErrNotFound", name, err)
		}
		if dispatcher.ErrorCode(err) != dispatcher.ENOTFOUND {
			t.Errorf("%s(missing): code %q, want %q", name, dispatcher.ErrorCode(err), dispatcher.ENOTFOUND)
		}
	}
}

func testDeleteCascade(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	sc := buildScenario(t, s)
	keep := newCampaign(t, s, "keep")
	kept := importPlanned(t, s, keep, person(1))
	if _, err := s.AddRejects(ctx, keep.ID, []dispatcher.Reject{{Row: 2, Severity: dispatcher.SeverityError, Hash: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTemplate(ctx, &dispatcher.Template{CampaignID: sc.c.ID, Channel: dispatcher.Email, Locale: "nb", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordImport(ctx, &dispatcher.ImportRun{CampaignID: sc.c.ID, Source: "a.csv"}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.DeliveriesOf(ctx, sc.bySMSAfterBounce)
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries before delete: %v, %v", ds, err)
	}

	if err := s.DeleteCampaign(ctx, sc.c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Campaign(ctx, sc.c.ID); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("campaign after delete: %v", err)
	}
	if _, err := s.Contact(ctx, sc.bySMSAfterBounce); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("contact after delete: %v", err)
	}
	for _, d := range ds {
		if _, err := s.Delivery(ctx, d.ID); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("delivery %d after delete: %v", d.ID, err)
		}
		if es, err := s.Events(ctx, d.ID); err != nil || len(es) != 0 {
			t.Errorf("events of delivery %d after delete: %d, %v", d.ID, len(es), err)
		}
	}
	if tp, err := s.Templates(ctx, sc.c.ID); err != nil || len(tp) != 0 {
		t.Errorf("templates after delete: %v, %v", tp, err)
	}
	if found, err := s.FindContacts(ctx, person(1).Email); err != nil || len(found) != 1 || found[0].CampaignID != keep.ID {
		t.Errorf("FindContacts after delete = %+v, %v; want only the kept campaign's contact", found, err)
	}
	if err := s.DeleteCampaign(ctx, sc.c.ID); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// The other campaign is whole, and the name is free again.
	rep, err := s.Report(ctx, keep.ID)
	if err != nil || rep.Contacts != 1 || rep.RejectedRows != 1 || rep.InProgress != 1 {
		t.Errorf("kept campaign report = %+v, %v", rep, err)
	}
	if es := eventStates(t, s, kept.Deliveries[0].ID); len(es) != 1 {
		t.Errorf("kept delivery events = %v", es)
	}
	again := newCampaign(t, s, "report")
	if again.ID == sc.c.ID {
		t.Errorf("a new campaign reused deleted campaign id %d", sc.c.ID)
	}
	res := importPlanned(t, s, again, person(1))
	if res.Deliveries[0].ID <= ds[len(ds)-1].ID {
		t.Errorf("delivery id %d reused after delete (had %d)", res.Deliveries[0].ID, ds[len(ds)-1].ID)
	}
}
