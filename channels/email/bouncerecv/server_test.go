package bouncerecv_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/channels/email/verp"
	"github.com/heraldhq/herald/dispatcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDSNSamples(t *testing.T) {
	for _, tc := range []struct {
		file    string
		kind    dispatcher.EventKind
		class   dispatcher.Class
		code    string
		address string
	}{
		{"postfix-user-unknown.eml", dispatcher.EventBounce, dispatcher.Invalid, "5.1.1", "ase@example.net"},
		{"exchange-recipient-not-found.eml", dispatcher.EventBounce, dispatcher.Invalid, "5.1.10", "jan.jansen@contoso.com"},
		{"gmail-no-such-user.eml", dispatcher.EventBounce, dispatcher.Invalid, "5.1.1", "nobody.here@gmail.com"},
		{"postfix-blocked.eml", dispatcher.EventBounce, dispatcher.Permanent, "5.7.1", "per@example.com"},
		{"postfix-delayed.eml", dispatcher.EventDeferred, dispatcher.Transient, "4.4.1", "kari@example.org"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := start(t, nil)
			const id = 4242
			addr := signer().Address(id)
			if err := send(t, b.srv.Addr(), []string{addr}, fixture(t, tc.file, addr, msgID(id), id)); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := b.sink.got()
			if len(got) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(got), got)
			}
			ev := got[0]
			if ev.DeliveryID != id || ev.Kind != tc.kind || ev.Class != tc.class || ev.Code != tc.code {
				t.Errorf("event delivery %d %s/%s code %q, want %d %s/%s %q", ev.DeliveryID, ev.Kind, ev.Class, ev.Code, id, tc.kind, tc.class, tc.code)
			}
			if ev.Channel != dispatcher.Email || ev.Source != "dsn" || ev.Address != tc.address || ev.Token == "" || ev.Diagnostic == "" || ev.At.IsZero() {
				t.Errorf("event %+v: want e-mail channel, source dsn, the address, a token, a diagnostic and a time", ev)
			}
			if n := b.unmatched(t); len(n) != 0 {
				t.Errorf("a matched bounce was kept as unmatched: %v", n)
			}
		})
	}
}

func TestForgedBounceChangesNothing(t *testing.T) {
	good := signer().Address(4242)
	other := (&verp.Signer{Key: []byte("someone-else's-key-0123456789abc"), Domain: bounceDomain}).Address(4242)
	// Change the MAC's last character.
	at := strings.IndexByte(good, '@')
	last := good[at-1]
	repl := byte('a')
	if last == 'a' {
		repl = 'b'
	}
	tampered := good[:at-1] + string(repl) + good[at:]
	for _, addr := range []string{other, tampered, "bounces+42-aaaaaaaaaaaaaaaa@" + bounceDomain} {
		b := start(t, nil)
		err := send(t, b.srv.Addr(), []string{addr}, fixture(t, "postfix-user-unknown.eml", addr, msgID(4242), 4242))
		if code, enh := smtpCode(err); code != 550 || enh != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("%s: got %v, want 550 5.1.1 at RCPT", addr, err)
		}
		if n := len(b.sink.tried()); n != 0 {
			t.Errorf("%s: the sink saw %d events from a forged bounce", addr, n)
		}
		if n := b.unmatched(t); len(n) != 0 {
			t.Errorf("%s: forged bounce kept: %v", addr, n)
		}
		if logs := b.logs.String(); !strings.Contains(logs, "outcome=rejected") || !strings.Contains(logs, "bad VERP token") {
			t.Errorf("forgery not logged as rejected:\n%s", logs)
		}
	}
}

