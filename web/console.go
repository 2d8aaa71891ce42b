package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/starter"
)

// pageFail shows err on an error page: known codes with their message,
// anything else logged and shown without detail.
func (s *Server) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	s.fail(w, r, &route{Name: "page", kind: kindPage}, err)
}

// localPath keeps a post-sign-in redirect on this site: a path, never
// //host or a scheme.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) {
		return "/campaigns"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/campaigns"
	}
	return next
}

// attachment is a Content-Disposition for a download named name.
func attachment(name string) string {
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}

type loginView struct {
	Next  string
	Name  string
	Token string
}

// loginForm shows the sign-in form with a fresh login CSRF token: before
// a session exists the token is tied to a short-lived cookie instead
// (double submit), which stops another site signing a victim in.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if p, _ := s.authenticate(w, r); p != nil && p.session != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.showLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, name, problem string) {
	tok, err := RandomSecret(24)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.loginCookie(), Value: tok, Path: "/", MaxAge: 3600, HttpOnly: true,
		Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode})
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	s.render(w, r, status, "login", pageData{Title: "Sign in", Error: problem, Data: loginView{Next: localPath(next), Name: name, Token: tok}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.pageFail(w, r, err)
		return
	}
	c, err := r.Cookie(s.loginCookie())
	form := r.PostFormValue(csrfField)
	if err != nil || c.Value == "" || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		s.metrics.logins.WithLabelValues("csrf").Inc()
		s.showLogin(w, r, http.StatusForbidden, "", "The sign-in form expired. Please try again.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	u, outcome, wait, err := s.checkLogin(r, name, r.PostFormValue("password"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	ctx := r.Context()
	switch outcome {
	case loginLimited:
		s.metrics.logins.WithLabelValues("limited").Inc()
		s.log.Warn("sign-in rate limited", "user", name)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.showLogin(w, r, http.StatusTooManyRequests, name, fmt.Sprintf("Too many failed attempts. Try again in %d minutes.", int(wait.Minutes())+1))
		return
	case loginBad:
		s.metrics.logins.WithLabelValues("bad").Inc()
		s.log.Warn("sign-in failed", "user", name)
		_ = s.cfg.Store.Audit(ctx, dispatcher.AuditEntry{At: s.cfg.Now(), Actor: name, Action: "user.login_failed", Detail: "from " + clientIP(r)})
		s.showLogin(w, r, http.StatusUnauthorized, name, "Wrong user name or password.")
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.clearCookie(w, s.loginCookie())
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.log.Info("signed in", "user", u.Name, "role", u.Role)
	_ = s.cfg.Store.Audit(ctx, dispatcher.AuditEntry{At: s.cfg.Now(), Actor: u.Name, Action: "user.login", Detail: "from " + clientIP(r)})
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if p.session != nil {
		if err := s.cfg.Users.DeleteSession(r.Context(), p.session.IDHash); err != nil {
			s.pageFail(w, r, err)
			return
		}
	}
	s.clearCookie(w, s.sessionCookie())
	s.log.Info("signed out", "user", p.name())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/campaigns", http.StatusSeeOther)
}

type campaignRow struct {
	C       CampaignView
	Status  *CampaignStatus
	Percent float64
}

func (s *Server) campaignsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cs, err := s.cfg.Store.Campaigns(ctx)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	rows := make([]campaignRow, 0, len(cs))
	for _, c := range cs {
		sr, err := s.report(ctx, c)
		if err != nil {
			s.pageFail(w, r, err)
			return
		}
		rep := sr.Report
		row := campaignRow{C: campaignView(c), Status: &CampaignStatus{Contacts: rep.Contacts, Reached: rep.Reached, Unreachable: rep.Unreachable, InProgress: rep.InProgress}}
		if rep.Contacts > 0 {
			row.Percent = float64(rep.Reached+rep.Unreachable) / float64(rep.Contacts) * 100
		}
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "campaigns", pageData{Title: "Campaigns", Nav: "campaigns", Data: rows})
}

// flashes are the confirmations a redirect may ask for by key, so that no
// URL can make the console show text of someone else's choosing.
var flashes = map[string]string{
	"launch":        "Campaign launched: every notice passed the campaign check, and they are being sent.",
	"launch_forced": "Campaign launched despite the check's findings: notices are being sent. The audit log records the launch as forced, with the findings and your reason.",
	"pause":         "Campaign paused: nothing more is sent until you resume.",
	"resume":        "Campaign resumed.",
	"cancel":        "Campaign cancelled: unsent notices will not be sent.",
	"password":      "Password changed. Every other browser signed in as you has been signed out.",
	"created":       "Campaign created as a draft. Next: fill in the «placeholders» of its notices (Templates), import the contacts, then launch.",
	"settings":      "Settings saved.",
	"template":      "Template saved.",
	"starter":       "Starter notices added: fill in their «placeholders».",
	"upload":        "Templates uploaded.",
	"suppressed":    "Address added to the suppression list: no later notice uses it.",
	"unsuppressed":  "Address taken off the suppression list: later notices may use it again.",
}

type campaignPageView struct {
	C      CampaignView
	S      *CampaignStatus
	Max    float64
	States []dispatcher.State
	// Check is a draft's latest campaign check, for operators.
	Check *CheckView
	// ScheduledAt is when a worker launches a scheduled draft.
	ScheduledAt time.Time
}

func (s *Server) campaignPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	st, err := s.campaignStatus(ctx, c)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	// the states that occur, in lifecycle order, as table rows
	seen := map[dispatcher.State]bool{}
	for _, ch := range st.Channels {
		for k, n := range ch.States {
			if n > 0 {
				seen[k] = true
			}
		}
	}
	var states []dispatcher.State
	for _, k := range dispatcher.AllStates {
		if seen[k] {
			states = append(states, k)
		}
	}
	v := campaignPageView{C: campaignView(c), S: st, Max: chartMax(st.Rate), States: states}
	if c.Status == dispatcher.CampaignDraft {
		v.ScheduledAt = c.Settings.ScheduledAt
	}
	if p := principalOf(ctx); p != nil && Operators.Allows(p.role()) {
		if v.Check, err = s.dashboardCheck(ctx, c); err != nil {
			s.pageFail(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "campaign", pageData{Title: c.Name, Nav: "campaigns", Flash: flashes[r.URL.Query().Get("done")], Data: v})
}

func (s *Server) controlPage(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c, err := s.campaign(ctx, r.PathValue("name"))
		if err != nil {
			s.pageFail(w, r, err)
			return
		}
		if _, err := s.control(ctx, principalOf(ctx), c, verb); err != nil {
			s.pageFail(w, r, err)
			return
		}
		http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"?done="+verb, http.StatusSeeOther)
	}
}

