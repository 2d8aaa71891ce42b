package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/sms"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	fromNumber = "+15005550006"
	serviceSID = "MG0123456789abcdef0123456789abcdef"
)

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func startDouble(t *testing.T, opts twiliodouble.Options) *twiliodouble.Server {
	t.Helper()
	d, err := twiliodouble.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("double Close: %v", err)
		}
	})
	return d
}

// config returns a Config for the double with its own credentials, and
// status callbacks going to a local endpoint that accepts them all.
func config(t *testing.T, d *twiliodouble.Server) sms.Config {
	t.Helper()
	sink := fake(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return sms.Config{AccountSID: d.AccountSID(), AuthToken: d.AuthToken(), BaseURL: d.URL(), StatusCallback: sink + "/twilio/status"}
}

func newChannel(t *testing.T, cfg sms.Config, opts ...sms.Option) *sms.Channel {
	t.Helper()
	c, err := sms.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func message(to string, sender dispatcher.Sender) *dispatcher.Message {
	return &dispatcher.Message{DeliveryID: 42, CampaignID: 7, Channel: dispatcher.SMS, To: to, Sender: sender,
		Text: "Hei! Vi har hatt et datainnbrudd som gjelder deg. Les mer: https://example.no/hendelse"}
}

// sendError asserts err is a *dispatcher.SendError and returns it.
func sendError(t *testing.T, err error) *dispatcher.SendError {
	t.Helper()
	var se *dispatcher.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *dispatcher.SendError", err, err)
	}
	return se
}

func TestSendThroughMessagingService(t *testing.T) {
	d := startDouble(t, twiliodouble.Options{})
	cfg := config(t, d)
	c := newChannel(t, cfg)
	if c.Kind() != dispatcher.SMS {
		t.Errorf("Kind = %q", c.Kind())
	}
	m := message("+4791234567", dispatcher.Sender{SMSService: serviceSID, SMSFrom: fromNumber})
	rcpt, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !sidPattern.MatchString(rcpt.ProviderID) || rcpt.Code != "accepted" {
		t.Errorf("receipt %+v, want an SM SID and status accepted", rcpt)
	}
	got := d.Messages()
	if len(got) != 1 {
		t.Fatalf("double received %d messages", len(got))
	}
	g := got[0]
	if g.SID != rcpt.ProviderID || g.To != m.To || g.Body != m.Text || g.MessagingServiceSID != serviceSID ||
		g.From != "" || g.StatusCallback != cfg.StatusCallback {
		t.Errorf("double received %+v; want service %s preferred over From, callback %s", g, serviceSID, cfg.StatusCallback)
	}
}

func TestSendFromNumber(t *testing.T) {
	d := startDouble(t, twiliodouble.Options{})
	cfg := config(t, d)
	cfg.StatusCallback = ""
	c := newChannel(t, cfg)
	rcpt, err := c.Send(t.Context(), message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber}))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !sidPattern.MatchString(rcpt.ProviderID) || rcpt.Code != "queued" || rcpt.Detail != "segments 1" {
		t.Errorf("receipt %+v", rcpt)
	}
	g := d.Messages()[0]
	if g.From != fromNumber || g.MessagingServiceSID != "" || g.StatusCallback != "" {
		t.Errorf("double received %+v; want From %s, no service, no callback", g, fromNumber)
	}
}

