package email_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/dispatcher"
)

// startSMTP runs an in-process SMTP server for one test.
func startSMTP(t testing.TB, opts smtpd.Options) *smtpd.Server {
	t.Helper()
	s, err := smtpd.Start(opts)
	if err != nil {
		t.Fatalf("start smtpd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close smtpd: %v", err)
		}
	})
	return s
}

// newChannel returns a channel to s, plain SMTP unless mod says otherwise.
func newChannel(t testing.TB, s *smtpd.Server, mod func(*email.Config), opts ...email.Option) *email.Channel {
	t.Helper()
	cfg := email.Config{Host: s.Host(), Port: s.Port(), TLS: email.TLSNone, PoolSize: 2, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := email.New(cfg, opts...)
	if err != nil {
		t.Fatalf("new channel: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

const (
	fromEmail = "varsel@bolgen.example"
	replyTo   = "personvern@bolgen.example"
	subject   = "Viktig: datainnbrudd hos Bølgen & Co – dette må du gjøre nå, Åse"
	textBody  = "Hei Åse,\n\nVi har oppdaget et datainnbrudd hos Bølgen & Co. Navn, e-postadresse og lønnsslipper\nfra 2019–2023 kan være berørt. Bytt passord på «Min side» og følg med på kontoen din.\n\nMed vennlig hilsen\nPersonvernombudet\n"
	htmlBody  = "<!doctype html><html lang=\"nb\"><body><p>Hei Åse,</p><p>Vi har oppdaget et <strong>datainnbrudd</strong> hos Bølgen &amp; Co. Bytt passord på «Min side».</p><p>Med vennlig hilsen<br>Personvernombudet</p></body></html>\n"
)

// notice is a Norwegian breach notice for delivery id.
func notice(id int64, to string) *dispatcher.Message {
	return &dispatcher.Message{
		DeliveryID: id,
		CampaignID: 7,
		Channel:    dispatcher.Email,
		To:         to,
		ToName:     "Åse Ødegård",
		Sender:     dispatcher.Sender{FromName: "Bølgen & Co personvern", FromEmail: fromEmail, ReplyTo: replyTo},
		Subject:    subject,
		Text:       textBody,
		HTML:       htmlBody,
		Locale:     "nb",
	}
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sendErr asserts err is a *dispatcher.SendError.
func sendErr(t *testing.T, err error) *dispatcher.SendError {
	t.Helper()
	var se *dispatcher.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *dispatcher.SendError", err, err)
	}
	return se
}

// part is one decoded MIME part.
type part struct {
	contentType string
	params      map[string]string
	body        string
}

// parse reads a received message with go-message, decoding headers and
// transfer encodings the way a mail client would.
func parse(t *testing.T, raw []byte) (*mail.Header, string, []part) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	top, _, err := mr.Header.ContentType()
	if err != nil {
		t.Fatalf("top Content-Type: %v", err)
	}
	var parts []part
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		h, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			t.Fatalf("part is an attachment: %v", p.Header)
		}
		ct, params, err := h.ContentType()
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		parts = append(parts, part{ct, params, strings.ReplaceAll(string(b), "\r\n", "\n")})
	}
	return &mr.Header, top, parts
}

var messageIDPattern = regexp.MustCompile(`^<herald\.42\.[a-z2-7]{26}@bolgen\.example>$`)

func TestSendMultipart(t *testing.T) { eachMode(t, testSendMultipart) }

func testSendMultipart(t *testing.T, mode relayMode) {
	s := startSMTP(t, smtpd.Options{DSN: true})
	ch := channelIn(t, s, mode, nil)
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	rc, err := ch.Send(ctxTimeout(t), notice(42, "ase.odegard@example.no"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if !messageIDPattern.MatchString(rc.ProviderID) {
		t.Errorf("ProviderID = %q, want %s", rc.ProviderID, messageIDPattern)
	}
	if rc.Code != "250 2.0.0" || rc.Detail == "" {
		t.Errorf("receipt code %q detail %q, want 250 2.0.0 and the server's words", rc.Code, rc.Detail)
	}

	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != fromEmail || len(m.To) != 1 || m.To[0] != "ase.odegard@example.no" {
		t.Errorf("envelope %q → %q", m.From, m.To)
	}
	if m.Return != "HDRS" || len(m.Notify) != 1 || m.Notify[0] != "FAILURE" {
		t.Errorf("DSN parameters RET=%q NOTIFY=%q, want HDRS and FAILURE", m.Return, m.Notify)
	}
	h, top, parts := parse(t, m.Data)

	if got, err := h.Subject(); err != nil || got != subject {
		t.Errorf("Subject = %q (%v), want %q", got, err, subject)
	}
	if id, err := h.MessageID(); err != nil || "<"+id+">" != rc.ProviderID {
		t.Errorf("Message-ID = %q (%v), want %q", id, err, rc.ProviderID)
	}
	checkAddr(t, h, "From", "Bølgen & Co personvern", fromEmail)
	checkAddr(t, h, "To", "Åse Ødegård", "ase.odegard@example.no")
	checkAddr(t, h, "Reply-To", "", replyTo)
	if d, err := h.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %v (%v), want about now", d, err)
	}
	for key, want := range map[string]string{
		"X-Herald-Delivery": "42",
		"Auto-Submitted":    "auto-generated",
		"Content-Language":  "nb",
		"MIME-Version":      "1.0",
	} {
		if got := h.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if h.Get("User-Agent") != "" || h.Get("X-Mailer") != "" {
		t.Errorf("mailer advertised: %q %q", h.Get("User-Agent"), h.Get("X-Mailer"))
	}
	if top != "multipart/alternative" {
		t.Fatalf("top Content-Type = %q, want multipart/alternative", top)
	}
	if len(parts) != 2 {
		t.Fatalf("got %d parts, want text and HTML", len(parts))
	}
	// Text first: clients show the last alternative they can render.
	for i, want := range []part{{"text/plain", nil, textBody}, {"text/html", nil, htmlBody}} {
		if parts[i].contentType != want.contentType || !strings.EqualFold(parts[i].params["charset"], "utf-8") {
			t.Errorf("part %d: %s %v, want %s; charset=utf-8", i, parts[i].contentType, parts[i].params, want.contentType)
		}
		if parts[i].body != want.body {
			t.Errorf("part %d body:\n%q\nwant\n%q", i, parts[i].body, want.body)
		}
	}
	// Every line of the message is 7-bit and within SMTP's line limit.
	for i, line := range strings.Split(string(m.Data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets long", i, len(line))
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("line %d carries 8-bit data: %q", i, line)
			}
		}
	}
}

func checkAddr(t *testing.T, h *mail.Header, key, name, addr string) {
	t.Helper()
	list, err := h.AddressList(key)
	if err != nil || len(list) != 1 || list[0].Name != name || list[0].Address != addr {
		t.Errorf("%s = %v (%v), want %q <%s>", key, list, err, name, addr)
	}
}

func TestSendVariants(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*email.Config)
		msg    func(*dispatcher.Message)
		check  func(t *testing.T, r smtpd.Received, h *mail.Header, top string, parts []part)
		header map[string]string
	}{
		{
			name: "text only when HTML is empty",
			msg:  func(m *dispatcher.Message) { m.HTML = "" },
			check: func(t *testing.T, _ smtpd.Received, _ *mail.Header, top string, parts []part) {
				if top != "text/plain" || len(parts) != 1 || parts[0].body != textBody {
					t.Errorf("got %s with %d parts, want a single text/plain body", top, len(parts))
				}
			},
		},
		{
			name: "HTML only when text is empty",
			msg:  func(m *dispatcher.Message) { m.Text = "" },
			check: func(t *testing.T, _ smtpd.Received, _ *mail.Header, top string, parts []part) {
				if top != "text/html" || len(parts) != 1 || parts[0].body != htmlBody {
					t.Errorf("got %s with %d parts, want a single text/html body", top, len(parts))
				}
			},
		},
		{
			name: "return path for bounces",
			mod: func(c *email.Config) {
				c.ReturnPath = func(m *dispatcher.Message) string { return fmt.Sprintf("bounces+%d@bolgen.example", m.DeliveryID) }
			},
			check: func(t *testing.T, r smtpd.Received, h *mail.Header, _ string, _ []part) {
				if r.From != "bounces+42@bolgen.example" {
					t.Errorf("MAIL FROM = %q, want the VERP address", r.From)
				}
				checkAddr(t, h, "From", "Bølgen & Co personvern", fromEmail)
			},
		},
		{
			name:   "Auto-Submitted can be left out; Message-ID domain configured",
			mod:    func(c *email.Config) { c.OmitAutoSubmitted = true; c.MessageIDDomain = "mail.bolgen.example" },
			header: map[string]string{"Auto-Submitted": ""},
			check: func(t *testing.T, _ smtpd.Received, h *mail.Header, _ string, _ []part) {
				if id, _ := h.MessageID(); !strings.HasSuffix(id, "@mail.bolgen.example") {
					t.Errorf("Message-ID %q not in the configured domain", id)
				}
			},
		},
		{
			name:   "locale canonicalised",
			msg:    func(m *dispatcher.Message) { m.Locale = "en_us" },
			header: map[string]string{"Content-Language": "en-US"},
		},
		{
			name:   "bad locale left out",
			msg:    func(m *dispatcher.Message) { m.Locale = "not a\r\nlocale" },
			header: map[string]string{"Content-Language": ""},
		},
		{
			name:   "no reply-to, no display names",
			msg:    func(m *dispatcher.Message) { m.Sender.ReplyTo = ""; m.Sender.FromName = ""; m.ToName = "" },
			header: map[string]string{"Reply-To": "", "From": "<" + fromEmail + ">", "To": "<ase@example.no>"},
		},
		{
			name:   "line breaks in the subject are folded",
			msg:    func(m *dispatcher.Message) { m.Subject = "Viktig melding\r\nBcc: everyone@example.org\n" },
			header: map[string]string{"Bcc": "", "Subject": "Viktig melding Bcc: everyone@example.org"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSMTP(t, smtpd.Options{})
			ch := newChannel(t, s, tt.mod)
			m := notice(42, "ase@example.no")
			if tt.msg != nil {
				tt.msg(m)
			}
			if _, err := ch.Send(ctxTimeout(t), m); err != nil {
				t.Fatalf("send: %v", err)
			}
			r := s.Messages()[0]
			h, top, parts := parse(t, r.Data)
			for k, want := range tt.header {
				got := h.Get(k)
				if k == "Subject" {
					got, _ = h.Subject()
				}
				if got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.check != nil {
				tt.check(t, r, h, top, parts)
			}
		})
	}
}

func TestClassification(t *testing.T) { eachMode(t, testClassification) }

func testClassification(t *testing.T, mode relayMode) {
	reply := func(code int, esc gosmtp.EnhancedCode, text string) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: esc, Message: text}
	}
	tests := []struct {
		name  string
		opts  smtpd.Options
		class dispatcher.Class
		code  string
		diag  string
		// reconnect: the failure should cost the connection.
		reconnect bool
	}{
		{
			name:  "unknown user is a hard bounce",
			opts:  smtpd.Options{UnknownUsers: []string{"bad@example.no"}},
			class: dispatcher.Invalid, code: "550 5.1.1",
			diag: "<bad@example.no>: Recipient address rejected: User unknown in virtual mailbox table",
		},
		{
			name:  "greylisting 450",
			opts:  smtpd.Options{Greylist: map[string]int{"bad@example.no": 1}},
			class: dispatcher.Transient, code: "450 4.2.0",
			diag: "<bad@example.no>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.no.html",
		},
		{
			name:  "greylisting 451",
			opts:  smtpd.Options{Greylist: map[string]int{"bad@example.no": 1}, GreylistReply: smtpd.TryAgainLater},
			class: dispatcher.Transient, code: "451 4.7.1", diag: "Try again later",
		},
		{
			name:  "relay denied is our problem",
			opts:  smtpd.Options{RelayDenied: []string{"bad@example.no"}},
			class: dispatcher.Permanent, code: "554 5.7.1", diag: "<bad@example.no>: Relay access denied",
		},
		{
			name: "policy block on RCPT with 550 5.7.1 is ours too",
			opts: smtpd.Options{RcptHook: func(_, rcpt string) *gosmtp.SMTPError {
				return reply(550, gosmtp.EnhancedCode{5, 7, 1}, "Service unavailable, Client host blocked using zen.spamhaus.org")
			}},
			class: dispatcher.Permanent, code: "550 5.7.1", diag: "Service unavailable, Client host blocked using zen.spamhaus.org",
		},
		{
			name: "mailbox full on RCPT",
			opts: smtpd.Options{RcptHook: func(_, rcpt string) *gosmtp.SMTPError {
				return reply(552, gosmtp.EnhancedCode{5, 2, 2}, "Mailbox full")
			}},
			class: dispatcher.Invalid, code: "552 5.2.2", diag: "Mailbox full",
		},
		{
			name: "421 on RCPT closes the session",
			opts: smtpd.Options{RcptHook: func(_, rcpt string) *gosmtp.SMTPError {
				return reply(421, gosmtp.EnhancedCode{4, 7, 0}, "Too many connections, slow down")
			}},
			class: dispatcher.Transient, code: "421 4.7.0", diag: "Too many connections, slow down", reconnect: true,
		},
		{
			name: "sender rejected on MAIL FROM",
			opts: smtpd.Options{MailHook: func(string) *gosmtp.SMTPError {
				return reply(553, gosmtp.EnhancedCode{5, 7, 1}, "Sender address rejected: not owned by user")
			}},
			class: dispatcher.Permanent, code: "553 5.7.1", diag: "Sender address rejected: not owned by user",
		},
		{
			name: "sender domain unknown on MAIL FROM",
			opts: smtpd.Options{MailHook: func(string) *gosmtp.SMTPError {
				return reply(550, gosmtp.EnhancedCode{5, 1, 8}, "Sender address rejected: Domain not found")
			}},
			class: dispatcher.Permanent, code: "550 5.1.8", diag: "Sender address rejected: Domain not found",
		},
		{
			name: "content rejected after DATA",
			opts: smtpd.Options{DataHook: func(string, []string, []byte) *gosmtp.SMTPError {
				return reply(554, gosmtp.EnhancedCode{5, 7, 1}, "Message content rejected")
			}},
			class: dispatcher.Permanent, code: "554 5.7.1", diag: "Message content rejected",
		},
		{
			name: "unknown user only found after DATA",
			opts: smtpd.Options{DataHook: func(string, []string, []byte) *gosmtp.SMTPError {
				return reply(550, gosmtp.EnhancedCode{5, 1, 1}, "User unknown")
			}},
			class: dispatcher.Invalid, code: "550 5.1.1", diag: "User unknown",
		},
		{
			name: "temporary failure after DATA",
			opts: smtpd.Options{DataHook: func(string, []string, []byte) *gosmtp.SMTPError {
				return reply(451, gosmtp.EnhancedCode{4, 3, 0}, "Queue file write error")
			}},
			class: dispatcher.Transient, code: "451 4.3.0", diag: "Queue file write error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fail sync.Once
			failFirst := func() bool { ok := false; fail.Do(func() { ok = true }); return ok }
			// Every hook fails only the first message, so the follow-up
			// send shows the session (or a new one) still works.
			if h := tt.opts.RcptHook; h != nil {
				tt.opts.RcptHook = func(f, r string) *gosmtp.SMTPError {
					if failFirst() {
						return h(f, r)
					}
					return nil
				}
			}
			if h := tt.opts.MailHook; h != nil {
				tt.opts.MailHook = func(f string) *gosmtp.SMTPError {
					if failFirst() {
						return h(f)
					}
					return nil
				}
			}
			if h := tt.opts.DataHook; h != nil {
				tt.opts.DataHook = func(f string, r []string, d []byte) *gosmtp.SMTPError {
					if failFirst() {
						return h(f, r, d)
					}
					return nil
				}
			}
			s := startSMTP(t, tt.opts)
			ch := channelIn(t, s, mode, nil)
			_, err := ch.Send(ctxTimeout(t), notice(1, "bad@example.no"))
			se := sendErr(t, err)
			if se.Class != tt.class || se.Code != tt.code || se.Diagnostic != tt.diag {
				t.Errorf("got %s %q %q,\nwant %s %q %q", se.Class, se.Code, se.Diagnostic, tt.class, tt.code, tt.diag)
			}
			if dispatcher.ClassOf(err) != tt.class {
				t.Errorf("ClassOf = %s", dispatcher.ClassOf(err))
			}
			if _, err := ch.Send(ctxTimeout(t), notice(2, "good@example.no")); err != nil {
				t.Fatalf("send after the failure: %v", err)
			}
			wantConns := 1
			if tt.reconnect {
				wantConns = 2
			}
			if got := s.Connections(); got != wantConns {
				t.Errorf("connections = %d, want %d", got, wantConns)
			}
			if s.Count() != 1 {
				t.Errorf("server accepted %d messages, want 1", s.Count())
			}
		})
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	s, err := smtpd.Start(smtpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	host, port := s.Host(), s.Port()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ch, err := email.New(email.Config{Host: host, Port: port, TLS: email.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	_, err = ch.Send(ctxTimeout(t), notice(1, "a@example.no"))
	se := sendErr(t, err)
	if se.Class != dispatcher.Transient || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %s %v, want transient connection refused", se.Class, err)
	}
	if ch.Stats().Open != 0 {
		t.Errorf("open connections = %d after a failed dial", ch.Stats().Open)
	}
}

func TestDroppedConnectionIsTransientAndRedialled(t *testing.T) {
	var dropped sync.Once
	s := startSMTP(t, smtpd.Options{RcptHook: func(_, _ string) *gosmtp.SMTPError {
		var drop bool
		dropped.Do(func() { drop = true })
		if drop {
			return smtpd.Drop
		}
		return nil
	}})
	ch := newChannel(t, s, nil)
	_, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no"))
	if se := sendErr(t, err); se.Class != dispatcher.Transient || se.Code != "" {
		t.Fatalf("got %s %q %q, want transient without a reply code", se.Class, se.Code, se.Diagnostic)
	}
	if _, err := ch.Send(ctxTimeout(t), notice(2, "a@example.no")); err != nil {
		t.Fatalf("send after the drop: %v", err)
	}
	if s.Connections() != 2 || s.Count() != 1 {
		t.Errorf("connections %d, messages %d; want 2 and 1", s.Connections(), s.Count())
	}
}

func TestConnectionClosedByRelayWhileIdleIsReplaced(t *testing.T) {
	s := startSMTP(t, smtpd.Options{ReadTimeout: 100 * time.Millisecond})
	ch := newChannel(t, s, func(c *email.Config) { c.IdleTimeout = time.Hour })
	if _, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.Active() == 0 }) // the relay timed us out
	if _, err := ch.Send(ctxTimeout(t), notice(2, "a@example.no")); err != nil {
		t.Fatalf("send on a connection the relay had closed: %v", err)
	}
	if s.Connections() != 2 || s.Count() != 2 || ch.Stats().Dials != 2 {
		t.Errorf("connections %d, messages %d, dials %d; want 2, 2, 2", s.Connections(), s.Count(), ch.Stats().Dials)
	}
}