type lookupView struct {
	Query    string
	Searched bool
	Result   *LookupResult
	// List is set when a name search found several people: the console
	// lists them and opens one timeline at a time.
	List bool
}

func (s *Server) lookupPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := lookupView{Query: strings.TrimSpace(q.Get("q"))}
	d := pageData{Title: "Support lookup", Nav: "lookup", Data: &v}
	req := lookupRequest{Query: v.Query}
	if id, err := strconv.ParseInt(q.Get("contact"), 10, 64); err == nil && id > 0 {
		req.Contact = id
	}
	if req.Query == "" && req.Contact == 0 {
		s.render(w, r, http.StatusOK, "lookup", d)
		return
	}
	ctx := r.Context()
	res, err := s.lookup(ctx, principalOf(ctx), req)
	switch code := dispatcher.ErrorCode(err); {
	case code == dispatcher.EINVALID || code == dispatcher.ENOTFOUND:
		d.Error = userMessage(err)
		s.render(w, r, http.StatusOK, "lookup", d)
		return
	case err != nil:
		s.pageFail(w, r, err)
		return
	}
	v.Searched, v.Result = true, res
	// A name search that found several people lists them; one is opened
	// at a time (and audited as such).
	v.List = res.By == "name" && len(res.People) > 1
	if !v.List {
		if err := s.fillTimelines(ctx, res); err != nil {
			s.pageFail(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "lookup", d)
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "account", pageData{Title: "Your account", Nav: "account", Flash: flashes[r.URL.Query().Get("done")]})
}