// TestForgedBounceViaProcessor covers the same rule where there is no
// RCPT stage to refuse at (the IMAP poller): the token in the bounce's
// own headers decides.
func TestForgedBounceViaProcessor(t *testing.T) {
	s := newSink()
	p, err := bouncerecv.NewProcessor(bouncerecv.ProcessorOptions{Sink: s, Signer: signer()})
	if err != nil {
		t.Fatal(err)
	}
	forged := "bounces+42-aaaaaaaaaaaaaaaa@" + bounceDomain
	res, err := p.Process(t.Context(), bouncerecv.Message{Raw: fixture(t, "postfix-user-unknown.eml", forged, msgID(42), 42)})
	if err != nil || res.Outcome != bouncerecv.Rejected {
		t.Fatalf("Process = %+v, %v; want Rejected", res, err)
	}
	if len(s.tried()) != 0 {
		t.Error("sink called for a forgery")
	}
	// Two different deliveries' valid tokens: ambiguous, kept unmatched.
	raw := fixture(t, "postfix-user-unknown.eml", signer().Address(1), msgID(1), 1)
	res, err = p.Process(t.Context(), bouncerecv.Message{Raw: raw, Rcpts: []string{signer().Address(1), signer().Address(2)}})
	if err != nil || res.Outcome != bouncerecv.Unmatched {
		t.Fatalf("two deliveries: %+v, %v; want Unmatched", res, err)
	}
	// Headers are the fallback when the transport knows no envelope.
	res, err = p.Process(t.Context(), bouncerecv.Message{Raw: raw, Source: "imap"})
	if err != nil || res.Outcome != bouncerecv.Applied || res.DeliveryID != 1 {
		t.Fatalf("VERP in headers: %+v, %v; want Applied to delivery 1", res, err)
	}
	if ev := s.got()[0]; ev.Source != "imap" || ev.Class != dispatcher.Invalid {
		t.Errorf("event %+v: want source imap, invalid", ev)
	}
	if res, err := p.Process(t.Context(), bouncerecv.Message{Raw: []byte("\r\n")}); err != nil || res.Outcome != bouncerecv.Ignored {
		t.Errorf("empty message: %+v, %v", res, err)
	}
}

func TestAutoreplyIgnored(t *testing.T) {
	b := start(t, nil)
	addr := signer().Address(7)
	if err := send(t, b.srv.Addr(), []string{addr}, fixture(t, "autoreply-vacation.eml", addr, msgID(7), 7)); err != nil {
		t.Fatal(err)
	}
	if n := len(b.sink.tried()); n != 0 {
		t.Errorf("auto-reply produced %d events", n)
	}
	if n := b.unmatched(t); len(n) != 0 {
		t.Errorf("auto-reply kept: %v", n)
	}
	if !strings.Contains(b.logs.String(), "outcome=ignored") {
		t.Errorf("not logged as ignored:\n%s", b.logs)
	}
}

func TestARFComplaint(t *testing.T) {
	b := start(t, nil)
	addr := signer().Address(77)
	if err := send(t, b.srv.Addr(), []string{addr}, fixture(t, "arf-abuse.eml", addr, msgID(77), 77)); err != nil {
		t.Fatal(err)
	}
	// A feedback loop that reports to a fixed address: no VERP, so the
	// original's herald Message-ID identifies the delivery for the ledger.
	fbl := "fbl@" + bounceDomain
	if err := send(t, b.srv.Addr(), []string{fbl}, fixture(t, "arf-abuse.eml", fbl, msgID(78), 78)); err != nil {
		t.Fatal(err)
	}
	got := b.sink.got()
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	for i, want := range []struct {
		delivery int64
		provider string
	}{{77, ""}, {0, "<" + msgID(78) + ">"}} {
		ev := got[i]
		if ev.Kind != dispatcher.EventComplaint || ev.Source != "arf" || ev.Code != "abuse" || ev.Address != "lise@yahoo.com" ||
			ev.DeliveryID != want.delivery || ev.ProviderID != want.provider {
			t.Errorf("event %d: %+v, want a complaint for delivery %d / provider id %q", i, ev, want.delivery, want.provider)
		}
	}
}

