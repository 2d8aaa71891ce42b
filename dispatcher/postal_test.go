package dispatcher_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// letterFixture is a running campaign with an e-mail and a letter template.
type letterFixture struct {
	st    dispatcher.Store
	camp  *dispatcher.Campaign
	email *scriptChannel
	q     *memQueue
	w     *dispatcher.Worker
	feed  *dispatcher.Feeder
	room  *dispatcher.Mailroom
	now   time.Time
}

func letterSetup(t *testing.T, st dispatcher.Store, policy dispatcher.Policy, settings dispatcher.Settings, csvText string) *letterFixture {
	t.Helper()
	ctx := context.Background()
	settings.QuietHours = "off"
	camp := &dispatcher.Campaign{Name: fmt.Sprintf("letters%d", campaignSeq.Add(1)), DefaultLocale: "en", Policy: policy,
		Status: dispatcher.CampaignDraft, Sender: dispatcher.Sender{FromEmail: "privacy@clinic.example", SMSFrom: "Clinic"}, Settings: settings}
	ts := []dispatcher.Template{
		{Channel: dispatcher.Email, Locale: "en", Subject: "Notice", Text: "Dear {{.Name}}"},
		{Channel: dispatcher.SMS, Locale: "en", Text: "Hi {{.FirstName}}, we wrote to you."},
		{Channel: dispatcher.Postal, Locale: "en", Text: "\n{{.Name}}\n{{.Postal.Line1}}\n{{.Postal.PostalCode}} {{.Postal.City}}\n\nDear {{.Name}}, your data was exposed.\n"},
	}
	if err := st.CreateCampaign(ctx, camp, ts); err != nil {
		t.Fatal(err)
	}
	f := &letterFixture{st: st, camp: camp, q: &memQueue{}, now: time.Now(),
		email: &scriptChannel{kind: dispatcher.Email, fail: map[string]error{}}}
	f.w = &dispatcher.Worker{Store: st, Queue: f.q, Channels: map[dispatcher.ChannelKind]dispatcher.Channel{
		dispatcher.Email: f.email, dispatcher.SMS: &scriptChannel{kind: dispatcher.SMS, fail: map[string]error{}}}}
	f.feed = &dispatcher.Feeder{Store: st, Queue: f.q}
	f.room = &dispatcher.Mailroom{Store: st, Actor: "test"}
	im := &dispatcher.Importer{Store: st}
	if _, err := im.Import(ctx, camp, strings.NewReader(csvText), dispatcher.ImportOptions{Source: "letters.csv"}); err != nil {
		t.Fatal(err)
	}
	ops := &dispatcher.Operations{Store: st, Actor: "test"}
	if err := ops.Launch(ctx, camp); err != nil {
		t.Fatal(err)
	}
	return f
}

// drain feeds the queue and runs its jobs until nothing is left.
func (f *letterFixture) drain(t *testing.T) {
	t.Helper()
	for range 100 {
		if _, err := f.feed.Feed(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs := f.q.take()
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			if j.Channel == dispatcher.Postal {
				t.Fatalf("a letter reached the queue: %+v", j)
			}
			if err := f.w.Handle(context.Background(), j); err != nil {
				t.Fatalf("job %+v: %v", j, err)
			}
		}
	}
	t.Fatal("the queue did not drain")
}

func (f *letterFixture) byExternalID(t *testing.T, id string) (dispatcher.Contact, map[dispatcher.ChannelKind]dispatcher.Delivery) {
	t.Helper()
	return findOne(t, f.st, id)
}

