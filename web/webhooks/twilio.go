package webhooks

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/heraldhq/herald/dispatcher"
)

// TwilioOptions configure the Twilio status callback endpoint.
type TwilioOptions struct {
	// AuthToken is the account's auth token, which signs callbacks.
	// Required.
	AuthToken string
	// PublicBaseURL is the scheme, host and path prefix Twilio posts to,
	// e.g. https://herald.example.org: the signature covers the URL as
	// Twilio saw it, which a reverse proxy changes (scheme, Host, a
	// stripped prefix), so it cannot be taken from the request. The
	// request's path and query are appended. Required.
	PublicBaseURL string
	// DeliveryParam is the callback URL's query parameter that carries
	// the delivery ID (as sms.Config.CallbackDeliveryParam adds it).
	// Default DefaultDeliveryParam.
	DeliveryParam string
}

type twilioEndpoint struct {
	validator client.RequestValidator
	base      *url.URL
	param     string
}

func newTwilioEndpoint(o TwilioOptions) (*twilioEndpoint, error) {
	if o.AuthToken == "" {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "webhooks: Twilio auth token is empty: give the account's auth token, which signs status callbacks")
	}
	base, err := parseBase(o.PublicBaseURL)
	if err != nil {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "webhooks: Twilio public base URL %q: %v", o.PublicBaseURL, err)
	}
	if o.DeliveryParam == "" {
		o.DeliveryParam = DefaultDeliveryParam
	}
	return &twilioEndpoint{validator: client.NewRequestValidator(o.AuthToken), base: base, param: o.DeliveryParam}, nil
}

// Twilio error codes and what they mean for the contact. Codes not listed
// for an undelivered or failed message are Transient.
var twilioCodes = map[string]struct {
	kind  dispatcher.EventKind
	class dispatcher.Class
	what  string
}{
	"30005": {dispatcher.EventBounce, dispatcher.Invalid, "unknown destination handset"},
	"30006": {dispatcher.EventBounce, dispatcher.Invalid, "landline or unreachable carrier"},
	"21211": {dispatcher.EventBounce, dispatcher.Invalid, "invalid 'To' phone number"},
	"21614": {dispatcher.EventBounce, dispatcher.Invalid, "'To' number is not a valid mobile number"},
	"21635": {dispatcher.EventBounce, dispatcher.Invalid, "'To' number cannot be reached (landline)"},
	"21612": {dispatcher.EventBounce, dispatcher.Invalid, "'To' number is not reachable from this sender"},
	"21610": {dispatcher.EventOptOut, dispatcher.Suppressed, "recipient replied STOP (unsubscribed)"},
	"30003": {dispatcher.EventBounce, dispatcher.Transient, "unreachable destination handset"},
	"30008": {dispatcher.EventBounce, dispatcher.Transient, "unknown error"},
	// Sender-side: alert the operator, never the contact's fault.
	"30007": {dispatcher.EventBounce, dispatcher.Permanent, "message filtered by the carrier"},
	"30004": {dispatcher.EventBounce, dispatcher.Permanent, "message blocked"},
	"30034": {dispatcher.EventBounce, dispatcher.Permanent, "sender number not registered (A2P 10DLC)"},
}

// twilioEvent maps one status callback's form to an event. ok is false
// for statuses that change nothing (queued, sending, sent, …).
func twilioEvent(form url.Values, deliveryParam string, query url.Values, token string, now time.Time) (ev dispatcher.ProviderEvent, ok bool) {
	status := strings.ToLower(strings.TrimSpace(form.Get("MessageStatus")))
	if status == "" {
		status = strings.ToLower(strings.TrimSpace(form.Get("SmsStatus")))
	}
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	ev = dispatcher.ProviderEvent{
		ProviderID: sid,
		Channel:    dispatcher.SMS,
		Address:    form.Get("To"),
		At:         now,
		Source:     "twilio",
		Token:      token,
	}
	if id, err := strconv.ParseInt(query.Get(deliveryParam), 10, 64); err == nil && id > 0 {
		ev.DeliveryID = id
	}
	switch status {
	case "delivered":
		ev.Kind = dispatcher.EventDelivered
	case "undelivered", "failed":
		code := strings.TrimSpace(form.Get("ErrorCode"))
		ev.Kind, ev.Class, ev.Code = dispatcher.EventBounce, dispatcher.Transient, code
		if c, known := twilioCodes[code]; known {
			ev.Kind, ev.Class, ev.Diagnostic = c.kind, c.class, c.what
		}
		if ev.Diagnostic == "" {
			ev.Diagnostic = "message " + status
		}
	default:
		return ev, false
	}
	if ev.Token == "" {
		// Twilio always sends I-Twilio-Idempotency-Token; without it the
		// message and status are the next best key.
		ev.Token = sid + ":" + status
	}
	return ev, true
}

func (h *Handler) serveTwilio(w http.ResponseWriter, r *http.Request) {
	const provider = "twilio"
	body, ok := h.readBody(w, r, provider)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		h.reject(w, r, provider, http.StatusBadRequest, "malformed form")
		return
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		params[k] = v[0]
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || !h.twilio.validator.Validate(publicURL(h.twilio.base, r), params, sig) {
		h.reject(w, r, provider, http.StatusForbidden, "bad signature")
		return
	}
	ev, ok := twilioEvent(form, h.twilio.param, r.URL.Query(), r.Header.Get("I-Twilio-Idempotency-Token"), h.now())
	if !ok {
		w.WriteHeader(http.StatusOK) // an intermediate status: nothing to record
		return
	}
	h.apply(w, r, provider, []dispatcher.ProviderEvent{ev})
}

// String describes the endpoint without its secret.
func (o TwilioOptions) String() string {
	return fmt.Sprintf("webhooks.TwilioOptions{AuthToken:%s PublicBaseURL:%s DeliveryParam:%s}", redact(o.AuthToken), o.PublicBaseURL, o.DeliveryParam)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
