// Package email is herald's e-mail channel: it sends rendered notices
// through an SMTP relay and tells the dispatcher, by the relay's reply
// codes, whether a failure means "try again", "this address does not
// work" or "we are doing something wrong".
//
// Messages are sent over github.com/wneessen/go-mail's SMTP client
// (dialling, EHLO, STARTTLS, AUTH) on a small pool of long-lived
// connections, so a campaign of millions pays for one TCP and TLS
// handshake per connection, not per message. The SMTP transaction itself
// (MAIL, RCPT, DATA or BDAT) is driven here rather than by go-mail's
// Client.Send, because only that way do we see which command failed and
// the server's full reply, which is what the ledger must record and what
// classification depends on; and because pipelining it (pipeline.go) cuts
// four round trips to one. The MIME message is composed here too, with the
// standard library's encoders (compose.go): at breach scale composing is
// per-message CPU that go-mail's general-purpose Msg spent several times
// over.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/heraldhq/herald/dispatcher"
)

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("email: channel closed")

// quitTimeout bounds the polite QUIT when a connection is retired.
const quitTimeout = 2 * time.Second

// Channel sends e-mail through one SMTP relay. It implements
// dispatcher.Channel and is safe for concurrent use by many workers.
type Channel struct {
	cfg      Config
	log      *slog.Logger
	tlsConf  *tls.Config
	client   *gomail.Client // dialling, EHLO, STARTTLS and AUTH
	pool     *pool
	composer *composer
}

var _ dispatcher.Channel = (*Channel)(nil)

// Option configures a Channel beyond its Config.
type Option func(*Channel)

// WithLogger sets the logger for connection events and failures. Records
// carry delivery and campaign IDs, phases and reply codes, never
// addresses or the server's words (which often quote the address).
func WithLogger(l *slog.Logger) Option {
	return func(ch *Channel) {
		if l != nil {
			ch.log = l
		}
	}
}

