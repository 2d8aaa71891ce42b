package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/dispatcher"
)

// This file is the campaign check's pages and API calls, and the launch
// that goes by it (see checkrun.go for how a check runs).

// CheckFinding is one kind of problem the check found, with what it
// means and what to do, in words.
type CheckFinding struct {
	dispatcher.CheckProblem
	Explanation string `json:"explanation"`
}

// CheckView is a run of the campaign check as the API and the console
// show it.
type CheckView struct {
	ID       string `json:"id"`
	Campaign string `json:"campaign"`
	// State is queued (waiting for another campaign's check), running,
	// passed, problems, failed (the check could not finish) or
	// interrupted (its server stopped).
	State string `json:"state"`
	// Current is set when the check finished and the campaign's
	// settings, notices and contacts are still those it checked: a
	// launch goes by it.
	Current    bool       `json:"current"`
	Summary    string     `json:"summary"` // the outcome in words
	StartedBy  string     `json:"started_by"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Checked is how many contacts are checked so far; Contacts how
	// many the campaign had when the check began (0 when unknown).
	Checked  int64   `json:"checked"`
	Contacts int64   `json:"contacts"`
	Percent  float64 `json:"percent"`
	// ETASeconds estimates the time left while the check runs.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// Notices rendered per channel, and the SMS volume.
	Notices     map[dispatcher.ChannelKind]int `json:"notices,omitempty"`
	SMSSegments int                            `json:"sms_segments,omitempty"`
	SMSUCS2     int                            `json:"sms_ucs2,omitempty"`
	Problems    []CheckFinding                 `json:"problems"`
	// ProblemNotices sums the problems' counts.
	ProblemNotices int `json:"problem_notices"`
}

// checkView describes run at now.
func checkView(run *checkRun, current bool, now time.Time) *CheckView {
	v := &CheckView{ID: run.ID, Campaign: run.Campaign, State: run.state(now), Current: current && run.finished(),
		StartedBy: run.By, StartedAt: run.StartedAt, Checked: run.Checked, Contacts: run.Contacts, Problems: []CheckFinding{}}
	if !run.FinishedAt.IsZero() {
		t := run.FinishedAt
		v.FinishedAt = &t
	}
	if v.Contacts > 0 {
		v.Percent = min(100, float64(v.Checked)/float64(v.Contacts)*100)
	}
	if v.State == checkRunning && v.Checked > 0 && v.Contacts > v.Checked {
		if took := now.Sub(run.StartedAt).Seconds(); took > 0 {
			eta := float64(v.Contacts-v.Checked) / (float64(v.Checked) / took)
			v.ETASeconds = &eta
		}
	}
	if r := run.Report; r != nil {
		v.Notices, v.SMSSegments, v.SMSUCS2 = r.Notices, r.SMSSegments, r.SMSUCS2
		for _, p := range r.Problems {
			v.Problems = append(v.Problems, CheckFinding{CheckProblem: p, Explanation: explainProblem(p)})
			v.ProblemNotices += p.Count
		}
	}
	v.Summary = checkSummary(v)
	return v
}

// checkSummary says in a sentence where a check stands.
func checkSummary(v *CheckView) string {
	switch v.State {
	case checkQueued:
		return "Waiting for another campaign's check on this server to finish."
	case checkRunning:
		if v.Contacts > 0 {
			return fmt.Sprintf("Checking: %s of %s people so far.", fmtNum(v.Checked), fmtNum(v.Contacts))
		}
		return fmt.Sprintf("Checking: %s people so far.", fmtNum(v.Checked))
	case checkFailed:
		return "The check could not finish: the ledger did not answer. Run it again; if it fails again, the server log says why."
	case checkInterrupted:
		return "The check was interrupted (the server running it stopped). Run it again."
	}
	var notices []string
	for _, k := range []dispatcher.ChannelKind{dispatcher.Email, dispatcher.File, dispatcher.SMS, dispatcher.Postal} {
		if n, ok := v.Notices[k]; ok {
			notices = append(notices, fmt.Sprintf("%s %s", fmtNum(int64(n)), channelNoun(k, n)))
		}
	}
	checked := "no contacts imported yet, so only the templates were checked"
	if v.Checked > 0 {
		checked = people(int(v.Checked)) + " checked, no notice renders"
		if len(notices) > 0 {
			checked = people(int(v.Checked)) + " checked, " + strings.Join(notices, " and ") + " render"
		}
	}
	if v.State == checkPassed {
		return fmt.Sprintf("Every notice renders: %s.", checked)
	}
	kinds := "1 kind of problem"
	if len(v.Problems) != 1 {
		kinds = fmt.Sprintf("%d kinds of problem", len(v.Problems))
	}
	return fmt.Sprintf("The check found %s (%s).", kinds, checked)
}

// channelNoun names n notices of channel k.
func channelNoun(k dispatcher.ChannelKind, n int) string {
	one, many := string(k)+" notice", string(k)+" notices"
	switch k {
	case dispatcher.Email, dispatcher.File:
		one, many = "e-mail", "e-mails"
	case dispatcher.SMS:
		one, many = "SMS", "SMS"
	case dispatcher.Postal:
		one, many = "letter", "letters"
	}
	if n == 1 {
		return one
	}
	return many
}

// people is "1 person" or "n people".
func people(n int) string {
	if n == 1 {
		return "1 person"
	}
	return fmtNum(int64(n)) + " people"
}

// variableWords names a template variable as an operator knows it: an
// import column, or a field of the contact.
func variableWords(v string) string {
	if col, ok := strings.CutPrefix(v, "Attrs."); ok {
		return fmt.Sprintf("the column %q", col)
	}
	return "{{." + v + "}}"
}

// explainProblem says what one kind of problem means and what to do.
func explainProblem(p dispatcher.CheckProblem) string {
	notice := channelNoun(p.Channel, 1)
	article := "a"
	if p.Channel == dispatcher.Email || p.Channel == dispatcher.File || p.Channel == dispatcher.SMS {
		article = "an" // an e-mail, an SMS
	}
	lang := p.Locale
	if lang == "" {
		lang = "every language"
	}
	switch p.Kind {
	case dispatcher.ProblemPlaceholder:
		ph := strings.TrimPrefix(p.Detail, "fill in ")
		return fmt.Sprintf("The %s in %s still has the starter text %s: write your own words in its place on the Templates page.", notice, lang, ph)
	case dispatcher.ProblemMissingVariable:
		return fmt.Sprintf("%s would get %s %s in %s without %s: their rows have no value for it. Fill it in and import the list again, or take it out of the notice.",
			people(p.Count), article, notice, lang, variableWords(p.Detail))
	case dispatcher.ProblemNoTemplate:
		return fmt.Sprintf("%s would get no %s: there is none in their language (%s) nor in the campaign's default language. Add one on the Templates page.", people(p.Count), notice, lang)
	case dispatcher.ProblemEmpty:
		return fmt.Sprintf("%s would get an empty %s in %s (%s). Check the template's conditions on the Templates page.", people(p.Count), notice, lang, strings.TrimPrefix(p.Detail, "the "))
	case dispatcher.ProblemNoTextPart:
		return fmt.Sprintf("%s would get an e-mail in %s whose text part is empty while its HTML part is not: many mail programs and spam filters need the text. Fill in the text part.", people(p.Count), lang)
	case dispatcher.ProblemSMSTooLong:
		return fmt.Sprintf("%s would get an SMS in %s longer than the campaign allows (%s): each part is billed and some phones show them out of order. Shorten the SMS.", people(p.Count), lang, p.Detail)
	case dispatcher.ProblemRender:
		return fmt.Sprintf("The %s in %s does not render for %s: %s. Correct the template.", notice, lang, people(p.Count), p.Detail)
	}
	return fmt.Sprintf("%s: %s (%s).", p.Kind, p.Detail, people(p.Count))
}

// checkPageView is the check page.
type checkPageView struct {
	C          CampaignView
	Check      *CheckView // nil when no check has run
	Draft      bool
	FromLaunch bool // the page was opened by a launch that did not happen
	// Confirm is the launch-anyway form's token, for a current check
	// with problems.
	Confirm string
	// Reason and Confirmed are what the launch-anyway form sent back,
	// when it is shown again with Problem.
	Reason    string
	Confirmed bool
	Problem   string

	run     *checkRun // what Check shows, for a launch that goes by it
	current bool
}

// checkPageData builds the check page of campaign c.
func (s *Server) checkPageData(r *http.Request, c *dispatcher.Campaign) (*checkPageView, error) {
	ctx := r.Context()
	run, current, err := s.latestCheck(ctx, c)
	if err != nil {
		return nil, err
	}
	v := &checkPageView{C: campaignView(c), Draft: c.Status == dispatcher.CampaignDraft, FromLaunch: r.URL.Query().Get("from") == "launch",
		run: run, current: current}
	if run != nil {
		v.Check = checkView(run, current, s.cfg.Now())
		if p := principalOf(ctx); v.Check.Current && run.State == checkProblems && p != nil && p.session != nil {
			v.Confirm = confirmToken(p.session, c.ID, run.ID)
		}
	}
	return v, nil
}

func (s *Server) checkPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v, err := s.checkPageData(r, c)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "check", pageData{Title: "Check · " + c.Name, Nav: "campaigns", Flash: flashes[r.URL.Query().Get("done")], Data: v})
}

// checkStart starts the check (or joins the one running) and shows its
// page: with the result when it finished within checkWait.
func (s *Server) checkStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	run, err := s.startCheck(ctx, principalOf(ctx), c)
	if err == nil {
		_, err = s.waitCheck(ctx, run, s.checkWait)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"/check", http.StatusSeeOther)
}

// launchPage launches a draft campaign whose current check passed, or
// runs the check first; a campaign the check refuses, or whose check is
// still running, is not launched and its check page says why.
func (s *Server) launchPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	res, err := s.launch(ctx, principalOf(ctx), c)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if res.Launched {
		http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"?done=launch", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"/check?from=launch", http.StatusSeeOther)
}

// launchAnyway is the separate confirmation that launches a campaign past
// the problems its current check found: the form carries its own token,
// bound to the findings shown, and the operator's reason, both audited.
func (s *Server) launchAnyway(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalOf(ctx)
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err == nil && c.Status != dispatcher.CampaignDraft {
		err = dispatcher.Errorf(dispatcher.ECONFLICT, "cannot launch campaign %s: it is %s", c.Name, c.Status)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	runID := r.PostFormValue("check")
	if !validConfirm(p.session, c.ID, runID, r.PostFormValue("confirm_token")) {
		s.pageFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "This confirmation does not belong to the findings of campaign %s shown to you: open its check page, read the findings and confirm there. (Scripts use the API's ?force=true.)", c.Name))
		return
	}
	v, err := s.checkPageData(r, c)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v.Reason, v.Confirmed = strings.TrimSpace(r.PostFormValue("reason")), r.PostFormValue("confirm") != ""
	d := pageData{Title: "Check · " + c.Name, Nav: "campaigns", Data: v}
	switch {
	case v.Check == nil || v.Check.ID != runID || !v.Check.Current || v.Check.State != checkProblems:
		d.Error = "Not launched: the campaign was checked again, or changed, since the findings you confirmed. Read the findings below and confirm again."
		s.render(w, r, http.StatusConflict, "check", d)
		return
	case !v.Confirmed || v.Reason == "":
		d.Error = "Not launched: say why the campaign goes out despite these problems, and tick the box to confirm."
		v.Problem = "Give the reason and tick the box, then launch anyway."
		s.render(w, r, http.StatusBadRequest, "check", d)
		return
	}
	if err := s.launchForced(ctx, p, c, v.run, v.current, v.Reason); err != nil {
		if dispatcher.ErrorCode(err) == dispatcher.EINVALID {
			d.Error, v.Problem = "Not launched: "+userMessage(err), userMessage(err)
			s.render(w, r, http.StatusBadRequest, "check", d)
			return
		}
		s.pageFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"?done=launch_forced", http.StatusSeeOther)
}

// ---- API ----

// LaunchResult is the answer to a launch through the API.
type LaunchResult struct {
	Error    string       `json:"error,omitempty"` // the HTTP status text when not launched
	Launched bool         `json:"launched"`
	Forced   bool         `json:"forced,omitempty"`
	Message  string       `json:"message"`
	Campaign CampaignView `json:"campaign"`
	// Check is the check the launch went by, or the one it waits for;
	// with problems it lists them (absent when forced without a check).
	Check *CheckView `json:"check,omitempty"`
}

// apiLaunch launches a draft campaign: 200 when launched, 202 while its
// check runs, 422 with the findings when the check found problems, 409
// when the campaign is not a draft or changed during its check.
// ?force=true launches past the check (audited, with &reason=).
func (s *Server) apiLaunch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalOf(ctx)
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	q := r.URL.Query()
	force := false
	if v := q.Get("force"); v != "" {
		if force, err = strconv.ParseBool(v); err != nil {
			s.apiFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "force=%q: give force=true to launch past the campaign check", v))
			return
		}
	}
	if force {
		run, current, err := s.latestCheck(ctx, c)
		if err == nil {
			err = s.launchForced(ctx, p, c, run, current, strings.TrimSpace(q.Get("reason")))
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := LaunchResult{Launched: true, Forced: true, Message: "Campaign launched past its check: notices are being sent. The launch is recorded in the audit log as forced, with what the check found.", Campaign: campaignView(c)}
		if run != nil {
			out.Check = checkView(run, current, s.cfg.Now())
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	res, err := s.launch(ctx, p, c)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v := checkView(res.Run, res.Current, s.cfg.Now())
	out := LaunchResult{Launched: res.Launched, Campaign: campaignView(c), Check: v}
	status := http.StatusOK
	switch {
	case res.Launched:
		out.Message = "Campaign launched: notices are being sent. " + v.Summary
	case res.Run.active(s.cfg.Now()):
		status = http.StatusAccepted
		out.Message = "Not launched yet: the campaign check is running. " + v.Summary + " Ask again when it has passed; GET the check to follow it."
		w.Header().Set("Location", "/api/v1/campaigns/"+url.PathEscape(c.Name)+"/check")
		w.Header().Set("Retry-After", "5")
	case res.Current && res.Run.State == checkProblems:
		status = http.StatusUnprocessableEntity
		out.Message = "Not launched: " + lowerFirst(v.Summary) + " Fix the templates or the contact list and launch again, or launch with ?force=true&reason=… to send anyway."
	default:
		status = http.StatusConflict
		out.Message = "Not launched: " + lowerFirst(v.Summary)
		if res.Run.State == checkPassed || res.Run.State == checkProblems {
			out.Message = "Not launched: the campaign changed while it was checked (settings, notices or contacts). Launch again to check it as it is now."
		}
	}
	if !res.Launched {
		out.Error = http.StatusText(status)
	}
	writeJSON(w, status, out)
}

// apiCheck shows the latest check of a campaign.
func (s *Server) apiCheck(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	run, current, err := s.latestCheck(ctx, c)
	if err == nil && run == nil {
		err = dispatcher.Errorf(dispatcher.ENOTFOUND, "campaign %s has not been checked (or its check is more than a day old): POST to this address to check it", c.Name)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, checkView(run, current, s.cfg.Now()))
}

// apiCheckStart starts a check (or joins the one running) and answers
// with its result when it finishes within checkWait (200), else with its
// progress (202).
func (s *Server) apiCheckStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	run, err := s.startCheck(ctx, principalOf(ctx), c)
	if err == nil {
		run, err = s.waitCheck(ctx, run, s.checkWait)
	}
	if err == nil && run == nil {
		err = dispatcher.Errorf(dispatcher.ECONFLICT, "the check of campaign %s was lost (its record in Redis is gone): start it again", c.Name)
	}
	var current bool
	if err == nil {
		current, err = s.isCurrent(ctx, c, run)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	status := http.StatusOK
	if run.active(s.cfg.Now()) {
		status = http.StatusAccepted
		w.Header().Set("Location", "/api/v1/campaigns/"+url.PathEscape(c.Name)+"/check")
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, checkView(run, current, s.cfg.Now()))
}

// dashboardCheck is the latest check of a draft campaign for its
// dashboard; nil for other campaigns or when none ran.
func (s *Server) dashboardCheck(ctx context.Context, c *dispatcher.Campaign) (*CheckView, error) {
	if c.Status != dispatcher.CampaignDraft {
		return nil, nil
	}
	run, current, err := s.latestCheck(ctx, c)
	if err != nil || run == nil {
		return nil, err
	}
	return checkView(run, current, s.cfg.Now()), nil
}

// lowerFirst lowers the first letter of a sentence that follows a colon.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
