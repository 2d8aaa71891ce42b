// Package sms is herald's SMS channel: a dispatcher.Channel that sends each
// notice as one Twilio Programmable Messaging message through the official
// twilio-go client, and turns Twilio's answer into a dispatcher.Receipt or a
// classified *dispatcher.SendError (invalid number, opted out, retry later,
// or a permanent fault of ours).
//
// twilio-go builds its requests without a context and always aims at
// https://api.twilio.com. The channel therefore gives every send its own
// http.RoundTripper (see call) over one shared, tuned http.Transport. That
// RoundTripper attaches the send's context, so cancellation and Timeout
// reach the socket; rewrites the URL to Config.BaseURL when set (the Twilio
// double, or a proxy); and records the HTTP status and Retry-After header,
// which twilio-go does not expose, for classification. This uses twilio-go's
// documented extension point (a custom client.Client with its own
// HTTPClient) and nothing internal to it.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/heraldhq/herald/dispatcher"
)

// Option configures a Channel beyond its Config.
type Option func(*Channel)

// WithLogger sets the logger for per-message debug records (delivery and
// campaign IDs, message SIDs, Twilio codes; never numbers or text). Nil
// discards.
func WithLogger(l *slog.Logger) Option { return func(c *Channel) { c.log = l } }

// WithTransport replaces the channel's own tuned http.Transport, e.g. to
// add client certificates for a proxy. The caller then owns its idle
// connections; Close leaves them alone.
func WithTransport(rt http.RoundTripper) Option { return func(c *Channel) { c.transport = rt } }

// Channel sends SMS through Twilio. It is safe for concurrent use; all
// sends share one connection pool.
type Channel struct {
	proto         client.Client // credentials and account; copied for each send
	transport     http.RoundTripper
	ownTransport  *http.Transport // closed by Close; nil when WithTransport was used
	base          *url.URL        // nil: Twilio itself
	callback      string
	callbackParam string
	timeout       time.Duration
	log           *slog.Logger
	now           func() time.Time
}

