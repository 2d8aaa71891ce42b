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
	"strconv"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/dispatcher"
)

// phase is the step of the SMTP conversation an error happened in; what a
// reply code means depends on it.
type phase int

const (
	phaseCompose phase = iota // building the message, before any I/O
	phaseConnect              // TCP, greeting, EHLO, STARTTLS, AUTH
	phaseMail                 // MAIL FROM
	phaseRcpt                 // RCPT TO
	phaseData                 // the DATA command
	phaseBody                 // writing the message
	phaseDataEnd              // the reply to the final "."
)

func (p phase) String() string {
	switch p {
	case phaseCompose:
		return "compose"
	case phaseConnect:
		return "connect"
	case phaseMail:
		return "MAIL FROM"
	case phaseRcpt:
		return "RCPT TO"
	case phaseData:
		return "DATA"
	case phaseBody:
		return "message body"
	case phaseDataEnd:
		return "end of DATA"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// reply is an SMTP reply split into the parts herald records.
type reply struct {
	Code     int    // basic reply code, e.g. 550
	Enhanced string // RFC 3463 enhanced status, e.g. "5.1.1"; empty when the server sent none
	Text     string // the server's words, enhanced codes removed, lines joined by a space
}

// parseReply splits the text of a reply (as net/textproto hands it over:
// lines without their basic code, joined by "\n") into enhanced status and
// words. An enhanced status is taken only from the start of a line and
// only when its class agrees with the basic code, as RFC 3463 requires;
// anything else is left in the text.
func parseReply(code int, msg string) reply {
	r := reply{Code: code}
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		line = strings.TrimRight(line, "\r")
		if esc, rest, ok := cutEnhanced(line, code); ok {
			if r.Enhanced == "" {
				r.Enhanced = esc
			}
			line = rest
		}
		lines[i] = strings.TrimSpace(line)
	}
	r.Text = strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
	return r
}

// cutEnhanced removes a leading "c.s.d " from line, where c matches the
// class of code and s and d have one to three digits.
func cutEnhanced(line string, code int) (esc, rest string, ok bool) {
	if code < 200 || code > 599 || len(line) < 5 {
		return "", line, false
	}
	class := byte('0' + code/100)
	if line[0] != class || (class != '2' && class != '4' && class != '5') || line[1] != '.' {
		return "", line, false
	}
	i := 2
	for part := 0; part < 2; part++ {
		n := 0
		for i < len(line) && line[i] >= '0' && line[i] <= '9' && n < 4 {
			i++
			n++
		}
		if n == 0 || n > 3 {
			return "", line, false
		}
		if part == 0 {
			if i >= len(line) || line[i] != '.' {
				return "", line, false
			}
			i++
		}
	}
	if i < len(line) && line[i] != ' ' {
		return "", line, false
	}
	return line[:i], line[i:], true
}

// CodeString is the reply code as herald records it: "550 5.1.1", or
// "550" when the server sent no enhanced status.
func (r reply) CodeString() string {
	if r.Enhanced == "" {
		return strconv.Itoa(r.Code)
	}
	return strconv.Itoa(r.Code) + " " + r.Enhanced
}

// subject is the middle number of the enhanced status (1 addressing,
// 2 mailbox, 5 protocol, 7 security or policy), or -1 without one.
func (r reply) subject() int {
	parts := strings.Split(r.Enhanced, ".")
	if len(parts) != 3 {
		return -1
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return -1
	}
	return n
}

// classify turns an error from phase ph into a *dispatcher.SendError.
//
// SMTP replies are classified by their codes and the phase:
//   - any 4xx is Transient: greylisting, rate limits, 421 shutting down;
//   - 5xx on RCPT TO is Invalid (the mailbox does not work) unless the
//     enhanced status says security/policy (5.7.x, e.g. relay denied, our
//     IP blocklisted, DMARC) or protocol (5.5.x), or, without an enhanced
//     status, the basic code is one that is about us (530, 500-504, 554):
//     then it is Permanent, because it is never the contact's fault and
//     must not mark their address as bad;
//   - 5xx after the message data is Permanent (content, size, policy),
//     except an addressing status (5.1.x): with one recipient per
//     transaction it can only be about that recipient, so it is Invalid;
//   - 5xx anywhere else (greeting, EHLO, AUTH, MAIL FROM, DATA) is
//     Permanent.
//
// Errors without a reply: a dropped connection, a timeout or a refused
// connection is Transient; a certificate that does not verify, or a
// relay that will not do the TLS or AUTH we are configured for, is
// Permanent, because retrying will not fix our configuration.
func classify(ph phase, err error) *dispatcher.SendError {
	wrapped := fmt.Errorf("smtp %s: %w", ph, err)
	var tp *textproto.Error
	if errors.As(err, &tp) {
		r := parseReply(tp.Code, tp.Msg)
		return &dispatcher.SendError{
			Class:      replyClass(ph, r),
			Code:       r.CodeString(),
			Diagnostic: r.Text,
			Err:        wrapped,
		}
	}
	se := &dispatcher.SendError{Class: dispatcher.Transient, Err: wrapped}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		se.Diagnostic = fmt.Sprintf("gave up during %s: %v", ph, err)
	case ph == phaseConnect && isConfigError(err):
		se.Class = dispatcher.Permanent
		se.Diagnostic = "SMTP relay refused our TLS or authentication setup: " + err.Error()
	case ph == phaseConnect && isNetworkError(err):
		se.Diagnostic = "cannot reach the SMTP relay: " + err.Error()
	case ph == phaseConnect:
		// Not a reply and not the network: go-mail refusing to go on, e.g.
		// STARTTLS required but not offered, or no AUTH advertised.
		se.Class = dispatcher.Permanent
		se.Diagnostic = "SMTP relay setup failed: " + err.Error()
	case ph == phaseDataEnd:
		se.Diagnostic = "connection lost after the message was sent, before the relay confirmed it: it may have been accepted, and a retry may deliver it twice (" + err.Error() + ")"
	default:
		se.Diagnostic = fmt.Sprintf("connection lost during %s: %v", ph, err)
	}
	return se
}

