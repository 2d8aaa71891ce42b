package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// letterPerson returns contact n with a complete postal address in region
// and country, and no e-mail or phone.
func letterPerson(n int, country, region string) dispatcher.Contact {
	return dispatcher.Contact{
		ExternalID: fmt.Sprintf("P%05d", n),
		Name:       fmt.Sprintf("Letter Person %d", n),
		Country:    country,
		SourceRow:  n + 1,
		Postal: dispatcher.PostalAddress{Line1: fmt.Sprintf("%d Main Street", n), Line2: "Apt 2", PostalCode: "9021" + fmt.Sprint(n%10),
			City: "Springfield", Region: region},
	}
}

// testEligibilityFields: consent, do-not-e-mail and the postal address
// survive the bulk import path and come back from every contact read.
func testEligibilityFields(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "eligibility", dispatcher.Email, dispatcher.SMS, dispatcher.Postal)
	yes := person(1)
	yes.EmailConsent = dispatcher.ConsentYes
	yes.Postal = dispatcher.PostalAddress{Line1: "Storgata 1", Line2: "c/o Ås", PostalCode: "0155", City: "Oslo", Region: "Oslo"}
	no := person(2)
	no.EmailConsent, no.DoNotEmail = dispatcher.ConsentNo, true
	letter := letterPerson(3, "US", "CA")
	letter.ExternalID = "" // keyed by name and address only
	cs := []dispatcher.Contact{yes, no, letter}
	res := importPlanned(t, s, c, cs...)
	if res.Inserted != 3 {
		t.Fatalf("inserted %d, want 3", res.Inserted)
	}
	for i, want := range []dispatcher.Contact{yes, no, letter} {
		got, err := s.Contact(ctx, cs[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		want.ID, want.CampaignID = cs[i].ID, c.ID
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("contact %d:\n got %+v\nwant %+v", i, *got, want)
		}
	}
	page, err := s.Contacts(ctx, c.ID, 0, 10)
	if err != nil || len(page) != 3 || page[1].EmailConsent != dispatcher.ConsentNo || !page[1].DoNotEmail || page[2].Postal != letter.Postal {
		t.Errorf("Contacts = %+v, %v", page, err)
	}
	// The do-not-e-mail contact is planned past e-mail, with the reason;
	// the letter-only contact goes to postal.
	ds, err := s.DeliveriesOf(ctx, cs[1].ID)
	if err != nil || len(ds) != 2 || ds[0].State != dispatcher.StateSkipped || ds[0].Diagnostic != dispatcher.ReasonMailboxCompromise || ds[1].Channel != dispatcher.SMS {
		t.Errorf("deliveries of the do-not-e-mail contact = %+v, %v", ds, err)
	}
	ds, err = s.DeliveriesOf(ctx, cs[2].ID)
	if err != nil || len(ds) != 3 || ds[2].Channel != dispatcher.Postal || ds[2].State != dispatcher.StatePending ||
		ds[2].Address != "3 Main Street, Apt 2, 90213 Springfield, CA, US" {
		t.Errorf("deliveries of the letter-only contact = %+v, %v", ds, err)
	}
	// The same person at the same address again is a duplicate; someone
	// else in the household is not.
	again := letterPerson(3, "US", "CA")
	again.ExternalID, again.Name = "", "  letter   PERSON 3 "
	household := letterPerson(3, "US", "CA")
	household.ExternalID, household.Name = "", "Letter Person 3 Jr"
	res = importPlanned(t, s, c, again, household)
	if res.Inserted != 1 || res.Duplicates != 1 {
		t.Errorf("re-import by name and address: inserted %d duplicates %d, want 1 and 1", res.Inserted, res.Duplicates)
	}
}

