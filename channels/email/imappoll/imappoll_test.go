package imappoll_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/channels/email/imappoll"
	"github.com/heraldhq/herald/channels/email/verp"
	"github.com/heraldhq/herald/dispatcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	user     = "bounces@bolgen.example"
	password = "imap-test-password"
)

var signer = &verp.Signer{Key: []byte("imappoll-test-key-0123456789abcd"), Domain: "bounce.test"}

// sink records events; fail makes Apply fail.
type sink struct {
	mu     sync.Mutex
	events []dispatcher.ProviderEvent
	tried  []dispatcher.ProviderEvent
	fail   error
}

func (s *sink) Apply(_ context.Context, ev dispatcher.ProviderEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tried = append(s.tried, ev)
	if s.fail != nil {
		return s.fail
	}
	s.events = append(s.events, ev)
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
	return slices.Clone(s.events)
}

func (s *sink) attempts() []dispatcher.ProviderEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tried)
}

// noKeywords hides \* from PERMANENTFLAGS, as servers that do not allow
// keywords do.
type noKeywords struct{ imapserver.Session }

func (s noKeywords) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	d, err := s.Session.Select(mailbox, options)
	if d != nil {
		d.PermanentFlags = slices.DeleteFunc(slices.Clone(d.PermanentFlags), func(f imap.Flag) bool { return f == imap.FlagWildcard })
	}
	return d, err
}

type serverOpts struct {
	noKeywords bool
	tls        imappoll.TLSMode
}

// imapServer is an in-process IMAP server with one user and an INBOX.
type imapServer struct {
	addr  string
	roots *x509.CertPool
}

