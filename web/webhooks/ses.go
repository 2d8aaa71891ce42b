package webhooks

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// CertFetcher returns the certificate at an SNS SigningCertURL. It is only
// called with https URLs on an sns.<region>.amazonaws.com host.
type CertFetcher func(ctx context.Context, certURL string) (*x509.Certificate, error)

// SESOptions configure the Amazon SES endpoint, which receives SES
// notifications through an SNS HTTPS subscription.
type SESOptions struct {
	// TopicARNs are the SNS topics accepted; anything else is refused
	// with 403 even when correctly signed, because SNS signs every
	// topic's messages alike and anyone can subscribe a topic of their
	// own to our URL and publish made-up bounces to it. Required.
	TopicARNs []string
	// ConfirmSubscriptions confirms a new SNS subscription by fetching its
	// SubscribeURL. Off by default: the confirmation is logged, and an
	// operator confirms it in the AWS console.
	ConfirmSubscriptions bool
	// FetchCert fetches signing certificates; nil fetches them over HTTPS
	// with HTTPClient. Tests inject their own.
	FetchCert CertFetcher
	// HTTPClient fetches certificates and confirms subscriptions; nil
	// means a client with a 10-second timeout.
	HTTPClient *http.Client
}

type sesEndpoint struct {
	topics  []string
	confirm bool
	fetch   CertFetcher
	client  *http.Client

	mu    sync.Mutex
	certs map[string]*x509.Certificate // by URL
}

// maxCachedCerts bounds the certificate cache; SNS uses a handful.
const maxCachedCerts = 32

func newSESEndpoint(o SESOptions) (*sesEndpoint, error) {
	ep := &sesEndpoint{topics: o.TopicARNs, confirm: o.ConfirmSubscriptions, fetch: o.FetchCert, client: o.HTTPClient, certs: map[string]*x509.Certificate{}}
	if ep.client == nil {
		ep.client = &http.Client{Timeout: 10 * time.Second}
	}
	if ep.fetch == nil {
		ep.fetch = ep.httpFetch
	}
	if len(o.TopicARNs) == 0 {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "webhooks: no SNS topic ARN for SES: give the ARN of the topic SES publishes to, e.g. arn:aws:sns:eu-west-1:123456789012:ses-events")
	}
	for _, arn := range o.TopicARNs {
		if !strings.HasPrefix(arn, "arn:") {
			return nil, dispatcher.Errorf(dispatcher.EINVALID, "webhooks: SNS topic %q is not an ARN: give e.g. arn:aws:sns:eu-west-1:123456789012:ses-events", arn)
		}
	}
	return ep, nil
}

// snsHost matches the hosts SNS signing certificates and subscription
// URLs live on.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com$`)

// ErrUntrustedURL is returned for a SigningCertURL or SubscribeURL that is
// not https on an SNS host: fetching it would let a forger choose the key
// (or make herald request arbitrary URLs).
var ErrUntrustedURL = errors.New("webhooks: not an https URL on an sns.<region>.amazonaws.com host")

func checkSNSURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || !snsHost.MatchString(strings.ToLower(u.Hostname())) {
		return nil, ErrUntrustedURL
	}
	return u, nil
}

// snsMessage is an SNS HTTP(S) delivery.
type snsMessage struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
	subjectSet       bool
}

// parseSNS decodes an SNS body. Subject is signed only when present, so
// its presence is recorded.
func parseSNS(body []byte) (*snsMessage, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode SNS message: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decode SNS message: %w", err)
	}
	if s, ok := raw["Subject"]; ok && string(s) != "null" {
		m.subjectSet = true
	}
	if m.Type == "" || m.MessageID == "" || m.Signature == "" {
		return nil, errors.New("not an SNS message: Type, MessageId or Signature missing")
	}
	return &m, nil
}

