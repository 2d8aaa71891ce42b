package sms

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultMaxIdleConnsPerHost = 64
)

// Config is how the SMS channel reaches Twilio. Authenticate either with
// the account's Auth Token or, preferably in production, with an API key
// (APIKeySID and APIKeySecret), which can be revoked on its own.
type Config struct {
	// AccountSID is the Twilio account (AC…) messages are sent from.
	AccountSID string
	// AuthToken is the account's auth token; ignored when an API key is
	// given.
	AuthToken string
	// APIKeySID (SK…) and APIKeySecret authenticate in place of AuthToken.
	APIKeySID    string
	APIKeySecret string

	// BaseURL, when set, replaces https://api.twilio.com as the place every
	// request goes, keeping the path: the Twilio double in tests and the
	// demo, or a forwarding proxy. Empty means Twilio itself.
	BaseURL string

	// StatusCallback, when set, is the URL Twilio posts delivery status
	// changes of every message to (herald's webhook).
	StatusCallback string
	// CallbackDeliveryParam, when set together with StatusCallback, adds
	// the delivery ID to the callback URL as this query parameter (e.g.
	// "delivery" gives …?delivery=42). The webhook can then find the
	// delivery even when a callback arrives before the ledger has recorded
	// the message SID. The URL stays free of personal data.
	CallbackDeliveryParam string

	// Timeout bounds one send, from connecting to reading Twilio's answer.
	// Default DefaultTimeout.
	Timeout time.Duration
	// MaxIdleConnsPerHost is how many keep-alive connections to Twilio are
	// kept for reuse; set it to at least the number of concurrent senders.
	// Default DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
}

// validate checks c and reports the first problem in words an operator can
// act on.
func (c *Config) validate() error {
	switch {
	case c.AccountSID == "":
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: Twilio account SID is empty: give the account SID (AC…) from the Twilio console")
	case c.APIKeySID == "" && c.APIKeySecret != "":
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: Twilio API key secret given without the API key SID (SK…)")
	case c.APIKeySID != "" && c.APIKeySecret == "":
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: Twilio API key %s has no secret", c.APIKeySID)
	case c.APIKeySID == "" && c.AuthToken == "":
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: no Twilio credentials: give the auth token or an API key SID and secret")
	case c.Timeout < 0:
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: timeout %s is negative", c.Timeout)
	case c.MaxIdleConnsPerHost < 0:
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: max idle connections %d is negative", c.MaxIdleConnsPerHost)
	case c.CallbackDeliveryParam != "" && c.StatusCallback == "":
		return dispatcher.Errorf(dispatcher.EINVALID, "sms: callback delivery parameter %q given without a status callback URL", c.CallbackDeliveryParam)
	}
	if c.BaseURL != "" {
		if _, err := parseHTTPURL(c.BaseURL); err != nil {
			return dispatcher.Errorf(dispatcher.EINVALID, "sms: Twilio base URL %q: %v: give e.g. http://127.0.0.1:8080", c.BaseURL, err)
		}
	}
	if c.StatusCallback != "" {
		if _, err := parseHTTPURL(c.StatusCallback); err != nil {
			return dispatcher.Errorf(dispatcher.EINVALID, "sms: status callback URL %q: %v: give e.g. https://herald.example.org/twilio/status", c.StatusCallback, err)
		}
	}
	return nil
}

// parseHTTPURL parses an absolute http or https URL.
func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host")
	}
	return u, nil
}

// redacted stands in for secrets when a Config is printed.
const redacted = "[redacted]"

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// String prints c with its secrets redacted, so a Config can be logged or
// shown by `herald config`.
func (c Config) String() string {
	return fmt.Sprintf("sms.Config{AccountSID:%s AuthToken:%s APIKeySID:%s APIKeySecret:%s BaseURL:%s StatusCallback:%s CallbackDeliveryParam:%s Timeout:%s MaxIdleConnsPerHost:%d}",
		c.AccountSID, redact(c.AuthToken), c.APIKeySID, redact(c.APIKeySecret), c.BaseURL, c.StatusCallback, c.CallbackDeliveryParam, c.Timeout, c.MaxIdleConnsPerHost)
}

// LogValue logs c with its secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", redact(c.AuthToken)),
		slog.String("api_key_sid", c.APIKeySID),
		slog.String("api_key_secret", redact(c.APIKeySecret)),
		slog.String("base_url", c.BaseURL),
		slog.String("status_callback", c.StatusCallback),
		slog.Duration("timeout", c.Timeout),
	)
}