// recorder is a transport that records the Basic credentials of each
// request and forwards it.
type recorder struct {
	mu    sync.Mutex
	users []string
	next  http.Transport
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	user, pass, _ := req.BasicAuth()
	r.mu.Lock()
	r.users = append(r.users, user+":"+pass)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func TestCredentials(t *testing.T) {
	const keySID, keySecret = "SK0123456789abcdef0123456789abcdef", "keysecret0123"
	d := startDouble(t, twiliodouble.Options{APIKeys: map[string]string{keySID: keySecret}})
	m := message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber})

	t.Run("account and token on the wire", func(t *testing.T) {
		rec := &recorder{}
		t.Cleanup(rec.next.CloseIdleConnections)
		c := newChannel(t, config(t, d), sms.WithTransport(rec))
		if _, err := c.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if want := d.AccountSID() + ":" + d.AuthToken(); len(rec.users) != 1 || rec.users[0] != want {
			t.Errorf("Basic credentials %v, want %s", rec.users, want)
		}
	})
	t.Run("API key", func(t *testing.T) {
		cfg := config(t, d)
		cfg.AuthToken, cfg.APIKeySID, cfg.APIKeySecret = "", keySID, keySecret
		rec := &recorder{}
		t.Cleanup(rec.next.CloseIdleConnections)
		c := newChannel(t, cfg, sms.WithTransport(rec))
		if _, err := c.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if want := keySID + ":" + keySecret; len(rec.users) != 1 || rec.users[0] != want {
			t.Errorf("Basic credentials %v, want %s", rec.users, want)
		}
	})
	tests := []struct {
		name string
		cfg  func(*sms.Config)
		code string
	}{
		{"wrong token", func(c *sms.Config) { c.AuthToken = "0000000000000000000000000000000f" }, "20003"},
		{"wrong API key secret", func(c *sms.Config) { c.APIKeySID, c.APIKeySecret = keySID, "wrong" }, "20003"},
		{"other account", func(c *sms.Config) { c.AccountSID = "AC99999999999999999999999999999999" }, "20003"},
		// twilio-go refuses these itself, before any request.
		{"token with illegal characters", func(c *sms.Config) { c.AuthToken = "not/a-token" }, "21224"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(t, d)
			tt.cfg(&cfg)
			c := newChannel(t, cfg)
			_, err := c.Send(t.Context(), m)
			se := sendError(t, err)
			if se.Class != dispatcher.Permanent || se.Code != tt.code {
				t.Errorf("class %s code %q, want permanent %s (%v)", se.Class, se.Code, tt.code, err)
			}
		})
	}
	if n := d.Count(); n != 2 {
		t.Errorf("double accepted %d messages, want 2", n)
	}
}

func TestErrorClasses(t *testing.T) {
	const bad = "+4790000013"
	d := startDouble(t, twiliodouble.Options{})
	c := newChannel(t, config(t, d))
	from := dispatcher.Sender{SMSFrom: fromNumber}
	tests := []struct {
		name   string
		reject int // per-number behaviour of bad; 0 = none
		m      *dispatcher.Message
		class  dispatcher.Class
		code   string
		words  string // part of Twilio's message
	}{
		{"21211 invalid To", twiliodouble.CodeInvalidTo, message(bad, from), dispatcher.Invalid, "21211", "is not a valid phone number"},
		{"21614 not mobile", twiliodouble.CodeNotMobile, message(bad, from), dispatcher.Invalid, "21614", "is not a mobile number"},
		{"21612 cannot route", twiliodouble.CodeCannotRoute, message(bad, from), dispatcher.Invalid, "21612", "is not currently reachable"},
		{"21635 landline", twiliodouble.CodeLandline, message(bad, from), dispatcher.Invalid, "21635", "landline"},
		{"21610 opted out", twiliodouble.CodeUnsubscribed, message(bad, from), dispatcher.Suppressed, "21610", "unsubscribed recipient"},
		{"21408 region not enabled", twiliodouble.CodeToNotPermitted, message(bad, from), dispatcher.Permanent, "21408", "Permission to send"},
		{"number not E.164", 0, message("91234567", from), dispatcher.Invalid, "21211", "is not a valid phone number"},
		{"no sender", 0, message(bad, dispatcher.Sender{}), dispatcher.Permanent, "21603", "'From' phone number is required"},
		{"bad sender", 0, message(bad, dispatcher.Sender{SMSFrom: "+1-800-HERALD"}), dispatcher.Permanent, "21212", "is not a valid phone number, shortcode"},
		{"empty text", 0, &dispatcher.Message{To: bad, Sender: from}, dispatcher.Permanent, "21602", "body is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.SetBehavior(bad, twiliodouble.Behavior{Reject: tt.reject}); err != nil {
				t.Fatal(err)
			}
			rcpt, err := c.Send(t.Context(), tt.m)
			if err == nil {
				t.Fatalf("Send succeeded: %+v", rcpt)
			}
			se := sendError(t, err)
			if se.Class != tt.class || se.Code != tt.code {
				t.Errorf("class %s code %q, want %s %s", se.Class, se.Code, tt.class, tt.code)
			}
			if dispatcher.ClassOf(err) != tt.class {
				t.Errorf("ClassOf = %s", dispatcher.ClassOf(err))
			}
			if !strings.Contains(se.Diagnostic, tt.words) {
				t.Errorf("Diagnostic %q lacks %q", se.Diagnostic, tt.words)
			}
			if tt.m.To != "" && (strings.Contains(se.Diagnostic, tt.m.To) || strings.Contains(se.Error(), tt.m.To)) {
				t.Errorf("the recipient's number leaks into the error: %q", se.Error())
			}
			var rest *client.TwilioRestError
			if !errors.As(err, &rest) || fmt.Sprint(rest.Code) != tt.code {
				t.Errorf("the twilio-go error is not in the chain: %v", err)
			}
			if se.RetryAfter != 0 {
				t.Errorf("RetryAfter %s on a final failure", se.RetryAfter)
			}
		})
	}
	if n := d.Count(); n != 0 {
		t.Errorf("double accepted %d messages", n)
	}
}

