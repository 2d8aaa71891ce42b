package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

func testCampaignCRUD(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := &dispatcher.Campaign{
		Name: "breach-2025", IncidentRef: "INC-42", DefaultLocale: "nb",
		Policy: dispatcher.Policy{dispatcher.SMS, dispatcher.Email},
		Sender: dispatcher.Sender{FromName: "Ærlig AS", FromEmail: "dpo@example.no", ReplyTo: "svar@example.no",
			SMSFrom: "Aerlig", SMSService: "MG0123"},
	}
	tpls := []dispatcher.Template{
		{Channel: dispatcher.Email, Locale: "nb", Subject: "Varsel om brudd", Text: "Hei {{.Name}}", HTML: "<p>Hei</p>"},
		{Channel: dispatcher.SMS, Locale: "nb", Text: "Varsel: se e-post"},
	}
	before := time.Now().Add(-time.Second)
	if err := s.CreateCampaign(ctx, c, tpls); err != nil {
		t.Fatalf("CreateCampaign: %v", err)
	}
	if c.ID == 0 {
		t.Fatal("CreateCampaign did not set ID")
	}
	if c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now().Add(time.Second)) || c.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want now in UTC", c.CreatedAt)
	}
	if c.Status != dispatcher.CampaignDraft {
		t.Errorf("Status = %q, want draft", c.Status)
	}

	got, err := s.Campaign(ctx, c.ID)
	if err != nil {
		t.Fatalf("Campaign: %v", err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("Campaign round trip:\n got %+v\nwant %+v", got, c)
	}
	byName, err := s.CampaignByName(ctx, "breach-2025")
	if err != nil {
		t.Fatalf("CampaignByName: %v", err)
	}
	if !reflect.DeepEqual(byName, c) {
		t.Errorf("CampaignByName:\n got %+v\nwant %+v", byName, c)
	}
	gotTpls, err := s.Templates(ctx, c.ID)
	if err != nil {
		t.Fatalf("Templates: %v", err)
	}
	for i := range tpls {
		tpls[i].CampaignID = c.ID
	}
	if !reflect.DeepEqual(gotTpls, tpls) { // email < sms
		t.Errorf("Templates:\n got %+v\nwant %+v", gotTpls, tpls)
	}

	dup := &dispatcher.Campaign{Name: "breach-2025", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.File}}
	err = s.CreateCampaign(ctx, dup, nil)
	if dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
		t.Errorf("CreateCampaign with a taken name: err = %v (code %q), want ECONFLICT", err, dispatcher.ErrorCode(err))
	}

	other := newCampaign(t, s, "second")
	all, err := s.Campaigns(ctx)
	if err != nil {
		t.Fatalf("Campaigns: %v", err)
	}
	if len(all) != 2 || all[0].ID != c.ID || all[1].ID != other.ID {
		t.Errorf("Campaigns = %d campaigns, want [%d %d] in creation order", len(all), c.ID, other.ID)
	}
	if _, err := s.CampaignByName(ctx, "no-such"); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("CampaignByName(missing) err = %v, want ErrNotFound", err)
	}
}

func testCampaignStatus(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "status")
	type want struct{ launched, finished time.Time }
	steps := []struct {
		from []dispatcher.CampaignStatus
		to   dispatcher.CampaignStatus
		when time.Duration
		err  error
		want want
	}{
		{[]dispatcher.CampaignStatus{dispatcher.CampaignRunning}, dispatcher.CampaignPaused, 1, dispatcher.ErrStale, want{}},
		{[]dispatcher.CampaignStatus{dispatcher.CampaignDraft, dispatcher.CampaignPaused}, dispatcher.CampaignRunning, time.Hour, nil, want{launched: at(time.Hour)}},
		{[]dispatcher.CampaignStatus{dispatcher.CampaignRunning}, dispatcher.CampaignPaused, 2 * time.Hour, nil, want{launched: at(time.Hour)}},
		// a second launch keeps the first launch time
		{[]dispatcher.CampaignStatus{dispatcher.CampaignPaused}, dispatcher.CampaignRunning, 3 * time.Hour, nil, want{launched: at(time.Hour)}},
		{[]dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignCancelled, 4 * time.Hour, dispatcher.ErrStale, want{launched: at(time.Hour)}},
		{[]dispatcher.CampaignStatus{dispatcher.CampaignRunning}, dispatcher.CampaignCompleted, 5 * time.Hour, nil, want{launched: at(time.Hour), finished: at(5 * time.Hour)}},
	}
	status := dispatcher.CampaignDraft
	for i, st := range steps {
		err := s.SetCampaignStatus(ctx, c.ID, st.from, st.to, t0.Add(st.when))
		if st.err != nil {
			if !errors.Is(err, st.err) {
				t.Fatalf("step %d %v → %s: err = %v, want %v", i, st.from, st.to, err, st.err)
			}
		} else if err != nil {
			t.Fatalf("step %d %v → %s: %v", i, st.from, st.to, err)
		} else {
			status = st.to
		}
		got, err := s.Campaign(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != status || !got.LaunchedAt.Equal(st.want.launched) || !got.FinishedAt.Equal(st.want.finished) {
			t.Errorf("after step %d: status %s launched %v finished %v; want %s %v %v",
				i, got.Status, got.LaunchedAt, got.FinishedAt, status, st.want.launched, st.want.finished)
		}
	}
	err := s.SetCampaignStatus(ctx, c.ID+1000, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignRunning, t0)
	if !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("SetCampaignStatus(missing) err = %v, want ErrNotFound", err)
	}
}

