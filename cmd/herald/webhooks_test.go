package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
)

// TestTwilioCallbacks: Twilio's signed status callbacks, as the double
// sends them, reach the ledger through herald's webhook: a delivered SMS
// becomes delivered; one the carrier reports as an unknown destination
// (30005) is invalid, and the contact falls back to e-mail.
func TestTwilioCallbacks(t *testing.T) {
	ctx := context.Background()
	tw, err := twiliodouble.Start(twiliodouble.Options{Numbers: map[string]twiliodouble.Behavior{
		"+4791000002": {Outcome: twiliodouble.StatusUndelivered, ErrorCode: 30005},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Close() })
	mta, err := smtpd.Start(smtpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mta.Close() })

	// The webhook endpoint, mounted as `herald serve` mounts it, at a URL
	// that is also the public URL Twilio signs over.
	var handler http.Handler
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		if h == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	e := sqliteEnv(t)
	for k, v := range map[string]string{
		"HERALD_TWILIO_ACCOUNT_SID": tw.AccountSID(), "HERALD_TWILIO_AUTH_TOKEN": tw.AuthToken(), "HERALD_TWILIO_API_URL": tw.URL(),
		"HERALD_PUBLIC_URL": srv.URL, "HERALD_SMTP_HOST": mta.Host(), "HERALD_SMTP_PORT": itoa(int64(mta.Port())), "HERALD_SMTP_TLS": "none",
	} {
		e[k] = v
	}
	mustHerald(t, e, "campaign", "create", "--name", "cb", "--locale", "nb", "--templates", "demotemplates",
		"--channels", "sms,email", "--from", "hr@clinic.example", "--sms-from", "Klinikk", "--quiet-hours", "off")
	csv := filepath.Join(t.TempDir(), "list.csv")
	data := "ansattnr;navn;e-post;mobil;land;rolle\n1;Kari Nordmann;kari@example.no;+4791000001;NO;ansatt\n2;Ola Nordmann;ola@example.no;+4791000002;NO;ansatt\n"
	if err := os.WriteFile(csv, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	mustHerald(t, e, "import", "--campaign", "cb", "--rejects", filepath.Join(t.TempDir(), "r.csv"), csv)
	mustHerald(t, e, "campaign", "launch", "cb")

	a := &app{stdout: &syncBuffer{}, stderr: &syncBuffer{}, getenv: e.get}
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	st, err := a.store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := a.webhooks(ctx)
	if err != nil || hooks == nil {
		t.Fatalf("webhooks: %v %v", hooks, err)
	}
	mu.Lock()
	handler = hooks
	mu.Unlock()
	b, err := a.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chans, err := a.buildChannels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.pollInterval, a.retryBase = 50*time.Millisecond, 200*time.Millisecond
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runWorkers(wctx, a, st, b, chans, 1, 4, 200*time.Millisecond); err != nil {
			t.Errorf("workers: %v", err)
		}
	}()
	defer func() { stop(); wg.Wait() }()

	state := func(q string, k dispatcher.ChannelKind) dispatcher.State {
		cs, err := st.FindContacts(ctx, q)
		if err != nil || len(cs) != 1 {
			t.Fatalf("find %s: %v %v", q, cs, err)
		}
		ds, err := st.DeliveriesOf(ctx, cs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Channel == k {
				return d.State
			}
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if state("+4791000001", dispatcher.SMS) == dispatcher.StateDelivered && state("ola@example.no", dispatcher.Email) == dispatcher.StateSent {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := state("+4791000001", dispatcher.SMS); got != dispatcher.StateDelivered {
		t.Errorf("delivered SMS is %s", got)
	}
	if got := state("+4791000002", dispatcher.SMS); got != dispatcher.StateBouncedHard {
		t.Errorf("undeliverable SMS is %s", got)
	}
	if got := state("ola@example.no", dispatcher.Email); got != dispatcher.StateSent || mta.Count() != 1 {
		t.Errorf("fallback e-mail is %s; SMTP server got %d", got, mta.Count())
	}
	if got := state("kari@example.no", dispatcher.Email); got != "" {
		t.Errorf("a reached contact got an e-mail delivery: %s", got)
	}
	// A forged callback (bad signature) is refused and changes nothing.
	resp, err := http.PostForm(srv.URL+"/webhooks/twilio?delivery=1", map[string][]string{"MessageStatus": {"undelivered"}, "ErrorCode": {"30005"}, "MessageSid": {"SMforged"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || state("+4791000001", dispatcher.SMS) != dispatcher.StateDelivered {
		t.Errorf("forged callback: %d, state %s", resp.StatusCode, state("+4791000001", dispatcher.SMS))
	}
}
