package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the test parameters", h)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"correct horse battery staple", true}, {"correct horse battery stapl", false}, {"", false}} {
		ok, err := VerifyPassword(h, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("VerifyPassword(%q) = %t, %v; want %t", tt.pw, ok, err, tt.want)
		}
	}
	if ok, err := VerifyPassword("", "anything"); ok || err != nil {
		t.Errorf("empty hash verified: %t, %v", ok, err)
	}
	for _, short := range []string{"", "kort", "elleve tegn"} {
		if _, err := HashPassword(short); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("HashPassword(%q): %v, want EINVALID", short, err)
		}
	}
	if _, err := HashPassword(strings.Repeat("x", maxPassword+1)); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
		t.Errorf("overlong password accepted: %v", err)
	}
	// æøå count as one character each
	if _, err := HashPassword("blåbærsyltetøy"); err != nil {
		t.Errorf("Norwegian password refused: %v", err)
	}
}

// TestPasswordHashDefaults checks that production hashes use argon2id
// with OWASP's parameters.
func TestPasswordHashDefaults(t *testing.T) {
	if !strings.HasPrefix(dummyHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("default hash %q does not use m=19456,t=2,p=1", dummyHash)
	}
}

func TestParseHashRejects(t *testing.T) {
	good, _ := HashPassword("correct horse battery staple")
	parts := strings.Split(good, "$")
	for _, bad := range []string{
		"plain", "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=1,p=1$" + parts[4] + "$" + parts[5], // a tampered row must not allocate gigabytes
		"$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",
	} {
		if _, err := VerifyPassword(bad, "x"); err == nil {
			t.Errorf("VerifyPassword accepted hash %q", bad)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	good, _ := HashPassword("correct horse battery staple")
	f.Add(good)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, h string) {
		p, salt, key, err := parseHash(h)
		if err != nil {
			return
		}
		if p.memory > maxArgonMemory || p.time > maxArgonTime || p.threads == 0 || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("parseHash(%q) accepted out-of-range parameters %+v", h, p)
		}
	})
}

func TestLoginLimiter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter(func() time.Time { return now })
	testLoginLimits(t, l, func(d time.Duration) { now = now.Add(d) })
	// success forgets the account's failures
	l.fail(context.Background(), "per", "10.0.0.3")
	l.succeed(context.Background(), "per")
	if len(l.user["per"]) != 0 {
		t.Error("success kept the account's failures")
	}
}