// stringToSign builds SNS's canonical string: selected fields as
// "Name\nvalue\n" in byte order of the names.
func (m *snsMessage) stringToSign() (string, error) {
	var fields [][2]string
	switch m.Type {
	case "Notification":
		fields = append(fields, [2]string{"Message", m.Message}, [2]string{"MessageId", m.MessageID})
		if m.subjectSet {
			fields = append(fields, [2]string{"Subject", m.Subject})
		}
		fields = append(fields, [2]string{"Timestamp", m.Timestamp}, [2]string{"TopicArn", m.TopicArn}, [2]string{"Type", m.Type})
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = append(fields, [2]string{"Message", m.Message}, [2]string{"MessageId", m.MessageID},
			[2]string{"SubscribeURL", m.SubscribeURL}, [2]string{"Timestamp", m.Timestamp},
			[2]string{"Token", m.Token}, [2]string{"TopicArn", m.TopicArn}, [2]string{"Type", m.Type})
	default:
		return "", fmt.Errorf("unknown SNS message type %q", m.Type)
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f[0])
		b.WriteByte('\n')
		b.WriteString(f[1])
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// verify checks m's signature with the certificate at its SigningCertURL.
func (ep *sesEndpoint) verify(ctx context.Context, m *snsMessage) error {
	var (
		hash crypto.Hash
		sum  []byte
	)
	canonical, err := m.stringToSign()
	if err != nil {
		return err
	}
	switch m.SignatureVersion {
	case "1":
		s := sha1.Sum([]byte(canonical)) //nolint:gosec // required by SignatureVersion 1
		hash, sum = crypto.SHA1, s[:]
	case "2":
		s := sha256.Sum256([]byte(canonical))
		hash, sum = crypto.SHA256, s[:]
	default:
		return fmt.Errorf("unsupported SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	if _, err := checkSNSURL(m.SigningCertURL); err != nil {
		return err
	}
	cert, err := ep.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("signing certificate has no RSA key")
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, sum, sig); err != nil {
		return fmt.Errorf("signature does not verify: %w", err)
	}
	return nil
}

// cert returns the certificate at certURL, fetched once and cached.
func (ep *sesEndpoint) cert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	ep.mu.Lock()
	c, ok := ep.certs[certURL]
	ep.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := ep.fetch(ctx, certURL)
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate: %w", err)
	}
	if now := time.Now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, errors.New("signing certificate is not valid now")
	}
	ep.mu.Lock()
	if len(ep.certs) >= maxCachedCerts {
		clear(ep.certs)
	}
	ep.certs[certURL] = c
	ep.mu.Unlock()
	return c, nil
}

