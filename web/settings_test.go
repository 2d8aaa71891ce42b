package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// settingsForm is a valid new-campaign form.
func settingsForm(name string) url.Values {
	return url.Values{
		"name": {name}, "incident_ref": {"INC-2026-9"}, "default_locale": {"nb"}, "channels": {"email,sms"},
		"sender.from_name": {"Klinikk Personvern"}, "sender.from_email": {"personvern@klinikk.example"}, "sender.sms_from": {"Klinikk"},
		"quiet_hours": {"08:00-20:00"}, "substitute_threshold": {"10"}, "guard.hard_bounce": {"3%"}, "starter": {"nb", "en"},
	}
}

// postMultipart posts form (and a file, when name is set) as multipart as
// role r, with the session's CSRF token.
func (e *testEnv) postMultipart(r dispatcher.Role, path string, form url.Values, file, name string, content []byte) *http.Response {
	e.t.Helper()
	id, csrf := e.session(r)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	form.Set(csrfField, csrf)
	for k, vs := range form {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if file != "" {
		fw, err := mw.CreateFormFile(file, name)
		if err != nil {
			e.t.Fatal(err)
		}
		_, _ = fw.Write(content)
	}
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, &body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: sessionCookiePlain, Value: id})
	res, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestCreateCampaignInConsole(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	page := readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/campaigns/new", nil))
	for _, want := range []string{`name="sender.from_email"`, `name="starter" value="nb"`, "Create campaign"} {
		if !strings.Contains(page, want) {
			t.Errorf("new campaign form lacks %q", want)
		}
	}

	// Every problem is shown at its field, with what to write.
	bad := settingsForm("has space")
	bad.Set("sender.from_email", "personvern@")
	bad.Set("quiet_hours", "8-20")
	bad.Set("guard.hard_bounce", "lots")
	bad.Del("starter")
	res := e.postMultipart(dispatcher.RoleOperator, "/campaigns", bad, "", "", nil)
	page = readAll(t, res)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("invalid form: %d, want 400", res.StatusCode)
	}
	for _, want := range []string{"no spaces or slashes", "is not an e-mail address", "write the SMS sending window as 08:00-21:00",
		"write a share such as 5%", `value="has space"`} {
		if !strings.Contains(page, want) {
			t.Errorf("form with problems lacks %q", want)
		}
	}
	if cs, _ := e.st.Campaigns(ctx); len(cs) != 0 {
		t.Fatalf("an invalid form created %d campaigns", len(cs))
	}

	// From the starter notices.
	res = e.postMultipart(dispatcher.RoleOperator, "/campaigns", settingsForm("fra-konsollet"), "", "", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/campaigns/fra-konsollet?done=created" {
		t.Fatalf("create: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), readAll(t, res))
	}
	c, err := e.st.CampaignByName(ctx, "fra-konsollet")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != dispatcher.CampaignDraft || c.IncidentRef != "INC-2026-9" || c.Sender.SMSFrom != "Klinikk" || c.Settings.QuietHours != "08:00-20:00" ||
		c.Settings.SubstituteThreshold != 10 || c.Settings.Guard.HardBounce != 0.03 || c.Policy.String() != "email,sms" {
		t.Errorf("created %+v", c)
	}
	ts, _ := e.st.Templates(ctx, c.ID)
	if len(ts) != 4 {
		t.Errorf("created with %d templates, want e-mail and SMS in nb and en", len(ts))
	}
	// The same name again is a problem of the name field.
	page = readAll(t, e.postMultipart(dispatcher.RoleOperator, "/campaigns", settingsForm("fra-konsollet"), "", "", nil))
	if !strings.Contains(page, "exists already: choose another name") {
		t.Errorf("duplicate name not reported at the field")
	}

	// From an uploaded templates folder.
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, body := range map[string]string{"tpl/nb/email.subject": "Varsel {{.Campaign.IncidentRef}}", "tpl/nb/email.txt": "Hei {{.FirstName}}",
		"tpl/nb/sms.txt": "Hei {{.FirstName}}", "__MACOSX/._x": "junk"} {
		w, _ := zw.Create(name)
		_, _ = w.Write([]byte(body))
	}
	_ = zw.Close()
	form := settingsForm("fra-zip")
	form.Del("starter")
	res = e.postMultipart(dispatcher.RoleOperator, "/campaigns", form, "templates_zip", "maler.zip", zb.Bytes())
	if res.StatusCode != http.StatusSeeOther {
		page := readAll(t, res)
		i := strings.Index(page, "field-error")
		t.Fatalf("create from zip: %d\n%s", res.StatusCode, page[max(0, i-200):min(len(page), i+400)])
	}
	// A zip without the default locale's SMS is refused at the templates field.
	form = settingsForm("mangler-sms")
	form.Del("starter")
	form.Set("default_locale", "en")
	page = readAll(t, e.postMultipart(dispatcher.RoleOperator, "/campaigns", form, "templates_zip", "maler.zip", zb.Bytes()))
	if !strings.Contains(page, "no email template for the default locale") {
		t.Errorf("uncovered default locale not reported")
	}

	es, _ := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "campaign.create"})
	if len(es) != 2 || !strings.Contains(es[1].Detail, "starter notices nb, en") || !strings.Contains(es[0].Detail, "uploaded maler.zip") {
		t.Errorf("audit of creations: %+v", es)
	}
}

