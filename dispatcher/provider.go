package dispatcher

import (
	"context"
	"time"
)

// ProviderEvent is something a provider told us about a message after it
// left: an asynchronous bounce (a DSN e-mail), a complaint (ARF), a Twilio
// status callback, an SES or SendGrid event. Intake adapters (the bounce
// receiver, the IMAP poller, the webhooks) turn what they receive into
// ProviderEvents and hand them to an EventSink; the domain decides what
// they mean for the delivery, the contact and the campaign.
type ProviderEvent struct {
	// DeliveryID identifies the delivery when the message carried it
	// (a verified VERP token, a callback URL parameter); 0 when unknown.
	DeliveryID int64
	// ProviderID is the Message-ID we set or the provider's message id
	// (Twilio SM…, SES message id), used when DeliveryID is 0.
	ProviderID string
	Channel    ChannelKind
	Kind       EventKind
	// Class refines bounces: Invalid (the address does not exist),
	// Transient (soft: full mailbox, unreachable handset), Permanent (a
	// policy or sender-side problem that is not the contact's fault).
	Class      Class
	Code       string // "5.1.1", "550 5.1.1", Twilio "30005", SES "General"
	Diagnostic string // the provider's words (may quote the address; never logged)
	Address    string // the recipient the provider names, if any
	At         time.Time
	Source     string // "dsn", "arf", "twilio", "ses", "sendgrid", "imap"
	// Token is the provider's idempotency key (Twilio's
	// I-Twilio-Idempotency-Token, SNS MessageId, SendGrid sg_event_id):
	// an event seen before is ignored.
	Token string
}

// EventKind is what happened to a sent message.
type EventKind string

// Event kinds.
const (
	EventDelivered EventKind = "delivered" // the provider confirms delivery
	EventBounce    EventKind = "bounce"    // it could not be delivered (see Class)
	EventDeferred  EventKind = "deferred"  // delayed, still trying: informational
	EventComplaint EventKind = "complaint" // the person marked it as spam
	EventOptOut    EventKind = "opt_out"   // the person opted out (SMS STOP)
)

// EventSink receives provider events. Apply returns nil for an event it
// recognised but ignored (a duplicate, an unknown delivery kept for
// inspection); an error means "try again later" to the intake.
type EventSink interface {
	Apply(ctx context.Context, ev ProviderEvent) error
}