// httpFetch GETs a PEM certificate.
func (ep *sesEndpoint) httpFetch(ctx context.Context, certURL string) (*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, certURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := ep.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", certURL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// sesNotification is the SES notification in an SNS Message: the
// "notificationType" of SES feedback notifications or the "eventType" of
// configuration-set event publishing.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Mail             struct {
		MessageID string `json:"messageId"`
		Headers   []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		Timestamp         string `json:"timestamp"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		Timestamp             string `json:"timestamp"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Delivery *struct {
		Timestamp    string   `json:"timestamp"`
		Recipients   []string `json:"recipients"`
		SMTPResponse string   `json:"smtpResponse"`
	} `json:"delivery"`
	DeliveryDelay *struct {
		Timestamp         string `json:"timestamp"`
		DelayType         string `json:"delayType"`
		DelayedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"delayedRecipients"`
	} `json:"deliveryDelay"`
}

// sesClass maps an SES bounce type and subtype to a class.
func sesClass(bounceType, subType string) dispatcher.Class {
	switch bounceType {
	case "Permanent":
		switch subType {
		case "General", "NoEmail", "Suppressed":
			return dispatcher.Invalid
		case "OnAccountSuppressionList":
			// The account's own suppression list: an earlier bounce or
			// complaint, not necessarily a dead mailbox.
			return dispatcher.Suppressed
		}
		return dispatcher.Permanent
	}
	return dispatcher.Transient // Transient, Undetermined, anything new
}

// sesEvents maps an SES notification (the SNS Message) to events. token is
// the SNS MessageId; the n-th event of a notification gets token#n.
func sesEvents(message, token string, now time.Time) ([]dispatcher.ProviderEvent, error) {
	var n sesNotification
	if err := json.Unmarshal([]byte(message), &n); err != nil {
		return nil, fmt.Errorf("decode SES notification: %w", err)
	}
	base := dispatcher.ProviderEvent{Channel: dispatcher.Email, Source: "ses", ProviderID: n.Mail.MessageID}
	for _, h := range n.Mail.Headers {
		switch strings.ToLower(h.Name) {
		case "x-herald-delivery":
			if id, err := strconv.ParseInt(strings.TrimSpace(h.Value), 10, 64); err == nil && id > 0 {
				base.DeliveryID = id
			}
		case "message-id":
			base.ProviderID = strings.TrimSpace(h.Value)
		}
	}
	if base.ProviderID == n.Mail.MessageID && n.Mail.CommonHeaders.MessageID != "" {
		// The Message-ID herald set, which the ledger records; SES's own
		// id is only known to SES.
		base.ProviderID = n.Mail.CommonHeaders.MessageID
	}
	at := func(ts string) time.Time {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t
		}
		return now
	}
	var out []dispatcher.ProviderEvent
	add := func(ev dispatcher.ProviderEvent) {
		ev.Token = token
		if len(out) > 0 {
			ev.Token = token + "#" + strconv.Itoa(len(out))
		}
		out = append(out, ev)
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	switch kind {
	case "Bounce":
		if n.Bounce == nil {
			return nil, errors.New("bounce notification without bounce")
		}
		class := sesClass(n.Bounce.BounceType, n.Bounce.BounceSubType)
		for _, r := range n.Bounce.BouncedRecipients {
			ev := base
			ev.Kind, ev.Class, ev.Address, ev.At = dispatcher.EventBounce, class, r.EmailAddress, at(n.Bounce.Timestamp)
			ev.Code, ev.Diagnostic = r.Status, r.DiagnosticCode
			if ev.Code == "" {
				ev.Code = n.Bounce.BounceSubType
			}
			add(ev)
		}
	case "Complaint":
		if n.Complaint == nil {
			return nil, errors.New("complaint notification without complaint")
		}
		for _, r := range n.Complaint.ComplainedRecipients {
			ev := base
			ev.Kind, ev.Address, ev.At, ev.Code = dispatcher.EventComplaint, r.EmailAddress, at(n.Complaint.Timestamp), n.Complaint.ComplaintFeedbackType
			add(ev)
		}
	case "Delivery":
		if n.Delivery == nil {
			return nil, errors.New("delivery notification without delivery")
		}
		for _, r := range n.Delivery.Recipients {
			ev := base
			ev.Kind, ev.Address, ev.At, ev.Diagnostic = dispatcher.EventDelivered, r, at(n.Delivery.Timestamp), n.Delivery.SMTPResponse
			add(ev)
		}
	case "DeliveryDelay":
		if n.DeliveryDelay == nil {
			return nil, errors.New("delay notification without deliveryDelay")
		}
		for _, r := range n.DeliveryDelay.DelayedRecipients {
			ev := base
			ev.Kind, ev.Class, ev.Address, ev.At = dispatcher.EventDeferred, dispatcher.Transient, r.EmailAddress, at(n.DeliveryDelay.Timestamp)
			ev.Code, ev.Diagnostic = r.Status, r.DiagnosticCode
			if ev.Code == "" {
				ev.Code = n.DeliveryDelay.DelayType
			}
			add(ev)
		}
	}
	// Send, Open, Click, Reject, Rendering Failure …: nothing to record.
	return out, nil
}

func (h *Handler) serveSES(w http.ResponseWriter, r *http.Request) {
	const provider = "ses"
	body, ok := h.readBody(w, r, provider)
	if !ok {
		return
	}
	m, err := parseSNS(body)
	if err != nil {
		h.reject(w, r, provider, http.StatusBadRequest, "not an SNS message")
		return
	}
	if !slices.Contains(h.ses.topics, m.TopicArn) {
		h.log.Warn("webhook: SNS topic not configured", "provider", provider, "topic", m.TopicArn)
		h.reject(w, r, provider, http.StatusForbidden, "unknown topic")
		return
	}
	if err := h.ses.verify(r.Context(), m); err != nil {
		h.log.Warn("webhook: SNS signature check failed", "provider", provider, "topic", m.TopicArn, "err", err)
		h.reject(w, r, provider, http.StatusForbidden, "bad signature")
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		h.confirmSNS(w, r, m)
	case "UnsubscribeConfirmation":
		h.log.Warn("webhook: SNS subscription removed", "provider", provider, "topic", m.TopicArn)
		w.WriteHeader(http.StatusOK)
	case "Notification":
		events, err := sesEvents(m.Message, m.MessageID, h.now())
		if err != nil {
			// Signed by SNS but not an SES notification we understand:
			// retrying will not help.
			h.log.Warn("webhook: SNS notification is not an SES event", "provider", provider, "topic", m.TopicArn, "err", err)
			http.Error(w, "not an SES notification", http.StatusBadRequest)
			return
		}
		h.apply(w, r, provider, events)
	}
}

// confirmSNS confirms a subscription when allowed, else logs how to.
func (h *Handler) confirmSNS(w http.ResponseWriter, r *http.Request, m *snsMessage) {
	const provider = "ses"
	u, err := checkSNSURL(m.SubscribeURL)
	if err != nil {
		h.reject(w, r, provider, http.StatusBadRequest, "subscribe URL not on an SNS host")
		return
	}
	if !h.ses.confirm {
		h.log.Warn("webhook: SNS subscription awaits confirmation; confirm it in the AWS console or enable automatic confirmation",
			"provider", provider, "topic", m.TopicArn, "subscribe_url", u.String())
		w.WriteHeader(http.StatusOK)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		http.Error(w, "could not confirm", http.StatusInternalServerError)
		return
	}
	resp, err := h.ses.client.Do(req)
	if err != nil {
		h.log.Error("webhook: confirm SNS subscription", "provider", provider, "topic", m.TopicArn, "err", err)
		http.Error(w, "could not confirm; try again", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.log.Error("webhook: confirm SNS subscription", "provider", provider, "topic", m.TopicArn, "status", resp.StatusCode)
		http.Error(w, "could not confirm; try again", http.StatusServiceUnavailable)
		return
	}
	h.log.Info("webhook: SNS subscription confirmed", "provider", provider, "topic", m.TopicArn)
	w.WriteHeader(http.StatusOK)
}
