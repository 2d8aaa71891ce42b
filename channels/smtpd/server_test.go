package smtpd_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/smtpd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, opts smtpd.Options) *smtpd.Server {
	t.Helper()
	s, err := smtpd.Start(opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func dial(t *testing.T, s *smtpd.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

const body = "Subject: test\r\n\r\nhello\r\n"

// send runs one transaction and returns the first error.
func send(c *smtp.Client, from, to string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func smtpErr(t *testing.T, err error) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not an SMTP reply", err, err)
	}
	return se
}

func TestRecordsMessages(t *testing.T) {
	s := start(t, smtpd.Options{})
	c := dial(t, s)
	for _, to := range []string{"a@example.org", "b@example.org"} {
		if err := send(c, "sender@example.org", to); err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, 2); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 2 || s.Count() != 2 {
		t.Fatalf("got %d messages, count %d; want 2", len(msgs), s.Count())
	}
	if msgs[0].From != "sender@example.org" || len(msgs[0].To) != 1 || msgs[0].To[0] != "a@example.org" {
		t.Errorf("envelope = %q → %q", msgs[0].From, msgs[0].To)
	}
	if string(msgs[1].Data) != body {
		t.Errorf("data = %q, want %q", msgs[1].Data, body)
	}
	if msgs[0].Conn != 1 || msgs[1].Conn != 1 || s.Connections() != 1 {
		t.Errorf("conns = %d, %d; Connections() = %d; want all 1", msgs[0].Conn, msgs[1].Conn, s.Connections())
	}
	if msgs[0].TLS || msgs[0].User != "" {
		t.Errorf("TLS=%t User=%q on a plain unauthenticated session", msgs[0].TLS, msgs[0].User)
	}
	if s.Bytes() != int64(2*len(body)) {
		t.Errorf("Bytes() = %d, want %d", s.Bytes(), 2*len(body))
	}
	// Messages returns copies.
	msgs[0].Data[0] = 'X'
	if s.Messages()[0].Data[0] == 'X' {
		t.Error("Messages shares memory with the server")
	}
}

func TestRcptRejections(t *testing.T) {
	tests := []struct {
		name     string
		opts     smtpd.Options
		rcpt     string
		code     int
		enhanced smtp.EnhancedCode
		text     string
	}{
		{
			name: "unknown user", opts: smtpd.Options{UnknownUsers: []string{"Gone@Example.org"}},
			rcpt: "gone@example.org", code: 550, enhanced: smtp.EnhancedCode{5, 1, 1},
			text: "<gone@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
		},
		{
			name: "relay denied", opts: smtpd.Options{RelayDenied: []string{"x@elsewhere.test"}},
			rcpt: "x@elsewhere.test", code: 554, enhanced: smtp.EnhancedCode{5, 7, 1},
			text: "<x@elsewhere.test>: Relay access denied",
		},
		{
			name: "hook", opts: smtpd.Options{RcptHook: func(from, rcpt string) *smtp.SMTPError {
				if rcpt == "full@example.org" {
					return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
				}
				return nil
			}},
			rcpt: "full@example.org", code: 552, enhanced: smtp.EnhancedCode{5, 2, 2}, text: "Mailbox full",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.opts)
			c := dial(t, s)
			se := smtpErr(t, send(c, "sender@example.org", tt.rcpt))
			if se.Code != tt.code || se.EnhancedCode != tt.enhanced || se.Message != tt.text {
				t.Errorf("reply = %d %v %q, want %d %v %q", se.Code, se.EnhancedCode, se.Message, tt.code, tt.enhanced, tt.text)
			}
			// The session goes on: another recipient is accepted.
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
			if err := send(c, "sender@example.org", "ok@example.org"); err != nil {
				t.Fatalf("send after rejection: %v", err)
			}
			if s.Count() != 1 {
				t.Errorf("Count() = %d, want 1", s.Count())
			}
		})
	}
}

func TestGreylist(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply func(string) *smtp.SMTPError
		code  int
	}{
		{"postgrey", nil, 450},
		{"rspamd", smtpd.TryAgainLater, 451},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, smtpd.Options{Greylist: map[string]int{"new@example.org": 2}, GreylistReply: tt.reply})
			c := dial(t, s)
			for i := range 2 {
				se := smtpErr(t, send(c, "sender@example.org", "new@example.org"))
				if se.Code != tt.code || se.EnhancedCode[0] != 4 {
					t.Fatalf("try %d: reply %d %v, want %d 4.x.x", i+1, se.Code, se.EnhancedCode, tt.code)
				}
				if tt.code == 450 && !strings.Contains(se.Message, "Greylisted") {
					t.Errorf("postgrey text = %q", se.Message)
				}
				if err := c.Reset(); err != nil {
					t.Fatal(err)
				}
			}
			if err := send(c, "sender@example.org", "new@example.org"); err != nil {
				t.Fatalf("third try: %v", err)
			}
		})
	}
}

