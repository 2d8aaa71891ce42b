// Package bounce reads the messages that come back after herald has sent a
// notice by e-mail — delivery status notifications, provider-specific
// bounces, complaint reports and auto-replies — and says, for every
// recipient they name, whether the address is gone (the only case in which
// a contact is marked invalid), whether the failure is of the moment, or
// whether the receiver refused us rather than the person.
//
// Parse reads one message: RFC 3464 multipart/report delivery-status
// reports, the plain-text bounces of MTAs and providers that do not send
// one (qmail, Exim, old Exchange, Gmail, Yahoo, GMX, Mail.ru, Zoho, ...),
// RFC 5965 complaint reports (type "arf") and RFC 3834 auto-replies (type
// "autoreply", which are not bounces and name no recipients). It also
// finds herald's own identifiers in the returned original (the
// X-Herald-Delivery header and the herald.<delivery>.<random>@ Message-ID)
// and the addresses the bounce itself was sent to, which carry the VERP
// token. Classify holds the rules that decide what a failure means; the
// synchronous SMTP path and provider webhooks use it too, so that one set
// of rules decides when herald blames an address.
//
// The package does no I/O of its own and keeps no state: intake (an SMTP
// receiver, an IMAP poller) hands it messages, and the caller verifies
// tokens and updates the ledger. It never logs; reports contain personal
// data (addresses, diagnostics quoting them) and callers must keep them
// out of logs and queue payloads.
package bounce

// Report types.
const (
	// TypeDSN is a delivery status notification: an RFC 3464 report or a
	// non-standard bounce from an MTA or a provider.
	TypeDSN = "dsn"
	// TypeARF is an RFC 5965 feedback report: someone complained.
	TypeARF = "arf"
	// TypeAutoreply is an RFC 3834 automatic reply (out of office,
	// vacation, ticket acknowledgements). It is not a bounce and names no
	// recipients; callers ignore it.
	TypeAutoreply = "autoreply"
	// TypeUnknown is anything else: a person's reply, spam sent to the
	// bounce address, a read receipt, or input too damaged to read.
	TypeUnknown = "unknown"
)

// Actions, as RFC 3464 names them. Non-standard bounces are "failed" or,
// for warnings that the MTA is still trying, "delayed".
const (
	ActionFailed    = "failed"
	ActionDelayed   = "delayed"
	ActionDelivered = "delivered"
	ActionRelayed   = "relayed"
	ActionExpanded  = "expanded"
)

// Report is what one returned message says. Its JSON form is what `herald
// bounces parse FILE.eml --json` prints.
type Report struct {
	Type string `json:"type"`
	// Recipients are the addresses the report is about, in the order it
	// names them. Empty (never null in JSON) for auto-replies and unknown
	// messages.
	Recipients []Recipient `json:"recipients"`
	// DeliveryID is herald's delivery ID, from the X-Herald-Delivery
	// header of the returned original or from its Message-ID; 0 if none
	// was found. It is not authenticated: anyone can write these headers,
	// so callers check it against the VERP token or the ledger.
	DeliveryID int64 `json:"delivery_id,omitempty"`
	// MessageID is the returned original's Message-ID, with its angle
	// brackets, as herald records it in Receipt.ProviderID.
	MessageID string `json:"message_id,omitempty"`
	// To are the addresses the bounce itself was delivered to
	// (X-Original-To, Delivered-To, Envelope-To, To): for herald's bounces
	// the VERP return path, bounces+TOKEN@domain.
	To []string `json:"to,omitempty"`
	// FeedbackType is the ARF Feedback-Type (abuse, fraud, virus, other,
	// not-spam, auth-failure), lower-cased; ARF only.
	FeedbackType string `json:"feedback_type,omitempty"`
	// Truncated reports that the message was longer than MaxSize and only
	// its first MaxSize bytes were read.
	Truncated bool `json:"truncated,omitempty"`
}

// Recipient is one address a report is about and what happened to it.
type Recipient struct {
	// Address is the recipient as herald sent to it: the DSN's
	// Original-Recipient when present, else its Final-Recipient, else the
	// address a non-standard bounce names. For ARF it is the complained-
	// about recipient.
	Address string `json:"address"`
	// Action is failed, delayed, delivered, relayed or expanded; empty for
	// ARF.
	Action string `json:"action"`
	// Status is the RFC 3463 enhanced status ("5.1.1"), from the report or
	// from the diagnostic; empty if neither has one.
	Status string `json:"status"`
	// ReplyCode is the receiving server's SMTP reply code ("550"), if the
	// diagnostic quotes it.
	ReplyCode string `json:"reply_code"`
	// Diagnostic is the receiving server's words, or the bounce text that
	// stands for them. It may quote the address: personal data.
	Diagnostic string `json:"diagnostic"`
	// Class is ClassInvalid, ClassSoft or ClassPolicy for failed and
	// delayed recipients (a delay is always soft: the MTA is still trying
	// and will report again if it gives up), and empty for delivered,
	// relayed and expanded ones and for ARF.
	Class string `json:"class"`
	// Hard is Class == ClassInvalid: the address does not exist and the
	// contact can be marked.
	Hard bool `json:"hard"`
	// RemoteMTA is the DSN's Remote-MTA, the server that gave the reply.
	RemoteMTA string `json:"remote_mta,omitempty"`
}