func TestConnectionReuse(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		s := startSMTP(t, smtpd.Options{Discard: true})
		ch := newChannel(t, s, func(c *email.Config) { c.PoolSize = 4 })
		for i := range 20 {
			if _, err := ch.Send(ctxTimeout(t), notice(int64(i+1), "a@example.no")); err != nil {
				t.Fatal(err)
			}
		}
		if s.Connections() != 1 || s.Count() != 20 {
			t.Errorf("connections %d, messages %d; want 1 and 20", s.Connections(), s.Count())
		}
	})
	t.Run("concurrent, bounded by pool size", func(t *testing.T) {
		s := startSMTP(t, smtpd.Options{Discard: true})
		ch := newChannel(t, s, func(c *email.Config) { c.PoolSize = 2 })
		sendConcurrently(t, ch, 10, 5)
		if s.Count() != 50 {
			t.Fatalf("messages %d, want 50", s.Count())
		}
		if c := s.Connections(); c < 1 || c > 2 {
			t.Errorf("50 messages with PoolSize 2 opened %d connections", c)
		}
		if st := ch.Stats(); st.Open > 2 || st.Dials > 2 {
			t.Errorf("stats %+v exceed the pool size", st)
		}
	})
}

// sendConcurrently sends workers×each messages with delivery IDs
// 1..workers×each from workers goroutines.
func sendConcurrently(t *testing.T, ch *email.Channel, workers, each int) {
	t.Helper()
	ctx := ctxTimeout(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := int64(w*each + i + 1)
				if _, err := ch.Send(ctx, notice(id, fmt.Sprintf("person%d@example.no", id))); err != nil {
					errs <- fmt.Errorf("delivery %d: %w", id, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentSendsArriveExactlyOnce(t *testing.T) { eachMode(t, testConcurrentSends) }

func testConcurrentSends(t *testing.T, mode relayMode) {
	const workers, each = 8, 25
	s := startSMTP(t, smtpd.Options{})
	ch := channelIn(t, s, mode, func(c *email.Config) { c.PoolSize = 4 })
	sendConcurrently(t, ch, workers, each)
	seen := map[int64]int{}
	for _, r := range s.Messages() {
		m, err := netmail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseInt(m.Header.Get(email.HeaderDelivery), 10, 64)
		if err != nil {
			t.Fatalf("delivery header: %v", err)
		}
		if want := fmt.Sprintf("person%d@example.no", id); len(r.To) != 1 || r.To[0] != want {
			t.Errorf("delivery %d went to %v, want %s", id, r.To, want)
		}
		seen[id]++
	}
	for id := int64(1); id <= workers*each; id++ {
		if seen[id] != 1 {
			t.Errorf("delivery %d received %d times", id, seen[id])
		}
	}
	if len(seen) != workers*each || s.Count() != workers*each {
		t.Errorf("distinct %d, count %d; want %d", len(seen), s.Count(), workers*each)
	}
	if c := s.Connections(); c > 4 {
		t.Errorf("%d connections with PoolSize 4", c)
	}
}

func TestTLS(t *testing.T) {
	tests := []struct {
		name    string
		server  smtpd.TLSMode
		mode    email.TLSMode
		trust   bool // give the client the server's certificate
		skip    bool // InsecureSkipVerify
		wantTLS bool
		wantErr bool
	}{
		{name: "starttls-required", server: smtpd.StartTLS, mode: email.TLSStartTLSRequired, trust: true, wantTLS: true},
		{name: "implicit tls", server: smtpd.ImplicitTLS, mode: email.TLSImplicit, trust: true, wantTLS: true},
		{name: "opportunistic upgrades", server: smtpd.StartTLS, mode: email.TLSStartTLS, trust: true, wantTLS: true},
		{name: "opportunistic falls back to plain", server: smtpd.NoTLS, mode: email.TLSStartTLS, wantTLS: false},
		{name: "required but not offered", server: smtpd.NoTLS, mode: email.TLSStartTLSRequired, wantErr: true},
		{name: "starttls with an untrusted certificate", server: smtpd.StartTLS, mode: email.TLSStartTLSRequired, wantErr: true},
		{name: "implicit tls with an untrusted certificate", server: smtpd.ImplicitTLS, mode: email.TLSImplicit, wantErr: true},
		{name: "implicit tls against a plain server", server: smtpd.NoTLS, mode: email.TLSImplicit, wantErr: true},
		{name: "insecure skip verify", server: smtpd.StartTLS, mode: email.TLSStartTLSRequired, skip: true, wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSMTP(t, smtpd.Options{TLS: tt.server})
			ch := newChannel(t, s, func(c *email.Config) {
				c.TLS = tt.mode
				c.InsecureSkipVerify = tt.skip
				if tt.trust {
					c.RootCAs = s.CertPool()
				}
			})
			_, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no"))
			if tt.wantErr {
				if se := sendErr(t, err); se.Class != dispatcher.Permanent {
					t.Fatalf("got %s: %v, want permanent", se.Class, err)
				}
				if s.Count() != 0 {
					t.Error("message accepted despite the TLS failure")
				}
				waitUntil(t, func() bool { return s.Active() == 0 }) // no socket left behind
				return
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			if m := s.Messages(); len(m) != 1 || m[0].TLS != tt.wantTLS {
				t.Fatalf("received %+v, want one message with TLS=%t", m, tt.wantTLS)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	for _, tt := range []struct {
		name, password string
		wantErr        bool
	}{
		{"success", "hunter2-but-longer", false},
		{"wrong password", "guess", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startSMTP(t, smtpd.Options{TLS: smtpd.StartTLS, Username: "herald", Password: "hunter2-but-longer"})
			ch := newChannel(t, s, func(c *email.Config) {
				c.TLS = email.TLSStartTLSRequired
				c.RootCAs = s.CertPool()
				c.Username = "herald"
				c.Password = tt.password
			})
			_, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no"))
			if tt.wantErr {
				se := sendErr(t, err)
				if se.Class != dispatcher.Permanent || se.Code != "535 5.7.8" {
					t.Fatalf("got %s %q %q, want permanent 535 5.7.8", se.Class, se.Code, se.Diagnostic)
				}
				if strings.Contains(err.Error(), tt.password) {
					t.Error("the password appears in the error")
				}
				waitUntil(t, func() bool { return s.Active() == 0 })
				return
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			if m := s.Messages(); len(m) != 1 || m[0].User != "herald" || !m[0].TLS {
				t.Fatalf("received %+v, want one authenticated message over TLS", m)
			}
		})
	}
}

func TestAuthRequiredButNotConfigured(t *testing.T) {
	s := startSMTP(t, smtpd.Options{TLS: smtpd.StartTLS, Username: "herald", Password: "pw"})
	ch := newChannel(t, s, func(c *email.Config) { c.TLS = email.TLSStartTLSRequired; c.RootCAs = s.CertPool() })
	_, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no"))
	if se := sendErr(t, err); se.Class != dispatcher.Permanent || se.Code != "530 5.7.0" {
		t.Fatalf("got %s %q, want permanent 530 5.7.0", se.Class, se.Code)
	}
}

func TestInvalidAddressesNeverReachTheRelay(t *testing.T) {
	s := startSMTP(t, smtpd.Options{})
	tests := []struct {
		name  string
		mod   func(*email.Config)
		msg   func(*dispatcher.Message)
		class dispatcher.Class
	}{
		{name: "recipient", msg: func(m *dispatcher.Message) { m.To = "not an address" }, class: dispatcher.Invalid},
		{name: "recipient with a line break", msg: func(m *dispatcher.Message) { m.To = "a@example.no\r\nRCPT TO:<b@example.no>" }, class: dispatcher.Invalid},
		{name: "sender", msg: func(m *dispatcher.Message) { m.Sender.FromEmail = "varsel" }, class: dispatcher.Permanent},
		{name: "reply-to", msg: func(m *dispatcher.Message) { m.Sender.ReplyTo = "@@" }, class: dispatcher.Permanent},
		{
			name:  "return path",
			mod:   func(c *email.Config) { c.ReturnPath = func(*dispatcher.Message) string { return "bounces at example" } },
			class: dispatcher.Permanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := newChannel(t, s, tt.mod)
			m := notice(1, "a@example.no")
			if tt.msg != nil {
				tt.msg(m)
			}
			_, err := ch.Send(ctxTimeout(t), m)
			if se := sendErr(t, err); se.Class != tt.class {
				t.Fatalf("got %s: %v, want %s", se.Class, err, tt.class)
			}
		})
	}
	if s.Connections() != 0 {
		t.Errorf("%d connections for messages that could not be sent", s.Connections())
	}
}

func TestCancelledSendReturnsPromptly(t *testing.T) {
	release := make(chan struct{})
	s := startSMTP(t, smtpd.Options{RcptHook: func(_, rcpt string) *gosmtp.SMTPError {
		if rcpt == "slow@example.no" {
			<-release
		}
		return nil
	}})
	t.Cleanup(func() { close(release) }) // before the server's Close (cleanups run last-in first-out)
	ch := newChannel(t, s, func(c *email.Config) { c.Timeout = time.Minute })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := ch.Send(ctx, notice(1, "slow@example.no"))
		done <- err
	}()
	waitUntil(t, func() bool { return s.Active() == 1 })
	cancel()
	select {
	case err := <-done:
		se := sendErr(t, err)
		if se.Class != dispatcher.Transient || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %s %v, want transient wrapping context.Canceled", se.Class, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after its context was cancelled")
	}
	if st := ch.Stats(); st.Open != 0 {
		t.Errorf("the aborted connection was kept: %+v", st)
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	s := startSMTP(t, smtpd.Options{})
	ch := newChannel(t, s, func(c *email.Config) { c.IdleTimeout = 50 * time.Millisecond })
	if _, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.Active() == 0 && ch.Stats().Open == 0 })
	if _, err := ch.Send(ctxTimeout(t), notice(2, "a@example.no")); err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 2 {
		t.Errorf("connections = %d, want 2", s.Connections())
	}
}

func TestClose(t *testing.T) {
	s := startSMTP(t, smtpd.Options{})
	ch := newChannel(t, s, nil)
	if ch.Kind() != dispatcher.Email {
		t.Errorf("Kind() = %q", ch.Kind())
	}
	if _, err := ch.Send(ctxTimeout(t), notice(1, "a@example.no")); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.Active() == 0 }) // QUIT sent, socket closed
	if _, err := ch.Send(ctxTimeout(t), notice(2, "a@example.no")); !errors.Is(err, email.ErrClosed) {
		t.Fatalf("send after Close: %v, want ErrClosed", err)
	}
	if err := ch.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogsCarryNoPersonalData(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startSMTP(t, smtpd.Options{
		Logger:       log,
		UnknownUsers: []string{"gone@example.no"},
		RelayDenied:  []string{"far@elsewhere.example"},
	})
	ch := newChannel(t, s, func(c *email.Config) { c.IdleTimeout = 20 * time.Millisecond }, email.WithLogger(log))
	for i, to := range []string{"ase@example.no", "gone@example.no", "far@elsewhere.example", "not an address"} {
		_, _ = ch.Send(ctxTimeout(t), notice(int64(100+i), to))
	}
	waitUntil(t, func() bool { return ch.Stats().Open == 0 })
	out := buf.String()
	for _, personal := range []string{"@", "Åse", "Ødegård", "ase@", "gone", "datainnbrudd", "Bølgen"} {
		if strings.Contains(out, personal) {
			t.Errorf("log contains %q:\n%s", personal, out)
		}
	}
	for _, want := range []string{"delivery=101", "code=\"550 5.1.1\"", "class=permanent", "email: connection opened"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// waitUntil polls cond until it holds or five seconds pass.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