// TestPostalBatchLifecycle: letters wait outside the queue, go to print
// in a batch file, are mailed or come back, and the campaign completes
// only once they are handed over.
func TestPostalBatchLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		list := "id,name,email,address,zip,city,state,country\n" +
			"A1,Ann Lee,ann@example.com,1 Main St,90210,Beverly Hills,CA,US\n" + // e-mail works
			"A2,Bob Ray,dead@example.com,2 Main St,90210,Beverly Hills,CA,US\n" + // e-mail bounces: letter
			"A3,Cy Roe,,3 Oak Ave,10001,New York,NY,US\n" + // letter only
			"A4,=HYPERLINK(\"http://x\"),,4 Oak Ave,10001,New York,NY,US\n" + // a hostile name
			"A5,Di Fox,,5 Elm Rd,02139,Cambridge,MA,US\n" // address on the suppression list
		if err := st.Suppress(ctx, dispatcher.Suppression{Channel: dispatcher.Postal, Address: "5 ELM RD, 02139 Cambridge, MA, US", Reason: "invalid"}); err != nil {
			t.Fatal(err)
		}
		f := letterSetup(t, st, dispatcher.Policy{dispatcher.Email, dispatcher.Postal}, dispatcher.Settings{}, list)
		f.email.fail["dead@example.com"] = &dispatcher.SendError{Class: dispatcher.Invalid, Code: "550 5.1.1"}
		f.drain(t)

		// Letters are pending and unfinished; neither the reconciler nor
		// the feeder ever queues them, and the campaign is not complete.
		rec := &dispatcher.Reconciler{Store: st, Queue: f.q}
		before := len(f.q.jobs)
		res, err := rec.Run(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		f.drain(t)
		if len(f.q.jobs) != before || res.Completed != 0 {
			t.Fatalf("reconciler and feeder queued %d jobs and completed %d campaigns while letters wait", len(f.q.jobs)-before, res.Completed)
		}
		rep, err := st.Report(ctx, f.camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := dispatcher.LettersWaiting(rep); n != 4 {
			t.Fatalf("%d letters waiting, want 4 (bounced, letter-only, hostile, suppressed)", n)
		}

		var out bytes.Buffer
		b, err := f.room.Batch(ctx, f.camp, &out, dispatcher.BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Count != 3 || b.Status != dispatcher.BatchHandedToPrint {
			t.Errorf("batch %+v, want 3 letters", b)
		}
		rows, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
		if err != nil {
			t.Fatalf("batch file is not CSV: %v\n%s", err, out.String())
		}
		if strings.Join(rows[0], ",") != strings.Join(dispatcher.BatchColumns, ",") || len(rows) != 4 {
			t.Fatalf("batch file:\n%s", out.String())
		}
		names := map[string][]string{}
		for _, r := range rows[1:] {
			names[r[2]] = r
			if r[0] != b.Ref() {
				t.Errorf("row %v names batch %q, want %q", r, r[0], b.Ref())
			}
		}
		bob := names["Bob Ray"]
		if bob == nil || bob[3] != "2 Main St" || bob[5] != "90210" || bob[6] != "Beverly Hills" || bob[7] != "CA" || bob[8] != "US" || bob[9] != "en" ||
			bob[10] != "Bob Ray\n2 Main St\n90210 Beverly Hills\n\nDear Bob Ray, your data was exposed." {
			t.Errorf("Bob's row = %q", bob)
		}
		if names[`'=HYPERLINK("http://x")`] == nil {
			t.Errorf("the hostile name is not neutralised: %q", out.String())
		}
		if strings.Contains(out.String(), "example.com") {
			t.Errorf("the batch file carries e-mail addresses:\n%s", out.String())
		}
		_, bobDs := f.byExternalID(t, "A2")
		if d := bobDs[dispatcher.Postal]; d.State != dispatcher.StateHandedToPrint || d.ProviderID != b.Ref() || strconv.FormatInt(d.ID, 10) != bob[1] {
			t.Errorf("Bob's letter = %+v", d)
		}
		if _, ds := f.byExternalID(t, "A5"); ds[dispatcher.Postal].State != dispatcher.StateSuppressed {
			t.Errorf("letter to a suppressed address = %+v", ds[dispatcher.Postal])
		}
		if _, err := f.room.Batch(ctx, f.camp, &out, dispatcher.BatchOptions{}); !errors.Is(err, dispatcher.ErrNoLetters) {
			t.Errorf("second batch: %v, want ErrNoLetters", err)
		}
		// Handed over: the reconciler completes the campaign.
		if res, err := rec.Run(ctx, false); err != nil || res.Completed != 1 {
			t.Errorf("reconcile after the batch: %+v, %v; want the campaign completed", res, err)
		}
		rep, _ = st.Report(ctx, f.camp.ID)
		if rep.Reached != 4 || rep.ReachedBy[dispatcher.Postal] != 3 || rep.Fallback != 1 || rep.Unreachable != 1 || rep.InProgress != 0 {
			t.Errorf("report after the batch = %+v", rep)
		}

		// The file can be written again from the ledger, identically.
		var again bytes.Buffer
		if err := f.room.WriteBatch(ctx, f.camp, b, &again); err != nil || again.String() != out.String() {
			t.Errorf("re-export differs (%v):\n%s\n---\n%s", err, again.String(), out.String())
		}

		// Cy's letter comes back; the address is suppressed; the policy
		// has nothing after postal, so Cy is unreachable.
		_, cyDs := f.byExternalID(t, "A3")
		d, err := f.room.Returned(ctx, b.ID, cyDs[dispatcher.Postal].ID, "moved, no forwarding address")
		if err != nil {
			t.Fatal(err)
		}
		if d.State != dispatcher.StateBouncedHard || d.Diagnostic != dispatcher.ReasonReturned+": moved, no forwarding address" {
			t.Errorf("returned letter = %+v", d)
		}
		if sup, err := st.IsSuppressed(ctx, dispatcher.Postal, "3 Oak Ave, 10001 New York, NY, US"); err != nil || sup == nil || sup.Reason != dispatcher.ReasonInvalid {
			t.Errorf("returned address suppression = %+v, %v", sup, err)
		}
		if _, err := f.room.Returned(ctx, b.ID, cyDs[dispatcher.Postal].ID, ""); dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
			t.Errorf("returned twice: %v, want ECONFLICT", err)
		}
		if _, err := f.room.Returned(ctx, b.ID, bobDs[dispatcher.Email].ID, ""); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("returned an e-mail: %v, want EINVALID", err)
		}
		if _, err := f.room.Returned(ctx, b.ID+100, cyDs[dispatcher.Postal].ID, ""); dispatcher.ErrorCode(err) != dispatcher.ENOTFOUND {
			t.Errorf("returned from a missing batch: %v, want ENOTFOUND", err)
		}

		// Mailed: the letters still out become sent; Cy's stays returned.
		mb, n, err := f.room.Mailed(ctx, b.ID)
		if err != nil || n != 2 || mb.Status != dispatcher.BatchMailed || mb.MailedAt.IsZero() {
			t.Fatalf("mailed = %+v, %d, %v", mb, n, err)
		}
		if _, ds := f.byExternalID(t, "A2"); ds[dispatcher.Postal].State != dispatcher.StateSent {
			t.Errorf("Bob's letter after mailing = %+v", ds[dispatcher.Postal])
		}
		if _, ds := f.byExternalID(t, "A3"); ds[dispatcher.Postal].State != dispatcher.StateBouncedHard {
			t.Errorf("Cy's letter after mailing = %+v", ds[dispatcher.Postal])
		}
		if _, _, err := f.room.Mailed(ctx, b.ID); dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
			t.Errorf("mailed twice: %v, want ECONFLICT", err)
		}
		rep, _ = st.Report(ctx, f.camp.ID)
		if rep.Unreachable != 2 || rep.Reached != 3 {
			t.Errorf("report after the return = %+v", rep)
		}
		var audit []string
		if us, ok := st.(dispatcher.UserStore); ok {
			entries, err := us.AuditLog(ctx, dispatcher.AuditQuery{Action: "postal."})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				audit = append(audit, e.Action)
			}
			if strings.Join(audit, ",") != "postal.mailed,postal.returned,postal.batch" {
				t.Errorf("audit = %v", audit)
			}
		}
	})
}