func TestCampaignSettings(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.campaign("innstillinger")

	page := readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/campaigns/innstillinger/settings", nil))
	if !strings.Contains(page, `value="personvern@klinikk.example"`) || !strings.Contains(page, "Save settings") {
		t.Errorf("settings page does not show the settings as a form")
	}
	form := settingsForm("innstillinger")
	form.Set("quiet_hours", "off")
	form.Set("sender.reply_to", "svar@klinikk.example")
	form.Set("deadline", time.Now().Add(48*time.Hour).Format("2006-01-02T15:04"))
	res := e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/innstillinger/settings", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", res.StatusCode, readAll(t, res))
	}
	got, _ := e.st.Campaign(ctx, c.ID)
	if got.Settings.QuietHours != "off" || got.Sender.ReplyTo != "svar@klinikk.example" || got.Settings.Deadline.IsZero() || got.Settings.SubstituteThreshold != 10 {
		t.Errorf("after save: %+v", got)
	}
	es, _ := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "campaign.settings"})
	if len(es) != 1 || !strings.Contains(es[0].Detail, `quiet_hours "" → "off"`) || !strings.Contains(es[0].Detail, `sender.reply_to`) {
		t.Errorf("audit of the change: %+v", es)
	}
	// Saving the form as shown changes nothing (the deadline keeps its
	// seconds, the shares their exact value), and is not audited.
	if err := e.st.SetCampaignSettings(ctx, c.ID, func() dispatcher.Settings {
		s := got.Settings
		s.Deadline = time.Now().Add(30*time.Hour + 17*time.Second)
		s.Guard.Complaint = 0.001
		return s
	}()); err != nil {
		t.Fatal(err)
	}
	before, _ := e.st.Campaign(ctx, c.ID)
	page = readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/campaigns/innstillinger/settings", nil))
	// What a browser sends back: every input's value, checkboxes only
	// when checked.
	shown := url.Values{}
	attr := func(tag, name string) string {
		m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}
	for _, tag := range regexp.MustCompile(`<input [^>]*>`).FindAllString(page, -1) {
		name := attr(tag, "name")
		if name == "" || name == csrfField || name == "templates_zip" || (attr(tag, "type") == "checkbox" && !strings.Contains(tag, " checked")) {
			continue
		}
		shown.Set(name, attr(tag, "value"))
	}
	if res := e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/innstillinger/settings", shown); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the form as shown: %d\n%s", res.StatusCode, readAll(t, res))
	}
	after, _ := e.st.Campaign(ctx, c.ID)
	if !after.Settings.Deadline.Equal(before.Settings.Deadline) || after.Settings.Guard.Complaint != before.Settings.Guard.Complaint {
		t.Errorf("saving unchanged: deadline %v → %v, complaint %v → %v", before.Settings.Deadline, after.Settings.Deadline,
			before.Settings.Guard.Complaint, after.Settings.Guard.Complaint)
	}
	if es, _ := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "campaign.settings"}); len(es) != 1 {
		t.Errorf("saving unchanged settings was audited: %+v", es)
	}

	// With contacts imported, the policy is fixed; the error says so at
	// the field.
	if _, err := e.st.ImportContacts(ctx, c.ID, []dispatcher.Contact{{Name: "Ola Nordmann", Email: "ola@example.no"}}, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	form.Set("channels", "sms")
	form.Del(csrfField)
	res = e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/innstillinger/settings", form)
	if page := readAll(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "cannot change after contacts are imported") {
		t.Errorf("policy change after import: %d", res.StatusCode)
	}

	// The API: read, change one field (the others keep their value),
	// problems per field.
	var cs CampaignSettings
	if got := e.api(dispatcher.RoleOperator, http.MethodGet, "/api/v1/campaigns/innstillinger/settings", "", nil, &cs); got != http.StatusOK || !cs.Editable || cs.QuietHours != "off" {
		t.Fatalf("GET settings: %d %+v", got, cs)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/innstillinger/settings", "application/json",
		strings.NewReader(`{"incident_ref": "INC-2026-10", "guard": {"hard_bounce": 0.02}}`), &cs); got != http.StatusOK || cs.IncidentRef != "INC-2026-10" || cs.QuietHours != "off" || cs.Guard.HardBounce != 0.02 {
		t.Errorf("PUT settings: %d %+v", got, cs)
	}
	res2 := e.apiRaw(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/innstillinger/settings", `{"sender": {"from_email": "nope", "sms_from": "Klinikk"}, "quiet_hours": "never"}`)
	var ae apiError
	if err := json.Unmarshal(res2.body, &ae); err != nil || res2.status != http.StatusBadRequest || len(ae.Fields) != 2 ||
		ae.Fields[0].Field != "sender.from_email" || ae.Fields[1].Field != "quiet_hours" {
		t.Errorf("PUT invalid settings: %d %s", res2.status, res2.body)
	}
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/campaigns/innstillinger/settings", "", nil, nil); got != http.StatusForbidden {
		t.Errorf("support reading settings: %d, want 403", got)
	}

	// Running: read-only, and a save is refused.
	if err := e.st.SetCampaignStatus(ctx, c.ID, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignRunning, time.Now()); err != nil {
		t.Fatal(err)
	}
	page = readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/campaigns/innstillinger/settings", nil))
	if !strings.Contains(page, `id="read-only"`) || !strings.Contains(page, "<fieldset class=\"plain\" disabled>") || strings.Contains(page, "Save settings") {
		t.Errorf("settings of a running campaign are not read-only")
	}
	if res := e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/innstillinger/settings", settingsForm("innstillinger")); res.StatusCode != http.StatusConflict {
		t.Errorf("saving settings of a running campaign: %d, want 409", res.StatusCode)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/innstillinger/settings", "application/json", strings.NewReader(`{"quiet_hours": "off"}`), nil); got != http.StatusConflict {
		t.Errorf("PUT settings of a running campaign: %d, want 409", got)
	}
}

