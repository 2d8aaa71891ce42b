package email

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// Header names herald sets beyond the standard ones.
const (
	// HeaderDelivery carries the delivery ID, so a bounce, a complaint or a
	// forwarded copy can be traced to the ledger without personal data.
	HeaderDelivery = "X-Herald-Delivery"
	// headerAutoSubmitted marks the notice as machine-generated (RFC 3834).
	headerAutoSubmitted = "Auto-Submitted"
)

// envelope is the SMTP envelope of one message.
type envelope struct {
	From string // MAIL FROM, angle brackets included
	To   string // RCPT TO, angle brackets included
}

// rendered is a message ready for DATA. raw lives in a pooled buffer:
// release gives it back once the message is sent.
type rendered struct {
	env       envelope
	messageID string // with angle brackets, as in the header
	raw       []byte
	buf       *bytes.Buffer
}

func (r *rendered) release() {
	if r.buf != nil {
		r.buf.Reset()
		buffers.Put(r.buf)
		r.buf, r.raw = nil, nil
	}
}

// render builds the notice for m. Problems with the recipient's address
// are Invalid; problems with the campaign's sender addresses are Permanent.
func (ch *Channel) render(m *dispatcher.Message, now time.Time) (*rendered, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, &dispatcher.SendError{Class: dispatcher.Invalid, Diagnostic: "not a valid e-mail address", Err: fmt.Errorf("parse recipient address: %w", err)}
	}
	from, err := mail.ParseAddress(m.Sender.FromEmail)
	if err != nil {
		return nil, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "the campaign's sender address is not a valid e-mail address", Err: fmt.Errorf("parse sender address: %w", err)}
	}
	returnPath := from.Address
	if ch.cfg.ReturnPath != nil {
		if rp := ch.cfg.ReturnPath(m); rp != "" {
			a, err := mail.ParseAddress(rp)
			if err != nil {
				return nil, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "the return path is not a valid e-mail address", Err: fmt.Errorf("parse return path: %w", err)}
			}
			returnPath = a.Address
		}
	}
	h := noticeHeader{
		from:       &mail.Address{Name: m.Sender.FromName, Address: from.Address},
		to:         &mail.Address{Name: m.ToName, Address: to.Address},
		subject:    oneLine(m.Subject),
		date:       now,
		messageID:  messageID(m.DeliveryID, ch.messageIDDomain(from.Address)),
		deliveryID: m.DeliveryID,
		locale:     m.Locale,
	}
	if m.Sender.ReplyTo != "" {
		rt, err := mail.ParseAddress(m.Sender.ReplyTo)
		if err != nil {
			return nil, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "the campaign's reply-to address is not a valid e-mail address", Err: fmt.Errorf("set Reply-To: %w", err)}
		}
		h.replyTo = rt
	}
	buf := buffers.Get().(*bytes.Buffer)
	ch.composer.compose(buf, &h, m.Text, m.HTML)
	return &rendered{
		env:       envelope{From: "<" + returnPath + ">", To: "<" + to.Address + ">"},
		messageID: "<" + h.messageID + ">",
		raw:       buf.Bytes(),
		buf:       buf,
	}, nil
}

// messageID is herald's Message-ID without angle brackets:
// herald.<deliveryID>.<random>@<domain>. The delivery ID lets a reply or
// bounce that quotes it be traced; the random part keeps re-sends of the
// same delivery distinct, as RFC 5322 requires of different messages.
func messageID(deliveryID int64, domain string) string {
	return fmt.Sprintf("herald.%d.%s@%s", deliveryID, strings.ToLower(rand.Text()), domain)
}

// messageIDDomain is the configured domain, else the sender's, else
// "localhost" when the sender's domain cannot appear in a Message-ID.
func (ch *Channel) messageIDDomain(fromAddr string) string {
	if ch.cfg.MessageIDDomain != "" {
		return ch.cfg.MessageIDDomain
	}
	if i := strings.LastIndexByte(fromAddr, '@'); i >= 0 {
		if d := fromAddr[i+1:]; isDotAtom(d) {
			return strings.ToLower(d)
		}
	}
	return "localhost"
}

// isDotAtom reports whether s is an ASCII domain usable in a msg-id.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// oneLine folds line breaks in a subject into spaces: a template with a
// trailing newline must not produce a broken header.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// isASCII reports whether s needs no SMTPUTF8.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