// TestPostalReturnedFallsBack: a letter that comes back is followed by the
// next channel of the policy, queued at once.
func TestPostalReturnedFallsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		list := "id,name,phone,address,zip,city,country\nB1,Eve Poe,+12015550123,9 Pine St,60601,Chicago,US\n"
		f := letterSetup(t, st, dispatcher.Policy{dispatcher.Postal, dispatcher.SMS}, dispatcher.Settings{}, list)
		if len(f.q.jobs) != 0 {
			t.Fatalf("launch queued %+v; the only work is a letter", f.q.jobs)
		}
		b, err := f.room.Batch(ctx, f.camp, &bytes.Buffer{}, dispatcher.BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, ds := f.byExternalID(t, "B1")
		if _, err := f.room.Returned(ctx, b.ID, ds[dispatcher.Postal].ID, ""); err != nil {
			t.Fatal(err)
		}
		_, ds = f.byExternalID(t, "B1")
		if sms := ds[dispatcher.SMS]; sms.State != dispatcher.StatePending {
			t.Errorf("after the return: sms %+v", sms)
		}
		f.drain(t)
		if _, ds = f.byExternalID(t, "B1"); ds[dispatcher.SMS].State != dispatcher.StateSent || len(f.q.jobs) != 1 {
			t.Errorf("after draining: sms %+v, jobs %+v", ds[dispatcher.SMS], f.q.jobs)
		}
	})
}

