package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting herald reads, from HERALD_* environment
// variables (documented in README.md). Secrets may instead be given as a
// file path in the same name with _FILE appended (HERALD_SMTP_PASSWORD_FILE),
// which is how container secrets arrive.
type Config struct {
	DatabaseURL string // HERALD_DATABASE_URL: "" = SQLite at ./herald.db
	RedisURL    string // HERALD_REDIS_URL: "" = in-process Redis (single process only)
	Namespace   string // HERALD_QUEUE_NAMESPACE: prefix of herald's queue names in Redis
	LogLevel    string // HERALD_LOG_LEVEL: debug, info, warn, error (default warn for commands, info for the worker)
	LogFormat   string // HERALD_LOG_FORMAT: text or json

	SMTPHost     string // HERALD_SMTP_HOST
	SMTPPort     int    // HERALD_SMTP_PORT (default 587)
	SMTPUsername string // HERALD_SMTP_USERNAME
	SMTPPassword string // HERALD_SMTP_PASSWORD (secret)
	SMTPTLS      string // HERALD_SMTP_TLS: starttls (default), starttls-required, tls, none
	SMTPPool     int    // HERALD_SMTP_POOL: connections kept open (default 4)
	SMTPHelo     string // HERALD_SMTP_HELO
	// SMTPPipelining is HERALD_SMTP_PIPELINING: on (the default) sends
	// MAIL, RCPT and the message in one round trip when the relay offers
	// PIPELINING and CHUNKING; off sends one command at a time.
	SMTPPipelining bool

	TwilioAccountSID     string // HERALD_TWILIO_ACCOUNT_SID
	TwilioAuthToken      string // HERALD_TWILIO_AUTH_TOKEN (secret)
	TwilioAPIURL         string // HERALD_TWILIO_API_URL: override Twilio's API base (proxies, test doubles)
	TwilioStatusCallback string // HERALD_TWILIO_STATUS_CALLBACK: public URL of /webhooks/twilio

	FileDir string // HERALD_FILE_DIR: enables the dry-run file channel, writing there

	BounceDomain    string   // HERALD_BOUNCE_DOMAIN: VERP return paths bounces+TOKEN@this domain
	VERPKeys        []string // HERALD_VERP_KEY (secret): signing keys, comma-separated; the first signs
	BounceListen    string   // HERALD_BOUNCE_LISTEN: where `herald bounce-receiver` listens (default :25)
	BounceHostname  string   // HERALD_BOUNCE_HOSTNAME: its greeting name
	BounceUnmatched string   // HERALD_BOUNCE_UNMATCHED_DIR: where unmatched messages are kept (default ./herald-unmatched)
	IMAPAddr        string   // HERALD_IMAP_ADDR: a bounce mailbox to poll (host:993)
	IMAPUsername    string   // HERALD_IMAP_USERNAME
	IMAPPassword    string   // HERALD_IMAP_PASSWORD (secret)
	IMAPMailbox     string   // HERALD_IMAP_MAILBOX (default INBOX)
	IMAPTLS         string   // HERALD_IMAP_TLS: tls (default), starttls, none

	RateEmail         float64 // HERALD_RATE_EMAIL: e-mails per second across all workers (0 = unlimited)
	RateSMS           float64 // HERALD_RATE_SMS: SMS per second across all workers: the Twilio account's throughput
	DomainConcurrency int     // HERALD_EMAIL_DOMAIN_CONCURRENCY: e-mails in flight to one recipient domain (0 = unlimited)

	Concurrency int // HERALD_WORKER_CONCURRENCY (default 20)
	// WorkerMetricsAddr is HERALD_WORKER_METRICS_ADDR: where a worker
	// serves its own Prometheus metrics (send durations and outcomes);
	// empty serves none.
	WorkerMetricsAddr string
	BatchSize         int           // HERALD_BATCH_SIZE: deliveries per queued job (default 100)
	QueueWindow       int           // HERALD_QUEUE_WINDOW: jobs per channel kept ready in Redis (default 64)
	MaxRetry          int           // HERALD_MAX_RETRY (default 8)
	StaleAfter        time.Duration // HERALD_STALE_AFTER: when a delivery stuck in sending is resent (default 10m)
}

