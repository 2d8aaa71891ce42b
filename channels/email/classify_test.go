package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/dispatcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseReply(t *testing.T) {
	tests := []struct {
		code     int
		msg      string
		enhanced string
		text     string
	}{
		{550, "5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table", "5.1.1", "<a@example.org>: Recipient address rejected: User unknown in virtual mailbox table"},
		{250, "2.0.0 Ok: queued as 4Xk2Lm0bQz", "2.0.0", "Ok: queued as 4Xk2Lm0bQz"},
		// Gmail's multi-line reply repeats the status on every line.
		{550, "5.7.26 This mail has been blocked because the sender is\n5.7.26 unauthenticated. Gmail requires all senders to authenticate\n5.7.26  https://support.google.com/mail/answer/81126", "5.7.26", "This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate https://support.google.com/mail/answer/81126"},
		{554, "Relay access denied", "", "Relay access denied"},
		{550, "4.2.0 class disagrees with the basic code", "", "4.2.0 class disagrees with the basic code"},
		{451, "4.7.1", "4.7.1", ""},
		{550, "5.1.1234 detail too long", "", "5.1.1234 detail too long"},
		{550, "5.1.1x not followed by a space", "", "5.1.1x not followed by a space"},
		{421, "4.4.2 mx.example.org Error: timeout exceeded\r", "4.4.2", "mx.example.org Error: timeout exceeded"},
		{550, "", "", ""},
		{550, "192.0.2.1 is not 5.7.1", "", "192.0.2.1 is not 5.7.1"},
	}
	for _, tt := range tests {
		r := parseReply(tt.code, tt.msg)
		if r.Enhanced != tt.enhanced || r.Text != tt.text || r.Code != tt.code {
			t.Errorf("parseReply(%d, %q) = %+v, want enhanced %q text %q", tt.code, tt.msg, r, tt.enhanced, tt.text)
		}
	}
}

func TestReplyClass(t *testing.T) {
	tests := []struct {
		ph    phase
		code  int
		esc   string
		class dispatcher.Class
	}{
		{phaseRcpt, 550, "5.1.1", dispatcher.Invalid},
		{phaseRcpt, 550, "5.1.10", dispatcher.Invalid}, // null MX
		{phaseRcpt, 550, "5.4.1", dispatcher.Invalid},  // Microsoft 365: recipient not found
		{phaseRcpt, 553, "5.1.3", dispatcher.Invalid},
		{phaseRcpt, 550, "", dispatcher.Invalid},
		{phaseRcpt, 501, "", dispatcher.Invalid},
		{phaseRcpt, 554, "5.7.1", dispatcher.Permanent},
		{phaseRcpt, 550, "5.7.1", dispatcher.Permanent},
		{phaseRcpt, 530, "5.7.0", dispatcher.Permanent},
		{phaseRcpt, 503, "5.5.1", dispatcher.Permanent},
		{phaseRcpt, 554, "", dispatcher.Permanent},
		{phaseRcpt, 530, "", dispatcher.Permanent},
		{phaseRcpt, 450, "4.2.0", dispatcher.Transient},
		{phaseRcpt, 451, "4.7.1", dispatcher.Transient},
		{phaseRcpt, 421, "4.7.0", dispatcher.Transient},
		{phaseRcpt, 452, "4.5.3", dispatcher.Transient},
		{phaseMail, 550, "5.1.8", dispatcher.Permanent},
		{phaseMail, 421, "4.3.2", dispatcher.Transient},
		{phaseData, 554, "5.5.1", dispatcher.Permanent},
		{phaseDataEnd, 554, "5.7.1", dispatcher.Permanent},
		{phaseDataEnd, 552, "5.3.4", dispatcher.Permanent},
		{phaseDataEnd, 550, "5.1.1", dispatcher.Invalid},
		{phaseDataEnd, 451, "4.3.0", dispatcher.Transient},
		{phaseConnect, 535, "5.7.8", dispatcher.Permanent},
		{phaseConnect, 554, "", dispatcher.Permanent},
		{phaseConnect, 421, "4.3.2", dispatcher.Transient},
		{phaseRcpt, 250, "", dispatcher.Transient}, // a confused server
	}
	for _, tt := range tests {
		r := reply{Code: tt.code, Enhanced: tt.esc}
		if got := replyClass(tt.ph, r); got != tt.class {
			t.Errorf("%s %d %s: %s, want %s", tt.ph, tt.code, tt.esc, got, tt.class)
		}
	}
}

