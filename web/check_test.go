package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/starter"
)

// importPeople imports n contacts into c; every third has no "avdeling".
func (e *testEnv) importPeople(c *dispatcher.Campaign, n int) {
	e.t.Helper()
	var cs []dispatcher.Contact
	for i := range n {
		ct := dispatcher.Contact{Name: fmt.Sprintf("Kari Nordmann %d", i), Email: fmt.Sprintf("kari%d@example.no", i), Phone: fmt.Sprintf("+479100%04d", i),
			Locale: "nb", SourceRow: i + 2, Attrs: map[string]string{"avdeling": "Oslo"}}
		if i%3 == 1 {
			ct.Attrs = map[string]string{}
		}
		cs = append(cs, ct)
	}
	if _, err := e.st.ImportContacts(context.Background(), c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, time.Now())
	}); err != nil {
		e.t.Fatal(err)
	}
}

// starterCampaign is a draft with the Norwegian starter notices, their
// «placeholders» not filled in.
func (e *testEnv) starterCampaign(name string) *dispatcher.Campaign {
	e.t.Helper()
	ts, err := starter.Templates("nb")
	if err != nil {
		e.t.Fatal(err)
	}
	c := &dispatcher.Campaign{Name: name, IncidentRef: "INC-9", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
		Sender: dispatcher.Sender{FromName: "Klinikk", FromEmail: "personvern@klinikk.example", SMSFrom: "Klinikk"}}
	if err := e.st.CreateCampaign(context.Background(), c, ts); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// TestLaunchRunsTheCheck: the console's launch runs the campaign check
// first. Starter notices with «placeholders» and people without a value
// the notice uses are refused, with the findings in words, counts and
// example rows; launching anyway takes a separate confirmation with its
// own token and a reason, audited as a forced launch with the findings.
// A campaign whose notices all render launches at once.
func TestLaunchRunsTheCheck(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.starterCampaign("plassholdere")
	// a notice that uses a column some rows lack
	if err := e.st.PutTemplate(ctx, &dispatcher.Template{CampaignID: c.ID, Channel: dispatcher.SMS, Locale: "nb",
		Text: "Hei {{.FirstName}} i {{index .Attrs \"avdeling\"}}: se e-posten fra Klinikk om datainnbruddet."}); err != nil {
		t.Fatal(err)
	}
	e.importPeople(c, 30)
	op := e.sessionClient(dispatcher.RoleOperator)

	res, _ := op.do(http.MethodPost, "/campaigns/plassholdere/launch", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/campaigns/plassholdere/check?from=launch" {
		t.Fatalf("launch of a campaign with placeholders: %d → %s", res.StatusCode, res.Header.Get("Location"))
	}
	if st := e.status(c); st != dispatcher.CampaignDraft {
		t.Fatalf("campaign is %s after a refused launch", st)
	}
	_, page := op.do(http.MethodGet, "/campaigns/plassholdere/check?from=launch", nil)
	text := html.UnescapeString(page)
	for _, want := range []string{"Not launched: the check found problems", "Placeholder left", "still has the starter text «",
		"Missing value", `10 people would get an SMS in nb without the column "avdeling"`, "3, 6, 9, 12, 15, 18, 21, 24, 27, 30",
		"Launch anyway", `name="confirm_token"`} {
		if !strings.Contains(text, want) {
			t.Errorf("check page lacks %q", want)
		}
	}
	if strings.Contains(text, "Kari Nordmann") || strings.Contains(text, "kari1@example.no") {
		t.Errorf("the check page shows a person's data")
	}
	checks := e.audits("campaign.check")
	if len(checks) != 1 || checks[0].Actor != "operator-user" || !strings.HasPrefix(checks[0].Detail, "problems: 30 contacts checked") {
		t.Errorf("audit of the check: %+v", checks)
	}

	// The launch-anyway form: its own token, bound to these findings.
	m := regexp.MustCompile(`name="check" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no check id in the launch-anyway form")
	}
	runID := m[1]
	tok := confirmToken(op.sess, c.ID, runID)
	if !strings.Contains(page, tok) {
		t.Fatal("the form's token is not the one for this session, campaign and check")
	}
	form := func(token, reason, confirm string) url.Values {
		return url.Values{"check": {runID}, "confirm_token": {token}, "reason": {reason}, "confirm": {confirm}}
	}
	for _, tt := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"session CSRF token as confirmation", form(op.csrf, "ok", "1"), http.StatusBadRequest, "does not belong to the findings"},
		{"another session's token", form(confirmToken(e.sessionClient(dispatcher.RoleOperator).sess, c.ID, runID), "ok", "1"), http.StatusBadRequest, "does not belong"},
		{"no reason", form(tok, "  ", "1"), http.StatusBadRequest, "say why the campaign goes out"},
		{"not ticked", form(tok, "the placeholders are intended", ""), http.StatusBadRequest, "tick the box"},
	} {
		res, body := op.do(http.MethodPost, "/campaigns/plassholdere/launch-anyway", tt.form)
		if res.StatusCode != tt.status || !strings.Contains(html.UnescapeString(body), tt.says) {
			t.Errorf("%s: %d, want %d saying %q", tt.name, res.StatusCode, tt.status, tt.says)
		}
		if st := e.status(c); st != dispatcher.CampaignDraft {
			t.Fatalf("%s launched the campaign", tt.name)
		}
	}
	// Findings that no longer hold (a notice was edited) cannot be confirmed.
	if err := e.st.PutTemplate(ctx, &dispatcher.Template{CampaignID: c.ID, Channel: dispatcher.SMS, Locale: "nb",
		Text: "Hei {{.FirstName}}: se e-posten fra Klinikk om datainnbruddet."}); err != nil {
		t.Fatal(err)
	}
	if res, body := op.do(http.MethodPost, "/campaigns/plassholdere/launch-anyway", form(tok, "ok", "1")); res.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "changed, since the findings you confirmed") {
		t.Errorf("confirming out-of-date findings: %d", res.StatusCode)
	}
	_, page = op.do(http.MethodGet, "/campaigns/plassholdere/check", nil)
	if !strings.Contains(page, "no longer counts for a launch") || strings.Contains(page, `name="confirm_token"`) {
		t.Errorf("an out-of-date check is not marked as such, or can still be confirmed")
	}
	// Check again: only the placeholders are left.
	if res, _ := op.do(http.MethodPost, "/campaigns/plassholdere/check", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("check again: %d", res.StatusCode)
	}
	_, page = op.do(http.MethodGet, "/campaigns/plassholdere/check", nil)
	if strings.Contains(page, "Missing value") || !strings.Contains(page, "Placeholder left") {
		t.Errorf("after the fix the check still shows the missing value, or lost the placeholders")
	}
	runID = regexp.MustCompile(`name="check" value="([^"]+)"`).FindStringSubmatch(page)[1]
	res, _ = op.do(http.MethodPost, "/campaigns/plassholdere/launch-anyway", url.Values{"check": {runID}, "confirm_token": {confirmToken(op.sess, c.ID, runID)},
		"reason": {"«placeholders» reviewed by the DPO: sent as is"}, "confirm": {"1"}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "?done=launch_forced") {
		t.Fatalf("launch anyway: %d → %s", res.StatusCode, res.Header.Get("Location"))
	}
	if st := e.status(c); st != dispatcher.CampaignRunning {
		t.Fatalf("campaign is %s after launch anyway", st)
	}
	forced := e.audits("campaign.launch_forced")
	if len(forced) != 1 || forced[0].Actor != "operator-user" || !strings.Contains(forced[0].Detail, "problems: 30 contacts checked") ||
		!strings.Contains(forced[0].Detail, "placeholder in email/nb: fill in «") || !strings.Contains(forced[0].Detail, "reason given: «placeholders» reviewed by the DPO") {
		t.Errorf("audit of the forced launch: %+v", forced)
	}
	if res, _ := op.do(http.MethodPost, "/campaigns/plassholdere/launch-anyway", url.Values{"check": {runID}, "confirm_token": {confirmToken(op.sess, c.ID, runID)},
		"reason": {"again"}, "confirm": {"1"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("launch anyway of a running campaign: %d, want 409", res.StatusCode)
	}

	// A campaign whose notices render launches at once, audited with
	// the check's summary.
	good := e.campaign("ferdig")
	e.importPeople(good, 5)
	res, _ = op.do(http.MethodPost, "/campaigns/ferdig/launch", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/campaigns/ferdig?done=launch" || e.status(good) != dispatcher.CampaignRunning {
		t.Fatalf("launch of a good campaign: %d → %s (%s)", res.StatusCode, res.Header.Get("Location"), e.status(good))
	}
	launched := e.audits("campaign.launch")
	if len(launched) != 1 || launched[0].Subject != "ferdig" || !strings.Contains(launched[0].Detail, "passed: 5 contacts checked; notices rendered: email 5, sms 5; no problems") {
		t.Errorf("audit of the checked launch: %+v", launched)
	}
	if strings.Contains(e.logs.String(), "Kari Nordmann") || strings.Contains(e.logs.String(), "DPO") {
		t.Errorf("logs carry a person's name or the operator's reason")
	}
}

// TestLaunchGoesByACurrentCheck: a passed check is used while the
// campaign is as checked; an edited notice, new contacts or changed
// settings make it out of date, and the launch checks again.
func TestLaunchGoesByACurrentCheck(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for i, change := range []func(c *dispatcher.Campaign){
		nil,
		func(c *dispatcher.Campaign) {
			_ = e.st.PutTemplate(ctx, &dispatcher.Template{CampaignID: c.ID, Channel: dispatcher.SMS, Locale: "en", Text: "{{.FirstName}}: see your e-mail."})
		},
		func(c *dispatcher.Campaign) { e.importPeople(c, 1) },
		func(c *dispatcher.Campaign) {
			_, _ = dispatcher.ChangeCampaign(ctx, e.st, c.ID, func(c *dispatcher.Campaign) error { c.Settings.QuietHours = "off"; return nil })
		},
	} {
		c := e.campaign(fmt.Sprintf("gyldig-%d", i))
		op := e.sessionClient(dispatcher.RoleOperator)
		if res, _ := op.do(http.MethodPost, "/campaigns/"+c.Name+"/check", nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("check: %d", res.StatusCode)
		}
		if change != nil {
			change(c)
		}
		res, _ := op.do(http.MethodPost, "/campaigns/"+c.Name+"/launch", nil)
		if res.StatusCode != http.StatusSeeOther || e.status(c) != dispatcher.CampaignRunning {
			t.Fatalf("case %d: launch %d, campaign %s", i, res.StatusCode, e.status(c))
		}
		n := 0
		for _, a := range e.audits("campaign.check") {
			if a.Subject == c.Name {
				n++
			}
		}
		if want := map[bool]int{true: 1, false: 2}[change == nil]; n != want {
			t.Errorf("case %d: %d checks for one launch, want %d", i, n, want)
		}
	}
}

// gate blocks campaign checks until released, for tests that need one
// running. It is installed before the server handles a request and
// switched on and off, so that no check reads a hook being changed.
type gate struct {
	on      atomic.Bool
	started chan struct{}
	release chan struct{}
}

func newGate(srv *Server) *gate {
	g := &gate{started: make(chan struct{}, 1000), release: make(chan struct{})}
	g.on.Store(true)
	srv.checkHook = func(ctx context.Context) {
		if !g.on.Load() {
			return
		}
		select {
		case g.started <- struct{}{}:
		default:
		}
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	return g
}

// TestAPILaunch: the API's launch answers 202 while the check runs, 200
// when it passed and the campaign launched, 422 with the findings when it
// found problems, 409 for a campaign that is not a draft; ?force=true
// launches past the check, audited with the findings and the reason.
func TestAPILaunch(t *testing.T) {
	e := newTestEnv(t)
	e.srv.checkWait = 200 * time.Millisecond
	g := newGate(e.srv)
	c := e.campaign("api-launch")
	e.importPeople(c, 3)

	var lr LaunchResult
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-launch/launch", "", nil, &lr); got != http.StatusAccepted ||
		lr.Launched || lr.Check == nil || lr.Check.State != checkRunning || lr.Check.Contacts != 0 && lr.Check.Contacts != 3 {
		t.Fatalf("launch while the check runs: %d %+v", got, lr)
	}
	<-g.started
	var cv CheckView
	if got := e.api(dispatcher.RoleOperator, http.MethodGet, "/api/v1/campaigns/api-launch/check", "", nil, &cv); got != http.StatusOK || cv.State != checkRunning || cv.Current {
		t.Errorf("GET check while running: %d %+v", got, cv)
	}
	// A second launch joins the running check instead of starting another.
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-launch/launch", "", nil, &lr); got != http.StatusAccepted || lr.Check.ID != cv.ID {
		t.Errorf("second launch while checking: %d, check %s (running %s)", got, lr.Check.ID, cv.ID)
	}
	close(g.release)
	deadline := time.Now().Add(10 * time.Second)
	for cv.State != checkPassed && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		e.api(dispatcher.RoleOperator, http.MethodGet, "/api/v1/campaigns/api-launch/check", "", nil, &cv)
	}
	if !cv.Current || cv.Checked != 3 || cv.Notices[dispatcher.Email] != 3 {
		t.Fatalf("check after release: %+v", cv)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-launch/launch", "", nil, &lr); got != http.StatusOK || !lr.Launched || lr.Campaign.Status != dispatcher.CampaignRunning {
		t.Fatalf("launch after the check passed: %d %+v", got, lr)
	}
	if got := e.apiRaw(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-launch/launch", ""); got.status != http.StatusConflict {
		t.Errorf("launch of a running campaign: %d", got.status)
	}

	// Problems: 422 with the findings; force launches past them.
	bad := e.starterCampaign("api-placeholders")
	e.importPeople(bad, 4)
	raw := e.apiRaw(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-placeholders/launch", "")
	if err := json.Unmarshal(raw.body, &lr); err != nil || raw.status != http.StatusUnprocessableEntity || lr.Launched || lr.Error == "" ||
		lr.Check == nil || lr.Check.State != checkProblems || !lr.Check.Current || len(lr.Check.Problems) == 0 {
		t.Fatalf("launch with placeholders: %d %s", raw.status, raw.body)
	}
	p := lr.Check.Problems[0]
	if p.Kind != dispatcher.ProblemPlaceholder || !strings.Contains(p.Explanation, "starter text") || !strings.Contains(lr.Message, "?force=true") {
		t.Errorf("finding %+v, message %q", p, lr.Message)
	}
	if e.status(bad) != dispatcher.CampaignDraft {
		t.Fatal("refused launch changed the campaign")
	}
	if got := e.apiRaw(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-placeholders/launch?force=perhaps", ""); got.status != http.StatusBadRequest {
		t.Errorf("force=perhaps: %d", got.status)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-placeholders/launch?force=true&reason="+url.QueryEscape("approved in ticket 77"), "", nil, &lr); got != http.StatusOK ||
		!lr.Launched || !lr.Forced {
		t.Fatalf("forced launch: %d %+v", got, lr)
	}
	forced := e.audits("campaign.launch_forced")
	if len(forced) != 1 || !strings.Contains(forced[0].Actor, "operator-user (token test)") || !strings.Contains(forced[0].Detail, "problems: 4 contacts checked") ||
		!strings.Contains(forced[0].Detail, "reason given: approved in ticket 77") {
		t.Errorf("audit of the forced launch: %+v", forced)
	}

	// The check on its own, without launching.
	plain := e.campaign("api-check-only")
	if got := e.apiRaw(dispatcher.RoleOperator, http.MethodGet, "/api/v1/campaigns/api-check-only/check", ""); got.status != http.StatusNotFound {
		t.Errorf("GET check of an unchecked campaign: %d", got.status)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/api-check-only/check", "", nil, &cv); got != http.StatusOK || cv.State != checkPassed || !cv.Current {
		t.Errorf("POST check: %d %+v", got, cv)
	}
	if e.status(plain) != dispatcher.CampaignDraft {
		t.Errorf("a check launched the campaign")
	}
}

// TestCheckSharedByReplicas: a check running on one server is seen, with
// its progress, by another sharing Redis, whose launch waits for it
// rather than starting a second; a check whose server stopped counts as
// interrupted, and another server may then check again.
func TestCheckSharedByReplicas(t *testing.T) {
	rdb, prefix := sharedRedis(t)
	e := newTestEnv(t, func(c *Config) { c.Redis, c.RedisPrefix = rdb, prefix })
	clock := &testClock{t: time.Now()}
	other, ots := e.replica(rdb, prefix, clock.now)
	t.Cleanup(func() { _ = other.Close() })
	e.srv.checkWait, other.checkWait = 200*time.Millisecond, 200*time.Millisecond
	g := newGate(e.srv)
	c := e.campaign("replikert")
	e.importPeople(c, 2)

	var cv CheckView
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/campaigns/replikert/check", "", nil, &cv); got != http.StatusAccepted {
		t.Fatalf("start check: %d", got)
	}
	<-g.started
	// The other replica's launch joins the running check.
	req, _ := http.NewRequest(http.MethodPost, ots.URL+"/api/v1/campaigns/replikert/launch", nil)
	req.Header.Set("Authorization", "Bearer "+e.token(dispatcher.RoleOperator))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var lr LaunchResult
	_ = json.NewDecoder(res.Body).Decode(&lr)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || lr.Check == nil || lr.Check.ID != cv.ID {
		t.Fatalf("launch on the other replica: %d %+v (running %s)", res.StatusCode, lr.Check, cv.ID)
	}
	// Its server stops: the check is interrupted, and the other replica
	// checks again when asked to launch.
	_ = e.srv.Close()
	run, err := other.checks.get(context.Background(), c.ID)
	if err != nil || run == nil || run.state(clock.now()) != checkInterrupted {
		t.Fatalf("the stopped server's check: %+v %v", run, err)
	}
	if res, err := other.launch(context.Background(), &principal{user: e.users[dispatcher.RoleOperator]}, c); err != nil || !res.Launched || res.Run.ID == run.ID {
		t.Fatalf("launch on the other replica after the first stopped: %+v %v", res, err)
	}
}

// TestCheckRunState: a run not heard from for checkDeadAfter (its server
// died without a word) counts as interrupted.
func TestCheckRunState(t *testing.T) {
	now := time.Now()
	run := &checkRun{State: checkRunning, BeatAt: now.Add(-checkDeadAfter / 2)}
	if run.state(now) != checkRunning || !run.active(now) {
		t.Errorf("a recent run is %s", run.state(now))
	}
	run.BeatAt = now.Add(-2 * checkDeadAfter)
	if run.state(now) != checkInterrupted || run.active(now) {
		t.Errorf("a silent run is %s", run.state(now))
	}
	run.State = checkPassed
	if run.state(now) != checkPassed {
		t.Errorf("a finished run is %s", run.state(now))
	}
}

func TestLowerFirst(t *testing.T) {
	for in, want := range map[string]string{"": "", "Every notice": "every notice", "Ødegård": "ødegård", "É": "é", "7 problems": "7 problems"} {
		if got := lowerFirst(in); got != want {
			t.Errorf("lowerFirst(%q) = %q, want %q", in, got, want)
		}
	}
}