// testSuppressionList: listing, filtering, paging, bulk adding and
// removing entries of the suppression list.
func testSuppressionList(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	entries := []dispatcher.Suppression{
		{Channel: dispatcher.Email, Address: "B@example.org", Reason: dispatcher.ReasonInvalid, Source: "import row 2", FirstSeen: t0},
		{Channel: dispatcher.Email, Address: "a@example.org", Reason: dispatcher.ReasonManual, Source: "import row 3"},
		{Channel: dispatcher.SMS, Address: "+4791234567", Reason: dispatcher.ReasonOptedOut, Source: "import row 4", FirstSeen: t0, LastSeen: t0.Add(time.Hour)},
		{Channel: dispatcher.Postal, Address: "1 main street, 90210 springfield, ca, us", Reason: dispatcher.ReasonInvalid, Source: "import row 5"},
	}
	n, err := s.SuppressMany(ctx, entries)
	if err != nil || n != 4 {
		t.Fatalf("SuppressMany = %d, %v; want 4 new", n, err)
	}
	// Again, with one changed: nothing new, the change applied.
	entries[1].Reason = dispatcher.ReasonComplaint
	if n, err := s.SuppressMany(ctx, append(entries, dispatcher.Suppression{Channel: dispatcher.Email, Address: "c@example.org", Reason: "manual"})); err != nil || n != 1 {
		t.Fatalf("SuppressMany again = %d, %v; want 1 new", n, err)
	}
	if _, err := s.SuppressMany(ctx, []dispatcher.Suppression{{Channel: dispatcher.Email, Address: "d@example.org"}, {Channel: dispatcher.Email, Address: " "}}); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
		t.Errorf("SuppressMany with an empty address: %v, want EINVALID", err)
	}
	if got, _ := s.IsSuppressed(ctx, dispatcher.Email, "d@example.org"); got != nil {
		t.Errorf("a failed SuppressMany stored %+v", got)
	}

	all, err := s.Suppressions(ctx, dispatcher.SuppressionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range all {
		keys = append(keys, string(e.Channel)+":"+e.Address)
	}
	want := []string{"email:a@example.org", "email:b@example.org", "email:c@example.org", "postal:1 main street, 90210 springfield, ca, us", "sms:+4791234567"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("Suppressions = %v, want %v", keys, want)
	}
	if all[0].Reason != dispatcher.ReasonComplaint || all[1].Source != "import row 2" || !all[1].FirstSeen.Equal(at(0)) ||
		!all[4].LastSeen.Equal(at(time.Hour)) || all[2].FirstSeen.IsZero() {
		t.Errorf("entries not as stored: %+v", all)
	}
	// Paging by (channel, address), two at a time.
	var paged []string
	q := dispatcher.SuppressionQuery{Limit: 2}
	for pages := 0; ; pages++ {
		page, err := s.Suppressions(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			if pages != 3 {
				t.Errorf("%d pages of 2, want 3", pages)
			}
			break
		}
		for _, e := range page {
			paged = append(paged, string(e.Channel)+":"+e.Address)
		}
		last := page[len(page)-1]
		q.AfterChannel, q.AfterAddress = last.Channel, last.Address
	}
	if !reflect.DeepEqual(paged, want) {
		t.Errorf("paged = %v, want %v", paged, want)
	}
	for _, tc := range []struct {
		q    dispatcher.SuppressionQuery
		want int
	}{
		{dispatcher.SuppressionQuery{Channel: dispatcher.Email}, 3},
		{dispatcher.SuppressionQuery{Reason: dispatcher.ReasonInvalid}, 2},
		{dispatcher.SuppressionQuery{Channel: dispatcher.Email, Reason: dispatcher.ReasonInvalid}, 1},
		{dispatcher.SuppressionQuery{Channel: dispatcher.SMS, Reason: dispatcher.ReasonManual}, 0},
	} {
		if got, err := s.Suppressions(ctx, tc.q); err != nil || len(got) != tc.want {
			t.Errorf("Suppressions(%+v) = %d entries, %v; want %d", tc.q, len(got), err, tc.want)
		}
	}

	if err := s.Unsuppress(ctx, dispatcher.Email, " B@Example.org "); err != nil {
		t.Fatalf("Unsuppress: %v", err)
	}
	if got, err := s.IsSuppressed(ctx, dispatcher.Email, "b@example.org"); err != nil || got != nil {
		t.Errorf("after Unsuppress: %+v, %v", got, err)
	}
	if err := s.Unsuppress(ctx, dispatcher.Email, "b@example.org"); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("second Unsuppress: %v, want ErrNotFound", err)
	}
	if err := s.Unsuppress(ctx, dispatcher.SMS, "a@example.org"); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("Unsuppress on another channel: %v, want ErrNotFound", err)
	}
}