func TestProviderTroubleIsTransient(t *testing.T) {
	d := startDouble(t, twiliodouble.Options{})
	c := newChannel(t, config(t, d))
	m := message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber})

	d.RateLimit(1, 3*time.Second)
	se := sendError(t, func() error { _, err := c.Send(t.Context(), m); return err }())
	if se.Class != dispatcher.Transient || se.Code != "20429" || se.RetryAfter != 3*time.Second {
		t.Errorf("429: class %s code %q RetryAfter %s, want transient 20429 3s", se.Class, se.Code, se.RetryAfter)
	}
	d.RateLimit(1, 0)
	se = sendError(t, func() error { _, err := c.Send(t.Context(), m); return err }())
	if se.Class != dispatcher.Transient || se.RetryAfter != 0 {
		t.Errorf("429 without Retry-After: class %s RetryAfter %s", se.Class, se.RetryAfter)
	}
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError} {
		if err := d.FailNext(1, status); err != nil {
			t.Fatal(err)
		}
		se := sendError(t, func() error { _, err := c.Send(t.Context(), m); return err }())
		if se.Class != dispatcher.Transient || se.Code != fmt.Sprint(20000+status) {
			t.Errorf("%d: class %s code %q", status, se.Class, se.Code)
		}
	}
	if _, err := c.Send(t.Context(), m); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}

// fake is an HTTP server standing in for Twilio or a proxy in front of it.
func fake(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func TestAnswersWithoutTwilioBodies(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		class  dispatcher.Class
	}{
		{"proxy 502 page", http.StatusBadGateway, "<html>Bad Gateway</html>", dispatcher.Transient},
		{"proxy 403 page", http.StatusForbidden, "<html>Forbidden</html>", dispatcher.Permanent},
		{"garbled success", http.StatusCreated, "{not json", dispatcher.Transient},
		{"success without SID", http.StatusCreated, `{"status":"queued"}`, dispatcher.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := fake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := newChannel(t, sms.Config{AccountSID: twiliodouble.DefaultAccountSID, AuthToken: "token", BaseURL: u})
			_, err := c.Send(t.Context(), message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber}))
			se := sendError(t, err)
			if se.Class != tt.class || se.Code != "" || se.Diagnostic == "" {
				t.Errorf("class %s code %q diagnostic %q, want %s", se.Class, se.Code, se.Diagnostic, tt.class)
			}
			if tt.class == dispatcher.Transient && tt.status >= 500 && se.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter %s, want 7s", se.RetryAfter)
			}
		})
	}
}