func TestClassifyErrorsWithoutReply(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name  string
		ph    phase
		err   error
		class dispatcher.Class
		diag  string
	}{
		{"refused", phaseConnect, refused, dispatcher.Transient, "cannot reach"},
		{"dns", phaseConnect, &net.DNSError{Err: "no such host", Name: "smtp.example.org", IsNotFound: true}, dispatcher.Transient, "cannot reach"},
		{"eof at greeting", phaseConnect, io.EOF, dispatcher.Transient, "cannot reach"},
		{"unknown authority", phaseConnect, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, dispatcher.Permanent, "TLS"},
		{"not tls", phaseConnect, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, dispatcher.Permanent, "TLS"},
		{"starttls missing", phaseConnect, errors.New(`STARTTLS mode set to: "TLSMandatory", but target host does not support STARTTLS`), dispatcher.Permanent, "setup failed"},
		{"cancelled", phaseRcpt, fmt.Errorf("%w: %w", context.Canceled, io.EOF), dispatcher.Transient, "gave up during RCPT TO"},
		{"eof on rcpt", phaseRcpt, io.EOF, dispatcher.Transient, "connection lost during RCPT TO"},
		{"reset on body", phaseBody, syscall.ECONNRESET, dispatcher.Transient, "connection lost during message body"},
		{"eof after dot", phaseDataEnd, io.ErrUnexpectedEOF, dispatcher.Transient, "may have been accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := classify(tt.ph, tt.err)
			if se.Class != tt.class || se.Code != "" || !strings.Contains(se.Diagnostic, tt.diag) {
				t.Errorf("got %s %q %q, want %s with %q", se.Class, se.Code, se.Diagnostic, tt.class, tt.diag)
			}
			if !errors.Is(se, tt.err) {
				t.Errorf("the SendError does not wrap %v", tt.err)
			}
		})
	}
}

func TestStaleConn(t *testing.T) {
	tests := []struct {
		ph   phase
		err  error
		want bool
	}{
		{phaseMail, io.EOF, true},
		{phaseMail, syscall.EPIPE, true},
		{phaseMail, &textproto.Error{Code: 421, Msg: "4.4.2 Idle timeout"}, true},
		{phaseMail, &textproto.Error{Code: 451, Msg: "4.3.0 try later"}, false},
		{phaseMail, context.Canceled, false},
		{phaseRcpt, io.EOF, false},
		{phaseDataEnd, io.EOF, false},
	}
	for _, tt := range tests {
		if got := staleConn(tt.ph, tt.err); got != tt.want {
			t.Errorf("staleConn(%s, %v) = %t, want %t", tt.ph, tt.err, got, tt.want)
		}
	}
}

// FuzzParseReply feeds arbitrary server text to the reply parser: it must
// not panic, must take an enhanced status only of the reply's own class,
// and must leave a single line of text.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
		"4.2.0 Greylisted\n4.2.0 see http://postgrey",
		"5.7.26 a\r\n5.7.26 b",
		"2.0.0 Ok: queued as ABC",
		"5.", "5.1.", "5.1.1", "5.999.999 x", "\n\n", "4.4.2\x00",
	} {
		f.Add(550, s)
		f.Add(451, s)
	}
	f.Fuzz(func(t *testing.T, code int, msg string) {
		r := parseReply(code, msg)
		if r.Code != code {
			t.Fatalf("code changed: %d → %d", code, r.Code)
		}
		if r.Enhanced != "" {
			if r.Enhanced[0] != byte('0'+code/100) || strings.Count(r.Enhanced, ".") != 2 {
				t.Fatalf("enhanced %q does not fit code %d", r.Enhanced, code)
			}
			if !strings.HasPrefix(r.CodeString(), fmt.Sprint(code)+" ") {
				t.Fatalf("CodeString %q", r.CodeString())
			}
			if s := r.subject(); s < 0 || s > 999 {
				t.Fatalf("subject %d of %q", s, r.Enhanced)
			}
		}
		if strings.ContainsAny(r.Text, "\r\n") || strings.TrimSpace(r.Text) != r.Text {
			t.Fatalf("text %q is not one trimmed line", r.Text)
		}
		_ = replyClass(phaseRcpt, r)
		_ = classify(phaseRcpt, &textproto.Error{Code: code, Msg: msg})
	})
}

func TestParseTLSMode(t *testing.T) {
	for in, want := range map[string]TLSMode{
		"":                  TLSStartTLSRequired,
		"none":              TLSNone,
		" StartTLS ":        TLSStartTLS,
		"starttls-required": TLSStartTLSRequired,
		"TLS":               TLSImplicit,
	} {
		if got, err := ParseTLSMode(in); err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ssl", "starttls_required", "yes"} {
		if _, err := ParseTLSMode(in); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("ParseTLSMode(%q) error %v, want EINVALID", in, err)
		}
	}
}

// FuzzParseTLSMode: the mode comes from flags and the environment; any
// accepted value must be one of the four modes and survive a round trip.
func FuzzParseTLSMode(f *testing.F) {
	for _, s := range []string{"", "none", "starttls", "starttls-required", "tls", "TLS ", "ssl"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseTLSMode(s)
		if err != nil {
			if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		switch m {
		case TLSNone, TLSStartTLS, TLSStartTLSRequired, TLSImplicit:
		default:
			t.Fatalf("ParseTLSMode(%q) = %q", s, m)
		}
		if again, err := ParseTLSMode(string(m)); err != nil || again != m {
			t.Fatalf("round trip of %q: %q, %v", m, again, err)
		}
	})
}