// New returns a channel for cfg. It does not contact Twilio.
func New(cfg Config, opts ...Option) (*Channel, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Channel{
		callback:      cfg.StatusCallback,
		callbackParam: cfg.CallbackDeliveryParam,
		timeout:       cfg.Timeout,
		now:           time.Now,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if cfg.BaseURL != "" {
		c.base, _ = parseHTTPURL(cfg.BaseURL) // validated above
	}
	user, pass := cfg.AccountSID, cfg.AuthToken
	if cfg.APIKeySID != "" {
		user, pass = cfg.APIKeySID, cfg.APIKeySecret
	}
	c.proto = client.Client{Credentials: client.NewCredentials(user, pass)}
	c.proto.SetAccountSid(cfg.AccountSID)
	for _, o := range opts {
		o(c)
	}
	if c.transport == nil {
		idle := cfg.MaxIdleConnsPerHost
		if idle == 0 {
			idle = DefaultMaxIdleConnsPerHost
		}
		c.ownTransport = newTransport(idle)
		c.transport = c.ownTransport
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// newTransport returns a transport for many concurrent sends to one host:
// enough idle connections are kept that a burst of sends reuses them
// instead of opening (and TLS-handshaking) new ones.
func newTransport(maxIdlePerHost int) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * maxIdlePerHost,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Kind reports dispatcher.SMS.
func (c *Channel) Kind() dispatcher.ChannelKind { return dispatcher.SMS }

// Close releases idle connections of the channel's own transport.
func (c *Channel) Close() error {
	if c.ownTransport != nil {
		c.ownTransport.CloseIdleConnections()
	}
	return nil
}

// Send creates one Twilio message with To = m.To and Body = m.Text, sent
// from the campaign's Messaging Service when it has one and from its SMS
// number otherwise. The receipt carries the message SID and Twilio's
// status (queued, or accepted for a Messaging Service). Failures are
// *dispatcher.SendError; see classify for the mapping.
func (c *Channel) Send(ctx context.Context, m *dispatcher.Message) (dispatcher.Receipt, error) {
	if m == nil {
		return dispatcher.Receipt{}, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "sms: no message to send"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	rt := &call{ctx: ctx, base: c.base, next: c.transport, now: c.now}
	api := openapi.NewApiServiceWithClient(c.client(rt))
	res, err := api.CreateMessage(c.params(m))
	if err != nil {
		se := classify(err, rt.last, m.To)
		c.debug(ctx, m, "sms send failed", "class", se.Class.String(), "code", se.Code, "http_status", rt.last.status, "retry_after", se.RetryAfter)
		return dispatcher.Receipt{}, se
	}
	if res.Sid == nil || *res.Sid == "" {
		// Twilio said yes without saying to what: we cannot track the
		// message, so try again rather than record it as sent.
		c.debug(ctx, m, "sms send answered without SID", "http_status", rt.last.status)
		return dispatcher.Receipt{}, &dispatcher.SendError{Class: dispatcher.Transient,
			Diagnostic: fmt.Sprintf("Twilio answered HTTP %d without a message SID", rt.last.status)}
	}
	rcpt := dispatcher.Receipt{ProviderID: *res.Sid}
	if res.Status != nil {
		rcpt.Code = *res.Status
	}
	if res.NumSegments != nil {
		rcpt.Detail = "segments " + *res.NumSegments
	}
	c.debug(ctx, m, "sms accepted", "sid", rcpt.ProviderID, "status", rcpt.Code)
	return rcpt, nil
}

// debug logs one record about m with its IDs, and nothing personal.
func (c *Channel) debug(ctx context.Context, m *dispatcher.Message, msg string, args ...any) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	args = append([]any{"campaign", m.CampaignID, "delivery", m.DeliveryID, "channel", string(dispatcher.SMS)}, args...)
	c.log.DebugContext(ctx, msg, args...)
}

// params builds the create request for m.
func (c *Channel) params(m *dispatcher.Message) *openapi.CreateMessageParams {
	p := &openapi.CreateMessageParams{}
	p.SetTo(m.To)
	p.SetBody(m.Text)
	switch {
	case m.Sender.SMSService != "":
		p.SetMessagingServiceSid(m.Sender.SMSService)
	case m.Sender.SMSFrom != "":
		p.SetFrom(m.Sender.SMSFrom)
	}
	if cb := c.callbackURL(m.DeliveryID); cb != "" {
		p.SetStatusCallback(cb)
	}
	return p
}

// callbackURL returns the status callback URL for a delivery.
func (c *Channel) callbackURL(deliveryID int64) string {
	if c.callback == "" || c.callbackParam == "" {
		return c.callback
	}
	u, err := url.Parse(c.callback) // validated by New
	if err != nil {
		return c.callback
	}
	q := u.Query()
	q.Set(c.callbackParam, strconv.FormatInt(deliveryID, 10))
	u.RawQuery = q.Encode()
	return u.String()
}

// client returns a twilio-go client for one send over rt. client.Client is
// a small struct of configuration, so a copy per send is cheap, and it keeps
// each send's context and response record apart.
func (c *Channel) client(rt http.RoundTripper) *client.Client {
	cl := c.proto
	cl.HTTPClient = &http.Client{
		Transport: rt,
		// As twilio-go's default client: report redirects, do not follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &cl
}

// Twilio error codes that say the number cannot receive our SMS, and the
// one that says its owner opted out.
const (
	codeInvalidTo    = 21211 // not a valid phone number
	codeCannotRoute  = 21612 // cannot be reached from our sender
	codeNotMobile    = 21614 // not a mobile number
	codeLandline     = 21635 // a landline
	codeUnsubscribed = 21610 // the recipient replied STOP
	codeTooMany      = 20429 // rate limited
)

// classify turns a failed CreateMessage into a SendError:
//
//   - 21211, 21612, 21614, 21635 (the number cannot take SMS): Invalid
//   - 21610 (opted out): Suppressed
//   - HTTP 429 / 20429, 408 and 5xx: Transient, with Retry-After if sent
//   - 20003 (authentication) and any other 4xx: Permanent
//   - no answer (network error, timeout, cancelled) or an unreadable
//     success: Transient
//
// Code is Twilio's error code and Diagnostic Twilio's message, with the
// recipient's number replaced by "[recipient]": SendError texts end up in
// logs and queue retry records, where personal data must not.
func classify(err error, last response, to string) *dispatcher.SendError {
	se := &dispatcher.SendError{Err: err}
	var rest *client.TwilioRestError
	var v1 *client.RestErrorV1
	switch {
	case errors.As(err, &rest):
		status := rest.Status
		if status == 0 {
			status = last.status
		}
		se.Class = classOf(rest.Code, status)
		if rest.Code != 0 {
			se.Code = strconv.Itoa(rest.Code)
		}
		se.Diagnostic = redactNumber(rest.Message, to)
	case errors.As(err, &v1):
		status := v1.HttpStatusCode
		if status == 0 {
			status = last.status
		}
		se.Class = classOf(v1.Code, status)
		if v1.Code != 0 {
			se.Code = strconv.Itoa(v1.Code)
		}
		se.Diagnostic = redactNumber(v1.Message, to)
	case last.status >= 400:
		// An HTTP error without Twilio's JSON body: a proxy or load
		// balancer answered for Twilio.
		se.Class = classOf(0, last.status)
		se.Diagnostic = fmt.Sprintf("HTTP %d without a Twilio error body", last.status)
	case last.status >= 200 && last.status < 300:
		// Twilio accepted but the answer was unreadable. Retrying may send
		// the notice twice; not retrying may not send it at all, which is
		// worse for a breach notification.
		se.Class = dispatcher.Transient
		se.Diagnostic = fmt.Sprintf("unreadable HTTP %d answer from Twilio: %v", last.status, err)
	default:
		se.Class = dispatcher.Transient
		se.Diagnostic = "no answer from Twilio: " + err.Error()
	}
	if se.Class == dispatcher.Transient {
		se.RetryAfter = last.retryAfter
	}
	return se
}

// classOf maps a Twilio error code and HTTP status to a failure class.
func classOf(code, status int) dispatcher.Class {
	switch code {
	case codeInvalidTo, codeCannotRoute, codeNotMobile, codeLandline:
		return dispatcher.Invalid
	case codeUnsubscribed:
		return dispatcher.Suppressed
	case codeTooMany:
		return dispatcher.Transient
	}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return dispatcher.Transient
	case status >= 400:
		return dispatcher.Permanent
	}
	// No HTTP status to go by: nothing says retrying is futile.
	return dispatcher.Transient
}

// redactNumber removes the recipient's number from a Twilio message such
// as "The 'To' number +4791234567 is not a valid phone number.".
func redactNumber(msg, to string) string {
	if to == "" {
		return msg
	}
	return strings.ReplaceAll(msg, to, "[recipient]")
}
