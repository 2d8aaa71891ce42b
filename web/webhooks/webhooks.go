// Package webhooks receives delivery outcomes that SMS and e-mail
// providers post to herald after a message has left — Twilio status
// callbacks, Amazon SES notifications (through SNS) and SendGrid's Event
// Webhook — and turns them into dispatcher.ProviderEvents for an
// EventSink, which decides what they mean for the ledger.
//
// Every request is authenticated before anything else is read into the
// ledger: Twilio's HMAC signature over the public URL and form, SNS's RSA
// signature with a certificate fetched only from Amazon's SNS hosts, and
// SendGrid's ECDSA signature over timestamp and body. A request that does
// not verify gets 403 and changes nothing. A request is answered 2xx only
// after the sink accepted every event in it, so that the provider retries
// anything the ledger could not take; the sink deduplicates retries by the
// provider's idempotency token (ProviderEvent.Token), and a small
// in-memory cache spares it the obvious repeats.
//
// Logs carry provider names, event kinds, delivery IDs and error codes,
// never phone numbers, e-mail addresses or the providers' free text.
package webhooks

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// Defaults for Options left zero.
const (
	// DefaultMaxBodyBytes bounds a request body. A SendGrid batch of
	// about a thousand events fits; an SNS message is at most 256 KiB.
	DefaultMaxBodyBytes = 2 << 20
	// DefaultDedupeSize is how many recently applied tokens are kept in
	// memory.
	DefaultDedupeSize = 4096
	// DefaultDeliveryParam is the Twilio callback URL's query parameter
	// carrying the delivery ID (sms.Config.CallbackDeliveryParam).
	DefaultDeliveryParam = "delivery"
)

// Paths the handler serves; mount the Handler at "/webhooks/" without
// stripping the prefix.
const (
	PathTwilio   = "/webhooks/twilio"
	PathSES      = "/webhooks/ses"
	PathSendGrid = "/webhooks/sendgrid"
)

// Options configure a Handler. Each provider's endpoint is enabled by
// its own options; a disabled endpoint answers 404.
type Options struct {
	// Sink receives the events. Required.
	Sink dispatcher.EventSink

	// Twilio enables POST /webhooks/twilio.
	Twilio *TwilioOptions
	// SES enables POST /webhooks/ses.
	SES *SESOptions
	// SendGrid enables POST /webhooks/sendgrid.
	SendGrid *SendGridOptions

	// MaxBodyBytes bounds each request body; larger requests get 413.
	// Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DedupeSize is how many applied idempotency tokens are remembered in
	// memory, so a retried callback does not reach the sink again.
	// Default DefaultDedupeSize; negative disables the cache (the sink
	// still deduplicates).
	DedupeSize int

	// Logger receives accepted and rejected requests, without personal
	// data. Nil discards.
	Logger *slog.Logger
	// Now is the clock for events that carry no time of their own;
	// default time.Now.
	Now func() time.Time
}

// Handler is the webhook endpoint. It is safe for concurrent use.
type Handler struct {
	opts   Options
	log    *slog.Logger
	mux    *http.ServeMux
	dedupe *lru
	now    func() time.Time

	twilio   *twilioEndpoint
	ses      *sesEndpoint
	sendgrid *sendgridEndpoint
}

var _ http.Handler = (*Handler)(nil)

// New checks opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Sink == nil {
		return nil, errors.New("webhooks: no event sink")
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("webhooks: max body size %d is negative", opts.MaxBodyBytes)
	}
	if opts.DedupeSize == 0 {
		opts.DedupeSize = DefaultDedupeSize
	}
	h := &Handler{opts: opts, log: opts.Logger, mux: http.NewServeMux(), now: opts.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if opts.DedupeSize > 0 {
		h.dedupe = newLRU(opts.DedupeSize)
	}
	if opts.Twilio != nil {
		ep, err := newTwilioEndpoint(*opts.Twilio)
		if err != nil {
			return nil, err
		}
		h.twilio = ep
		h.mux.HandleFunc("POST "+PathTwilio, h.serveTwilio)
	}
	if opts.SES != nil {
		ep, err := newSESEndpoint(*opts.SES)
		if err != nil {
			return nil, err
		}
		h.ses = ep
		h.mux.HandleFunc("POST "+PathSES, h.serveSES)
	}
	if opts.SendGrid != nil {
		ep, err := newSendGridEndpoint(*opts.SendGrid)
		if err != nil {
			return nil, err
		}
		h.sendgrid = ep
		h.mux.HandleFunc("POST "+PathSendGrid, h.serveSendGrid)
	}
	return h, nil
}

// ServeHTTP routes to the enabled endpoints; other methods get 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// readBody reads the request body up to the configured limit, answering
// 413 (and returning false) when it is larger.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, provider string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reject(w, r, provider, http.StatusRequestEntityTooLarge, "body too large")
			return nil, false
		}
		h.log.Warn("webhook: read body", "provider", provider, "err", err)
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// reject answers a request that changes nothing and logs why, with the
// peer's address but nothing from the body.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, provider string, status int, reason string) {
	h.log.Warn("webhook: rejected", "provider", provider, "status", status, "reason", reason, "remote", r.RemoteAddr)
	http.Error(w, http.StatusText(status), status)
}

// apply hands events to the sink in order, skipping tokens applied
// recently. It answers 503 when the sink fails, so the provider retries,
// and 200 when every event was accepted. An event the ledger cannot match
// to a delivery (dispatcher.ErrUnmatched) is logged and accepted:
// retrying would not make it match.
func (h *Handler) apply(w http.ResponseWriter, r *http.Request, provider string, events []dispatcher.ProviderEvent) {
	applied, skipped, unmatched := 0, 0, 0
	for _, ev := range events {
		key := ev.Source + "\x00" + ev.Token
		if ev.Token != "" && h.dedupe != nil && h.dedupe.contains(key) {
			skipped++
			continue
		}
		err := h.opts.Sink.Apply(r.Context(), ev)
		if errors.Is(err, dispatcher.ErrUnmatched) {
			// Provider IDs (SIDs, message ids) are not personal data.
			h.log.Warn("webhook: event matches no delivery", "provider", provider, "kind", string(ev.Kind),
				"delivery", ev.DeliveryID, "provider_id", ev.ProviderID)
			unmatched++
			continue
		}
		if err != nil {
			h.log.Error("webhook: sink failed; asking the provider to retry",
				"provider", provider, "kind", string(ev.Kind), "delivery", ev.DeliveryID, "code", ev.Code, "err", err)
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		if ev.Token != "" && h.dedupe != nil {
			h.dedupe.add(key)
		}
		applied++
		h.log.Debug("webhook: event", "provider", provider, "kind", string(ev.Kind), "class", ev.Class.String(),
			"delivery", ev.DeliveryID, "code", ev.Code)
	}
	h.log.Debug("webhook: accepted", "provider", provider, "events", applied, "duplicates", skipped, "unmatched", unmatched)
	w.WriteHeader(http.StatusOK)
}

// publicURL is the URL a provider used to reach r: base (scheme, host and
// any prefix a proxy strips) followed by r's path and query, as received.
func publicURL(base *url.URL, r *http.Request) string {
	u := strings.TrimSuffix(base.String(), "/") + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

// parseBase parses a configured public base URL.
func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("want an absolute http or https URL such as https://herald.example.org")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("want no query or fragment")
	}
	return u, nil
}