func testTemplates(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "tpl")
	puts := []dispatcher.Template{
		{CampaignID: c.ID, Channel: dispatcher.SMS, Locale: "nb", Text: "v1"},
		{CampaignID: c.ID, Channel: dispatcher.Email, Locale: "nb", Subject: "Emne", Text: "Tekst", HTML: "<b>x</b>"},
		{CampaignID: c.ID, Channel: dispatcher.Email, Locale: "en", Subject: "Subject", Text: "Text"},
		{CampaignID: c.ID, Channel: dispatcher.SMS, Locale: "nb", Text: "v2 – æøå"}, // replaces v1
	}
	for _, tp := range puts {
		if err := s.PutTemplate(ctx, &tp); err != nil {
			t.Fatalf("PutTemplate %s/%s: %v", tp.Channel, tp.Locale, err)
		}
	}
	got, err := s.Templates(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []dispatcher.Template{puts[2], puts[1], puts[3]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Templates:\n got %+v\nwant %+v", got, want)
	}
	err = s.PutTemplate(ctx, &dispatcher.Template{CampaignID: c.ID + 1000, Channel: dispatcher.SMS, Locale: "nb"})
	if !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("PutTemplate(missing campaign) err = %v, want ErrNotFound", err)
	}
	if got, err := s.Templates(ctx, c.ID+1000); err != nil || len(got) != 0 {
		t.Errorf("Templates(missing campaign) = %v, %v; want none", got, err)
	}
}

func testAudit(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	for _, e := range []dispatcher.AuditEntry{
		{At: t0, Actor: "ola", Action: "campaign.launch", Subject: "campaign 1", Detail: "via CLI"},
		{Actor: "system", Action: "campaign.cancel"}, // zero At means now
	} {
		if err := s.Audit(ctx, e); err != nil {
			t.Errorf("Audit(%s): %v", e.Action, err)
		}
	}
}