// accountPassword changes the signed-in user's own password. It ends
// every session of the user (SetPassword does) and signs this browser in
// again, so other browsers are signed out.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalOf(ctx)
	d := pageData{Title: "Your account", Nav: "account"}
	cur, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("again")
	ok, err := VerifyPassword(p.user.PasswordHash, cur)
	switch {
	case err != nil && !errors.Is(err, ErrBadHash):
		s.pageFail(w, r, err)
		return
	case !ok:
		d.Error = "Your current password is not right."
	case next != again:
		d.Error = "The two new passwords differ."
	}
	if d.Error == "" {
		hash, err := HashPassword(next)
		if err != nil {
			if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				s.pageFail(w, r, err)
				return
			}
			d.Error = userMessage(err)
		} else {
			if err := s.cfg.Users.SetPassword(ctx, p.user.ID, hash); err != nil {
				s.pageFail(w, r, err)
				return
			}
			_ = s.audit(ctx, p, "user.password", p.user.Name, "changed own password")
			if err := s.startSession(w, r, p.user); err != nil {
				s.pageFail(w, r, err)
				return
			}
			http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
			return
		}
	}
	s.render(w, r, http.StatusBadRequest, "account", d)
}

type importView struct {
	C      CampaignView
	Result *ImportResult
	FileID string
}

func (s *Server) importForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "import", pageData{Title: "Import contacts · " + c.Name, Nav: "campaigns", Data: importView{C: campaignView(c)}})
}

func (s *Server) importUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v := importView{C: campaignView(c)}
	d := pageData{Title: "Import contacts · " + c.Name, Nav: "campaigns", Data: &v}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.pageFail(w, r, err)
			return
		}
		d.Error = "Choose a CSV file to upload."
		s.render(w, r, http.StatusBadRequest, "import", d)
		return
	}
	defer f.Close()
	opt, err := importOptions(r.PostFormValue, hdr.Filename)
	if err == nil {
		v.Result, err = s.runImport(ctx, principalOf(ctx), c, f, opt)
	}
	if err != nil {
		if code := dispatcher.ErrorCode(err); code != dispatcher.EINVALID && code != dispatcher.ECONFLICT {
			s.pageFail(w, r, err)
			return
		}
		d.Error = userMessage(err)
		s.render(w, r, http.StatusBadRequest, "import", d)
		return
	}
	if len(v.Result.Problems) > 0 {
		if v.FileID, err = s.rejects.put(sessionHash(r), v.Result.csv); err != nil {
			s.pageFail(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "import", d)
}

func (s *Server) importRejects(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	b, ok := s.rejects.get(sessionHash(r), r.PathValue("id"))
	if !ok {
		s.pageFail(w, r, dispatcher.Errorf(dispatcher.ENOTFOUND, "this reject report is gone: reports are kept for an hour, for the browser that uploaded the file"))
		return
	}
	if err := s.audit(ctx, principalOf(ctx), "import.rejects", c.Name, "reject report downloaded"); err != nil {
		s.pageFail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", attachment(c.Name+"-rejected-rows.csv"))
	_, _ = w.Write(b)
}

// sampleContact is who a template preview shows when no real contact is
// chosen: no personal data, so no audit entry.
var sampleContact = dispatcher.Contact{Name: "Kari Nordmann", Email: "kari.nordmann@example.no", Phone: "+4791234567", ExternalID: "EXAMPLE-1", Country: "NO",
	Attrs: map[string]string{}}

type templatesView struct {
	C        CampaignView
	Keys     []dispatcher.TemplateKey
	Channel  dispatcher.ChannelKind
	Locale   string
	Contact  int64
	Contacts []ContactView
	Message  *dispatcher.Message
	Problem  string
	HTMLSrc  template.URL // the preview frame's address, built here from encoded values
	// Edit is the template shown for editing (a new one when the
	// campaign has none for the channel and locale); Editable is false
	// once the campaign is finished.
	Edit     *dispatcher.Template
	Editable bool
	// Starter lists the languages with starter notices the campaign
	// does not have yet.
	Starter []string
}

// preview renders the template chosen by the request's channel, locale
// and contact (a sample person when none). A real contact's preview is
// audited: it shows that person's data.
func (s *Server) preview(r *http.Request, c *dispatcher.Campaign) (*templatesView, error) {
	ctx := r.Context()
	q := r.URL.Query()
	ts, err := s.cfg.Store.Templates(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	v := &templatesView{C: campaignView(c), Editable: !c.Status.Final()}
	have := map[string]bool{}
	for _, t := range ts {
		v.Keys = append(v.Keys, dispatcher.TemplateKey{Channel: t.Channel, Locale: t.Locale})
		have[t.Locale] = true
	}
	for _, l := range starter.Locales {
		if !have[l] {
			v.Starter = append(v.Starter, l)
		}
	}
	sort.Slice(v.Keys, func(i, j int) bool { return v.Keys[i].String() < v.Keys[j].String() })
	v.Channel, v.Locale = c.Policy[0], c.DefaultLocale
	if len(v.Keys) > 0 {
		v.Channel, v.Locale = v.Keys[0].Channel, v.Keys[0].Locale
	}
	if k, err := dispatcher.ParseChannelKind(q.Get("channel")); err == nil {
		v.Channel = k
	}
	if l := strings.TrimSpace(q.Get("locale")); l != "" {
		v.Locale = l
	}
	v.Edit = &dispatcher.Template{Channel: v.Channel, Locale: v.Locale}
	for i, t := range ts {
		if t.Channel == v.Channel && t.Locale == v.Locale {
			v.Edit = &ts[i]
		}
	}
	if len(v.Keys) == 0 {
		v.Problem = "This campaign has no templates yet: add the starter notices of a language, upload a templates folder, or write one below."
		return v, nil
	}
	cs, err := s.cfg.Store.Contacts(ctx, c.ID, 0, 25)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		v.Contacts = append(v.Contacts, contactView(&cs[i]))
	}
	ct := sampleContact
	ct.CampaignID = c.ID
	ct.Locale = v.Locale
	if id, _ := strconv.ParseInt(q.Get("contact"), 10, 64); id > 0 {
		real, err := s.cfg.Store.Contact(ctx, id)
		if err != nil {
			return nil, err
		}
		if real.CampaignID != c.ID {
			return nil, dispatcher.Errorf(dispatcher.ENOTFOUND, "contact %d is not in campaign %s", id, c.Name)
		}
		if err := s.audit(ctx, principalOf(ctx), "contact.preview", c.Name, fmt.Sprintf("contact %d, %s/%s", id, v.Channel, v.Locale)); err != nil {
			return nil, err
		}
		ct = *real
		v.Contact = id
		// The person's own locale decides, as when sending; the chosen
		// locale applies to the sample person only.
		v.Locale = real.Locale
	}
	n, err := dispatcher.CompileTemplates(c.DefaultLocale, ts)
	if err != nil {
		v.Problem = userMessage(err)
		return v, nil
	}
	m, err := n.Render(c, &ct, v.Channel)
	if err != nil {
		v.Problem = err.Error()
		return v, nil
	}
	v.Message = m
	hq := url.Values{"channel": {string(v.Channel)}, "locale": {v.Locale}}
	if v.Contact > 0 {
		hq.Set("contact", strconv.FormatInt(v.Contact, 10))
	}
	v.HTMLSrc = template.URL("/campaigns/" + url.PathEscape(c.Name) + "/templates/preview.html?" + hq.Encode())
	return v, nil
}

// campaignPreview loads the campaign named in the path and the preview the
// query asks for; on failure it has answered and returns ok false.
func (s *Server) campaignPreview(w http.ResponseWriter, r *http.Request) (*dispatcher.Campaign, *templatesView, bool) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return nil, nil, false
	}
	v, err := s.preview(r, c)
	if err != nil {
		s.pageFail(w, r, err)
		return nil, nil, false
	}
	return c, v, true
}