// testPostalBatches walks letters through a print batch: waiting, handed
// to print, mailed, with the report counting them reached.
func testPostalBatches(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "letters", dispatcher.Email, dispatcher.Postal)
	other := newCampaign(t, s, "letters-other", dispatcher.Postal)
	var batch []dispatcher.Contact
	for i := 1; i <= 5; i++ {
		batch = append(batch, letterPerson(i, "US", "CA"))
	}
	batch = append(batch, person(6)) // has e-mail: pending on e-mail, no letter
	res := importPlanned(t, s, c, batch...)
	otherRes := importPlanned(t, s, other, letterPerson(7, "US", "NY"))
	if len(res.Deliveries) != 6 || len(otherRes.Deliveries) != 1 {
		t.Fatalf("pending deliveries %d and %d, want 6 and 1", len(res.Deliveries), len(otherRes.Deliveries))
	}
	var letterIDs []int64
	var emailID int64
	for _, d := range res.Deliveries {
		if d.Channel == dispatcher.Postal {
			letterIDs = append(letterIDs, d.ID)
		} else {
			emailID = d.ID
		}
	}
	// One letter is cancelled before the batch: it must not be batched.
	cancelled := letterIDs[4]
	if err := s.Transition(ctx, dispatcher.Transition{DeliveryID: cancelled, From: []dispatcher.State{dispatcher.StatePending}, To: dispatcher.StateCancelled, At: at(0)}); err != nil {
		t.Fatal(err)
	}

	// Waiting letters, paged, with their contacts.
	var waiting []dispatcher.Letter
	for after := int64(0); ; {
		page, err := s.PostalLetters(ctx, c.ID, 0, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		waiting = append(waiting, page...)
		after = page[len(page)-1].Delivery.ID
	}
	if len(waiting) != 4 {
		t.Fatalf("%d waiting letters, want 4", len(waiting))
	}
	for i, l := range waiting {
		if l.Delivery.ID != letterIDs[i] || l.Contact.ID != l.Delivery.ContactID || l.Contact.Postal.Line1 == "" {
			t.Errorf("waiting letter %d = %+v", i, l)
		}
	}

	// The batch takes the pending letters among the ids given, and nothing
	// else: not the e-mail, not the cancelled letter, not the other
	// campaign's letter.
	b := &dispatcher.PostalBatch{CampaignID: c.ID, CreatedAt: t0.Add(time.Hour)}
	ids := append(append([]int64{}, letterIDs[:3]...), emailID, cancelled, otherRes.Deliveries[0].ID)
	if err := s.CreatePostalBatch(ctx, b, ids); err != nil {
		t.Fatal(err)
	}
	if b.ID == 0 || b.Count != 3 || b.Status != dispatcher.BatchHandedToPrint || !b.CreatedAt.Equal(at(time.Hour)) {
		t.Errorf("batch = %+v", b)
	}
	for _, id := range letterIDs[:3] {
		d, err := s.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != dispatcher.StateHandedToPrint || d.ProviderID != b.Ref() || !d.UpdatedAt.Equal(at(time.Hour)) {
			t.Errorf("batched delivery = %+v", d)
		}
		if es := statesString(eventStates(t, s, id)); es != "pending,handed_to_print" {
			t.Errorf("events of batched delivery %d = %s", id, es)
		}
	}
	for _, id := range []int64{letterIDs[3], emailID, otherRes.Deliveries[0].ID} {
		if d, _ := s.Delivery(ctx, id); d.State != dispatcher.StatePending || d.ProviderID != "" {
			t.Errorf("delivery %d outside the batch = %+v", id, d)
		}
	}
	got, err := s.PostalBatch(ctx, b.ID)
	if err != nil || !reflect.DeepEqual(*got, *b) {
		t.Errorf("PostalBatch = %+v, %v; want %+v", got, err, b)
	}
	inBatch, err := s.PostalLetters(ctx, c.ID, b.ID, 0, 0)
	if err != nil || len(inBatch) != 3 || inBatch[0].Delivery.ID != letterIDs[0] {
		t.Errorf("letters of the batch = %+v, %v", inBatch, err)
	}
	if left, err := s.PostalLetters(ctx, c.ID, 0, 0, 0); err != nil || len(left) != 1 || left[0].Delivery.ID != letterIDs[3] {
		t.Errorf("letters still waiting = %+v, %v", left, err)
	}

	// Nothing pending among the ids: ErrStale and no batch recorded.
	if err := s.CreatePostalBatch(ctx, &dispatcher.PostalBatch{CampaignID: c.ID}, letterIDs[:3]); !errors.Is(err, dispatcher.ErrStale) {
		t.Errorf("batch of already batched letters: %v, want ErrStale", err)
	}
	if err := s.CreatePostalBatch(ctx, &dispatcher.PostalBatch{CampaignID: c.ID + 1000}, letterIDs[3:4]); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("batch for a missing campaign: %v, want ErrNotFound", err)
	}
	second := &dispatcher.PostalBatch{CampaignID: c.ID}
	if err := s.CreatePostalBatch(ctx, second, letterIDs[3:4]); err != nil || second.Count != 1 || second.ID <= b.ID {
		t.Errorf("second batch = %+v, %v", second, err)
	}
	bs, err := s.PostalBatches(ctx, c.ID)
	if err != nil || len(bs) != 2 || bs[0].ID != b.ID || bs[1].ID != second.ID {
		t.Errorf("PostalBatches = %+v, %v", bs, err)
	}
	if all, err := s.PostalBatches(ctx, 0); err != nil || len(all) != 2 {
		t.Errorf("PostalBatches(all) = %+v, %v", all, err)
	}
	if none, err := s.PostalBatches(ctx, other.ID); err != nil || len(none) != 0 {
		t.Errorf("PostalBatches(other) = %+v, %v", none, err)
	}

	// Handed to print counts as reached and is no longer unfinished.
	rep, err := s.Report(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reached != 4 || rep.ReachedBy[dispatcher.Postal] != 4 || rep.Unreachable != 1 || rep.InProgress != 1 {
		t.Errorf("report after batching = %+v", rep)
	}
	if n, err := s.CountUnfinished(ctx, c.ID); err != nil || n != 1 {
		t.Errorf("CountUnfinished = %d, %v; want 1 (the e-mail)", n, err)
	}

	// A returned letter stays returned when the batch is mailed.
	returned := letterIDs[1]
	if err := s.Transition(ctx, dispatcher.Transition{DeliveryID: returned, From: []dispatcher.State{dispatcher.StateHandedToPrint}, To: dispatcher.StateBouncedHard, Code: "returned", At: at(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.MarkPostalBatchMailed(ctx, b.ID, t0.Add(3*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("MarkPostalBatchMailed = %d, %v; want 2", n, err)
	}
	got, _ = s.PostalBatch(ctx, b.ID)
	if got.Status != dispatcher.BatchMailed || !got.MailedAt.Equal(at(3*time.Hour)) || got.Count != 3 {
		t.Errorf("batch after mailing = %+v", got)
	}
	for _, id := range []int64{letterIDs[0], letterIDs[2]} {
		if d, _ := s.Delivery(ctx, id); d.State != dispatcher.StateSent || d.ProviderID != b.Ref() {
			t.Errorf("mailed delivery = %+v", d)
		}
	}
	if d, _ := s.Delivery(ctx, returned); d.State != dispatcher.StateBouncedHard {
		t.Errorf("returned letter after mailing = %+v", d)
	}
	if _, err := s.MarkPostalBatchMailed(ctx, b.ID, t0); !errors.Is(err, dispatcher.ErrStale) {
		t.Errorf("mailing twice: %v, want ErrStale", err)
	}
	if _, err := s.MarkPostalBatchMailed(ctx, 987654, t0); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("mailing a missing batch: %v, want ErrNotFound", err)
	}
	if _, err := s.PostalBatch(ctx, 987654); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("PostalBatch(missing): %v, want ErrNotFound", err)
	}

	// Batches go with their campaign.
	if err := s.DeleteCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PostalBatch(ctx, b.ID); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("batch after its campaign was deleted: %v", err)
	}
}

// testUnreachableByArea counts the unreachable by country and region, by
// the same rule as Report.Unreachable.
func testUnreachableByArea(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "areas", dispatcher.Email, dispatcher.Postal)
	nobody := func(n int, country, region string) dispatcher.Contact {
		ct := person(n)
		ct.Email, ct.Phone, ct.Country = "", "", country
		ct.Postal = dispatcher.PostalAddress{Line1: "somewhere", Region: region} // incomplete: no letter
		return ct
	}
	contacts := []dispatcher.Contact{
		nobody(1, "US", "CA"), nobody(2, "US", "CA"), nobody(3, "US", "NY"), nobody(4, "NO", ""), nobody(5, "", ""),
		letterPerson(6, "US", "CA"), // pending letter: in progress, not unreachable
		person(7),                   // pending e-mail
	}
	importPlanned(t, s, c, contacts...)
	// A contact without any delivery at all is unreachable too.
	if _, err := s.ImportContacts(ctx, c.ID, []dispatcher.Contact{nobody(8, "US", "NY")}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.UnreachableByArea(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []dispatcher.AreaCount{{Country: "US", Region: "CA", N: 2}, {Country: "US", Region: "NY", N: 2}, {Country: "", N: 1}, {Country: "NO", N: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UnreachableByArea = %+v, want %+v", got, want)
	}
	rep, err := s.Report(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, a := range got {
		total += a.N
	}
	if total != rep.Unreachable || rep.Unreachable != 6 {
		t.Errorf("by area sums to %d, report says %d unreachable, want 6", total, rep.Unreachable)
	}
	if empty, err := s.UnreachableByArea(ctx, c.ID+1000); err != nil || len(empty) != 0 {
		t.Errorf("UnreachableByArea(missing campaign) = %+v, %v", empty, err)
	}
}