var unmatchedName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9a-f]{16}\.eml$`)

func TestUnmatchedKept(t *testing.T) {
	b := start(t, nil)
	verpAddr := signer().Address(9)
	human := fixture(t, "human-reply.eml", verpAddr, "", 0)
	// A DSN for a message herald did not send, to the plain bounce box.
	foreign := []byte(strings.ReplaceAll(string(fixture(t, "postfix-user-unknown.eml", "bounces@"+bounceDomain, "20260301.abc@elsewhere.example", 0)),
		"X-Herald-Delivery: 0\n", ""))
	for _, m := range []struct {
		rcpt string
		data []byte
	}{{verpAddr, human}, {"bounces@" + bounceDomain, foreign}} {
		if err := send(t, b.srv.Addr(), []string{m.rcpt}, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(b.sink.tried()); n != 0 {
		t.Errorf("%d events from unmatched messages", n)
	}
	names := b.unmatched(t)
	if len(names) != 2 {
		t.Fatalf("kept %v, want 2 files", names)
	}
	var contents [][]byte
	for _, n := range names {
		if !unmatchedName.MatchString(n) {
			t.Errorf("file name %q is not <time>-<hash>.eml", n)
		}
		fi, err := os.Stat(filepath.Join(b.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; it holds personal data, want 0600", n, fi.Mode().Perm())
		}
		data, err := os.ReadFile(filepath.Join(b.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, data)
	}
	for _, want := range [][]byte{human, foreign} {
		found := false
		for _, c := range contents {
			if bytes.Equal(bytes.ReplaceAll(c, []byte("\r\n"), []byte("\n")), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("message %.60q… not kept verbatim", want)
		}
	}
	if !strings.Contains(b.logs.String(), "outcome=unmatched") {
		t.Errorf("not logged as unmatched:\n%s", b.logs)
	}
}

func TestRelayDenied(t *testing.T) {
	b := start(t, nil)
	for _, rcpt := range []string{"ase@example.net", "bounces+1-aaaaaaaaaaaaaaaa@bounce.test.example", "postmaster@example.org"} {
		err := send(t, b.srv.Addr(), []string{rcpt}, []byte("Subject: x\n\nx\n"))
		if code, enh := smtpCode(err); code != 550 || enh != (smtp.EnhancedCode{5, 7, 1}) {
			t.Errorf("%s: %v, want 550 5.7.1 relay denied", rcpt, err)
		}
	}
	if n := b.unmatched(t); len(n) != 0 {
		t.Errorf("relayed mail kept: %v", n)
	}
}

func TestSinkFailureGets451(t *testing.T) {
	b := start(t, nil)
	addr := signer().Address(4242)
	data := fixture(t, "postfix-user-unknown.eml", addr, msgID(4242), 4242)
	b.sink.set(errors.New("ledger unavailable"), false)
	err := send(t, b.srv.Addr(), []string{addr}, data)
	if code, enh := smtpCode(err); code != 451 || enh[0] != 4 {
		t.Fatalf("with a failing sink: %v, want 451 so the MTA retries", err)
	}
	if n := b.unmatched(t); len(n) != 0 {
		t.Errorf("a failed message was kept as unmatched: %v", n)
	}
	b.sink.set(nil, false)
	if err := send(t, b.srv.Addr(), []string{addr}, data); err != nil {
		t.Fatalf("retry: %v", err)
	}
	tried := b.sink.tried()
	if len(tried) != 2 || tried[0].Token != tried[1].Token || tried[0].Token == "" {
		t.Errorf("attempts %+v: the retry must carry the same token so the sink can deduplicate", tried)
	}
	if got := b.sink.got(); len(got) != 1 || got[0].Class != dispatcher.Invalid {
		t.Errorf("after the retry: %+v", got)
	}
}

func TestCloseAbortsProcessing(t *testing.T) {
	b := start(t, nil)
	b.sink.set(nil, true) // Apply waits for its context
	addr := signer().Address(5)
	errc := make(chan error, 1)
	go func() {
		errc <- send(t, b.srv.Addr(), []string{addr}, fixture(t, "postfix-user-unknown.eml", addr, msgID(5), 5))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(b.sink.tried()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("message never reached the sink")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Error("a message aborted by Close was acknowledged")
	}
}

func TestConnectionLimit(t *testing.T) {
	b := start(t, func(o *bouncerecv.Options) { o.MaxConnections = 1 })
	first, err := smtp.Dial(b.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Hello("mx.example.net"); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", b.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	_ = c.Close()
	if err != nil || !strings.HasPrefix(line, "421 4.3.2 ") {
		t.Fatalf("second connection got %q, %v; want 421 4.3.2", line, err)
	}
	_ = first.Close()
	// The slot comes back once the first session has ended.
	addr := signer().Address(3)
	data := fixture(t, "postfix-user-unknown.eml", addr, msgID(3), 3)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := send(t, b.srv.Addr(), []string{addr}, data)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never released: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMessageTooLarge(t *testing.T) {
	b := start(t, func(o *bouncerecv.Options) { o.MaxMessageBytes = 1024 })
	addr := signer().Address(3)
	err := send(t, b.srv.Addr(), []string{addr}, fixture(t, "gmail-no-such-user.eml", addr, msgID(3), 3))
	if code, _ := smtpCode(err); code != 552 {
		t.Errorf("oversized message: %v, want 552", err)
	}
	if n := len(b.sink.tried()); n != 0 {
		t.Error("oversized message processed")
	}
}

func TestStartValidates(t *testing.T) {
	dir := t.TempDir()
	base := bouncerecv.Options{Addr: "127.0.0.1:0", Domains: []string{bounceDomain}, Sink: newSink(), Signer: signer(), UnmatchedDir: dir}
	for _, tc := range []struct {
		name string
		mod  func(*bouncerecv.Options)
	}{
		{"no domain", func(o *bouncerecv.Options) { o.Domains = nil }},
		{"no unmatched dir", func(o *bouncerecv.Options) { o.UnmatchedDir = "" }},
		{"no sink", func(o *bouncerecv.Options) { o.Sink = nil }},
		{"no signer", func(o *bouncerecv.Options) { o.Signer = nil }},
		{"weak key", func(o *bouncerecv.Options) { o.Signer = &verp.Signer{Key: []byte("short")} }},
		{"negative limit", func(o *bouncerecv.Options) { o.MaxConnections = -1 }},
		{"bad address", func(o *bouncerecv.Options) { o.Addr = "127.0.0.1:99999" }},
	} {
		o := base
		tc.mod(&o)
		if s, err := bouncerecv.Start(o); err == nil {
			_ = s.Close()
			t.Errorf("%s: Start accepted it", tc.name)
		}
	}
}

func TestShutdown(t *testing.T) {
	b := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", b.srv.Addr(), time.Second); err == nil {
		t.Error("still listening after Shutdown")
	}
}

// TestLedgerHasNoSuchDelivery: the token verifies but the ledger knows no
// such delivery (dispatcher.ErrUnmatched): the message is kept, and the
// MTA is not asked to retry.
func TestLedgerHasNoSuchDelivery(t *testing.T) {
	b := start(t, nil)
	b.sink.set(fmt.Errorf("%w (delivery 4242)", dispatcher.ErrUnmatched), false)
	addr := signer().Address(4242)
	if err := send(t, b.srv.Addr(), []string{addr}, fixture(t, "postfix-user-unknown.eml", addr, msgID(4242), 4242)); err != nil {
		t.Fatalf("send: %v, want 250", err)
	}
	if names := b.unmatched(t); len(names) != 1 {
		t.Errorf("kept %v, want the message", names)
	}
	if !strings.Contains(b.logs.String(), "the ledger has no such delivery") {
		t.Errorf("reason not logged:\n%s", b.logs)
	}
}
