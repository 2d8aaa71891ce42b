package bouncerecv_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/channels/email/verp"
	"github.com/heraldhq/herald/dispatcher"
)

const bounceDomain = "bounce.test"

var testKey = []byte("bouncerecv-test-key-0123456789ab")

func signer() *verp.Signer { return &verp.Signer{Key: testKey, Domain: bounceDomain} }

// sink records applied events, and every attempt, failing while fail is
// set; block, when set, makes Apply wait for ctx.
type sink struct {
	mu       sync.Mutex
	events   []dispatcher.ProviderEvent
	attempts []dispatcher.ProviderEvent
	fail     error
	block    bool
	changed  chan struct{}
}

func newSink() *sink { return &sink{changed: make(chan struct{})} }

func (s *sink) Apply(ctx context.Context, ev dispatcher.ProviderEvent) error {
	s.mu.Lock()
	s.attempts = append(s.attempts, ev)
	block, fail := s.block, s.fail
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		return fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *sink) set(fail error, block bool) {
	s.mu.Lock()
	s.fail, s.block = fail, block
	s.mu.Unlock()
}

func (s *sink) got() []dispatcher.ProviderEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dispatcher.ProviderEvent(nil), s.events...)
}

func (s *sink) tried() []dispatcher.ProviderEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dispatcher.ProviderEvent(nil), s.attempts...)
}

// waitFor waits until the sink holds n events or the deadline passes.
func (s *sink) waitFor(ctx context.Context, n int) ([]dispatcher.ProviderEvent, error) {
	for {
		s.mu.Lock()
		evs, ch := append([]dispatcher.ProviderEvent(nil), s.events...), s.changed
		s.mu.Unlock()
		if len(evs) >= n {
			return evs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return evs, ctx.Err()
		}
	}
}

// logBuffer collects log output.
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
	srv  *bouncerecv.Server
	sink *sink
	dir  string
	logs *logBuffer
}

// start runs a receiver on a free loopback port. At cleanup it checks
// that nothing personal reached the logs.
func start(t testing.TB, mod func(*bouncerecv.Options)) *bundle {
	t.Helper()
	b := &bundle{sink: newSink(), dir: filepath.Join(t.TempDir(), "unmatched"), logs: &logBuffer{}}
	opts := bouncerecv.Options{
		Addr:         "127.0.0.1:0",
		Hostname:     "bounce-mx.test",
		Domains:      []string{bounceDomain},
		Sink:         b.sink,
		Signer:       signer(),
		UnmatchedDir: b.dir,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	srv, err := bouncerecv.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if logs := b.logs.String(); strings.Contains(logs, "@") {
			t.Errorf("an address reached the logs:\n%s", logs)
		}
	})
	return b
}

// unmatched lists the files kept for inspection.
func (b *bundle) unmatched(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// fixture loads a testdata message, filling in the VERP address, the
// original's Message-ID and the delivery ID.
func fixture(t testing.TB, name, verpAddr, msgID string, delivery int64) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer("{{VERP}}", verpAddr, "{{MSGID}}", msgID, "{{DELIVERY}}", strconv.FormatInt(delivery, 10)).Replace(string(raw)))
}

// msgID is a Message-ID as the e-mail channel makes it.
func msgID(delivery int64) string {
	return "herald." + strconv.FormatInt(delivery, 10) + ".q7l3m2xk5vd4o6wj2bhyzr4tca@bolgen.example"
}

// send delivers data from the null sender to rcpts with a real SMTP
// client, returning the first SMTP error.
func send(t testing.TB, addr string, rcpts []string, data []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Hello("mx.example.net"); err != nil {
		return err
	}
	if err := c.Mail("", nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// smtpCode returns the reply code and enhanced code of err.
func smtpCode(err error) (int, smtp.EnhancedCode) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.EnhancedCode
	}
	return 0, smtp.EnhancedCode{}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