// testLoginLimits checks a limiter whose clock advance moves forward.
func testLoginLimits(t *testing.T, l loginLimits, advance func(time.Duration)) {
	t.Helper()
	ctx := context.Background()
	for i := range loginFailsPerUser {
		if w := l.blocked(ctx, "Ola", "10.0.0.1"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail(ctx, "Ola", "10.0.0.1")
		advance(time.Second)
	}
	if w := l.blocked(ctx, "ola", "10.0.0.2"); w <= 0 || w > loginWindow {
		t.Fatalf("account not blocked after %d failures from any address (wait %v)", loginFailsPerUser, w)
	}
	if w := l.blocked(ctx, "kari", "10.0.0.1"); w != 0 {
		t.Errorf("another account blocked by ola's failures: %v", w)
	}
	advance(loginWindow - loginFailsPerUser*time.Second - 500*time.Millisecond)
	if w := l.blocked(ctx, "ola", "10.0.0.2"); w <= 0 || w > time.Second {
		t.Errorf("wait just before the oldest failure leaves the window: %v, want half a second", w)
	}
	advance(loginWindow)
	if w := l.blocked(ctx, "ola", "10.0.0.2"); w != 0 {
		t.Errorf("still blocked after the window: %v", w)
	}
	// one address trying many accounts
	for i := range loginFailsPerIP {
		l.fail(ctx, "user"+string(rune('a'+i)), "192.0.2.9")
	}
	if w := l.blocked(ctx, "fresh-account", "192.0.2.9"); w <= 0 {
		t.Error("address not blocked after failures on many accounts")
	}
	// success forgets the account's failures, not the address's
	for range loginFailsPerUser {
		l.fail(ctx, "per", "10.0.0.3")
	}
	l.succeed(ctx, "PER")
	if w := l.blocked(ctx, "per", "10.0.0.4"); w != 0 {
		t.Errorf("success kept the account's failures: wait %v", w)
	}
}

// signInForm fetches the sign-in form (for its CSRF cookie and token).
func signInForm(t *testing.T, e *testEnv, c *http.Client) string {
	t.Helper()
	res, err := c.Get(e.ts.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the sign-in form:\n%s", body)
	}
	return m[1]
}

func TestLoginFlow(t *testing.T) {
	e := newTestEnv(t)
	c := e.client()
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		res, err := c.PostForm(e.ts.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res)
		res.Body.Close()
		return res
	}
	tok := signInForm(t, e, c)
	// wrong password
	if res := post("/login", url.Values{"csrf_token": {tok}, "name": {"operator-user"}, "password": {"wrong password here"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", res.StatusCode)
	}
	// missing login CSRF token
	tok = signInForm(t, e, c)
	if res := post("/login", url.Values{"name": {"operator-user"}, "password": {"correct horse battery staple"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form token: status %d, want 403", res.StatusCode)
	}
	// success, with a local redirect only
	tok = signInForm(t, e, c)
	res := post("/login", url.Values{"csrf_token": {tok}, "name": {"operator-user"}, "password": {"correct horse battery staple"}, "next": {"//evil.example/x"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/campaigns" {
		t.Fatalf("sign-in: status %d to %q, want 303 to /campaigns (never off-site)", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookiePlain {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax", session)
	}
	// signed in: the campaign list; the stored session is a hash, not the id
	get, _ := c.Get(e.ts.URL + "/campaigns")
	if get.StatusCode != http.StatusOK {
		t.Fatalf("campaigns after sign-in: %d", get.StatusCode)
	}
	page := readAll(t, get)
	get.Body.Close()
	if _, _, err := e.st.Session(context.Background(), session.Value, time.Now()); err == nil {
		t.Error("the session id itself is stored; only its hash may be")
	}
	// a state change without the session's CSRF token is refused
	if res := post("/logout", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF token: %d, want 403", res.StatusCode)
	}
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the campaigns page")
	}
	if res := post("/logout", url.Values{"csrf_token": {"x" + m[1]}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong CSRF token: %d, want 403", res.StatusCode)
	}
	if res := post("/logout", url.Values{"csrf_token": {m[1]}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d, want 303", res.StatusCode)
	}
	// the old cookie no longer works, even if a copy was kept
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/campaigns", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookiePlain, Value: session.Value})
	res, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("revoked session: status %d to %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
	// logs name the user, not the password
	if logs := e.logs.String(); !strings.Contains(logs, "operator-user") || strings.Contains(logs, "correct horse") {
		t.Errorf("logs should name the user and never the password:\n%s", logs)
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newTestEnv(t)
	c := e.client()
	var last int
	for range loginFailsPerUser + 1 {
		tok := signInForm(t, e, c)
		res, err := c.PostForm(e.ts.URL+"/login", url.Values{"csrf_token": {tok}, "name": {"admin-user"}, "password": {"guess guess guess"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		last = res.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("attempt %d: status %d, want 429", loginFailsPerUser+1, last)
	}
	// even the right password waits
	tok := signInForm(t, e, c)
	res, err := c.PostForm(e.ts.URL+"/login", url.Values{"csrf_token": {tok}, "name": {"admin-user"}, "password": {"correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("right password while limited: %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func TestAPIToken(t *testing.T) {
	e := newTestEnv(t)
	tok := e.token(dispatcher.RoleOperator)
	call := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/api/v1/me", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := call("Bearer " + tok); got != http.StatusOK {
		t.Errorf("valid token: %d", got)
	}
	for _, bad := range []string{"", "Bearer " + tok + "x", "Basic " + tok, "Bearer hrld_nope", "Bearer"} {
		if got := call(bad); got != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", bad, got)
		}
	}
	// removing the user revokes the token at once
	if err := e.st.DeleteUser(context.Background(), e.users[dispatcher.RoleOperator].ID); err != nil {
		t.Fatal(err)
	}
	if got := call("Bearer " + tok); got != http.StatusUnauthorized {
		t.Errorf("token of a removed user: %d, want 401", got)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/login", "/healthz", "/no-such-page", "/api/openapi.json"} {
		res, err := http.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	// a cross-site form post is refused before any handler
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", res.StatusCode)
	}
}

func TestSecureCookieName(t *testing.T) {
	s := &Server{cfg: Config{CookieSecure: true}}
	if s.sessionCookie() != "__Host-herald_session" {
		t.Errorf("secure session cookie %q lacks the __Host- prefix", s.sessionCookie())
	}
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:80": true, "[::1]:8080": true, ":8080": false, "0.0.0.0:8080": false, "10.0.0.5:80": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %t", addr, got)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"": "/campaigns", "/lookup?q=x": "/lookup?q=x", "//evil.example": "/campaigns",
		"https://evil.example/": "/campaigns", `/\evil.example`: "/campaigns", "campaigns": "/campaigns"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
