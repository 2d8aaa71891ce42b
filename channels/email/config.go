package email

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// TLSMode says how the connection to the relay is encrypted.
type TLSMode string

// TLS modes, as written in configuration.
const (
	// TLSNone never encrypts: only for a relay on the same host or a
	// private network.
	TLSNone TLSMode = "none"
	// TLSStartTLS upgrades with STARTTLS when the server offers it and
	// sends in the clear when it does not (opportunistic). The
	// certificate is verified whenever TLS is used.
	TLSStartTLS TLSMode = "starttls"
	// TLSStartTLSRequired refuses to send unless STARTTLS succeeds: the
	// default, because every notice carries personal data.
	TLSStartTLSRequired TLSMode = "starttls-required"
	// TLSImplicit speaks TLS from the first byte (submissions port 465).
	TLSImplicit TLSMode = "tls"
)

// ParseTLSMode parses a TLS mode as given in a flag or environment
// variable; the empty string is the default, starttls-required.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return TLSStartTLSRequired, nil
	case TLSNone, TLSStartTLS, TLSStartTLSRequired, TLSImplicit:
		return m, nil
	}
	return "", dispatcher.Errorf(dispatcher.EINVALID, "email: unknown TLS mode %q: use none, starttls, starttls-required or tls", s)
}

// Defaults for Config fields left zero.
const (
	DefaultPoolSize    = 4
	DefaultTimeout     = 30 * time.Second
	DefaultIdleTimeout = 30 * time.Second
)

// Config is how the e-mail channel reaches its SMTP relay (the
// organisation's own MTA, or a provider's submission service).
type Config struct {
	// Host and Port of the relay. Port defaults to 465 for TLSImplicit,
	// 25 for TLSNone and 587 otherwise.
	Host string
	Port int

	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN after TLS is up. go-mail refuses to send them unencrypted to
	// anything but localhost.
	Username string
	Password string

	// TLS is how the connection is encrypted; empty means
	// TLSStartTLSRequired.
	TLS TLSMode
	// RootCAs replaces the system roots when verifying the relay's
	// certificate (a private CA, or the in-process test server).
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate. For tests only: it makes
	// TLS worthless against an attacker on the path.
	InsecureSkipVerify bool

	// HELOName is the name given in EHLO; default the machine's hostname.
	// Relays that check it want the sending host's fully qualified name.
	HELOName string

	// PoolSize is how many connections are kept open and reused across
	// messages; it is also the most messages in flight at once, so set it
	// to about the number of concurrent workers. Default DefaultPoolSize.
	PoolSize int
	// Timeout bounds connecting (TCP, greeting, TLS, AUTH) and, separately,
	// each message's SMTP transaction. Default DefaultTimeout.
	Timeout time.Duration
	// IdleTimeout closes a pooled connection unused this long, before the
	// relay's own idle timeout does. Default DefaultIdleTimeout; negative
	// keeps idle connections until Close.
	IdleTimeout time.Duration

	// MessageIDDomain is the right-hand side of the Message-IDs we
	// generate; default the domain of the campaign's sender address.
	MessageIDDomain string

	// ReturnPath gives the envelope sender (MAIL FROM), where bounces go.
	// Nil, or an empty result, means the campaign's sender address; VERP
	// bounce handling plugs in here (e.g. bounces+<deliveryID>@example.org).
	// It is called for every message, from many goroutines at once.
	ReturnPath func(*dispatcher.Message) string

	// OmitAutoSubmitted leaves out the "Auto-Submitted: auto-generated"
	// header, which is set by default so that vacation responders do not
	// answer the notice and flood the Reply-To mailbox (RFC 3834).
	OmitAutoSubmitted bool

	// OmitDSN stops asking for delivery status notifications. By default,
	// when the relay advertises DSN (RFC 3461), every message is sent with
	// "MAIL FROM:<…> RET=HDRS" and "RCPT TO:<…> NOTIFY=FAILURE": a bounce
	// comes back only for a failure (not for delays or successes), and it
	// returns only the notice's headers, which carry the delivery ID, so
	// the notice's personal content is not copied into bounce mailboxes.
	// Relays without DSN get plain commands either way.
	OmitDSN bool

	// NoPipelining sends one command at a time even when the relay offers
	// PIPELINING and CHUNKING (see pipeline.go), for a relay that
	// advertises them and then mishandles them.
	NoPipelining bool
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.TLS == "" {
		c.TLS = TLSStartTLSRequired
	}
	if c.Port == 0 {
		switch c.TLS {
		case TLSImplicit:
			c.Port = 465
		case TLSNone:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// validate checks a defaulted Config and reports the first problem in
// words an operator can act on.
func (c *Config) validate() error {
	if _, err := ParseTLSMode(string(c.TLS)); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(c.Host) == "":
		return dispatcher.Errorf(dispatcher.EINVALID, "email: SMTP host is empty: give the relay's host name, e.g. smtp.example.org")
	case c.Port < 1 || c.Port > 65535:
		return dispatcher.Errorf(dispatcher.EINVALID, "email: SMTP port %d is out of range: give 1-65535, usually 587, 465 or 25", c.Port)
	case c.Username == "" && c.Password != "":
		return dispatcher.Errorf(dispatcher.EINVALID, "email: SMTP password given without a username")
	case c.PoolSize < 0:
		return dispatcher.Errorf(dispatcher.EINVALID, "email: pool size %d is negative", c.PoolSize)
	case c.Timeout < 0:
		return dispatcher.Errorf(dispatcher.EINVALID, "email: timeout %s is negative", c.Timeout)
	case strings.ContainsAny(c.HELOName, " \t\r\n"):
		return dispatcher.Errorf(dispatcher.EINVALID, "email: HELO name %q contains spaces: give a host name", c.HELOName)
	case strings.ContainsAny(c.MessageIDDomain, " \t\r\n<>@"):
		return dispatcher.Errorf(dispatcher.EINVALID, "email: Message-ID domain %q is not a domain name", c.MessageIDDomain)
	}
	return nil
}

// redacted stands in for secrets when a Config is printed.
const redacted = "[redacted]"

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// String prints c with the password redacted, so a Config can be logged or
// shown by `herald config`.
func (c Config) String() string {
	return fmt.Sprintf("email.Config{Host:%s Port:%d Username:%s Password:%s TLS:%s InsecureSkipVerify:%t HELOName:%s PoolSize:%d Timeout:%s IdleTimeout:%s MessageIDDomain:%s}",
		c.Host, c.Port, c.Username, redact(c.Password), c.TLS, c.InsecureSkipVerify, c.HELOName, c.PoolSize, c.Timeout, c.IdleTimeout, c.MessageIDDomain)
}

// LogValue logs c with the password redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("username", c.Username),
		slog.String("password", redact(c.Password)),
		slog.String("tls", string(c.TLS)),
		slog.Bool("insecure_skip_verify", c.InsecureSkipVerify),
		slog.Int("pool_size", c.PoolSize),
		slog.Duration("timeout", c.Timeout),
		slog.Duration("idle_timeout", c.IdleTimeout),
	)
}
