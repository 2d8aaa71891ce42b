package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
)

// TestPostfixBounceFallback runs the whole bounce path through a real MTA:
// herald sends through Postfix on loopback to a mailbox that does not
// exist; Postfix accepts the message, then returns its own DSN to the VERP
// address; herald's bounce receiver verifies the token, marks the e-mail
// invalid, and the contact is reached by SMS instead.
//
// It needs the Postfix that deploy/postfix-test/setup.sh configures, and
// runs when HERALD_TEST_POSTFIX=1 (.ci/run sets it up and sets it).
func TestPostfixBounceFallback(t *testing.T) {
	if os.Getenv("HERALD_TEST_POSTFIX") != "1" {
		t.Skip("HERALD_TEST_POSTFIX not set: run deploy/postfix-test/setup.sh and set it")
	}
	port := os.Getenv("HERALD_TEST_POSTFIX_PORT")
	if port == "" {
		port = "2525"
	}
	bounceAddr := os.Getenv("HERALD_TEST_BOUNCE_ADDR")
	if bounceAddr == "" {
		bounceAddr = "127.0.0.1:2526"
	}
	ctx := context.Background()
	tw, err := twiliodouble.Start(twiliodouble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Close() })

	e := sqliteEnv(t)
	for k, v := range map[string]string{
		"HERALD_SMTP_HOST": "127.0.0.1", "HERALD_SMTP_PORT": port, "HERALD_SMTP_TLS": "none",
		"HERALD_BOUNCE_DOMAIN": "bounce.test", "HERALD_VERP_KEY": "postfix-test-key-0123456789abcdef",
		"HERALD_TWILIO_ACCOUNT_SID": tw.AccountSID(), "HERALD_TWILIO_AUTH_TOKEN": tw.AuthToken(), "HERALD_TWILIO_API_URL": tw.URL(),
	} {
		e[k] = v
	}
	mustHerald(t, e, "campaign", "create", "--name", "pf", "--locale", "nb", "--templates", "demotemplates",
		"--from", "hr@clinic.test", "--sms-from", "Klinikk", "--quiet-hours", "off", "--no-guard")
	csv := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(csv, []byte("ansattnr;navn;e-post;mobil;land;rolle\n1;Tidligere Ansatt;nobody@dead.test;+4791234599;NO;tidligere ansatt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustHerald(t, e, "import", "--campaign", "pf", "--rejects", filepath.Join(t.TempDir(), "r.csv"), csv)
	mustHerald(t, e, "campaign", "launch", "pf")

	a := &app{stdout: &syncBuffer{}, stderr: &syncBuffer{}, getenv: e.get}
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	st, err := a.store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chans, err := a.buildChannels(ctx) // the configured path: VERP return path included
	if err != nil {
		t.Fatal(err)
	}
	signer, err := a.verpSigner()
	if err != nil {
		t.Fatal(err)
	}
	sink := &dispatcher.Outcomes{Store: st, Logger: a.logger} // embedded queue: the worker's reconciler queues the fallback
	srv, err := bouncerecv.Start(bouncerecv.Options{Addr: bounceAddr, Hostname: "herald-bounces.test", Domains: []string{"bounce.test"},
		Sink: sink, Signer: signer, UnmatchedDir: t.TempDir(), Logger: a.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

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

	deadline := time.Now().Add(90 * time.Second)
	var ds map[dispatcher.ChannelKind]dispatcher.Delivery
	for time.Now().Before(deadline) {
		cs, err := st.FindContacts(ctx, "nobody@dead.test")
		if err != nil || len(cs) != 1 {
			t.Fatalf("contact: %v %v", cs, err)
		}
		all, err := st.DeliveriesOf(ctx, cs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		ds = map[dispatcher.ChannelKind]dispatcher.Delivery{}
		for _, d := range all {
			ds[d.Channel] = d
		}
		if ds[dispatcher.SMS].State == dispatcher.StateSent {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	em, sm := ds[dispatcher.Email], ds[dispatcher.SMS]
	if em.State != dispatcher.StateBouncedHard || !strings.Contains(em.Code, "5.1.1") || sm.State != dispatcher.StateSent {
		t.Fatalf("after Postfix's bounce: email %s %q %q, sms %s", em.State, em.Code, em.Diagnostic, sm.State)
	}
	if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "nobody@dead.test"); sup == nil || sup.Reason != "invalid" {
		t.Errorf("suppression %+v", sup)
	}
	if len(tw.Messages()) != 1 {
		t.Errorf("Twilio double got %d messages", len(tw.Messages()))
	}
	t.Logf("email: %s %s (%s); sms: %s", em.State, em.Code, em.Diagnostic, sm.State)
}