func testSuppressions(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	if got, err := s.IsSuppressed(ctx, dispatcher.Email, "nobody@example.org"); err != nil || got != nil {
		t.Fatalf("IsSuppressed(unknown) = %+v, %v; want nil, nil", got, err)
	}
	first := dispatcher.Suppression{Channel: dispatcher.Email, Address: "Ola.Nordmann@Example.no", Reason: "invalid",
		Source: "campaign a delivery 1", FirstSeen: t0, LastSeen: t0}
	if err := s.Suppress(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := dispatcher.Suppression{Channel: dispatcher.Email, Address: "ola.nordmann@example.no", Reason: "complaint",
		Source: "campaign b delivery 9", FirstSeen: t0.Add(48 * time.Hour), LastSeen: t0.Add(48 * time.Hour)}
	if err := s.Suppress(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := s.IsSuppressed(ctx, dispatcher.Email, " OLA.NORDMANN@example.NO ")
	if err != nil || got == nil {
		t.Fatalf("IsSuppressed = %+v, %v; want the entry", got, err)
	}
	if !got.FirstSeen.Equal(at(0)) || !got.LastSeen.Equal(at(48*time.Hour)) {
		t.Errorf("first/last seen = %v/%v, want %v/%v (first kept, last updated)", got.FirstSeen, got.LastSeen, at(0), at(48*time.Hour))
	}
	if got.Reason != "complaint" || got.Source != again.Source || got.Channel != dispatcher.Email {
		t.Errorf("suppression = %+v, want the latest reason and source", got)
	}
	if got, err := s.IsSuppressed(ctx, dispatcher.SMS, "ola.nordmann@example.no"); err != nil || got != nil {
		t.Errorf("IsSuppressed on another channel = %+v, %v; want nil", got, err)
	}
	if err := s.Suppress(ctx, dispatcher.Suppression{Channel: dispatcher.SMS, Address: "+4791234567", Reason: "opted_out"}); err != nil {
		t.Fatal(err)
	}
	sms, err := s.IsSuppressed(ctx, dispatcher.SMS, "+4791234567")
	if err != nil || sms == nil {
		t.Fatalf("IsSuppressed(sms) = %+v, %v", sms, err)
	}
	if sms.FirstSeen.IsZero() || !sms.FirstSeen.Equal(sms.LastSeen) {
		t.Errorf("zero times should default to now: first %v last %v", sms.FirstSeen, sms.LastSeen)
	}
}

func testCampaignSettings(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := &dispatcher.Campaign{Name: "settings", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.SMS},
		Sender:   dispatcher.Sender{SMSFrom: "HR"},
		Settings: dispatcher.Settings{QuietHours: "09:00-20:00", Deadline: at(72 * time.Hour)}}
	if err := s.CreateCampaign(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Campaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Settings.QuietHours != "09:00-20:00" || !got.Settings.Deadline.Equal(at(72*time.Hour)) || !got.Settings.ScheduledAt.IsZero() {
		t.Errorf("settings after create: %+v", got.Settings)
	}
	set := got.Settings
	set.ScheduledAt = at(time.Hour)
	set.QuietHours = "off"
	if err := s.SetCampaignSettings(ctx, c.ID, set); err != nil {
		t.Fatal(err)
	}
	got, err = s.CampaignByName(ctx, "settings")
	if err != nil {
		t.Fatal(err)
	}
	if got.Settings.QuietHours != "off" || !got.Settings.ScheduledAt.Equal(at(time.Hour)) || !got.Settings.Deadline.Equal(at(72*time.Hour)) {
		t.Errorf("settings after update: %+v", got.Settings)
	}
	if err := s.SetCampaignSettings(ctx, c.ID+1000, set); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("settings of a missing campaign: %v", err)
	}
}

func testUpdateCampaign(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "edit-me")
	newCampaign(t, s, "taken")
	next := *c
	next.Name = "edited"
	next.IncidentRef = "INC-2"
	next.DefaultLocale = "en"
	next.Policy = dispatcher.Policy{dispatcher.SMS, dispatcher.Email}
	next.Sender = dispatcher.Sender{FromName: "Ny avsender", FromEmail: "ny@example.no", ReplyTo: "svar2@example.no", SMSFrom: "Klinikk"}
	next.Settings = dispatcher.Settings{QuietHours: "off", Deadline: at(48 * time.Hour), SubstituteThreshold: 10,
		Guard: dispatcher.GuardSettings{HardBounce: 0.03}}
	if err := s.UpdateCampaign(ctx, &next, []dispatcher.CampaignStatus{dispatcher.CampaignDraft, dispatcher.CampaignPaused}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Campaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "edited" || got.IncidentRef != "INC-2" || got.DefaultLocale != "en" || got.Policy.String() != "sms,email" ||
		got.Sender != next.Sender || got.Status != dispatcher.CampaignDraft || !got.CreatedAt.Equal(c.CreatedAt) ||
		got.Settings.QuietHours != "off" || !got.Settings.Deadline.Equal(at(48*time.Hour)) || got.Settings.SubstituteThreshold != 10 || got.Settings.Guard.HardBounce != 0.03 {
		t.Errorf("after update: %+v", got)
	}
	if _, err := s.CampaignByName(ctx, "edit-me"); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("old name still found: %v", err)
	}
	// Another campaign's name is a conflict; a campaign in another
	// status is stale; a missing one is not found.
	taken := next
	taken.Name = "taken"
	if err := s.UpdateCampaign(ctx, &taken, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}); dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
		t.Errorf("rename to a taken name: %v, want ECONFLICT", err)
	}
	if err := s.SetCampaignStatus(ctx, c.ID, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignRunning, at(0)); err != nil {
		t.Fatal(err)
	}
	next.IncidentRef = "INC-3"
	if err := s.UpdateCampaign(ctx, &next, []dispatcher.CampaignStatus{dispatcher.CampaignDraft, dispatcher.CampaignPaused}); !errors.Is(err, dispatcher.ErrStale) {
		t.Errorf("update of a running campaign: %v, want ErrStale", err)
	}
	if got, _ := s.Campaign(ctx, c.ID); got.IncidentRef != "INC-2" {
		t.Errorf("a refused update changed the campaign: %+v", got)
	}
	missing := next
	missing.ID += 1000
	if err := s.UpdateCampaign(ctx, &missing, []dispatcher.CampaignStatus{dispatcher.CampaignRunning}); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("update of a missing campaign: %v, want ErrNotFound", err)
	}
}