// loadConfig reads the environment through getenv (os.Getenv in main).
func loadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:          getenv("HERALD_DATABASE_URL"),
		RedisURL:             getenv("HERALD_REDIS_URL"),
		Namespace:            getenv("HERALD_QUEUE_NAMESPACE"),
		LogLevel:             getenv("HERALD_LOG_LEVEL"),
		LogFormat:            or(getenv("HERALD_LOG_FORMAT"), "text"),
		SMTPHost:             getenv("HERALD_SMTP_HOST"),
		SMTPUsername:         getenv("HERALD_SMTP_USERNAME"),
		SMTPTLS:              or(getenv("HERALD_SMTP_TLS"), "starttls"),
		SMTPHelo:             getenv("HERALD_SMTP_HELO"),
		TwilioAccountSID:     getenv("HERALD_TWILIO_ACCOUNT_SID"),
		TwilioAPIURL:         getenv("HERALD_TWILIO_API_URL"),
		TwilioStatusCallback: getenv("HERALD_TWILIO_STATUS_CALLBACK"),
		FileDir:              getenv("HERALD_FILE_DIR"),
		BounceDomain:         getenv("HERALD_BOUNCE_DOMAIN"),
		BounceListen:         or(getenv("HERALD_BOUNCE_LISTEN"), ":25"),
		BounceHostname:       getenv("HERALD_BOUNCE_HOSTNAME"),
		BounceUnmatched:      or(getenv("HERALD_BOUNCE_UNMATCHED_DIR"), "herald-unmatched"),
		IMAPAddr:             getenv("HERALD_IMAP_ADDR"),
		IMAPUsername:         getenv("HERALD_IMAP_USERNAME"),
		IMAPMailbox:          getenv("HERALD_IMAP_MAILBOX"),
		IMAPTLS:              getenv("HERALD_IMAP_TLS"),
		WorkerMetricsAddr:    getenv("HERALD_WORKER_METRICS_ADDR"),
	}
	var err error
	if c.SMTPPassword, err = secret(getenv, "HERALD_SMTP_PASSWORD"); err != nil {
		return c, err
	}
	if c.TwilioAuthToken, err = secret(getenv, "HERALD_TWILIO_AUTH_TOKEN"); err != nil {
		return c, err
	}
	if c.IMAPPassword, err = secret(getenv, "HERALD_IMAP_PASSWORD"); err != nil {
		return c, err
	}
	keys, err := secret(getenv, "HERALD_VERP_KEY")
	if err != nil {
		return c, err
	}
	for _, k := range strings.Split(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.VERPKeys = append(c.VERPKeys, k)
		}
	}
	if c.BounceDomain != "" && len(c.VERPKeys) == 0 {
		return c, fmt.Errorf("HERALD_BOUNCE_DOMAIN is set but HERALD_VERP_KEY is not: give a random key of at least 16 characters (e.g. from `openssl rand -hex 32`)")
	}
	ints := []struct {
		name string
		dst  *int
		def  int
	}{
		{"HERALD_SMTP_PORT", &c.SMTPPort, 587},
		{"HERALD_SMTP_POOL", &c.SMTPPool, 4},
		{"HERALD_WORKER_CONCURRENCY", &c.Concurrency, 20},
		{"HERALD_BATCH_SIZE", &c.BatchSize, 100},
		{"HERALD_QUEUE_WINDOW", &c.QueueWindow, 64},
		{"HERALD_MAX_RETRY", &c.MaxRetry, 8},
	}
	for _, i := range ints {
		*i.dst = i.def
		if v := getenv(i.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return c, fmt.Errorf("%s=%q: want a whole number", i.name, v)
			}
			*i.dst = n
		}
	}
	switch v := strings.ToLower(getenv("HERALD_SMTP_PIPELINING")); v {
	case "", "on", "true", "1", "auto":
		c.SMTPPipelining = true
	case "off", "false", "0":
	default:
		return c, fmt.Errorf("HERALD_SMTP_PIPELINING=%q: use on or off", v)
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		return c, fmt.Errorf("HERALD_BATCH_SIZE=%d: want 1 to 10000 deliveries per job", c.BatchSize)
	}
	if c.QueueWindow < 2 {
		return c, fmt.Errorf("HERALD_QUEUE_WINDOW=%d: want at least 2 jobs", c.QueueWindow)
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"HERALD_RATE_EMAIL", &c.RateEmail}, {"HERALD_RATE_SMS", &c.RateSMS}} {
		if v := getenv(f.name); v != "" {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 {
				return c, fmt.Errorf("%s=%q: want messages per second, e.g. 50 or 0.5", f.name, v)
			}
			*f.dst = r
		}
	}
	if v := getenv("HERALD_EMAIL_DOMAIN_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("HERALD_EMAIL_DOMAIN_CONCURRENCY=%q: want a whole number", v)
		}
		c.DomainConcurrency = n
	}
	c.StaleAfter = 10 * time.Minute
	if v := getenv("HERALD_STALE_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("HERALD_STALE_AFTER=%q: want a duration such as 10m", v)
		}
		c.StaleAfter = d
	}
	return c, nil
}

