package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestUserCommands adds, lists, re-keys and removes users through the CLI,
// with the password on standard input as a script would give it.
func TestUserCommands(t *testing.T) {
	e := sqliteEnv(t)
	withPassword := func(pw string) {
		t.Helper()
		old := passwordInput
		passwordInput = strings.NewReader(pw + "\n")
		t.Cleanup(func() { passwordInput = old })
	}
	withPassword("correct horse battery staple")
	mustHerald(t, e, "user", "add", "kari", "--role", "operator")
	withPassword("short")
	if code, _, errOut := herald(t, e, "user", "add", "per", "--role", "support"); code != exitInvalid || !strings.Contains(errOut, "at least 12") {
		t.Errorf("short password: exit %d, %q", code, errOut)
	}
	withPassword("correct horse battery staple")
	if code, _, errOut := herald(t, e, "user", "add", "ola", "--role", "root"); code != exitInvalid || !strings.Contains(errOut, "admin, operator or support") {
		t.Errorf("bad role: exit %d, %q", code, errOut)
	}
	withPassword("correct horse battery staple")
	if code, _, _ := herald(t, e, "user", "add", "kari", "--role", "admin"); code != exitConflict {
		t.Errorf("duplicate user: exit %d, want %d", code, exitConflict)
	}
	tok := strings.TrimSpace(mustHerald(t, e, "user", "token", "kari", "--label", "ci"))
	if !regexp.MustCompile(`^hrld_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Errorf("token %q", tok)
	}
	out := mustHerald(t, e, "user", "list")
	if !regexp.MustCompile(`kari\s+operator\s+1`).MatchString(out) {
		t.Errorf("user list:\n%s", out)
	}
	withPassword("another long passphrase")
	mustHerald(t, e, "user", "passwd", "kari")
	if code, _, _ := herald(t, e, "user", "remove", "nobody"); code != exitNotFound {
		t.Errorf("remove of a missing user: exit %d", code)
	}

	// The web server wired as `herald serve` wires it accepts the token
	// and the new password, and refuses both once the user is removed.
	a := &app{stdout: io.Discard, stderr: io.Discard, getenv: e.get}
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv, err := a.webServer(context.Background(), "127.0.0.1:0", "NO")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	me := func() int {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := me(); got != http.StatusOK {
		t.Errorf("token from `herald user token`: %d", got)
	}
	if res, err := http.Get(ts.URL + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %v %v", res, err)
	}
	if !signIn(t, ts.URL, "kari", "another long passphrase") {
		t.Error("cannot sign in with the password set by `herald user passwd`")
	}
	mustHerald(t, e, "user", "remove", "kari")
	if got := me(); got != http.StatusUnauthorized {
		t.Errorf("token of a removed user: %d, want 401", got)
	}
}

// signIn signs in through the console's form and reports success.
func signIn(t *testing.T, base, name, pw string) bool {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no sign-in form at %s", base)
	}
	res, err = c.PostForm(base+"/login", url.Values{"csrf_token": {string(m[1])}, "name": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusSeeOther
}

func TestCookieSecure(t *testing.T) {
	tests := []struct {
		env, addr string
		want      bool
		err       bool
	}{
		{"", ":8080", true, false},
		{"", "127.0.0.1:8080", false, false},
		{"", "[::1]:8080", false, false},
		{"true", "127.0.0.1:8080", true, false},
		{"false", ":8080", false, false},
		{"maybe", ":8080", false, true},
	}
	for _, tt := range tests {
		got, err := cookieSecure(tt.env, tt.addr)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("cookieSecure(%q, %q) = %t, %v", tt.env, tt.addr, got, err)
		}
	}
	if got := displayURL(":8080"); got != "http://localhost:8080/" {
		t.Errorf("displayURL(:8080) = %q", got)
	}
}

// TestDemoServe runs `herald demo --serve`: after the demo the console
// stays open with a one-time admin password that signs in, and stopping
// the demo removes that admin.
func TestDemoServe(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes seconds")
	}
	t.Chdir(t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--serve", "--addr", addr}, &out, &out, env{}.get) }()
	re := regexp.MustCompile(`password\s+([A-Z2-7]{26})`)
	deadline := time.Now().Add(2 * time.Minute)
	var pw string
	for pw == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			pw = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before serving:\n%s", code, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no console password after 2 minutes:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "http://"+addr+"/") {
		t.Errorf("demo does not print the console URL:\n%s", out.String())
	}
	var ok bool
	for i := 0; i < 50 && !ok; i++ { // the listener opens just after the password is printed
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			ok = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !signIn(t, "http://"+addr, demoAdmin, pw) {
		t.Fatal("the printed demo password does not sign in")
	}
	if signIn(t, "http://"+addr, demoAdmin, "wrong password here") {
		t.Fatal("a wrong password signs in")
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("demo --serve exited %d after Ctrl-C:\n%s", code, out.String())
	}
	if out := mustHerald(t, env{}, "user", "list"); strings.Contains(out, demoAdmin) {
		t.Errorf("the one-time demo admin is still there:\n%s", out)
	}
}
