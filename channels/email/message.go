package email

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/text/language"

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

// rendered is a message ready for DATA.
type rendered struct {
	env       envelope
	messageID string // with angle brackets, as in the header
	raw       []byte
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

	id := messageID(m.DeliveryID, ch.messageIDDomain(from.Address))

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(m.Sender.FromName, from.Address); err != nil {
		return nil, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "the campaign's sender address is not usable in a From header", Err: fmt.Errorf("set From: %w", err)}
	}
	if err := msg.AddToFormat(m.ToName, to.Address); err != nil {
		return nil, &dispatcher.SendError{Class: dispatcher.Invalid, Diagnostic: "not a valid e-mail address", Err: fmt.Errorf("set To: %w", err)}
	}
	if m.Sender.ReplyTo != "" {
		if err := msg.ReplyTo(m.Sender.ReplyTo); err != nil {
			return nil, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "the campaign's reply-to address is not a valid e-mail address", Err: fmt.Errorf("set Reply-To: %w", err)}
		}
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDateWithValue(now)
	msg.SetMessageIDWithValue(id)
	msg.SetGenHeader(HeaderDelivery, strconv.FormatInt(m.DeliveryID, 10))
	if !ch.cfg.OmitAutoSubmitted {
		msg.SetGenHeader(headerAutoSubmitted, "auto-generated")
	}
	if tag, err := language.Parse(m.Locale); err == nil && m.Locale != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, tag.String())
	}
	// multipart/alternative with text first (clients show the last part
	// they can render); a single part when one of the two is empty, so no
	// client is left showing an empty alternative.
	switch {
	case m.HTML == "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	case m.Text == "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}

	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "could not build the message", Err: fmt.Errorf("write message: %w", err)}
	}
	return &rendered{
		env:       envelope{From: "<" + returnPath + ">", To: "<" + to.Address + ">"},
		messageID: "<" + id + ">",
		raw:       buf.Bytes(),
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