func TestAPICreateCampaignFromStarter(t *testing.T) {
	e := newTestEnv(t)
	var cv CampaignView
	body := `{"name": "api-starter", "default_locale": "sv", "channels": ["email"], "sender": {"from_email": "dpo@example.se"},
		"starter_locales": ["sv", "en"], "quiet_hours": "off", "substitute_threshold": 10}`
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(body), &cv); got != http.StatusCreated {
		t.Fatalf("create: %d", got)
	}
	ts, _ := e.st.Templates(context.Background(), cv.ID)
	c, _ := e.st.Campaign(context.Background(), cv.ID)
	if len(ts) != 4 || c.Settings.SubstituteThreshold != 10 || c.Settings.QuietHours != "off" {
		t.Errorf("created %+v with %d templates", c, len(ts))
	}
	r := e.apiRaw(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns", `{"name": "x", "default_locale": "sv", "channels": ["email"], "starter_locales": ["xx"]}`)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field": "starter_locales"`) {
		t.Errorf("unknown starter locale: %d %s", r.status, r.body)
	}
}

func TestEditTemplatesInConsole(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.campaign("maler")
	page := readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/campaigns/maler/templates?channel=sms&locale=nb", nil))
	if !strings.Contains(page, `id="t-text"`) || !strings.Contains(page, "sikkerhetsbrudd {{.Campaign.IncidentRef}}") {
		t.Fatalf("templates page has no edit form with the SMS text")
	}
	form := url.Values{"channel": {"sms"}, "locale": {"nb"}, "text": {"Hei {{.FirstName}}, se {{.Campaign.IncidentRef}}.\r\n"}}
	res := e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/maler/templates", form)
	if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "done=template") {
		t.Log(readAll(t, res))
		t.Fatalf("save template: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	ts, _ := e.st.Templates(ctx, c.ID)
	for _, tp := range ts {
		if tp.Channel == dispatcher.SMS && tp.Locale == "nb" && tp.Text != "Hei {{.FirstName}}, se {{.Campaign.IncidentRef}}.\n" {
			t.Errorf("saved SMS %q", tp.Text)
		}
	}
	// A template that does not compile is shown again with the problem.
	form.Set("text", "Hei {{.FirstName")
	form.Del(csrfField)
	res = e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/maler/templates", form)
	if page := readAll(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "The template was not saved") || !strings.Contains(page, "Hei {{.FirstName</textarea>") {
		t.Errorf("broken template: %d", res.StatusCode)
	}
	// The same language written another way replaces the template, in
	// the console and in the API, rather than adding a second one.
	form = url.Values{"channel": {"sms"}, "locale": {"NB"}, "text": {"Hei igjen {{.FirstName}}."}}
	if res := e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/maler/templates", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save template as NB: %d", res.StatusCode)
	}
	if r := e.apiRaw(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/maler/templates", `{"channel":"sms","locale":" Nb ","text":"Hei fra API-et."}`); r.status != http.StatusOK || !strings.Contains(string(r.body), `"locale": "nb"`) {
		t.Fatalf("API save as ' Nb ': %d %s", r.status, r.body)
	}
	if r := e.apiRaw(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/maler/templates", `{"channel":"email","locale":"nb","text":"Ingen emnelinje."}`); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "needs a subject") {
		t.Errorf("API e-mail without a subject: %d %s", r.status, r.body)
	}
	ts, _ = e.st.Templates(ctx, c.ID)
	nbSMS := 0
	for _, tp := range ts {
		if tp.Channel == dispatcher.SMS && strings.EqualFold(tp.Locale, "nb") {
			nbSMS++
			if tp.Locale != "nb" || tp.Text != "Hei fra API-et." {
				t.Errorf("nb SMS saved as %q: %q", tp.Locale, tp.Text)
			}
		}
	}
	if nbSMS != 1 {
		t.Errorf("%d nb SMS templates, want 1", nbSMS)
	}
	// Starter notices of another language.
	res = e.do(dispatcher.RoleOperator, http.MethodPost, "/campaigns/maler/templates/starter", url.Values{"locale": {"de"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("add starter: %d", res.StatusCode)
	}
	if ts, _ := e.st.Templates(ctx, c.ID); len(ts) != 6 {
		t.Errorf("%d templates after adding de", len(ts))
	}
	es, _ := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "campaign.template"})
	if len(es) != 4 {
		t.Errorf("audit of template changes: %+v", es)
	}
	if res := e.do(dispatcher.RoleSupport, http.MethodPost, "/campaigns/maler/templates", form); res.StatusCode != http.StatusForbidden {
		t.Errorf("support editing a template: %d", res.StatusCode)
	}
}

type rawResult struct {
	status int
	body   []byte
}

// apiRaw sends a JSON body as role r and returns the raw answer.
func (e *testEnv) apiRaw(r dispatcher.Role, method, path, body string) rawResult {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(r))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return rawResult{res.StatusCode, b.Bytes()}
}

// racingLedger saves a schedule, as `herald campaign launch --at` does,
// between the settings request's read of the campaign and its write.
type racingLedger struct {
	ledger
	race func()
}

func (r *racingLedger) UpdateCampaign(ctx context.Context, c *dispatcher.Campaign, from []dispatcher.CampaignStatus) error {
	if r.race != nil {
		race := r.race
		r.race = nil
		race()
	}
	return r.ledger.UpdateCampaign(ctx, c, from)
}

// TestSettingsEditVersusSchedule: an operator edits the settings of a
// draft while a launch is scheduled with `launch --at` (or another
// operator saves). The save is a compare-and-set on what the operator
// saw: nothing is overwritten, the form comes back with the current
// values and the entries that were not saved, and saving again on them
// keeps the schedule. The API answers 409 with the current settings.
func TestSettingsEditVersusSchedule(t *testing.T) {
	var rl *racingLedger
	e := newTestEnv(t, func(c *Config) {
		rl = &racingLedger{ledger: c.Store.(ledger)}
		c.Store = rl
	})
	ctx := context.Background()
	c := e.campaign("planlagt")
	op := e.sessionClient(dispatcher.RoleOperator)
	_, page := op.do(http.MethodGet, "/campaigns/planlagt/settings", nil)
	m := regexp.MustCompile(`name="revision" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil || m[1] != c.Revision {
		t.Fatalf("the settings form carries no revision (or not the campaign's %q)", c.Revision)
	}
	seen := m[1]

	// Meanwhile the launch is scheduled.
	when := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	schedule := func() {
		if _, err := dispatcher.ChangeCampaign(ctx, e.st, c.ID, func(c *dispatcher.Campaign) error {
			c.Settings.ScheduledAt = when
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	schedule()
	form := settingsForm("planlagt")
	form.Set("revision", seen)
	form.Set("quiet_hours", "09:00-20:00")
	res, page := op.do(http.MethodPost, "/campaigns/planlagt/settings", form)
	text := html.UnescapeString(page)
	if res.StatusCode != http.StatusConflict || !strings.Contains(text, "the campaign changed while you were editing it") ||
		!strings.Contains(text, "Your entries that were not saved") || !strings.Contains(text, "SMS sending window") || !strings.Contains(text, "09:00-20:00") ||
		!strings.Contains(text, "Scheduled: a worker launches this campaign at") {
		t.Fatalf("save over a schedule set meanwhile: %d\n%s", res.StatusCode, text)
	}
	got, _ := e.st.Campaign(ctx, c.ID)
	if !got.Settings.ScheduledAt.Equal(when) || got.Settings.QuietHours != "" {
		t.Fatalf("the refused save changed the campaign: %+v", got.Settings)
	}
	if es := e.audits("campaign.settings"); len(es) != 0 {
		t.Errorf("a refused save was audited: %+v", es)
	}
	// The form now carries the current revision: saving again works and
	// keeps the schedule.
	m = regexp.MustCompile(`name="revision" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil || m[1] != got.Revision {
		t.Fatalf("the conflict page's form does not carry the current revision")
	}
	form.Set("revision", m[1])
	if res, _ := op.do(http.MethodPost, "/campaigns/planlagt/settings", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving again: %d", res.StatusCode)
	}
	got, _ = e.st.Campaign(ctx, c.ID)
	if !got.Settings.ScheduledAt.Equal(when) || got.Settings.QuietHours != "09:00-20:00" {
		t.Errorf("after saving again: %+v", got.Settings)
	}

	// The schedule lands between the request's own read and its write:
	// still refused, whether or not the form named a revision.
	form.Del("revision")
	form.Set("quiet_hours", "off")
	rl.race = schedule
	when = when.Add(time.Hour)
	if res, _ := op.do(http.MethodPost, "/campaigns/planlagt/settings", form); res.StatusCode != http.StatusConflict {
		t.Errorf("save racing a schedule: %d, want 409", res.StatusCode)
	}
	if got, _ = e.st.Campaign(ctx, c.ID); !got.Settings.ScheduledAt.Equal(when) || got.Settings.QuietHours != "09:00-20:00" {
		t.Errorf("a save racing the schedule overwrote it: %+v", got.Settings)
	}

	// The API: a PUT based on an old revision is 409 with the current
	// settings; one based on the current revision is saved.
	var cs CampaignSettings
	if code := e.api(dispatcher.RoleOperator, http.MethodGet, "/api/v1/campaigns/planlagt/settings", "", nil, &cs); code != http.StatusOK || cs.Revision != got.Revision || cs.ScheduledAt == nil {
		t.Fatalf("GET settings: %d %+v", code, cs)
	}
	old := cs.Revision
	schedule() // same time: the row is unchanged
	when = when.Add(time.Hour)
	schedule()
	raw := e.apiRaw(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/planlagt/settings", `{"revision": "`+old+`", "quiet_hours": "off"}`)
	var conflict SettingsConflict
	if err := json.Unmarshal(raw.body, &conflict); err != nil || raw.status != http.StatusConflict || conflict.Current.ScheduledAt == nil ||
		!conflict.Current.ScheduledAt.Equal(when) || conflict.Current.QuietHours != "09:00-20:00" || !strings.Contains(conflict.Message, "changed while you were editing") {
		t.Fatalf("PUT on an old revision: %d %s", raw.status, raw.body)
	}
	body := `{"revision": "` + conflict.Current.Revision + `", "quiet_hours": "off"}`
	if code := e.api(dispatcher.RoleOperator, http.MethodPut, "/api/v1/campaigns/planlagt/settings", "application/json", strings.NewReader(body), &cs); code != http.StatusOK ||
		cs.QuietHours != "off" || cs.ScheduledAt == nil || !cs.ScheduledAt.Equal(when) || cs.Revision == conflict.Current.Revision {
		t.Errorf("PUT on the current revision: %d %+v", code, cs)
	}
}