// testUpdateCampaignRevision: an update that carries the revision it read
// is a compare-and-set. Two editors who read the same campaign: the first
// to save wins, the second is ErrStale and changes nothing. Setting the
// settings (a schedule) or the status gives a new revision too.
func testUpdateCampaignRevision(t *testing.T, s dispatcher.Store) {
	ctx := ctxOf(t)
	c := newCampaign(t, s, "cas")
	read := func() *dispatcher.Campaign {
		t.Helper()
		got, err := s.Campaign(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := read(), read()
	if a.Revision == "" || a.Revision != b.Revision || a.Revision != c.Revision {
		t.Fatalf("revisions of one campaign read twice and as created: %q, %q, %q", a.Revision, b.Revision, c.Revision)
	}
	editable := []dispatcher.CampaignStatus{dispatcher.CampaignDraft, dispatcher.CampaignPaused}
	a.Settings.QuietHours = "off"
	if err := s.UpdateCampaign(ctx, a, editable); err != nil {
		t.Fatal(err)
	}
	if now := read(); a.Revision == b.Revision || a.Revision != now.Revision {
		t.Errorf("revision after an update: %q, was %q, ledger says %q", a.Revision, b.Revision, now.Revision)
	}
	b.Settings.Deadline = at(24 * time.Hour)
	if err := s.UpdateCampaign(ctx, b, editable); !errors.Is(err, dispatcher.ErrStale) {
		t.Fatalf("second editor's update: %v, want ErrStale", err)
	}
	if now := read(); now.Settings.QuietHours != "off" || !now.Settings.Deadline.IsZero() {
		t.Errorf("after the refused update: %+v", now.Settings)
	}
	// A schedule set meanwhile is a change the editor did not see.
	a = read()
	set := a.Settings
	set.ScheduledAt = at(time.Hour)
	if err := s.SetCampaignSettings(ctx, c.ID, set); err != nil {
		t.Fatal(err)
	}
	a.Settings.QuietHours = "08:00-20:00"
	if err := s.UpdateCampaign(ctx, a, editable); !errors.Is(err, dispatcher.ErrStale) {
		t.Fatalf("update over a schedule set meanwhile: %v, want ErrStale", err)
	}
	if now := read(); !now.Settings.ScheduledAt.Equal(at(time.Hour)) || now.Settings.QuietHours != "off" {
		t.Errorf("the schedule was overwritten: %+v", now.Settings)
	}
	// A launch is a change too.
	a = read()
	if err := s.SetCampaignStatus(ctx, c.ID, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignRunning, at(0)); err != nil {
		t.Fatal(err)
	}
	if now := read(); now.Revision == a.Revision {
		t.Errorf("revision unchanged by a launch")
	}
	a.IncidentRef = "INC-X"
	if err := s.UpdateCampaign(ctx, a, []dispatcher.CampaignStatus{dispatcher.CampaignDraft, dispatcher.CampaignRunning}); !errors.Is(err, dispatcher.ErrStale) {
		t.Errorf("update of a campaign launched meanwhile: %v, want ErrStale", err)
	}
	missing := *a
	missing.ID += 1000
	if err := s.UpdateCampaign(ctx, &missing, editable); !errors.Is(err, dispatcher.ErrNotFound) {
		t.Errorf("compare-and-set on a missing campaign: %v, want ErrNotFound", err)
	}
}