func TestNoAnswerIsTransient(t *testing.T) {
	m := message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber})

	t.Run("connection refused", func(t *testing.T) {
		s := httptest.NewServer(http.NotFoundHandler())
		u := s.URL
		s.Close()
		c := newChannel(t, sms.Config{AccountSID: twiliodouble.DefaultAccountSID, AuthToken: "token", BaseURL: u})
		se := sendError(t, func() error { _, err := c.Send(t.Context(), m); return err }())
		if se.Class != dispatcher.Transient {
			t.Errorf("class %s", se.Class)
		}
	})

	// hang answers nothing until the client goes away or the test ends.
	// It reads the body first: only then does the server notice a client
	// closing the connection.
	stop := make(chan struct{})
	hang := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}
	defer close(stop)
	t.Run("timeout", func(t *testing.T) {
		c := newChannel(t, sms.Config{AccountSID: twiliodouble.DefaultAccountSID, AuthToken: "token", BaseURL: fake(t, hang), Timeout: 100 * time.Millisecond})
		begin := time.Now()
		_, err := c.Send(t.Context(), m)
		se := sendError(t, err)
		if se.Class != dispatcher.Transient || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("class %s err %v, want transient deadline exceeded", se.Class, err)
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("Send took %s with a 100ms timeout", took)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		c := newChannel(t, sms.Config{AccountSID: twiliodouble.DefaultAccountSID, AuthToken: "token", BaseURL: fake(t, hang)})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Send(ctx, m)
		if se := sendError(t, err); se.Class != dispatcher.Transient || !errors.Is(err, context.Canceled) {
			t.Errorf("class %s err %v, want transient, canceled", se.Class, err)
		}
	})
}

func TestConcurrentSendsReuseConnections(t *testing.T) {
	const workers, each = 8, 25
	d := startDouble(t, twiliodouble.Options{})
	c := newChannel(t, config(t, d))
	var (
		mu   sync.Mutex
		sids = map[string]bool{}
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := message(fmt.Sprintf("+47900%02d%03d", w, i), dispatcher.Sender{SMSService: serviceSID})
				m.DeliveryID = int64(w*each + i + 1)
				rcpt, err := c.Send(t.Context(), m)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					sids[rcpt.ProviderID] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d sends failed, first: %v", len(errs), errs[0])
	}
	got := d.Messages()
	if len(got) != workers*each || len(sids) != workers*each {
		t.Fatalf("double received %d messages, %d distinct receipts; want %d", len(got), len(sids), workers*each)
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g.To]++
		if !sids[g.SID] {
			t.Errorf("message %s has no receipt", g.SID)
		}
	}
	for to, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times", to, n)
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct recipients, want %d", len(seen), workers*each)
	}
	// Without reuse every one of the sends would dial. A connection still
	// being returned to the pool when the next send starts makes the
	// transport dial one more now and then on a loaded machine, so allow
	// a little over one per sender.
	if n := d.Connections(); n > 3*workers {
		t.Errorf("%d connections for %d sends by %d concurrent senders: connections are not reused", n, workers*each, workers)
	}
}

func TestStatusCallbackCarriesDeliveryAndVerifies(t *testing.T) {
	type hit struct {
		url    string
		params map[string]string
		sig    string
	}
	var (
		mu   sync.Mutex
		hits []hit
	)
	hook := fake(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p := map[string]string{}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
		mu.Lock()
		hits = append(hits, hit{"http://" + r.Host + r.URL.RequestURI(), p, r.Header.Get("X-Twilio-Signature")})
		mu.Unlock()
	})
	d := startDouble(t, twiliodouble.Options{})
	cfg := config(t, d)
	cfg.StatusCallback, cfg.CallbackDeliveryParam = hook+"/twilio/status?source=sms", "delivery"
	c := newChannel(t, cfg)
	m := message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber})
	rcpt, err := c.Send(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := d.WaitSettled(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 2 {
		t.Fatalf("%d callbacks, want sent and delivered", len(hits))
	}
	v := client.NewRequestValidator(d.AuthToken())
	for _, h := range hits {
		u, err := url.Parse(h.url)
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Get("delivery") != "42" || u.Query().Get("source") != "sms" || u.Path != "/twilio/status" {
			t.Errorf("callback URL %s lacks delivery=42 or the configured path and query", h.url)
		}
		if h.params["MessageSid"] != rcpt.ProviderID || !v.Validate(h.url, h.params, h.sig) {
			t.Errorf("callback %v for %s does not verify", h.params, rcpt.ProviderID)
		}
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	d := startDouble(t, twiliodouble.Options{})
	target, err := url.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxyTransport := &http.Transport{}
	t.Cleanup(proxyTransport.CloseIdleConnections)
	var (
		mu    sync.Mutex
		paths []string
	)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			mu.Lock()
			paths = append(paths, r.In.URL.Path)
			mu.Unlock()
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/twilio-proxy")
			r.Out.Host = ""
		},
		Transport: proxyTransport,
	}
	cfg := config(t, d)
	cfg.BaseURL = fake(t, proxy.ServeHTTP) + "/twilio-proxy/"
	c := newChannel(t, cfg)
	if _, err := c.Send(t.Context(), message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber})); err != nil {
		t.Fatal(err)
	}
	want := "/twilio-proxy/2010-04-01/Accounts/" + d.AccountSID() + "/Messages.json"
	if len(paths) != 1 || paths[0] != want {
		t.Errorf("proxy saw %v, want %s", paths, want)
	}
}