// secret reads NAME, or the file named by NAME_FILE (trailing newline
// trimmed). Setting both is an error: which one wins would be a guess.
func secret(getenv func(string) string, name string) (string, error) {
	v, f := getenv(name), getenv(name+"_FILE")
	if v != "" && f != "" {
		return "", fmt.Errorf("both %s and %s_FILE are set: keep one", name, name)
	}
	if f == "" {
		return v, nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Redacted lists the settings for `herald config`, secrets hidden and
// passwords in URLs masked.
func (c Config) Redacted() [][2]string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "(set, hidden)"
	}
	db := c.DatabaseURL
	if db == "" {
		db = "(embedded SQLite ./herald.db)"
	}
	rd := c.RedisURL
	if rd == "" {
		rd = "(embedded in-process Redis)"
	}
	return [][2]string{
		{"HERALD_DATABASE_URL", redactURL(db)},
		{"HERALD_REDIS_URL", redactURL(rd)},
		{"HERALD_QUEUE_NAMESPACE", c.Namespace},
		{"HERALD_SMTP_HOST", c.SMTPHost},
		{"HERALD_SMTP_PORT", strconv.Itoa(c.SMTPPort)},
		{"HERALD_SMTP_USERNAME", c.SMTPUsername},
		{"HERALD_SMTP_PASSWORD", mask(c.SMTPPassword)},
		{"HERALD_SMTP_TLS", c.SMTPTLS},
		{"HERALD_SMTP_PIPELINING", onOff(c.SMTPPipelining)},
		{"HERALD_TWILIO_ACCOUNT_SID", c.TwilioAccountSID},
		{"HERALD_TWILIO_AUTH_TOKEN", mask(c.TwilioAuthToken)},
		{"HERALD_TWILIO_API_URL", c.TwilioAPIURL},
		{"HERALD_TWILIO_STATUS_CALLBACK", c.TwilioStatusCallback},
		{"HERALD_FILE_DIR", c.FileDir},
		{"HERALD_BOUNCE_DOMAIN", c.BounceDomain},
		{"HERALD_VERP_KEY", mask(strings.Join(c.VERPKeys, ","))},
		{"HERALD_BOUNCE_LISTEN", c.BounceListen},
		{"HERALD_BOUNCE_UNMATCHED_DIR", c.BounceUnmatched},
		{"HERALD_IMAP_ADDR", c.IMAPAddr},
		{"HERALD_IMAP_USERNAME", c.IMAPUsername},
		{"HERALD_IMAP_PASSWORD", mask(c.IMAPPassword)},
		{"HERALD_RATE_EMAIL", strconv.FormatFloat(c.RateEmail, 'f', -1, 64)},
		{"HERALD_RATE_SMS", strconv.FormatFloat(c.RateSMS, 'f', -1, 64)},
		{"HERALD_EMAIL_DOMAIN_CONCURRENCY", strconv.Itoa(c.DomainConcurrency)},
		{"HERALD_WORKER_CONCURRENCY", strconv.Itoa(c.Concurrency)},
		{"HERALD_WORKER_METRICS_ADDR", c.WorkerMetricsAddr},
		{"HERALD_BATCH_SIZE", strconv.Itoa(c.BatchSize)},
		{"HERALD_QUEUE_WINDOW", strconv.Itoa(c.QueueWindow)},
		{"HERALD_MAX_RETRY", strconv.Itoa(c.MaxRetry)},
		{"HERALD_STALE_AFTER", c.StaleAfter.String()},
	}
}

// redactURL hides the password in scheme://user:pass@host URLs.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	userinfo := rest[:at]
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx" + rest[at:]
	}
	return s
}
