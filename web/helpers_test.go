package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store/storetest"
)

func TestMain(m *testing.M) {
	// Cheap hashes: the tests check the format and the comparison, not
	// argon2's cost. TestPasswordHashDefaults checks the real defaults.
	hashParams = argonParams{memory: 64, time: 1, threads: 1, keyLen: 32}
	os.Exit(m.Run())
}

// ledger is what the server needs from the store; *store.DB is both.
type ledger interface {
	dispatcher.Store
	dispatcher.UserStore
}

// testEnv is a server on a fresh SQLite ledger with one user per role.
type testEnv struct {
	t     *testing.T
	st    ledger
	srv   *Server
	ts    *httptest.Server
	users map[dispatcher.Role]*dispatcher.User
	logs  *syncBuffer
	mu    sync.Mutex
	hits  []string // route names that passed authorization
}

type envOption func(*Config)

func withBackend(t *testing.T) envOption {
	return func(c *Config) {
		b, err := queue.Connect(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		c.Backend = b
	}
}

func newTestEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	st, ok := storetest.SQLite(t).(ledger)
	if !ok {
		t.Fatal("the SQLite store does not implement dispatcher.UserStore")
	}
	logs := &syncBuffer{}
	cfg := Config{Store: st, Users: st, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Region: "NO"}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, st: st, srv: srv, users: map[dispatcher.Role]*dispatcher.User{}, logs: logs}
	srv.onAuthorized = func(name string) {
		e.mu.Lock()
		e.hits = append(e.hits, name)
		e.mu.Unlock()
	}
	e.ts = httptest.NewServer(srv)
	t.Cleanup(e.ts.Close)
	t.Cleanup(func() { _ = srv.Close() })
	for _, r := range dispatcher.Roles {
		e.users[r] = e.addUser(string(r)+"-user", r, "correct horse battery staple")
	}
	return e
}

func (e *testEnv) addUser(name string, r dispatcher.Role, pw string) *dispatcher.User {
	e.t.Helper()
	hash, err := HashPassword(pw)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &dispatcher.User{Name: name, Role: r, PasswordHash: hash}
	if err := e.st.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// session makes a session for the user with role r and returns its cookie
// value and CSRF token.
func (e *testEnv) session(r dispatcher.Role) (string, string) {
	e.t.Helper()
	id, _ := RandomSecret(32)
	csrf, _ := RandomSecret(32)
	now := time.Now()
	err := e.st.CreateSession(context.Background(), &dispatcher.Session{IDHash: SecretHash(id), UserID: e.users[r].ID, CSRFToken: csrf,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		e.t.Fatal(err)
	}
	return id, csrf
}

// token makes an API token for the user with role r.
func (e *testEnv) token(r dispatcher.Role) string {
	e.t.Helper()
	secret, tok, err := NewAPIToken(e.users[r].ID, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAPIToken(context.Background(), tok); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// client is an HTTP client that does not follow redirects.
func (e *testEnv) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
}

// do sends a request as role r through a fresh session ("" = anonymous);
// for unsafe methods it sends form with the session's CSRF token (unless
// form carries one already).
func (e *testEnv) do(r dispatcher.Role, method, path string, form url.Values) *http.Response {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	var cookie *http.Cookie
	csrfInHeader := ""
	if r != "" {
		id, csrf := e.session(r)
		cookie = &http.Cookie{Name: sessionCookiePlain, Value: id}
		if unsafeMethod(method) && form.Get(csrfField) == "" {
			form.Set(csrfField, csrf)
			if method == http.MethodDelete { // net/http reads no form from a DELETE body
				csrfInHeader = csrf
			}
		}
	}
	var body io.Reader
	if unsafeMethod(method) {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if csrfInHeader != "" {
		req.Header.Set(csrfHeader, csrfInHeader)
	}
	res, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	return res
}

func (e *testEnv) reached() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.hits
	e.hits = nil
	return out
}

// demoTemplates are a small campaign's notices, in Norwegian and English.
func demoTemplates() []dispatcher.Template {
	return []dispatcher.Template{
		{Channel: dispatcher.Email, Locale: "nb", Subject: "Viktig: {{.Campaign.IncidentRef}} – dine personopplysninger",
			Text: "Hei {{.FirstName}},\n\nVi har oppdaget et sikkerhetsbrudd hos vår leverandør. Dine opplysninger kan være berørt.\n\nHilsen personvernombudet, Ærlig Øvre Åsen AS\n",
			HTML: `<p style="font-family:Georgia,serif;color:#123">Hei {{.FirstName}},</p><p>Vi har oppdaget et sikkerhetsbrudd. Dine opplysninger kan være berørt.</p><p>Hilsen <b>personvernombudet</b></p>`},
		{Channel: dispatcher.Email, Locale: "en", Subject: "Important: {{.Campaign.IncidentRef}} – your personal data",
			Text: "Dear {{.Name}},\n\nWe found a security breach at our supplier. Your data may be affected.\n"},
		{Channel: dispatcher.SMS, Locale: "nb", Text: "Hei {{.FirstName}}: sikkerhetsbrudd {{.Campaign.IncidentRef}}. Se e-post eller ring 22 00 00 00."},
		{Channel: dispatcher.SMS, Locale: "en", Text: "{{.FirstName}}: security breach {{.Campaign.IncidentRef}}. Call +47 22 00 00 00."},
	}
}

func (e *testEnv) campaign(name string) *dispatcher.Campaign {
	e.t.Helper()
	c := &dispatcher.Campaign{Name: name, IncidentRef: "INC-2026-7", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
		Sender: dispatcher.Sender{FromName: "Klinikk Personvern", FromEmail: "personvern@klinikk.example", SMSFrom: "Klinikk"}}
	if err := e.st.CreateCampaign(context.Background(), c, demoTemplates()); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// syncBuffer is a buffer safe for concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// status is campaign c's status in the ledger.
func (e *testEnv) status(c *dispatcher.Campaign) dispatcher.CampaignStatus {
	e.t.Helper()
	got, err := e.st.Campaign(context.Background(), c.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got.Status
}

// audits reads the audit log's entries of action (or a prefix ending in ".").
func (e *testEnv) audits(action string) []dispatcher.AuditRecord {
	e.t.Helper()
	es, err := e.st.AuditLog(context.Background(), dispatcher.AuditQuery{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// sessionClient sends requests in one session, whose CSRF token a test
// also needs for a form's own token.
type sessionClient struct {
	e        *testEnv
	id, csrf string
	sess     *dispatcher.Session
}

func (e *testEnv) sessionClient(r dispatcher.Role) *sessionClient {
	e.t.Helper()
	id, csrf := e.session(r)
	sess, _, err := e.st.Session(context.Background(), SecretHash(id), time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return &sessionClient{e: e, id: id, csrf: csrf, sess: sess}
}

func (sc *sessionClient) do(method, path string, form url.Values) (*http.Response, string) {
	sc.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	var body *strings.Reader
	if method == http.MethodPost {
		form.Set(csrfField, sc.csrf)
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, sc.e.ts.URL+path, body)
	if err != nil {
		sc.e.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: sessionCookiePlain, Value: sc.id})
	res, err := sc.e.client().Do(req)
	if err != nil {
		sc.e.t.Fatal(err)
	}
	defer res.Body.Close()
	return res, readAll(sc.e.t, res)
}