// TestPostalBatchRules: only a running campaign's letters go to print,
// with a letter template, at most Max per batch.
func TestPostalBatchRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		var list strings.Builder
		list.WriteString("id,name,address,zip,city\n")
		for i := range 5 {
			fmt.Fprintf(&list, "C%d,Person %d,%d Main St,90210,LA\n", i, i, i)
		}
		f := letterSetup(t, st, dispatcher.Policy{dispatcher.Postal}, dispatcher.Settings{}, list.String())
		b1, err := f.room.Batch(ctx, f.camp, &bytes.Buffer{}, dispatcher.BatchOptions{Max: 3})
		if err != nil || b1.Count != 3 {
			t.Fatalf("first batch %+v, %v; want 3 letters", b1, err)
		}
		ops := &dispatcher.Operations{Store: st, Actor: "test"}
		if err := ops.Pause(ctx, f.camp); err != nil {
			t.Fatal(err)
		}
		if _, err := f.room.Batch(ctx, f.camp, &bytes.Buffer{}, dispatcher.BatchOptions{}); dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
			t.Errorf("batch of a paused campaign: %v, want ECONFLICT", err)
		}
		if err := ops.Resume(ctx, f.camp); err != nil {
			t.Fatal(err)
		}
		b2, err := f.room.Batch(ctx, f.camp, &bytes.Buffer{}, dispatcher.BatchOptions{Max: 3})
		if err != nil || b2.Count != 2 {
			t.Fatalf("second batch %+v, %v; want the 2 left", b2, err)
		}
		if bs, err := st.PostalBatches(ctx, f.camp.ID); err != nil || len(bs) != 2 {
			t.Errorf("batches %+v, %v", bs, err)
		}
		// A campaign without a letter template cannot batch.
		bare := &dispatcher.Campaign{Name: fmt.Sprintf("bare%d", campaignSeq.Add(1)), DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Postal}, Status: dispatcher.CampaignRunning}
		if err := st.CreateCampaign(ctx, bare, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.room.Batch(ctx, bare, &bytes.Buffer{}, dispatcher.BatchOptions{}); dispatcher.ErrorCode(err) != dispatcher.EINVALID || !strings.Contains(err.Error(), "letter.txt") {
			t.Errorf("batch without a letter template: %v", err)
		}
	})
}

// TestWorkerRespectsConsent: a delivery planned before the campaign
// required consent is not e-mailed; the next channel is tried.
func TestWorkerRespectsConsent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, person("noconsent@example.com", "+12015550199"))
		set := f.camp.Settings
		set.ConsentRequired = true
		if err := st.SetCampaignSettings(ctx, f.camp.ID, set); err != nil {
			t.Fatal(err)
		}
		if err := f.w.Handle(ctx, f.job(t, "noconsent@example.com", dispatcher.Email)); err != nil {
			t.Fatal(err)
		}
		ds := f.deliveries(t, "noconsent@example.com")
		if f.email.count() != 0 {
			t.Fatalf("e-mailed a contact without consent: %+v", f.email.sent)
		}
		if ds[dispatcher.Email].State != dispatcher.StateSkipped || ds[dispatcher.Email].Diagnostic != dispatcher.ReasonNoConsent {
			t.Errorf("email delivery = %+v", ds[dispatcher.Email])
		}
		if ds[dispatcher.SMS].State != dispatcher.StatePending {
			t.Errorf("sms delivery = %+v, want pending as the fallback", ds[dispatcher.SMS])
		}
	})
}

