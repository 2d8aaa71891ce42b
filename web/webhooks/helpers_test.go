package webhooks_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/web/webhooks"
)

// sink records events and fails while fail is set.
type sink struct {
	mu     sync.Mutex
	events []dispatcher.ProviderEvent
	calls  int
	fail   error
	added  chan struct{}
}

func newSink() *sink { return &sink{added: make(chan struct{}, 1024)} }

func (s *sink) Apply(_ context.Context, ev dispatcher.ProviderEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return s.fail
	}
	s.events = append(s.events, ev)
	s.added <- struct{}{}
	return nil
}

func (s *sink) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *sink) got() []dispatcher.ProviderEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dispatcher.ProviderEvent(nil), s.events...)
}

func (s *sink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Credentials used throughout.
const (
	authToken  = "0123456789abcdef0123456789abcdef"
	publicBase = "https://herald.example.org"
	topicARN   = "arn:aws:sns:eu-west-1:123456789012:herald-ses"
	certURL    = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
)

// keys holds the test's SNS and SendGrid signing keys, made once.
var keys = sync.OnceValue(func() struct {
	rsa  *rsa.PrivateKey
	cert *x509.Certificate
	ec   *ecdsa.PrivateKey
	ecB  string
} {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rk.PublicKey, rk)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	if err != nil {
		panic(err)
	}
	return struct {
		rsa  *rsa.PrivateKey
		cert *x509.Certificate
		ec   *ecdsa.PrivateKey
		ecB  string
	}{rk, cert, ek, base64.StdEncoding.EncodeToString(pub)}
})

// fetcher serves the test certificate for certURL and counts fetches.
type fetcher struct {
	mu   sync.Mutex
	urls []string
}

func (f *fetcher) fetch(_ context.Context, u string) (*x509.Certificate, error) {
	f.mu.Lock()
	f.urls = append(f.urls, u)
	f.mu.Unlock()
	if u != certURL {
		return nil, errors.New("no such certificate")
	}
	return keys().cert, nil
}

// logBuffer collects log output, to check what is (not) logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type bundle struct {
	h    *webhooks.Handler
	sink *sink
	cert *fetcher
	logs *logBuffer
}

// setup returns a Handler with every endpoint enabled.
func setup(t testing.TB, mod func(*webhooks.Options)) *bundle {
	t.Helper()
	b := &bundle{sink: newSink(), cert: &fetcher{}, logs: &logBuffer{}}
	opts := webhooks.Options{
		Sink:     b.sink,
		Twilio:   &webhooks.TwilioOptions{AuthToken: authToken, PublicBaseURL: publicBase},
		SES:      &webhooks.SESOptions{TopicARNs: []string{topicARN}, FetchCert: b.cert.fetch},
		SendGrid: &webhooks.SendGridOptions{PublicKey: keys().ecB},
		Logger:   slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	}
	if mod != nil {
		mod(&opts)
	}
	h, err := webhooks.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.h = h
	return b
}

// serve runs req through the handler.
func (b *bundle) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// twilioRequest builds a callback as Twilio posts it to publicBase+target,
// arriving at the handler as path target (a proxy in between).
func twilioRequest(target string, form url.Values, token string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://10.0.0.5:8080"+target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliodouble.Sign(authToken, publicBase+target, form))
	if token != "" {
		req.Header.Set("I-Twilio-Idempotency-Token", token)
	}
	return req
}

func twilioForm(status, code string) url.Values {
	f := url.Values{
		"AccountSid":    {"AC0123456789abcdef0123456789abcdef"},
		"MessageSid":    {"SM0123456789abcdef0123456789abcdef"},
		"SmsSid":        {"SM0123456789abcdef0123456789abcdef"},
		"MessageStatus": {status},
		"SmsStatus":     {status},
		"To":            {"+4791234567"},
		"From":          {"+15005550006"},
		"ApiVersion":    {"2010-04-01"},
	}
	if code != "" {
		f.Set("ErrorCode", code)
	}
	return f
}

// snsEnvelope returns a signed SNS delivery of message.
func snsEnvelope(t testing.TB, typ, message, version string, mod func(map[string]string)) []byte {
	t.Helper()
	m := map[string]string{
		"Type":             typ,
		"MessageId":        "6b3f1c8e-0000-4000-8000-000000000001",
		"TopicArn":         topicARN,
		"Message":          message,
		"Timestamp":        "2026-03-01T11:59:58.123Z",
		"SignatureVersion": version,
		"SigningCertURL":   certURL,
	}
	if typ != "Notification" {
		m["Token"] = "2336412f37fb687f5d51e6e2425c464de12884"
		m["SubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(topicARN) + "&Token=2336412f37fb687f5d51e6e2425c464de12884"
	}
	if mod != nil {
		mod(m)
	}
	// Sign the values as the receiver will decode them (JSON replaces
	// invalid UTF-8).
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	decoded := map[string]string{}
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	decoded["Signature"] = snsSign(t, decoded)
	body, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// snsSign signs m the way SNS does, independently of the code under test.
func snsSign(t testing.TB, m map[string]string) string {
	t.Helper()
	var names []string
	if m["Type"] == "Notification" {
		names = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	} else {
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, n := range names {
		v, ok := m[n]
		if !ok {
			continue
		}
		b.WriteString(n + "\n" + v + "\n")
	}
	var (
		h   crypto.Hash
		sum []byte
	)
	if m["SignatureVersion"] == "1" {
		s := sha1.Sum([]byte(b.String())) //nolint:gosec
		h, sum = crypto.SHA1, s[:]
	} else {
		s := sha256.Sum256([]byte(b.String()))
		h, sum = crypto.SHA256, s[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, keys().rsa, h, sum)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func sesRequest(body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/ses", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	req.Header.Set("x-amz-sns-message-type", "Notification")
	return req
}

// sendgridRequest returns a signed Event Webhook post of body.
func sendgridRequest(t testing.TB, body []byte) *http.Request {
	t.Helper()
	ts := "1772366400"
	sum := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, keys().ec, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/sendgrid", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhooks.HeaderSendGridSignature, base64.StdEncoding.EncodeToString(sig))
	req.Header.Set(webhooks.HeaderSendGridTimestamp, ts)
	return req
}
