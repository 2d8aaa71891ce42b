package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

func testImportDedupe(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "dedupe")
	a, b := person(1), person(2)
	b.ExternalID = ""
	sameEmailAsB := dispatcher.Contact{Name: "B again", Email: "PERSON2@Example.ORG"} // same e-mail, other case
	sameIDAsA := person(3)
	sameIDAsA.ExternalID = a.ExternalID
	keyless1 := dispatcher.Contact{Name: "No address 1"}
	keyless2 := dispatcher.Contact{Name: "No address 2"}
	batch := []dispatcher.Contact{a, b, sameEmailAsB, sameIDAsA, keyless1, keyless2}

	var planned []int64
	res, err := s.ImportContacts(ctx, c.ID, batch, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		if ct.ID == 0 || ct.CampaignID != c.ID {
			t.Errorf("plan got contact %q with ID %d campaign %d", ct.Name, ct.ID, ct.CampaignID)
		}
		planned = append(planned, ct.ID)
		return dispatcher.Plan(c.Policy, ct, at(0))
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 4 || res.Duplicates != 2 {
		t.Errorf("first import: inserted %d duplicates %d, want 4 and 2", res.Inserted, res.Duplicates)
	}
	if len(planned) != 4 {
		t.Errorf("plan called %d times, want once per stored contact (4)", len(planned))
	}
	for i, wantStored := range []bool{true, true, false, false, true, true} {
		if (batch[i].ID != 0) != wantStored {
			t.Errorf("batch[%d] (%s) ID = %d, stored want %v", i, batch[i].Name, batch[i].ID, wantStored)
		}
	}
	if !sort.SliceIsSorted(planned, func(i, j int) bool { return planned[i] < planned[j] }) {
		t.Errorf("plan order %v is not batch order", planned)
	}

	// Re-importing the keyed rows adds nothing; keyless rows are never
	// duplicates (there is nothing to recognise them by).
	again := []dispatcher.Contact{person(1), {Name: "B", Email: "person2@example.org"}, person(1)}
	calls := 0
	res, err = s.ImportContacts(ctx, c.ID, again, func(*dispatcher.Contact) []dispatcher.Delivery { calls++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 0 || res.Duplicates != 3 || calls != 0 || len(res.Deliveries) != 0 {
		t.Errorf("re-import: inserted %d duplicates %d plan calls %d deliveries %d; want 0 3 0 0",
			res.Inserted, res.Duplicates, calls, len(res.Deliveries))
	}
	for i, ct := range again {
		if ct.ID != 0 {
			t.Errorf("re-imported duplicate %d got ID %d, want 0", i, ct.ID)
		}
	}
	rep, err := s.Report(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Contacts != 4 {
		t.Errorf("Report.Contacts = %d, want 4", rep.Contacts)
	}

	// Another campaign has its own key space.
	other := newCampaign(t, s, "dedupe-other")
	if res := importPlanned(t, s, other, person(1)); res.Inserted != 1 {
		t.Errorf("same person in another campaign: inserted %d, want 1", res.Inserted)
	}
	// An empty batch is fine.
	if res, err := s.ImportContacts(ctx, c.ID, nil, nil); err != nil || res.Inserted != 0 {
		t.Errorf("empty import = %+v, %v", res, err)
	}
}

func testImportPlan(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "plan")
	emailOnly := person(1)
	emailOnly.Phone = ""
	smsOnly := person(2)
	smsOnly.Email = ""
	none := dispatcher.Contact{ExternalID: "X3", Name: "Nobody"}
	contacts := []dispatcher.Contact{emailOnly, smsOnly, none}
	res := importPlanned(t, s, c, contacts...)
	if res.Inserted != 3 {
		t.Fatalf("inserted %d, want 3", res.Inserted)
	}
	// pending deliveries come back with IDs: email for 1, sms for 2
	if len(res.Deliveries) != 2 {
		t.Fatalf("result has %d pending deliveries, want 2: %+v", len(res.Deliveries), res.Deliveries)
	}
	wantChannels := []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS}
	for i, d := range res.Deliveries {
		if d.ID == 0 || d.State != dispatcher.StatePending || d.Channel != wantChannels[i] || d.CampaignID != c.ID {
			t.Errorf("result delivery %d = %+v, want a pending %s with an ID", i, d, wantChannels[i])
		}
	}

	type want struct {
		channel dispatcher.ChannelKind
		state   dispatcher.State
		address string
	}
	cases := []struct {
		name string
		want []want
	}{
		{"email only", []want{{dispatcher.Email, dispatcher.StatePending, emailOnly.Email}}},
		{"sms only", []want{{dispatcher.Email, dispatcher.StateSkipped, ""}, {dispatcher.SMS, dispatcher.StatePending, smsOnly.Phone}}},
		{"no address", []want{{dispatcher.Email, dispatcher.StateSkipped, ""}, {dispatcher.SMS, dispatcher.StateSkipped, ""}}},
	}
	for i, tc := range cases {
		ds, err := s.DeliveriesOf(ctx, contacts[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != len(tc.want) {
			t.Errorf("%s: %d deliveries, want %d", tc.name, len(ds), len(tc.want))
			continue
		}
		for j, w := range tc.want {
			d := ds[j]
			if d.Channel != w.channel || d.State != w.state || d.Address != w.address || d.ContactID != contacts[i].ID ||
				d.Seq != c.Policy.Index(w.channel) || !d.UpdatedAt.Equal(at(0)) {
				t.Errorf("%s: delivery %d = %+v, want %+v at seq %d", tc.name, j, d, w, c.Policy.Index(w.channel))
			}
			es, err := s.Events(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 || es[0].State != w.state || es[0].DeliveryID != d.ID || !es[0].At.Equal(at(0)) ||
				es[0].Diagnostic != d.Diagnostic {
				t.Errorf("%s: creation events of %s = %+v, want one %s event", tc.name, d.Channel, es, w.state)
			}
			if w.state == dispatcher.StateSkipped && d.Diagnostic == "" {
				t.Errorf("%s: skipped delivery has no diagnostic", tc.name)
			}
		}
	}
	if err := func() error {
		_, err := s.ImportContacts(ctx, c.ID+1000, []dispatcher.Contact{person(9)}, nil)
		return err
	}(); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("import into a missing campaign: err = %v, want ErrNotFound", err)
	}
}

// testImportLargeBatch imports more rows than fit one SQLite statement.
func testImportLargeBatch(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "large", dispatcher.Email)
	const n = 6000
	contacts := make([]dispatcher.Contact, n+10)
	for i := range n {
		contacts[i] = person(i)
		contacts[i].Attrs = map[string]string{"dept": fmt.Sprintf("D%d", i%7)}
	}
	for i := n; i < n+10; i++ {
		contacts[i] = person(i - n) // duplicates of the first ten
	}
	res := importPlanned(t, s, c, contacts...)
	if res.Inserted != n || res.Duplicates != 10 || len(res.Deliveries) != n {
		t.Fatalf("inserted %d duplicates %d deliveries %d; want %d 10 %d", res.Inserted, res.Duplicates, len(res.Deliveries), n, n)
	}
	seen := map[int64]bool{}
	for i, d := range res.Deliveries {
		if d.ID == 0 || seen[d.ID] || d.ContactID != contacts[i].ID {
			t.Fatalf("delivery %d = %+v: want a fresh ID for contact %d", i, d, contacts[i].ID)
		}
		seen[d.ID] = true
	}
	last, err := s.Contact(ctx, contacts[n-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if last.Email != contacts[n-1].Email || last.Attrs["dept"] != contacts[n-1].Attrs["dept"] {
		t.Errorf("last contact = %+v", last)
	}
	if got, err := s.CountUnfinished(ctx, c.ID); err != nil || got != n {
		t.Errorf("CountUnfinished = %d, %v; want %d", got, err, n)
	}
}

func testUnicode(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "unicode")
	in := []dispatcher.Contact{
		{ExternalID: "ÆØÅ-1", Name: "Åse Ærø Østby", Email: "åse@eksempel.no", Phone: "+4791234567", Locale: "nb", Country: "NO",
			Attrs: map[string]string{"avdeling": "Løgstør", "note": `quote " back\slash <tag> & 'x'`}, SourceRow: 2},
		{ExternalID: "DE-ß", Name: "Jürgen Straße", Email: "juergen@beispiel.de", Locale: "de", Country: "DE",
			Attrs: map[string]string{"straße": "Groß"}, SourceRow: 3},
		{ExternalID: "NL-ij", Name: "Ĳsbrand van ĳzer", Phone: "+31612345678", Locale: "nl", Country: "NL", SourceRow: 4},
		{ExternalID: "emoji", Name: "Zoë 🙂👍🏽 ✉️", Email: "zoe@example.com", Locale: "en-US", Country: "US",
			Attrs: map[string]string{"🙂": "😀", "empty": ""}, SourceRow: 5},
	}
	res := importPlanned(t, s, c, in...)
	if res.Inserted != len(in) {
		t.Fatalf("inserted %d of %d", res.Inserted, len(in))
	}
	for _, want := range in {
		got, err := s.Contact(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", *got, want)
		}
	}
}

func testRejects(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "rejects")
	rs := []dispatcher.Reject{
		{Row: 2, Column: "email", Value: "not-an-email", Reason: "invalid e-mail", Severity: dispatcher.SeverityWarning, Hash: "h2", Source: "a.csv"},
		{Row: 3, Column: "", Value: "", Reason: "no address", Severity: dispatcher.SeverityError, Hash: "h3", Source: "a.csv"},
		{Row: 4, Column: "phone", Value: "12", Reason: "bad number – æøå", Severity: dispatcher.SeverityError, Hash: "h4", Source: "a.csv"},
		{Row: 9, Reason: "same content as row 4", Severity: dispatcher.SeverityError, Hash: "h4", Source: "a.csv"},
	}
	n, err := s.AddRejects(ctx, c.ID, rs)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("AddRejects = %d new, want 3 (one hash twice in the batch)", n)
	}
	n, err = s.AddRejects(ctx, c.ID, rs[:3])
	if err != nil || n != 0 {
		t.Errorf("re-adding the same rows = %d, %v; want 0", n, err)
	}
	n, err = s.AddRejects(ctx, c.ID, []dispatcher.Reject{{Row: 5, Reason: "new", Severity: dispatcher.SeverityError, Hash: "h5"}})
	if err != nil || n != 1 {
		t.Errorf("adding a new row = %d, %v; want 1", n, err)
	}
	other := newCampaign(t, s, "rejects-other")
	if n, err := s.AddRejects(ctx, other.ID, rs[:1]); err != nil || n != 1 {
		t.Errorf("same hash in another campaign = %d, %v; want 1", n, err)
	}
	rep, err := s.Report(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RejectedRows != 3 {
		t.Errorf("RejectedRows = %d, want 3 (errors only: h3, h4, h5)", rep.RejectedRows)
	}
	// One row with two problems is two rejects but one rejected row.
	twoProblems := []dispatcher.Reject{
		{Row: 20, Column: "email", Reason: "bad e-mail", Severity: dispatcher.SeverityError, Hash: "h20a", RowHash: "r20"},
		{Row: 20, Column: "phone", Reason: "bad phone", Severity: dispatcher.SeverityError, Hash: "h20b", RowHash: "r20"},
		{Row: 21, Column: "phone", Reason: "bad phone", Severity: dispatcher.SeverityError, Hash: "h21", RowHash: "r21"},
	}
	if n, err := s.AddRejects(ctx, c.ID, twoProblems); err != nil || n != 3 {
		t.Errorf("AddRejects(two problems in one row) = %d, %v; want 3 rejects", n, err)
	}
	rep, err = s.Report(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RejectedRows != 5 {
		t.Errorf("RejectedRows = %d; want 5 (h3, h4, h5, row 20 once, row 21)", rep.RejectedRows)
	}
	if _, err := s.AddRejects(ctx, c.ID+1000, rs); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("AddRejects(missing campaign) err = %v, want ErrNotFound", err)
	}
}

func testRecordImport(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "imports")
	r := &dispatcher.ImportRun{CampaignID: c.ID, Source: "ansatte.csv", Read: 300, Accepted: 290, Rejected: 6,
		Warnings: 4, Duplicates: 4, StartedAt: t0, FinishedAt: t0.Add(3e9)}
	if err := s.RecordImport(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.ID == 0 {
		t.Error("RecordImport did not set ID")
	}
	r2 := &dispatcher.ImportRun{CampaignID: c.ID, Source: "b.csv"}
	if err := s.RecordImport(ctx, r2); err != nil || r2.ID <= r.ID {
		t.Errorf("second RecordImport: ID %d, err %v; want an ID after %d", r2.ID, err, r.ID)
	}
	if err := s.RecordImport(ctx, &dispatcher.ImportRun{CampaignID: c.ID + 1000}); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("RecordImport(missing campaign) err = %v, want ErrNotFound", err)
	}
}

func testFindContacts(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	a := newCampaign(t, s, "find-a")
	b := newCampaign(t, s, "find-b")
	ola := dispatcher.Contact{ExternalID: "EMP-7", Name: "Ola", Email: "Ola.Nordmann@Example.no", Phone: "+4791234567"}
	kari := dispatcher.Contact{ExternalID: "EMP-8", Name: "Kari", Email: "kari@example.no", Phone: "+4798765432"}
	inA := []dispatcher.Contact{ola, kari}
	importPlanned(t, s, a, inA...)
	olaB := ola
	olaB.ExternalID = "P-1"
	olaB.Email = "ola.nordmann@example.NO"
	inB := []dispatcher.Contact{olaB}
	importPlanned(t, s, b, inB...)

	cases := []struct {
		query string
		want  []int64
	}{
		{"ola.nordmann@example.no", []int64{inA[0].ID, inB[0].ID}},
		{"  OLA.NORDMANN@EXAMPLE.NO ", []int64{inA[0].ID, inB[0].ID}},
		{"+4791234567", []int64{inA[0].ID, inB[0].ID}},
		{" +47 912 34 567 ", []int64{inA[0].ID, inB[0].ID}},
		{"EMP-8", []int64{inA[1].ID}},
		{"P-1", []int64{inB[0].ID}},
		{"emp-8", nil}, // external ids are exact
		{"kari@example", nil},
		{"", nil},
		{"   ", nil},
	}
	for _, tc := range cases {
		got, err := s.FindContacts(ctx, tc.query)
		if err != nil {
			t.Fatalf("FindContacts(%q): %v", tc.query, err)
		}
		var ids []int64
		for _, ct := range got {
			ids = append(ids, ct.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("FindContacts(%q) = %v, want %v", tc.query, ids, tc.want)
		}
	}
	got, err := s.FindContacts(ctx, "kari@example.no")
	if err != nil || len(got) != 1 || got[0].Name != "Kari" || got[0].CampaignID != a.ID {
		t.Errorf("FindContacts returns whole contacts: %+v, %v", got, err)
	}
}

func testContactsPaging(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "paging")
	other := newCampaign(t, s, "paging-other")
	for i := 1; i <= 25; i++ {
		importPlanned(t, s, other, person(1000+i))
		res := importPlanned(t, s, c, person(i))
		if res.Inserted != 1 {
			t.Fatalf("import %d: %+v", i, res)
		}
	}
	var got []int64
	var after int64
	for {
		page, err := s.Contacts(ctx, c.ID, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d, limit 10", len(page))
		}
		for _, ct := range page {
			if ct.CampaignID != c.ID {
				t.Fatalf("contact of campaign %d in campaign %d's pages", ct.CampaignID, c.ID)
			}
			got = append(got, ct.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(got) != 25 || !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] }) {
		t.Errorf("paged %d contacts %v, want 25 in id order", len(got), got)
	}
}

func testFindContactsByName(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	a := newCampaign(t, s, "names-a")
	b := newCampaign(t, s, "names-b")
	people := []dispatcher.Contact{
		{Name: "Bjørn Ødegård", Email: "bjorn.odegaard@example.no", Locale: "nb", Country: "NO"},
		{Name: "Ødegård, Kari", Email: "kari.o@example.no", Locale: "nb"},
		{Name: "Bjarne Ødegaard", Email: "bjarne@example.no"},
		{Name: "Bjørn Odde", Email: "odde@example.no"},
		{Name: "Nguyễn Thị Minh Khai", Email: "khai@example.vn", Locale: "vi", Country: "VN"},
		{Name: "Łukasz Wałęsa", Email: "lukasz@example.pl", Locale: "pl"},
		{Name: "Heinz Strauß", Email: "heinz@example.de", Locale: "de"},
		{Name: "Jürgen Müller", Email: "jurgen@example.de", Locale: "de"},
		{Name: "Ole Kristian Hansen", Email: "okh@example.no"},
		{Name: "Olea Hansen", Email: "olea@example.no"},
		{Name: "Kari Anne Berg-Hansen", Email: "kabh@example.no"},
		{Name: "", Email: "noname@example.no"},
	}
	for i := range 30 {
		people = append(people, dispatcher.Contact{Name: "Ole Hansen", Email: fmt.Sprintf("ole.hansen%d@example.no", i)})
	}
	importPlanned(t, s, a, people...)
	inB := []dispatcher.Contact{{Name: "BJØRN ØDEGÅRD", Email: "bjorn.odegaard@example.no", Locale: "nb"}}
	importPlanned(t, s, b, inB...)
	all := append(append([]dispatcher.Contact{}, people...), inB...)

	// The SQL selects exactly what NameQuery.Matches says, on every query.
	queries := []string{"Bjorn Odegard", "Ødegård, Bjørn", "odegard bjorn", "Ødeg", "Odegaard", "Bjørn Øde", "B Ødegård",
		"Nguyen", "nguyen khai", "Lukasz Walesa", "Strauss", "Mueller", "Ole Hansen", "hansen ole", "Hansen", "Berg Hansen",
		"Kari", "Bjorn", "zz"}
	for _, text := range queries {
		q, err := dispatcher.ParseNameQuery(text)
		if err != nil {
			t.Fatalf("ParseNameQuery(%q): %v", text, err)
		}
		var want []int64
		for _, p := range all {
			if q.Matches(dispatcher.NameKey(p.Name, p.Locale, p.Country)) {
				want = append(want, p.ID)
			}
		}
		got, err := s.FindContactsByName(ctx, q, 100)
		if err != nil {
			t.Fatalf("FindContactsByName(%q): %v", text, err)
		}
		var ids []int64
		for _, c := range got.Contacts {
			ids = append(ids, c.ID)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		if !reflect.DeepEqual(ids, want) || got.Total != len(want) || got.More {
			t.Errorf("FindContactsByName(%q) = %v (total %d, more %t), want %v", text, ids, got.Total, got.More, want)
		}
	}

	// What a caller on the phone says finds the person in both campaigns.
	for _, text := range []string{"Bjorn Odegard", "Ødegård, Bjørn", "odegard bjorn"} {
		q, _ := dispatcher.ParseNameQuery(text)
		got, err := s.FindContactsByName(ctx, q, 10)
		if err != nil || got.Total != 2 || len(got.Contacts) != 2 || got.Contacts[0].Name != "Bjørn Ødegård" || got.Contacts[1].CampaignID != b.ID {
			t.Errorf("FindContactsByName(%q) = %+v, %v; want Bjørn Ødegård in both campaigns", text, got, err)
		}
	}

	// Many Ole Hansens: capped, counted, exact names first.
	q, _ := dispatcher.ParseNameQuery("Ole Hansen")
	got, err := s.FindContactsByName(ctx, q, 5)
	if err != nil || len(got.Contacts) != 5 || got.Total != 32 || got.More {
		t.Fatalf("Ole Hansen: %d shown, total %d, more %t, %v; want 5 of 32", len(got.Contacts), got.Total, got.More, err)
	}
	for _, c := range got.Contacts {
		if c.Name != "Ole Hansen" || c.Email == "" {
			t.Errorf("Ole Hansen's best matches include %+v", c)
		}
	}

	// More than MaxNameMatches: counted up to the cap and said so.
	c := newCampaign(t, s, "names-many")
	many := make([]dispatcher.Contact, dispatcher.MaxNameMatches+5)
	for i := range many {
		many[i] = dispatcher.Contact{Name: fmt.Sprintf("Person %d Nordmann", i), Email: fmt.Sprintf("n%d@example.no", i)}
	}
	importPlanned(t, s, c, many...)
	q, _ = dispatcher.ParseNameQuery("Nordmann")
	got, err = s.FindContactsByName(ctx, q, 20)
	if err != nil || len(got.Contacts) != 20 || got.Total != dispatcher.MaxNameMatches || !got.More {
		t.Errorf("Nordmann: %d shown, total %d, more %t, %v; want 20 of more than %d", len(got.Contacts), got.Total, got.More, err, dispatcher.MaxNameMatches)
	}
}