func TestHooksMailAndData(t *testing.T) {
	s := start(t, smtpd.Options{
		MailHook: func(from string) *smtp.SMTPError {
			if strings.HasSuffix(from, "@spoofed.test") {
				return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address rejected: not owned by user"}
			}
			return nil
		},
		DataHook: func(from string, rcpts []string, data []byte) *smtp.SMTPError {
			if strings.Contains(string(data), "SPAM") {
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message content rejected"}
			}
			return nil
		},
	})
	c := dial(t, s)
	if se := smtpErr(t, c.Mail("x@spoofed.test", nil)); se.Code != 553 {
		t.Errorf("MAIL reply %d, want 553", se.Code)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@example.org"}, strings.NewReader("Subject: SPAM\r\n\r\nbuy\r\n")); err == nil {
		t.Fatal("spam accepted")
	} else if se := smtpErr(t, err); se.Code != 554 {
		t.Errorf("DATA reply %d, want 554", se.Code)
	}
	if s.Count() != 0 {
		t.Errorf("Count() = %d after rejections, want 0", s.Count())
	}
}

func TestDropClosesConnection(t *testing.T) {
	s := start(t, smtpd.Options{RcptHook: func(_, rcpt string) *smtp.SMTPError {
		if rcpt == "drop@example.org" {
			return smtpd.Drop
		}
		return nil
	}})
	c := dial(t, s)
	err := send(c, "a@example.org", "drop@example.org")
	var se *smtp.SMTPError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("err = %v, want a dropped connection rather than a reply", err)
	}
	waitUntil(t, func() bool { return s.Active() == 0 })
	c2 := dial(t, s)
	if err := send(c2, "a@example.org", "b@example.org"); err != nil {
		t.Fatalf("send on a new connection: %v", err)
	}
	if s.Connections() != 2 {
		t.Errorf("Connections() = %d, want 2", s.Connections())
	}
}

func TestAuth(t *testing.T) {
	s := start(t, smtpd.Options{TLS: smtpd.StartTLS, Username: "herald", Password: "s3cret"})
	tests := []struct {
		name string
		auth sasl.Client
		code int // 0: success
	}{
		{"none", nil, 530},
		{"wrong password", sasl.NewPlainClient("", "herald", "nope"), 535},
		{"wrong user", sasl.NewPlainClient("", "root", "s3cret"), 535},
		{"right", sasl.NewPlainClient("", "herald", "s3cret"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := smtp.DialStartTLS(s.Addr(), s.TLSConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.auth != nil {
				err = c.Auth(tt.auth)
			}
			if err == nil {
				err = send(c, "a@example.org", "b@example.org")
			}
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tt.code != 0:
				if se := smtpErr(t, err); se.Code != tt.code {
					t.Fatalf("reply %d %q, want %d", se.Code, se.Message, tt.code)
				}
			}
		})
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].User != "herald" || !msgs[0].TLS {
		t.Fatalf("messages = %+v, want one authenticated TLS message", msgs)
	}
}

func TestAuthNotOfferedInClear(t *testing.T) {
	s := start(t, smtpd.Options{TLS: smtpd.StartTLS, Username: "herald", Password: "s3cret"})
	c := dial(t, s)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
}

func TestImplicitTLS(t *testing.T) {
	s := start(t, smtpd.Options{TLS: smtpd.ImplicitTLS})
	c, err := smtp.DialTLS(s.Addr(), s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, "a@example.org", "b@example.org"); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS || m[0].Conn != 1 {
		t.Fatalf("messages = %+v, want one over TLS on connection 1", m)
	}
	// A client that does not trust the certificate is refused.
	if _, err := smtp.DialTLS(s.Addr(), &tls.Config{ServerName: s.Host(), MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("an unverified certificate was accepted")
	}
}

func TestDiscard(t *testing.T) {
	s := start(t, smtpd.Options{Discard: true})
	c := dial(t, s)
	for range 3 {
		if err := send(c, "a@example.org", "b@example.org"); err != nil {
			t.Fatal(err)
		}
	}
	if s.Count() != 3 || len(s.Messages()) != 0 || s.Bytes() != int64(3*len(body)) {
		t.Fatalf("Count=%d Messages=%d Bytes=%d, want 3, 0, %d", s.Count(), len(s.Messages()), s.Bytes(), 3*len(body))
	}
}

func TestReadTimeoutClosesIdleConnections(t *testing.T) {
	s := start(t, smtpd.Options{ReadTimeout: 50 * time.Millisecond})
	c := dial(t, s)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.Active() == 0 })
	if err := c.Noop(); err == nil {
		t.Error("NOOP succeeded on a connection the server timed out")
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	s := start(t, smtpd.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestCloseEndsOpenSessions(t *testing.T) {
	s, err := smtpd.Start(smtpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Active() != 0 {
		t.Errorf("Active() = %d after Close", s.Active())
	}
	if err := c.Noop(); err == nil {
		t.Error("session survived Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// waitUntil polls cond until it holds or five seconds pass.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close straight after Start must not hang: go-smtp registers its
// listener only once its Serve goroutine runs.
func TestCloseRightAfterStart(t *testing.T) {
	for range 50 {
		s, err := smtpd.Start(smtpd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close hung")
		}
	}
}