// TestConsentRequiredCampaign is the acceptance rule end to end: imported
// under a consent-required campaign, contacts without consent get SMS or
// a letter, never e-mail.
func TestConsentRequiredCampaign(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		list := "id,name,email,consent,phone,address,zip,city,country\n" +
			"D1,Ann,ann@example.com,yes,+12015550101,1 Main St,90210,LA,US\n" +
			"D2,Bob,bob@example.com,no,+12015550102,2 Main St,90210,LA,US\n" +
			"D3,Cy,cy@example.com,,,3 Main St,90210,LA,US\n" +
			"D4,Di,di@example.com,maybe,,,,,US\n"
		f := letterSetup(t, st, dispatcher.Policy{dispatcher.Email, dispatcher.SMS, dispatcher.Postal}, dispatcher.Settings{ConsentRequired: true}, list)
		f.drain(t)
		for _, m := range f.email.sent {
			if m.To != "ann@example.com" {
				t.Errorf("e-mailed %s, who gave no consent", m.To)
			}
		}
		want := map[string]map[dispatcher.ChannelKind]dispatcher.State{
			"D1": {dispatcher.Email: dispatcher.StateSent},
			"D2": {dispatcher.Email: dispatcher.StateSkipped, dispatcher.SMS: dispatcher.StateSent},
			"D3": {dispatcher.Email: dispatcher.StateSkipped, dispatcher.SMS: dispatcher.StateSkipped, dispatcher.Postal: dispatcher.StatePending},
			"D4": {dispatcher.Email: dispatcher.StateSkipped, dispatcher.SMS: dispatcher.StateSkipped, dispatcher.Postal: dispatcher.StateSkipped},
		}
		for id, states := range want {
			_, ds := f.byExternalID(t, id)
			if len(ds) != len(states) {
				t.Errorf("%s deliveries %+v, want %v", id, ds, states)
			}
			for k, s := range states {
				if ds[k].State != s {
					t.Errorf("%s %s = %s (%s), want %s", id, k, ds[k].State, ds[k].Diagnostic, s)
				}
			}
			if e := ds[dispatcher.Email]; e.State == dispatcher.StateSkipped && e.Diagnostic != dispatcher.ReasonNoConsent {
				t.Errorf("%s e-mail skipped for %q, want %q", id, e.Diagnostic, dispatcher.ReasonNoConsent)
			}
		}
		// The campaign check renders only what can be used.
		rep, err := dispatcher.Check(ctx, st, f.camp, dispatcher.CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Notices[dispatcher.Email] != 1 || rep.Notices[dispatcher.SMS] != 2 || rep.Notices[dispatcher.Postal] != 3 {
			t.Errorf("check = %+v", rep)
		}
	})
}

// TestSubstituteNoticeFromStore ties the headline to the ledger's counts.
func TestSubstituteNoticeFromStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		var list strings.Builder
		list.WriteString("id,name,email,state,country\n")
		for i := range 12 {
			region := "CA"
			if i%3 == 0 {
				region = "NY"
			}
			fmt.Fprintf(&list, "E%d,Person %d,p%d@example.com,%s,US\n", i, i, i, region)
		}
		f := letterSetup(t, st, dispatcher.Policy{dispatcher.Email}, dispatcher.Settings{SubstituteThreshold: 10}, list.String())
		for i := range 12 {
			f.email.fail[fmt.Sprintf("p%d@example.com", i)] = &dispatcher.SendError{Class: dispatcher.Invalid, Code: "550"}
		}
		f.drain(t)
		rep, err := st.Report(ctx, f.camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		areas, err := st.UnreachableByArea(ctx, f.camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := dispatcher.NewSubstituteNotice(rep, areas, f.camp.Settings.SubstituteThreshold)
		if n.Unreachable != 12 || !n.Due || len(n.ByCountry) != 1 || n.ByCountry[0].N != 12 || len(n.ByArea) != 2 || n.ByArea[0].Region != "CA" || n.ByArea[0].N != 8 {
			t.Errorf("substitute notice = %+v", n)
		}
		if !strings.HasPrefix(n.Headline, "12 people could not be reached directly; that is above the substitute-notice threshold of 10") {
			t.Errorf("headline %q", n.Headline)
		}
	})
}