func TestNilMessage(t *testing.T) {
	c := newChannel(t, sms.Config{AccountSID: twiliodouble.DefaultAccountSID, AuthToken: "token"})
	if se := sendError(t, func() error { _, err := c.Send(t.Context(), nil); return err }()); se.Class != dispatcher.Permanent {
		t.Errorf("class %s", se.Class)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	ok := sms.Config{AccountSID: twiliodouble.DefaultAccountSID, AuthToken: "token"}
	tests := []struct {
		name string
		edit func(*sms.Config)
	}{
		{"no account", func(c *sms.Config) { c.AccountSID = "" }},
		{"no credentials", func(c *sms.Config) { c.AuthToken = "" }},
		{"key without secret", func(c *sms.Config) { c.APIKeySID = "SKx" }},
		{"secret without key", func(c *sms.Config) { c.APIKeySecret = "s" }},
		{"base URL not absolute", func(c *sms.Config) { c.BaseURL = "127.0.0.1:8080" }},
		{"base URL not http", func(c *sms.Config) { c.BaseURL = "ftp://twilio.example" }},
		{"callback relative", func(c *sms.Config) { c.StatusCallback = "/twilio" }},
		{"delivery param without callback", func(c *sms.Config) { c.CallbackDeliveryParam = "delivery" }},
		{"negative timeout", func(c *sms.Config) { c.Timeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := sms.New(cfg)
			if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Errorf("New = %v, want an EINVALID error", err)
			}
		})
	}
	c, err := sms.New(ok)
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	_ = c.Close()
}

func TestConfigRedactsSecrets(t *testing.T) {
	cfg := sms.Config{AccountSID: "ACx", AuthToken: "tok-secret", APIKeySID: "SKx", APIKeySecret: "key-secret"}
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "tok-secret") || strings.Contains(s, "key-secret") || !strings.Contains(s, "ACx") {
			t.Errorf("printed config %q shows a secret or hides the account", s)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writers.
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

func TestLogsCarryIDsNotPersonalData(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := startDouble(t, twiliodouble.Options{Logger: log, Numbers: map[string]twiliodouble.Behavior{
		"+4790000013": {Reject: twiliodouble.CodeInvalidTo},
	}})
	c := newChannel(t, config(t, d), sms.WithLogger(log))
	good := message("+4791234567", dispatcher.Sender{SMSFrom: fromNumber})
	if _, err := c.Send(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	bad := message("+4790000013", dispatcher.Sender{SMSFrom: fromNumber})
	if _, err := c.Send(t.Context(), bad); err == nil {
		t.Fatal("send to the rejected number succeeded")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := d.WaitSettled(ctx); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, personal := range []string{good.To, bad.To, "datainnbrudd"} {
		if strings.Contains(out, personal) {
			t.Errorf("logs contain %q:\n%s", personal, out)
		}
	}
	for _, want := range []string{`"msg":"sms accepted"`, `"msg":"sms send failed"`, `"delivery":42`, `"code":"21211"`, `"class":"invalid"`, `"msg":"twilio double status callback"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}
