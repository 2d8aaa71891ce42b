package webhooks

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// SendGrid's signature headers.
const (
	HeaderSendGridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	HeaderSendGridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// SendGridDeliveryArg is the custom argument (unique_args) carrying the
// delivery ID when herald sends through SendGrid.
const SendGridDeliveryArg = "herald_delivery"

// SendGridOptions configure the SendGrid Event Webhook endpoint.
type SendGridOptions struct {
	// PublicKey is the Event Webhook's verification key as SendGrid shows
	// it (base64 of the DER public key) or in PEM. Required: an unsigned
	// webhook would let anyone mark addresses invalid.
	PublicKey string
}

type sendgridEndpoint struct {
	key *ecdsa.PublicKey
}

func newSendGridEndpoint(o SendGridOptions) (*sendgridEndpoint, error) {
	key, err := ParseSendGridKey(o.PublicKey)
	if err != nil {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "webhooks: SendGrid verification key: %v: copy it from Settings › Mail Settings › Event Webhook › Signature Verification", err)
	}
	return &sendgridEndpoint{key: key}, nil
}

// ParseSendGridKey parses an ECDSA public key given as base64 DER (as the
// SendGrid console shows it) or as PEM.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty")
	}
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor base64: %w", err)
		}
		der = b
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a public key: %w", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ECDSA key", pub)
	}
	return k, nil
}

// verify checks the ECDSA signature over timestamp followed by body.
func (ep *sendgridEndpoint) verify(sigB64, timestamp string, body []byte) bool {
	if sigB64 == "" || timestamp == "" {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return false
	}
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	return ecdsa.VerifyASN1(ep.key, h.Sum(nil), sig)
}

// sendgridEvent is one entry of the Event Webhook's JSON array; custom
// arguments appear as top-level fields.
type sendgridEvent struct {
	Email          string          `json:"email"`
	Timestamp      json.Number     `json:"timestamp"`
	Event          string          `json:"event"`
	EventID        string          `json:"sg_event_id"`
	MessageID      string          `json:"sg_message_id"`
	SMTPID         string          `json:"smtp-id"`
	Type           string          `json:"type"`
	Reason         string          `json:"reason"`
	Status         string          `json:"status"`
	Response       string          `json:"response"`
	HeraldDelivery json.RawMessage `json:"herald_delivery"`
}

// sendgridEvents decodes a webhook body and maps its events; events that
// change nothing (processed, open, click …) are left out.
func sendgridEvents(body []byte, now time.Time) ([]dispatcher.ProviderEvent, error) {
	var raw []sendgridEvent
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode SendGrid events: %w", err)
	}
	out := make([]dispatcher.ProviderEvent, 0, len(raw))
	for _, e := range raw {
		ev := dispatcher.ProviderEvent{
			Channel:    dispatcher.Email,
			Source:     "sendgrid",
			Address:    e.Email,
			Token:      e.EventID,
			ProviderID: e.SMTPID, // our Message-ID, as the ledger has it
			Code:       e.Status,
			Diagnostic: e.Reason,
			At:         now,
		}
		if ev.ProviderID == "" {
			ev.ProviderID = e.MessageID
		}
		if ts, err := e.Timestamp.Int64(); err == nil && ts > 0 {
			ev.At = time.Unix(ts, 0).UTC()
		}
		ev.DeliveryID = rawID(e.HeraldDelivery)
		switch e.Event {
		case "bounce":
			ev.Kind, ev.Class = dispatcher.EventBounce, dispatcher.Invalid
			if e.Type == "blocked" {
				// Refused for policy or reputation: ours to fix.
				ev.Class = dispatcher.Permanent
			}
		case "dropped":
			ev.Kind, ev.Class = dispatcher.EventBounce, droppedClass(e.Reason)
		case "deferred":
			ev.Kind, ev.Class = dispatcher.EventDeferred, dispatcher.Transient
			if ev.Diagnostic == "" {
				ev.Diagnostic = e.Response
			}
		case "delivered":
			ev.Kind = dispatcher.EventDelivered
			ev.Diagnostic = e.Response
		case "spamreport":
			ev.Kind = dispatcher.EventComplaint
		case "unsubscribe", "group_unsubscribe":
			ev.Kind, ev.Class = dispatcher.EventOptOut, dispatcher.Suppressed
		default:
			continue
		}
		if ev.Token == "" {
			ev.Token = e.MessageID + ":" + e.Event + ":" + e.Timestamp.String()
		}
		out = append(out, ev)
	}
	return out, nil
}

// droppedClass says why SendGrid did not even try: a suppressed bounced
// or invalid address is the contact's; an unsubscribe or spam report is a
// suppression; anything else (a bad header, content) is ours.
func droppedClass(reason string) dispatcher.Class {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "bounced address"), strings.HasPrefix(r, "invalid") && !strings.Contains(r, "header"):
		return dispatcher.Invalid
	case strings.Contains(r, "unsubscribed"), strings.Contains(r, "spam reporting"):
		return dispatcher.Suppressed
	}
	return dispatcher.Permanent
}

// rawID reads a delivery ID given as a JSON number or string; 0 if
// absent or malformed.
func rawID(raw json.RawMessage) int64 {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

func (h *Handler) serveSendGrid(w http.ResponseWriter, r *http.Request) {
	const provider = "sendgrid"
	body, ok := h.readBody(w, r, provider)
	if !ok {
		return
	}
	if !h.sendgrid.verify(r.Header.Get(HeaderSendGridSignature), r.Header.Get(HeaderSendGridTimestamp), body) {
		h.reject(w, r, provider, http.StatusForbidden, "bad signature")
		return
	}
	events, err := sendgridEvents(body, h.now())
	if err != nil {
		h.reject(w, r, provider, http.StatusBadRequest, "malformed events")
		return
	}
	h.apply(w, r, provider, events)
}