func startIMAP(t *testing.T, o serverOpts) *imapServer {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	var tlsConf *tls.Config
	var roots *x509.CertPool
	if o.tls != imappoll.TLSNone && o.tls != "" {
		tlsConf, roots = selfSigned(t)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			s := mem.NewSession()
			if o.noKeywords {
				s = noKeywords{s}
			}
			return s, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: o.tls == imappoll.TLSNone || o.tls == "",
		TLSConfig:    tlsConf,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.tls == imappoll.TLSImplicit {
		ln = tls.NewListener(ln, tlsConf)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return &imapServer{addr: ln.Addr().String(), roots: roots}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pool
}

// client logs in as a mail delivery agent or a person would.
func (s *imapServer) client(t *testing.T) *imapclient.Client {
	t.Helper()
	var (
		c   *imapclient.Client
		err error
	)
	if s.roots != nil {
		// Tests deliver over a plain connection only to plain servers.
		t.Fatal("client helper only for plain servers")
	}
	c, err = imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// deliver appends messages to INBOX.
func deliver(t *testing.T, c *imapclient.Client, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		m = []byte(strings.ReplaceAll(strings.ReplaceAll(string(m), "\r\n", "\n"), "\n", "\r\n"))
		cmd := c.Append("INBOX", int64(len(m)), nil)
		if _, err := cmd.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// flags returns every message's flags by UID, and the message count.
func flags(t *testing.T, c *imapclient.Client) map[imap.UID][]imap.Flag {
	t.Helper()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[imap.UID][]imap.Flag{}
	for _, m := range msgs {
		out[m.UID] = m.Flags
	}
	return out
}

func fixture(t *testing.T, name, verpAddr string, delivery int64) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "bouncerecv", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(delivery, 10)
	return []byte(strings.NewReplacer("{{VERP}}", verpAddr, "{{MSGID}}", "herald."+id+".q7l3m2xk5vd4o6wj2bhyzr4tca@bolgen.example", "{{DELIVERY}}", id).Replace(string(raw)))
}

func newPoller(t *testing.T, s *imapServer, snk dispatcher.EventSink, mod func(*imappoll.Options)) *imappoll.Poller {
	t.Helper()
	proc, err := bouncerecv.NewProcessor(bouncerecv.ProcessorOptions{Sink: snk, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	o := imappoll.Options{Addr: s.addr, TLS: imappoll.TLSNone, Username: user, Password: password, Processor: proc, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&noAddresses{t: t}, nil))}
	if mod != nil {
		mod(&o)
	}
	p, err := imappoll.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noAddresses fails the test when a log record carries an address.
type noAddresses struct{ t *testing.T }

func (w *noAddresses) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "@") {
		w.t.Errorf("address in log record: %s", p)
	}
	return len(p), nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPollMarksAndKeeps(t *testing.T) {
	s := startIMAP(t, serverOpts{})
	c := s.client(t)
	plain := "bounces@bolgen.example" // no VERP: bounces to the sender's mailbox
	deliver(t, c,
		fixture(t, "postfix-user-unknown.eml", signer.Address(11), 11),                        // 1 applied by VERP
		fixture(t, "exchange-recipient-not-found.eml", plain, 12),                             // 2 applied by Message-ID
		fixture(t, "arf-abuse.eml", signer.Address(13), 13),                                   // 3 applied: complaint
		fixture(t, "autoreply-vacation.eml", plain, 14),                                       // 4 ignored
		fixture(t, "postfix-user-unknown.eml", "bounces+15-aaaaaaaaaaaaaaaa@bounce.test", 15), // 5 rejected
		fixture(t, "human-reply.eml", plain, 0),                                               // 6 unmatched
	)
	snk := &sink{}
	p := newPoller(t, s, snk, nil)
	st, err := p.Poll(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := (imappoll.Stats{Applied: 3, Ignored: 1, Rejected: 1, Unmatched: 1}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	got := snk.got()
	if len(got) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(got), got)
	}
	if ev := got[0]; ev.DeliveryID != 11 || ev.Kind != dispatcher.EventBounce || ev.Class != dispatcher.Invalid || ev.Source != "imap" || ev.Code != "5.1.1" {
		t.Errorf("VERP bounce: %+v", ev)
	}
	if ev := got[1]; ev.DeliveryID != 0 || ev.ProviderID != "<herald.12.q7l3m2xk5vd4o6wj2bhyzr4tca@bolgen.example>" || ev.Class != dispatcher.Invalid {
		t.Errorf("Message-ID bounce: %+v, want the herald Message-ID for the ledger to match", ev)
	}
	if ev := got[2]; ev.DeliveryID != 13 || ev.Kind != dispatcher.EventComplaint {
		t.Errorf("complaint: %+v", ev)
	}

	fl := flags(t, c)
	if len(fl) != 6 {
		t.Fatalf("%d messages left, want all 6 kept", len(fl))
	}
	for uid, f := range fl {
		wantKW := imappoll.KeywordProcessed
		if uid == 6 {
			wantKW = imappoll.KeywordUnmatched
		}
		if !hasFlag(f, wantKW) {
			t.Errorf("message %d flags %v, want %s", uid, f, wantKW)
		}
		if slices.Contains(f, imap.FlagSeen) || slices.Contains(f, imap.FlagDeleted) {
			t.Errorf("message %d flags %v: the poller must not mark seen or delete", uid, f)
		}
	}

	st, err = p.Poll(ctx(t))
	if err != nil || st != (imappoll.Stats{}) {
		t.Errorf("second poll: %+v, %v; want nothing new", st, err)
	}
	if n := len(snk.attempts()); n != 3 {
		t.Errorf("%d sink calls after two polls, want 3", n)
	}
}

func TestPollLeavesFailedMessages(t *testing.T) {
	s := startIMAP(t, serverOpts{})
	c := s.client(t)
	deliver(t, c, fixture(t, "postfix-user-unknown.eml", signer.Address(21), 21), fixture(t, "gmail-no-such-user.eml", signer.Address(22), 22))
	snk := &sink{}
	snk.setFail(errors.New("ledger unavailable"))
	p := newPoller(t, s, snk, nil)
	if _, err := p.Poll(ctx(t)); err == nil {
		t.Fatal("poll with a failing sink reported success")
	}
	if n := len(snk.attempts()); n != 1 {
		t.Errorf("%d sink calls, want 1: the poll must stop at the first failure", n)
	}
	for uid, f := range flags(t, c) {
		if len(f) != 0 {
			t.Errorf("message %d marked %v although it was not handled", uid, f)
		}
	}
	snk.setFail(nil)
	st, err := p.Poll(ctx(t))
	if err != nil || st.Applied != 2 {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	tried := snk.attempts()
	if tried[0].Token != tried[1].Token {
		t.Errorf("the retried message has another token (%q, %q): the ledger could not deduplicate", tried[0].Token, tried[1].Token)
	}
}

func TestPollWithoutKeywords(t *testing.T) {
	s := startIMAP(t, serverOpts{noKeywords: true})
	c := s.client(t)
	deliver(t, c, fixture(t, "postfix-user-unknown.eml", signer.Address(31), 31), fixture(t, "human-reply.eml", "x@bolgen.example", 0))
	snk := &sink{}
	p := newPoller(t, s, snk, nil)
	st, err := p.Poll(ctx(t))
	if err != nil || st.Applied != 1 || st.Unmatched != 1 {
		t.Fatalf("poll: %+v, %v", st, err)
	}
	fl := flags(t, c)
	if f := fl[1]; !slices.Equal(sortFlags(f), []imap.Flag{imap.FlagSeen}) {
		t.Errorf("handled message flags %v, want only \\Seen", f)
	}
	if f := fl[2]; !slices.Equal(sortFlags(f), []imap.Flag{imap.FlagFlagged, imap.FlagSeen}) {
		t.Errorf("unmatched message flags %v, want \\Seen \\Flagged", f)
	}
	if st, err := p.Poll(ctx(t)); err != nil || st != (imappoll.Stats{}) {
		t.Errorf("second poll: %+v, %v", st, err)
	}
}

// hasFlag reports whether f holds flag; keywords are case-insensitive.
func hasFlag(f []imap.Flag, flag imap.Flag) bool {
	return slices.ContainsFunc(f, func(x imap.Flag) bool { return strings.EqualFold(string(x), string(flag)) })
}

func sortFlags(f []imap.Flag) []imap.Flag {
	f = slices.Clone(f)
	slices.Sort(f)
	return f
}

func TestPollTLS(t *testing.T) {
	for _, mode := range []imappoll.TLSMode{imappoll.TLSImplicit, imappoll.TLSStartTLS} {
		t.Run(string(mode), func(t *testing.T) {
			s := startIMAP(t, serverOpts{tls: mode})
			snk := &sink{}
			p := newPoller(t, s, snk, func(o *imappoll.Options) {
				o.TLS = mode
				o.TLSConfig = &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
			})
			if st, err := p.Poll(ctx(t)); err != nil || st != (imappoll.Stats{}) {
				t.Fatalf("poll over %s: %+v, %v", mode, st, err)
			}
			// A server the poller cannot verify is refused.
			untrusting := newPoller(t, s, snk, func(o *imappoll.Options) { o.TLS = mode })
			if _, err := untrusting.Poll(ctx(t)); err == nil {
				t.Error("connected to a server with an unknown certificate")
			}
		})
	}
}

func TestPollLimits(t *testing.T) {
	s := startIMAP(t, serverOpts{})
	c := s.client(t)
	deliver(t, c,
		fixture(t, "postfix-user-unknown.eml", signer.Address(41), 41),
		fixture(t, "gmail-no-such-user.eml", signer.Address(42), 42),
		fixture(t, "postfix-blocked.eml", signer.Address(43), 43))
	snk := &sink{}
	p := newPoller(t, s, snk, func(o *imappoll.Options) { o.BatchSize = 2; o.MaxMessageBytes = 3500 })
	st, err := p.Poll(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// The Gmail bounce returns the whole original and is over the limit.
	if st.Applied != 1 || st.TooLarge != 1 || st.Remaining != 1 {
		t.Errorf("stats %+v, want 1 applied, 1 too large, 1 remaining", st)
	}
	if f := flags(t, c)[2]; !hasFlag(f, imappoll.KeywordUnmatched) {
		t.Errorf("oversized message flags %v, want %s", f, imappoll.KeywordUnmatched)
	}
	st, err = p.Poll(ctx(t))
	if err != nil || st.Applied != 1 || st.Remaining != 0 {
		t.Errorf("next poll: %+v, %v; want the remaining message", st, err)
	}
}

func TestRunPollsUntilCancelled(t *testing.T) {
	s := startIMAP(t, serverOpts{})
	c := s.client(t)
	snk := &sink{}
	p := newPoller(t, s, snk, func(o *imappoll.Options) { o.Interval = 20 * time.Millisecond })
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	deliver(t, c, fixture(t, "postfix-user-unknown.eml", signer.Address(51), 51))
	deadline := time.Now().Add(5 * time.Second)
	for len(snk.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run never picked up the message")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestPollErrors(t *testing.T) {
	s := startIMAP(t, serverOpts{})
	snk := &sink{}
	wrongPassword := newPoller(t, s, snk, func(o *imappoll.Options) { o.Password = "wrong" })
	if _, err := wrongPassword.Poll(ctx(t)); err == nil || !strings.Contains(err.Error(), "log in") {
		t.Errorf("wrong password: %v", err)
	}
	noMailbox := newPoller(t, s, snk, func(o *imappoll.Options) { o.Mailbox = "Bounces" })
	if _, err := noMailbox.Poll(ctx(t)); err == nil || !strings.Contains(err.Error(), "select") {
		t.Errorf("missing mailbox: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := ln.Addr().String() // accepts, never greets
	defer func() { _ = ln.Close() }()
	mute := newPoller(t, &imapServer{addr: silent}, snk, func(o *imappoll.Options) { o.Timeout = 100 * time.Millisecond })
	if _, err := mute.Poll(ctx(t)); err == nil {
		t.Error("a server that never greets did not time out")
	}
}

func TestNewValidates(t *testing.T) {
	proc, err := bouncerecv.NewProcessor(bouncerecv.ProcessorOptions{Sink: &sink{}, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	base := imappoll.Options{Addr: "imap.example.org:993", Username: "u", Processor: proc}
	for _, tc := range []struct {
		name string
		mod  func(*imappoll.Options)
	}{
		{"no address", func(o *imappoll.Options) { o.Addr = "" }},
		{"no port", func(o *imappoll.Options) { o.Addr = "imap.example.org" }},
		{"no user", func(o *imappoll.Options) { o.Username = "" }},
		{"no processor", func(o *imappoll.Options) { o.Processor = nil }},
		{"bad TLS mode", func(o *imappoll.Options) { o.TLS = "ssl" }},
		{"negative interval", func(o *imappoll.Options) { o.Interval = -time.Second }},
	} {
		o := base
		tc.mod(&o)
		if _, err := imappoll.New(o); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
}

func TestLedgerHasNoSuchDelivery(t *testing.T) {
	s := startIMAP(t, serverOpts{})
	c := s.client(t)
	deliver(t, c, fixture(t, "postfix-user-unknown.eml", signer.Address(61), 61))
	snk := &sink{}
	snk.setFail(fmt.Errorf("%w (delivery 61)", dispatcher.ErrUnmatched))
	st, err := newPoller(t, s, snk, nil).Poll(ctx(t))
	if err != nil || st.Unmatched != 1 {
		t.Fatalf("poll: %+v, %v; want the message unmatched", st, err)
	}
	if f := flags(t, c)[1]; !hasFlag(f, imappoll.KeywordUnmatched) {
		t.Errorf("flags %v, want %s", f, imappoll.KeywordUnmatched)
	}
}