func (s *Server) templatesPage(w http.ResponseWriter, r *http.Request) {
	c, v, ok := s.campaignPreview(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "templates", pageData{Title: "Templates · " + c.Name, Nav: "campaigns", Flash: flashes[r.URL.Query().Get("done")], Data: v})
}

// templatePreviewHTML serves a rendered e-mail's HTML part on its own, for
// the preview frame: under a policy that runs nothing (sandbox, no
// scripts) but keeps the notice's inline styles.
func (s *Server) templatePreviewHTML(w http.ResponseWriter, r *http.Request) {
	_, v, ok := s.campaignPreview(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if v.Message == nil || v.Message.HTML == "" {
		_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><p style="font-family:sans-serif;color:#555">This notice has no HTML part; recipients see the text part.</p>`))
		return
	}
	_, _ = w.Write([]byte(v.Message.HTML))
}

type unreachableView struct {
	C         CampaignView
	Rows      []UnreachableRow
	After     int64
	NextAfter int64
}

const unreachablePageSize = 100

func (s *Server) unreachablePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	rows, err := s.unreachableRows(ctx, c, after, unreachablePageSize)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if err := s.audit(ctx, principalOf(ctx), "report.unreachable", c.Name, fmt.Sprintf("console page after %d: %d contacts shown", after, len(rows))); err != nil {
		s.pageFail(w, r, err)
		return
	}
	v := unreachableView{C: campaignView(c), Rows: rows, After: after}
	if len(rows) == unreachablePageSize {
		v.NextAfter = rows[len(rows)-1].Contact.ID
	}
	s.render(w, r, http.StatusOK, "unreachable", pageData{Title: "Unreachable · " + c.Name, Nav: "campaigns", Data: v})
}

func (s *Server) unreachableCSV(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if err := s.audit(ctx, principalOf(ctx), "report.unreachable", c.Name, "csv export from console"); err != nil {
		s.pageFail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", attachment(c.Name+"-unreachable.csv"))
	if err := s.writeUnreachableCSV(ctx, w, c); err != nil {
		s.log.Error("unreachable CSV", "campaign", c.ID, "err", err)
	}
}

type usersView struct {
	Users  []UserView
	Tokens map[string][]tokenView
	// Secret is a password or token shown once, right after it was made.
	Secret     string
	SecretWhat string
}

type tokenView struct {
	ID       int64
	Label    string
	Created  time.Time
	LastUsed time.Time
}

func (s *Server) usersData(r *http.Request) (*usersView, error) {
	ctx := r.Context()
	us, err := s.cfg.Users.Users(ctx)
	if err != nil {
		return nil, err
	}
	toks, err := s.cfg.Users.APITokens(ctx, 0)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	v := &usersView{Tokens: map[string][]tokenView{}}
	for _, u := range us {
		names[u.ID] = u.Name
		v.Users = append(v.Users, UserView{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt})
	}
	for _, t := range toks {
		n := names[t.UserID]
		v.Tokens[n] = append(v.Tokens[n], tokenView{ID: t.ID, Label: t.Label, Created: t.CreatedAt, LastUsed: t.LastUsed})
	}
	return v, nil
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) {
	s.showUsers(w, r, http.StatusOK, "", "", "", "")
}

func (s *Server) showUsers(w http.ResponseWriter, r *http.Request, status int, flash, problem, secretWhat, secret string) {
	v, err := s.usersData(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v.Secret, v.SecretWhat = secret, secretWhat
	s.render(w, r, status, "users", pageData{Title: "Users", Nav: "users", Flash: flash, Error: problem, Data: v})
}

// userFromPath finds the user named in the path.
func (s *Server) userFromPath(r *http.Request) (*dispatcher.User, error) {
	u, err := s.cfg.Users.UserByName(r.Context(), r.PathValue("user"))
	if errors.Is(err, dispatcher.ErrNotFound) {
		return nil, dispatcher.Errorf(dispatcher.ENOTFOUND, "no user named %q", r.PathValue("user"))
	}
	return u, err
}

// usersCreate adds a user. With no password given, one is generated and
// shown once.
func (s *Server) usersCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := strings.TrimSpace(r.PostFormValue("name"))
	role, err := dispatcher.ParseRole(r.PostFormValue("role"))
	if err == nil {
		err = dispatcher.ValidateUserName(name)
	}
	if err != nil {
		s.showUsers(w, r, http.StatusBadRequest, "", userMessage(err), "", "")
		return
	}
	pw, generated := r.PostFormValue("password"), false
	if pw == "" {
		pw, generated = GeneratePassword(), true
	}
	hash, err := HashPassword(pw)
	if err != nil {
		s.showUsers(w, r, http.StatusBadRequest, "", userMessage(err), "", "")
		return
	}
	u := &dispatcher.User{Name: name, Role: role, PasswordHash: hash}
	if err := s.cfg.Users.CreateUser(ctx, u); err != nil {
		if dispatcher.ErrorCode(err) == dispatcher.ECONFLICT || dispatcher.ErrorCode(err) == dispatcher.EINVALID {
			s.showUsers(w, r, http.StatusConflict, "", userMessage(err), "", "")
			return
		}
		s.pageFail(w, r, err)
		return
	}
	p := principalOf(ctx)
	_ = s.audit(ctx, p, "user.create", u.Name, "role "+string(u.Role))
	s.log.Info("user created", "by", p.name(), "user", u.Name, "role", u.Role)
	if generated {
		s.showUsers(w, r, http.StatusOK, "User "+u.Name+" created.", "", "Password for "+u.Name, pw)
		return
	}
	s.showUsers(w, r, http.StatusOK, "User "+u.Name+" created.", "", "", "")
}

func (s *Server) usersRole(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.userFromPath(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	role, err := dispatcher.ParseRole(r.PostFormValue("role"))
	if err != nil {
		s.showUsers(w, r, http.StatusBadRequest, "", userMessage(err), "", "")
		return
	}
	p := principalOf(ctx)
	if u.ID == p.user.ID && role != dispatcher.RoleAdmin {
		s.showUsers(w, r, http.StatusConflict, "", "You cannot take away your own admin role; ask another admin.", "", "")
		return
	}
	if err := s.cfg.Users.SetRole(ctx, u.ID, role); err != nil {
		s.pageFail(w, r, err)
		return
	}
	_ = s.audit(ctx, p, "user.role", u.Name, string(u.Role)+" → "+string(role))
	s.showUsers(w, r, http.StatusOK, "Role of "+u.Name+" is now "+string(role)+".", "", "", "")
}

// usersPassword resets a user's password to a generated one, shown once,
// and signs them out everywhere.
func (s *Server) usersPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.userFromPath(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	pw := GeneratePassword()
	hash, err := HashPassword(pw)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if err := s.cfg.Users.SetPassword(ctx, u.ID, hash); err != nil {
		s.pageFail(w, r, err)
		return
	}
	_ = s.audit(ctx, principalOf(ctx), "user.password", u.Name, "reset by admin")
	s.showUsers(w, r, http.StatusOK, "Password of "+u.Name+" reset; their sessions have ended.", "", "New password for "+u.Name, pw)
}

func (s *Server) usersDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.userFromPath(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	p := principalOf(ctx)
	if u.ID == p.user.ID {
		s.showUsers(w, r, http.StatusConflict, "", "You cannot remove yourself; ask another admin.", "", "")
		return
	}
	if err := s.cfg.Users.DeleteUser(ctx, u.ID); err != nil {
		s.pageFail(w, r, err)
		return
	}
	_ = s.audit(ctx, p, "user.remove", u.Name, "")
	s.log.Info("user removed", "by", p.name(), "user", u.Name)
	s.showUsers(w, r, http.StatusOK, "User "+u.Name+" removed; their sessions and tokens no longer work.", "", "", "")
}

func (s *Server) tokensCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := s.userFromPath(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	if label == "" || len(label) > 64 {
		s.showUsers(w, r, http.StatusBadRequest, "", "Give the token a label of up to 64 characters, e.g. ci-import.", "", "")
		return
	}
	secret, tok, err := NewAPIToken(u.ID, label)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if err := s.cfg.Users.CreateAPIToken(ctx, tok); err != nil {
		s.pageFail(w, r, err)
		return
	}
	_ = s.audit(ctx, principalOf(ctx), "token.create", u.Name, label)
	s.showUsers(w, r, http.StatusOK, "Token created.", "", "API token "+label+" for "+u.Name, secret)
}

func (s *Server) tokensDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.pageFail(w, r, dispatcher.Errorf(dispatcher.ENOTFOUND, "no token %q", r.PathValue("id")))
		return
	}
	if err := s.cfg.Users.DeleteAPIToken(ctx, id); err != nil {
		if errors.Is(err, dispatcher.ErrNotFound) {
			err = dispatcher.Errorf(dispatcher.ENOTFOUND, "no token %d", id)
		}
		s.pageFail(w, r, err)
		return
	}
	_ = s.audit(ctx, principalOf(ctx), "token.revoke", strconv.FormatInt(id, 10), "")
	s.showUsers(w, r, http.StatusOK, "Token revoked.", "", "", "")
}

type auditView struct {
	Entries []AuditView
	Actor   string
	Action  string
	Next    int64
}

const auditPageSize = 100

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	v := auditView{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action"))}
	es, err := s.cfg.Users.AuditLog(r.Context(), dispatcher.AuditQuery{BeforeID: before, Actor: v.Actor, Action: v.Action, Limit: auditPageSize})
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	for _, e := range es {
		v.Entries = append(v.Entries, AuditView{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Detail: e.Detail})
	}
	if len(es) == auditPageSize {
		v.Next = es[len(es)-1].ID
	}
	s.render(w, r, http.StatusOK, "audit", pageData{Title: "Audit log", Nav: "audit", Data: v})
}