// replyClass is the class of an SMTP error reply r received in phase ph.
func replyClass(ph phase, r reply) dispatcher.Class {
	switch r.Code / 100 {
	case 4:
		return dispatcher.Transient
	case 5:
	default:
		// A reply of the wrong kind (e.g. 250 where 354 was due) is a
		// confused server; try again rather than give up on the person.
		return dispatcher.Transient
	}
	switch ph {
	case phaseRcpt:
		if aboutUs(r) {
			return dispatcher.Permanent
		}
		return dispatcher.Invalid
	case phaseDataEnd:
		if r.subject() == 1 {
			return dispatcher.Invalid
		}
	}
	return dispatcher.Permanent
}

// aboutUs reports whether a 5xx reply to RCPT TO is about the sender, the
// relay or the protocol rather than the recipient's mailbox.
func aboutUs(r reply) bool {
	if r.Enhanced != "" {
		s := r.subject()
		return s == 7 || s == 5
	}
	// 501 is left out: it usually means a malformed address, which is
	// about the recipient.
	switch r.Code {
	case 500, 502, 503, 504, 530, 554:
		return true
	}
	return false
}

// isConfigError reports errors that come from how we are set up to talk to
// the relay, not from the moment: TLS that does not verify or does not
// agree, and credentials go-mail will not send.
func isConfigError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record) || errors.As(err, &alert)
}

// isNetworkError reports errors of the network itself: refused, reset,
// timed out, closed, unresolvable.
func isNetworkError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// staleConn reports whether err, on a pooled connection that had been
// idle, means the relay closed it meanwhile: the first command failed
// without a reply, or with 421 (closing). Nothing of the message was
// accepted, so it is safe to send again on a fresh connection at once.
func staleConn(ph phase, err error) bool {
	if ph != phaseMail {
		return false
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code == 421
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
