package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// api calls the API with role r's token and decodes a JSON answer into v
// (when v is not nil); it returns the status.
func (e *testEnv) api(r dispatcher.Role, method, path, contentType string, body io.Reader, v any) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(r))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if v != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if res.StatusCode >= 400 {
		var ae apiError
		if err := json.Unmarshal(b, &ae); err != nil || ae.Message == "" {
			e.t.Errorf("%s %s: error %d is not a JSON error with a message: %s", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode
}

// TestOpenAPICoversRoutes checks that the OpenAPI file documents every API
// route and nothing that does not exist.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newTestEnv(t)
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPISpec, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Errorf("openapi version %q", spec.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range spec.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range e.srv.Routes() {
		if !rt.API {
			continue
		}
		key := rt.Method + " " + rt.Path
		routed[key] = true
		if !documented[key] {
			t.Errorf("API route %s (%s) is not in openapi.json", key, rt.Name)
		}
	}
	for key := range documented {
		if !routed[key] {
			t.Errorf("openapi.json documents %s, which the server does not serve", key)
		}
	}
	res, err := http.Get(e.ts.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/api/openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

const apiCSV = "ansattnr;navn;e-post;mobil;språk\n" +
	"E1;Åse Ødegård;ase@example.no;+47 912 34 567;nb\n" +
	"E2;=HYPERLINK(\"http://evil.example\");not-an-address;;nb\n" +
	"E3;Bjørn Berg;bjorn@example.no;12;nb\n" +
	"E1;Åse Ødegård;ase@example.no;+47 912 34 567;nb\n"

func TestAPICampaignLifecycle(t *testing.T) {
	e := newTestEnv(t)
	create := `{"name":"api-test","incident_ref":"INC-9","default_locale":"nb","channels":["email","sms"],
		"sender":{"from_email":"hr@example.no","from_name":"HR","sms_from":"Klinikk"},
		"templates":[{"channel":"email","locale":"nb","subject":"Hei {{.FirstName}}","text":"Hei {{.Name}}"},
		             {"channel":"sms","locale":"nb","text":"Hei {{.FirstName}}"}]}`
	if got := e.api(dispatcher.RoleSupport, http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(create), nil); got != http.StatusForbidden {
		t.Errorf("support creating a campaign: %d, want 403", got)
	}
	var cv CampaignView
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(create), &cv); got != http.StatusCreated {
		t.Fatalf("create: %d", got)
	}
	if cv.Name != "api-test" || cv.Status != dispatcher.CampaignDraft || len(cv.Channels) != 2 {
		t.Errorf("created %+v", cv)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(create), nil); got != http.StatusConflict {
		t.Errorf("same name again: %d, want 409", got)
	}
	for name, body := range map[string]string{
		"unknown field":    `{"name":"x","default_locale":"nb","channels":["email"],"sender":{"from_email":"a@b.no"},"tempaltes":[]}`,
		"missing variable": `{"name":"y","default_locale":"nb","channels":["email"],"sender":{"from_email":"a@b.no"},"templates":[{"channel":"email","locale":"nb","subject":"x","text":"{{.Nmae"}]}`,
		"no channel":       `{"name":"z","default_locale":"nb","channels":[]}`,
	} {
		if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(body), nil); got != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, got)
		}
	}

	// Import: per-row problems in the answer.
	var imp ImportResult
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-test/imports?region=NO&source=liste.csv", "text/csv", strings.NewReader(apiCSV), &imp); got != http.StatusOK {
		t.Fatalf("import: %d", got)
	}
	if imp.Read != 4 || imp.Accepted != 2 || imp.Rejected != 1 || imp.Duplicates != 1 || imp.Source != "liste.csv" {
		t.Errorf("import %+v; want read 4, accepted 2, rejected 1, duplicate 1", imp)
	}
	var rows []int
	for _, p := range imp.Problems {
		rows = append(rows, p.Row)
	}
	if !slices.Contains(rows, 3) || !slices.Contains(rows, 4) {
		t.Errorf("problems %+v; want rows 3 (rejected) and 4 (bad phone)", imp.Problems)
	}
	// the reject report neutralises formulas
	if !strings.Contains(string(imp.csv), "'=HYPERLINK") && strings.Contains(string(imp.csv), "=HYPERLINK") {
		t.Errorf("reject CSV keeps a formula:\n%s", imp.csv)
	}

	// Controls.
	var ctl struct {
		Campaign CampaignView `json:"campaign"`
		Message  string       `json:"message"`
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-test/launch", "", nil, &ctl); got != http.StatusOK || ctl.Campaign.Status != dispatcher.CampaignRunning {
		t.Errorf("launch: %d %+v", got, ctl)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-test/launch", "", nil, nil); got != http.StatusConflict {
		t.Errorf("second launch: %d, want 409", got)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-test/pause", "", nil, nil); got != http.StatusOK {
		t.Errorf("pause: %d", got)
	}
	var st CampaignStatus
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/campaigns/api-test/status", "", nil, &st); got != http.StatusOK || st.Status != dispatcher.CampaignPaused || st.Contacts != 2 {
		t.Errorf("status: %d %+v", got, st)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/nope/launch", "", nil, nil); got != http.StatusNotFound {
		t.Errorf("launch of a missing campaign: %d, want 404", got)
	}
	var audit []AuditView
	e.api(dispatcher.RoleAdmin, http.MethodGet, "/api/v1/audit?action=campaign.", "", nil, &audit)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
		if !strings.HasPrefix(a.Actor, "operator-user (token ") {
			t.Errorf("audit actor %q does not name the user and token", a.Actor)
		}
	}
	for _, want := range []string{"campaign.create", "campaign.import", "campaign.launch", "campaign.pause"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}
}

