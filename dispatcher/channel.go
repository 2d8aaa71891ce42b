package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is a rendered notice ready for a channel. It carries everything
// the channel needs, so channels never read the ledger.
type Message struct {
	DeliveryID int64
	CampaignID int64
	Channel    ChannelKind
	To         string // e-mail address or E.164 number
	ToName     string
	Sender     Sender
	Subject    string // e-mail only
	Text       string // e-mail text part, or the SMS body
	HTML       string // e-mail HTML part; may be empty
	Locale     string
}

// Receipt is what a channel reports for an accepted message.
type Receipt struct {
	ProviderID string // Message-ID we set, or Twilio's SM... SID
	Code       string // e.g. "250" or Twilio status "queued"
	Detail     string
}

// Channel sends one message. It is the only thing a channel adapter has to
// implement. Errors that describe the recipient or the provider should be
// *SendError so the sender knows whether to retry, fall back or give up.
type Channel interface {
	Kind() ChannelKind
	Send(ctx context.Context, m *Message) (Receipt, error)
}

// Class says what a failed send means for the contact and for us.
type Class int

// Failure classes.
const (
	// Transient: try again later (SMTP 4xx, timeouts, Twilio 429/5xx).
	Transient Class = iota
	// Invalid: the address or number does not work (SMTP 5xx on RCPT,
	// Twilio 21211/21614/21612): mark it and fall back to the next channel.
	Invalid
	// Suppressed: the person opted out or is otherwise legally blocked
	// (Twilio 21610): do not use this channel, fall back.
	Suppressed
	// Permanent: the message cannot be sent for a reason that is not the
	// contact's (bad sender, rejected content, auth): fail, do not retry,
	// and do not blame the address.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Invalid:
		return "invalid"
	case Suppressed:
		return "suppressed"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// SendError is a classified send failure.
type SendError struct {
	Class      Class
	Code       string        // SMTP reply code with enhanced status ("550 5.1.1") or Twilio error code ("21211")
	Diagnostic string        // the server's words
	RetryAfter time.Duration // a provider's requested wait, if any
	Err        error         // the underlying error, if any
}

func (e *SendError) Error() string {
	msg := fmt.Sprintf("%s failure", e.Class)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Diagnostic != "" {
		msg += ": " + e.Diagnostic
	}
	if e.Err != nil && e.Diagnostic == "" {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// ClassOf classifies any send error: a *SendError carries its class, and
// anything else (a dropped connection, a timeout) is transient.
func ClassOf(err error) Class {
	var se *SendError
	if errors.As(err, &se) {
		return se.Class
	}
	return Transient
}