// New checks cfg and returns a Channel. It does not connect: the first
// Send does, so a relay that is down at start-up delays sending rather
// than failing the process.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ch := &Channel{cfg: cfg, log: slog.New(slog.DiscardHandler), composer: &composer{autoSubmitted: !cfg.OmitAutoSubmitted}}
	for _, o := range opts {
		o(ch)
	}
	ch.tlsConf = &tls.Config{
		ServerName:         cfg.Host,
		RootCAs:            cfg.RootCAs,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // documented as tests-only
		MinVersion:         tls.VersionTLS12,
	}
	mopts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(ch.tlsConf),
		gomail.WithDialContextFunc(ch.dialContext),
	}
	switch cfg.TLS {
	case TLSNone:
		mopts = append(mopts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		mopts = append(mopts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSStartTLSRequired:
		mopts = append(mopts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// dialContext does the TLS handshake; go-mail must not STARTTLS.
		mopts = append(mopts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.HELOName != "" {
		mopts = append(mopts, gomail.WithHELO(cfg.HELOName))
	}
	if cfg.Username != "" {
		mopts = append(mopts,
			gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, mopts...)
	if err != nil {
		return nil, fmt.Errorf("email: configure SMTP client: %w", err)
	}
	ch.client = client
	ch.pool = newPool(cfg.PoolSize, cfg.IdleTimeout, min(quitTimeout, cfg.Timeout), ch.dial, ch.log)
	return ch, nil
}

// Kind reports dispatcher.Email.
func (ch *Channel) Kind() dispatcher.ChannelKind { return dispatcher.Email }

// Close closes idle connections with QUIT and makes later Sends fail with
// ErrClosed; sends in flight finish and then close their connections.
func (ch *Channel) Close() error {
	ch.pool.close()
	return nil
}

// Stats describes the connection pool, for metrics and tests.
type Stats struct {
	Dials int64 // connections opened since New
	Open  int64 // connections open now, idle or in use
}

// Stats returns the pool's counters.
func (ch *Channel) Stats() Stats {
	return Stats{Dials: ch.pool.dials.Load(), Open: ch.pool.open.Load()}
}

// Send sends m to m.To. On success the Receipt carries our Message-ID (in
// angle brackets, as in the header) as ProviderID, and the relay's final
// reply ("250 2.0.0" and e.g. "Ok: queued as 4Xk2…"), which identifies the
// message in the relay's logs. Failures are *dispatcher.SendError, except
// ErrClosed.
func (ch *Channel) Send(ctx context.Context, m *dispatcher.Message) (dispatcher.Receipt, error) {
	if m == nil {
		return dispatcher.Receipt{}, errors.New("email: send: nil message")
	}
	r, err := ch.render(m, time.Now())
	if err != nil {
		ch.logFailure(m, phaseCompose, err)
		return dispatcher.Receipt{}, err
	}
	defer r.release()
	resp, ph, err := ch.deliver(ctx, r)
	if err != nil {
		ch.logFailure(m, ph, err)
		return dispatcher.Receipt{}, err
	}
	rep := parseReply(250, resp)
	ch.log.Debug("email: sent", "delivery", m.DeliveryID, "campaign", m.CampaignID, "code", rep.CodeString())
	return dispatcher.Receipt{ProviderID: r.messageID, Code: rep.CodeString(), Detail: rep.Text}, nil
}

func (ch *Channel) logFailure(m *dispatcher.Message, ph phase, err error) {
	var se *dispatcher.SendError
	if !errors.As(err, &se) {
		ch.log.Warn("email: send failed", "delivery", m.DeliveryID, "campaign", m.CampaignID, "err", err)
		return
	}
	level := slog.LevelDebug
	if se.Class == dispatcher.Permanent {
		level = slog.LevelWarn
	}
	ch.log.Log(context.Background(), level, "email: send failed",
		"delivery", m.DeliveryID, "campaign", m.CampaignID,
		"class", se.Class.String(), "code", se.Code, "phase", ph.String())
}

// deliver runs one SMTP transaction for r on a pooled connection and
// returns the relay's reply to the end of DATA. A pooled connection that
// turns out to have been closed by the relay while idle is replaced once,
// transparently, since nothing was sent on it.
func (ch *Channel) deliver(ctx context.Context, r *rendered) (string, phase, error) {
	if err := ctx.Err(); err != nil {
		return "", phaseConnect, classify(phaseConnect, err)
	}
	c, err := ch.pool.get(ctx)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return "", phaseConnect, err
		}
		return "", phaseConnect, classify(phaseConnect, err)
	}
	resp, ph, keep, err := ch.transact(ctx, c, r)
	if err != nil && c.reused && staleConn(ph, err) {
		ch.log.Debug("email: pooled connection was closed by the relay; reconnecting", "messages", c.sent)
		ch.pool.drop(c, false)
		c, err = ch.pool.redial(ctx)
		if err != nil {
			return "", phaseConnect, classify(phaseConnect, err)
		}
		resp, ph, keep, err = ch.transact(ctx, c, r)
	}
	ch.pool.put(c, keep)
	if err != nil {
		return "", ph, classify(ph, err)
	}
	return resp, ph, nil
}

// longAgo is a deadline in the past: setting it aborts blocked I/O.
var longAgo = time.Unix(1, 0)

// transact sends one message on c. It reports the phase reached, and keep
// when c is in a clean state for the next message. The transaction is
// bounded by cfg.Timeout and by ctx: when ctx ends, the socket's deadline
// is moved to the past, which aborts whatever command is waiting.
func (ch *Channel) transact(ctx context.Context, c *conn, r *rendered) (resp string, ph phase, keep bool, err error) {
	ph = phaseMail
	deadline := time.Now().Add(ch.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.raw.SetDeadline(deadline); err != nil {
		return "", ph, false, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(longAgo) })
	defer func() {
		if !stop() {
			// ctx ended: the deadline is (or is about to be) in the past,
			// so the connection cannot be trusted with another message.
			keep = false
			if err != nil {
				err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
			}
		}
	}()

	if c.caps.pipelining && !ch.cfg.NoPipelining {
		return ch.transactPipelined(c, r)
	}
	c.client.SkipSMTPUTF8(isASCII(r.env.From) && isASCII(r.env.To))
	if err = c.client.Mail(r.env.From); err != nil {
		return "", ph, reusableAfter(c, ph, err), err
	}
	ph = phaseRcpt
	if err = c.client.Rcpt(r.env.To); err != nil {
		return "", ph, reusableAfter(c, ph, err), err
	}
	ph = phaseData
	w, err := c.client.Data()
	if err != nil {
		return "", ph, reusableAfter(c, ph, err), err
	}
	ph = phaseBody
	if _, err = w.Write(r.raw); err != nil {
		return "", ph, false, err
	}
	ph = phaseDataEnd
	if err = w.Close(); err != nil {
		return "", ph, reusableAfter(c, ph, err), err
	}
	if dc, ok := w.(*smtp.DataCloser); ok {
		resp = dc.ServerResponse()
	}
	c.sent++
	return resp, ph, true, nil
}

// reusableAfter decides whether c can carry another message after err in
// phase ph, resetting the transaction when one is open. Only an SMTP
// reply leaves the session in a known state, and 421 announces the relay
// is closing it.
func reusableAfter(c *conn, ph phase, err error) bool {
	var tp *textproto.Error
	if !errors.As(err, &tp) || tp.Code == 421 {
		return false
	}
	switch ph {
	case phaseDataEnd:
		return true // the reply to "." ends the transaction either way
	case phaseMail, phaseRcpt, phaseData:
		return c.client.Reset() == nil
	}
	return false
}

// dialSlot passes the socket from dialContext back to dial, and lets a
// cancelled context abort the greeting, STARTTLS and AUTH, which go-mail
// bounds only by its own timeout.
type dialSlot struct {
	mu      sync.Mutex
	raw     net.Conn
	aborted bool
}

func (s *dialSlot) set(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = c
	if s.aborted {
		_ = c.SetDeadline(longAgo)
	}
}

func (s *dialSlot) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	if s.raw != nil {
		_ = s.raw.SetDeadline(longAgo)
	}
}

type dialSlotKey struct{}

// dial opens one connection: TCP (and TLS for TLSImplicit) in
// dialContext, then go-mail's greeting, EHLO, STARTTLS and AUTH.
func (ch *Channel) dial(ctx context.Context) (*conn, error) {
	slot := &dialSlot{}
	stop := context.AfterFunc(ctx, slot.abort)
	client, err := ch.client.DialToSMTPClientWithContext(context.WithValue(ctx, dialSlotKey{}, slot))
	cancelled := !stop()
	if err == nil && cancelled {
		err = context.Cause(ctx)
		_ = client.Close()
	}
	if err != nil {
		// go-mail leaves the socket open when EHLO, STARTTLS or AUTH fail.
		if slot.raw != nil {
			_ = slot.raw.Close()
		}
		if cancelled && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		return nil, fmt.Errorf("connect to %s:%d: %w", ch.cfg.Host, ch.cfg.Port, err)
	}
	if !ch.cfg.OmitDSN {
		// go-mail adds these only when the relay advertises DSN.
		client.SetDSNMailReturnOption(string(gomail.DSNMailReturnHeadersOnly))
		client.SetDSNRcptNotifyOption(string(gomail.DSNRcptNotifyFailure))
	}
	c := &conn{client: client, raw: slot.raw}
	has := func(ext string) bool { ok, _ := client.Extension(ext); return ok }
	c.caps = relayCaps{pipelining: has("PIPELINING"), chunking: has("CHUNKING"), eightBit: has("8BITMIME"),
		smtpUTF8: has("SMTPUTF8"), dsn: has("DSN")}
	return c, nil
}

// dialContext is go-mail's dialer: it makes the TCP connection, and the
// TLS one in implicit mode, and hands the socket to dial's slot.
func (ch *Channel) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	var (
		c   net.Conn
		err error
	)
	if ch.cfg.TLS == TLSImplicit {
		c, err = (&tls.Dialer{NetDialer: d, Config: ch.tlsConf}).DialContext(ctx, network, addr)
	} else {
		c, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	if slot, ok := ctx.Value(dialSlotKey{}).(*dialSlot); ok {
		slot.set(c)
	}
	return c, nil
}