// TestLookupIsAudited checks the support lookup: found by a phone number as
// a caller reads it out, explained in words, audited with what was shown,
// and absent from the logs.
func TestLookupIsAudited(t *testing.T) {
	e := newTestEnv(t)
	c := e.campaign("lookup")
	ctx := context.Background()
	cs := []dispatcher.Contact{{ExternalID: "P-77", Name: "Åse Ødegård", Email: "ase@example.no", Phone: "+4791234567", Locale: "nb"}}
	res, err := e.st.ImportContacts(ctx, c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery { return dispatcher.Plan(c.Policy, ct, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries[0]
	for _, tr := range []dispatcher.Transition{
		{From: []dispatcher.State{dispatcher.StatePending}, To: dispatcher.StateQueued},
		{From: []dispatcher.State{dispatcher.StateQueued}, To: dispatcher.StateSending, NewAttempt: "a1"},
		{From: []dispatcher.State{dispatcher.StateSending}, Attempt: "a1", To: dispatcher.StateBouncedHard, Code: "550 5.1.1", Diagnostic: "User unknown"},
	} {
		tr.DeliveryID, tr.At = d.ID, time.Now()
		if err := e.st.Transition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	var found LookupResult
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/contacts?q=%2B47+912+34+567", "", nil, &found); got != http.StatusOK {
		t.Fatalf("lookup: %d", got)
	}
	tls := found.People
	if found.By != "address" || found.Matched != 1 || len(tls) != 1 || tls[0].Contact.ExternalID != "P-77" || len(tls[0].Deliveries) != 1 {
		t.Fatalf("lookup result %+v", found)
	}
	dv := tls[0].Deliveries[0]
	if dv.Explanation != "mailbox does not exist at the receiving server" || len(dv.Events) != 4 {
		t.Errorf("delivery %+v; want the 5.1.1 explanation and 4 events", dv)
	}
	// The console page shows the same.
	page := readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/lookup?q=P-77", nil))
	for _, want := range []string{"Åse Ødegård", "mailbox does not exist at the receiving server", "550 5.1.1"} {
		if !strings.Contains(page, want) {
			t.Errorf("lookup page lacks %q", want)
		}
	}
	es, err := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "contact.lookup"})
	if err != nil || len(es) != 2 {
		t.Fatalf("audit entries %+v, %v; want 2 lookups", es, err)
	}
	if es[0].Subject != "P-77" || !regexp.MustCompile(`^shown contact \d+$`).MatchString(es[0].Detail) || es[0].Actor != "support-user" {
		t.Errorf("console lookup audited as %+v", es[0])
	}
	if es[1].Subject != "+47 912 34 567" || !strings.HasPrefix(es[1].Actor, "support-user (token") {
		t.Errorf("API lookup audited as %+v", es[1])
	}
	for _, p := range []string{"ase@example.no", "912 34 567", "+4791234567", "P-77", "Ødegård"} {
		if strings.Contains(e.logs.String(), p) {
			t.Errorf("logs contain personal data %q", p)
		}
	}
	// An empty search is a problem for the user, not an audit entry.
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/contacts?q=+", "", nil, nil); got != http.StatusBadRequest {
		t.Errorf("empty lookup: %d, want 400", got)
	}
}

func TestUnreachableCSVIsSafe(t *testing.T) {
	e := newTestEnv(t)
	c := e.campaign("csv")
	cs := []dispatcher.Contact{{ExternalID: "X1", Name: "=cmd|' /C calc'!A0", Locale: "nb"}}
	if _, err := e.st.ImportContacts(context.Background(), c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	res := e.do(dispatcher.RoleOperator, http.MethodGet, "/campaigns/csv/unreachable.csv", nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV download: %d %v", res.StatusCode, res.Header)
	}
	recs, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1][1] != "'=cmd|' /C calc'!A0" {
		t.Errorf("CSV rows %q; want the formula neutralised", recs)
	}
	if !strings.Contains(recs[1][7], "no valid e-mail address on record") {
		t.Errorf("reason %q does not say why", recs[1][7])
	}
}

func TestMetrics(t *testing.T) {
	e := newTestEnv(t, withBackend(t))
	c := e.campaign("metrics")
	cs := []dispatcher.Contact{{Name: "A", Email: "a@example.no"}, {Name: "B", Phone: "+4791234567"}}
	if _, err := e.st.ImportContacts(context.Background(), c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	e.do(dispatcher.RoleSupport, http.MethodGet, "/campaigns", nil)
	body := readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`herald_deliveries{campaign="metrics",channel="email",state="pending"} 1`,
		`herald_campaign_contacts{campaign="metrics",outcome="in_progress"} 2`,
		`herald_queue_tasks{channel="email",state="pending"} 0`,
		`herald_queue_latency_seconds{channel="sms"}`,
		`herald_http_requests_total{code="200",route="campaigns"} 1`,
		`herald_scrape_errors{source="ledger"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "a@example.no") || strings.Contains(body, "+4791234567") {
		t.Error("/metrics contains personal data")
	}
}

// TestLookupByName checks the support lookup by name: what a caller says,
// without accents and in any order, finds the person; a common name lists
// the best matches with how many there are; opening one shows the notices;
// each step is audited and nothing personal is logged.
func TestLookupByName(t *testing.T) {
	e := newTestEnv(t)
	c := e.campaign("names")
	ctx := context.Background()
	cs := []dispatcher.Contact{
		{ExternalID: "P-1", Name: "Bjørn Ødegård", Email: "bjorn.odegaard@example.no", Phone: "+4791234567", Locale: "nb"},
		{ExternalID: "P-2", Name: "Nguyễn Thị Minh Khai", Email: "khai@example.vn", Locale: "vi", Country: "VN"},
	}
	for i := range 25 {
		cs = append(cs, dispatcher.Contact{ExternalID: fmt.Sprintf("H-%d", i), Name: "Ole Hansen", Email: fmt.Sprintf("ole%d@example.no", i)})
	}
	if _, err := e.st.ImportContacts(ctx, c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery { return dispatcher.Plan(c.Policy, ct, time.Now()) }); err != nil {
		t.Fatal(err)
	}

	for _, q := range []string{"Bjorn Odegard", "odegard, bjorn", "ØDEGÅRD", "Odeg"} {
		var res LookupResult
		if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/contacts?q="+url.QueryEscape(q), "", nil, &res); got != http.StatusOK {
			t.Fatalf("lookup %q: %d", q, got)
		}
		if res.By != "name" || res.Matched != 1 || len(res.People) != 1 || res.People[0].Contact.ExternalID != "P-1" || len(res.People[0].Deliveries) == 0 {
			t.Errorf("lookup %q = %+v; want Bjørn Ødegård with his notices", q, res)
		}
	}
	var res LookupResult
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/contacts?q=nguyen+khai", "", nil, &res); got != http.StatusOK || len(res.People) != 1 {
		t.Errorf("lookup nguyen khai: %d, %+v", got, res)
	}
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/contacts?q=ole+hansen&limit=5", "", nil, &res); got != http.StatusOK ||
		res.Matched != 25 || len(res.People) != 5 || res.Refine == "" {
		t.Errorf("lookup ole hansen (limit 5): %d, matched %d, shown %d, refine %q", got, res.Matched, len(res.People), res.Refine)
	}
	for _, p := range res.People { // read together, each person's notices are their own
		if len(p.Deliveries) != 1 || p.Deliveries[0].Address != p.Contact.Email || len(p.Deliveries[0].Events) == 0 {
			t.Errorf("%s: deliveries %+v, want one e-mail to %s with its history", p.Contact.ExternalID, p.Deliveries, p.Contact.Email)
		}
	}
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/contacts?q=B", "", nil, nil); got != http.StatusBadRequest {
		t.Errorf("one-letter lookup: %d, want 400", got)
	}

	// The console lists the Ole Hansens and opens one.
	page := readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/lookup?q=hansen+ole", nil))
	for _, want := range []string{"25 people match", "Showing the best 20", `id="matches"`, "Show notices"} {
		if !strings.Contains(page, want) {
			t.Errorf("name lookup page lacks %q", want)
		}
	}
	if strings.Contains(page, `class="card person"`) {
		t.Error("the list of 25 people shows timelines")
	}
	m := regexp.MustCompile(`/lookup\?q=hansen%20ole&amp;contact=(\d+)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link to open a person:\n%s", page)
	}
	page = readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/lookup?q=hansen+ole&contact="+m[1], nil))
	if !strings.Contains(page, `class="card person"`) || !strings.Contains(page, "Back to everyone matching") {
		t.Errorf("opened person page:\n%s", page)
	}
	page = readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/lookup?q=bjorn+odegard", nil))
	if !strings.Contains(page, "Bjørn Ødegård") || !strings.Contains(page, `class="card person"`) {
		t.Errorf("one match by name does not show the timeline at once")
	}

	es, err := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "contact.lookup"})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, en := range es {
		details = append(details, en.Subject+" | "+en.Detail)
	}
	all := strings.Join(details, "\n")
	for _, want := range []string{"Bjorn Odegard | name search, 1 matched: shown contact", "hansen ole | name search, 25 matched: shown contacts",
		"hansen ole | opened from the search: shown contact " + m[1]} {
		if !strings.Contains(all, want) {
			t.Errorf("audit log lacks %q:\n%s", want, all)
		}
	}
	for _, p := range []string{"Ødegård", "odegard", "Hansen", "hansen", "Nguyễn"} {
		if strings.Contains(e.logs.String(), p) {
			t.Errorf("logs contain personal data %q", p)
		}
	}
}
