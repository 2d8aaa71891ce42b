// Package imappoll reads bounces and complaints from an IMAP mailbox —
// for organisations whose bounces land in a mailbox (the sender address's
// own, or a bounce domain hosted by their mail provider) instead of
// reaching herald's SMTP bounce receiver.
//
// Every Interval the Poller connects, selects the mailbox, fetches the
// messages it has not handled yet and hands each to the same
// bouncerecv.Processor the SMTP receiver uses, so a bounce means the same
// however it arrives. Messages are never deleted: a handled message is
// marked with the keyword $HeraldProcessed, and one that names no delivery
// with $HeraldUnmatched, and left in place for a person to look at. A
// server that does not allow keywords in the mailbox (its PERMANENTFLAGS
// lack \*) gets \Seen for handled messages and \Seen \Flagged for
// unmatched ones instead; then the mailbox must not also be read by a
// person, who would mark messages seen before herald reads them.
//
// A message whose events the ledger could not take is left unmarked and
// offered again at the next poll; the events' tokens are derived from the
// message, so the ledger ignores what it already applied.
package imappoll

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/dispatcher"
)

// Keywords the poller sets.
const (
	KeywordProcessed imap.Flag = "$HeraldProcessed"
	KeywordUnmatched imap.Flag = "$HeraldUnmatched"
)

// TLSMode says how the connection to the IMAP server is encrypted.
type TLSMode string

// TLS modes.
const (
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (port 993): the default
	TLSStartTLS TLSMode = "starttls" // STARTTLS on a plain connection (port 143); required, not opportunistic
	TLSNone     TLSMode = "none"     // no encryption: a server on the same host only
)

// Defaults for Options left zero.
const (
	DefaultMailbox         = "INBOX"
	DefaultInterval        = time.Minute
	DefaultBatchSize       = 100
	DefaultTimeout         = 30 * time.Second
	DefaultMaxMessageBytes = 10 << 20
)

// Options configure a Poller.
type Options struct {
	// Addr is the server's host:port. Required.
	Addr string
	// TLS is how the connection is encrypted; default TLSImplicit.
	TLS TLSMode
	// TLSConfig verifies the server (RootCAs, ServerName); nil means the
	// system roots and the host from Addr.
	TLSConfig *tls.Config
	// Username and Password log in with LOGIN. Required.
	Username string
	Password string
	// Mailbox is the mailbox to read; default DefaultMailbox.
	Mailbox string

	// Processor handles each message. Required; share the bounce
	// receiver's.
	Processor *bouncerecv.Processor

	// Interval is the time between polls; default DefaultInterval.
	Interval time.Duration
	// BatchSize is the most messages handled in one poll; the rest wait
	// for the next. Default DefaultBatchSize.
	BatchSize int
	// MaxMessageBytes: larger messages are not fetched but marked
	// unmatched for a person to look at. Default DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// Timeout bounds connecting and, separately, each command. Default
	// DefaultTimeout.
	Timeout time.Duration

	// Logger receives one record per poll and per problem, with counts,
	// UIDs and outcomes, never addresses or message text. Nil discards.
	Logger *slog.Logger
}

// Stats counts what one poll did.
type Stats struct {
	Applied, Ignored, Rejected, Unmatched int
	TooLarge                              int // marked unmatched without being read
	Remaining                             int // unhandled messages left for the next poll (beyond BatchSize)
}

// Poller polls one IMAP mailbox.
type Poller struct {
	opts Options
	log  *slog.Logger
}

// New checks opts and returns a Poller. It does not connect.
func New(opts Options) (*Poller, error) {
	if opts.TLS == "" {
		opts.TLS = TLSImplicit
	}
	if opts.Mailbox == "" {
		opts.Mailbox = DefaultMailbox
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	switch {
	case opts.TLS != TLSImplicit && opts.TLS != TLSStartTLS && opts.TLS != TLSNone:
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "imappoll: unknown TLS mode %q: use tls, starttls or none", opts.TLS)
	case opts.Addr == "":
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "imappoll: no server address: give host:port, e.g. imap.example.org:993")
	case opts.Username == "":
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "imappoll: no username")
	case opts.Processor == nil:
		return nil, errors.New("imappoll: no processor")
	case opts.Interval < 0 || opts.BatchSize < 0 || opts.MaxMessageBytes < 0 || opts.Timeout < 0:
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "imappoll: negative interval, batch size, size limit or timeout")
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "imappoll: server address %q: %v: give host:port", opts.Addr, err)
	}
	p := &Poller{opts: opts, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Run polls every Interval until ctx ends, then returns nil. A failed
// poll is logged and tried again at the next interval.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		st, err := p.Poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			p.log.Warn("imappoll: poll failed; trying again at the next interval", "mailbox", p.opts.Mailbox, "err", err)
		default:
			p.logStats(st)
		}
		if st.Remaining > 0 && err == nil {
			continue // a backlog: do not wait
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Poller) logStats(st Stats) {
	if st == (Stats{}) {
		p.log.Debug("imappoll: nothing new", "mailbox", p.opts.Mailbox)
		return
	}
	p.log.Info("imappoll: polled", "mailbox", p.opts.Mailbox, "applied", st.Applied, "ignored", st.Ignored,
		"rejected", st.Rejected, "unmatched", st.Unmatched, "too_large", st.TooLarge, "remaining", st.Remaining)
}

// Poll connects once, handles up to BatchSize new messages and logs out.
// It stops at the first message the processor could not deal with (the
// ledger is down: the rest would fail too) and returns that error with
// the counts so far.
func (p *Poller) Poll(ctx context.Context) (Stats, error) {
	var st Stats
	c, err := p.dial(ctx)
	if err != nil {
		return st, err
	}
	// Closing the connection aborts whatever command waits when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer func() {
		stop()
		_ = c.Close()
	}()
	wrap := func(what string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("imappoll: %s: %w", what, context.Cause(ctx))
		}
		return fmt.Errorf("imappoll: %s: %w", what, err)
	}

	if err := p.wait(c, c.Login(p.opts.Username, p.opts.Password).Wait); err != nil {
		return st, wrap("log in", err)
	}
	var sel *imap.SelectData
	if err := p.wait(c, func() (err error) { sel, err = c.Select(p.opts.Mailbox, nil).Wait(); return err }); err != nil {
		return st, wrap("select "+p.opts.Mailbox, err)
	}
	processed, unmatched := []imap.Flag{KeywordProcessed}, []imap.Flag{KeywordUnmatched}
	criteria := &imap.SearchCriteria{NotFlag: []imap.Flag{KeywordProcessed, KeywordUnmatched}}
	if !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
		processed, unmatched = []imap.Flag{imap.FlagSeen}, []imap.Flag{imap.FlagSeen, imap.FlagFlagged}
		criteria = &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
		p.log.Debug("imappoll: the mailbox does not allow keywords; using \\Seen", "mailbox", p.opts.Mailbox)
	}

	var found *imap.SearchData
	if err := p.wait(c, func() (err error) { found, err = c.UIDSearch(criteria, nil).Wait(); return err }); err != nil {
		return st, wrap("search", err)
	}
	uids := found.AllUIDs()
	slices.Sort(uids)
	if len(uids) > p.opts.BatchSize {
		st.Remaining = len(uids) - p.opts.BatchSize
		uids = uids[:p.opts.BatchSize]
	}
	if len(uids) == 0 {
		return st, p.logout(c)
	}

	sizes, err := p.sizes(c, uids)
	if err != nil {
		return st, wrap("fetch sizes", err)
	}
	for _, uid := range uids {
		if ctx.Err() != nil {
			return st, wrap("poll", ctx.Err())
		}
		size, ok := sizes[uid]
		if !ok {
			continue // expunged meanwhile
		}
		if size > p.opts.MaxMessageBytes {
			p.log.Warn("imappoll: message too large to read; marked unmatched", "uid", uint32(uid), "bytes", size, "limit", p.opts.MaxMessageBytes)
			if err := p.mark(c, uid, unmatched); err != nil {
				return st, wrap("mark", err)
			}
			st.TooLarge++
			continue
		}
		raw, err := p.body(c, uid)
		if err != nil {
			return st, wrap(fmt.Sprintf("fetch message %d", uid), err)
		}
		res, err := p.opts.Processor.Process(ctx, bouncerecv.Message{Raw: raw, Source: "imap"})
		if err != nil {
			return st, wrap(fmt.Sprintf("process message %d", uid), err)
		}
		flags := processed
		switch res.Outcome {
		case bouncerecv.Applied:
			st.Applied++
		case bouncerecv.Ignored:
			st.Ignored++
		case bouncerecv.Rejected:
			st.Rejected++
		case bouncerecv.Unmatched:
			st.Unmatched++
			flags = unmatched
		}
		if err := p.mark(c, uid, flags); err != nil {
			return st, wrap("mark", err)
		}
	}
	return st, p.logout(c)
}

// dial connects as configured, within Timeout and ctx.
func (p *Poller) dial(ctx context.Context) (*imapclient.Client, error) {
	host, _, _ := net.SplitHostPort(p.opts.Addr)
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if p.opts.TLSConfig != nil {
		tlsConf = p.opts.TLSConfig.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = host
		}
	}
	dctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	d := &net.Dialer{}
	if p.opts.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConf}).DialContext(dctx, "tcp", p.opts.Addr)
	} else {
		conn, err = d.DialContext(dctx, "tcp", p.opts.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("imappoll: connect to %s: %w", p.opts.Addr, err)
	}
	// The greeting and STARTTLS are bounded by the dial timeout too.
	// Closing the socket is what ends the wait: imapclient resets read
	// deadlines before every read.
	stop := context.AfterFunc(dctx, func() { _ = conn.Close() })
	defer stop()
	var c *imapclient.Client
	opts := &imapclient.Options{TLSConfig: tlsConf}
	if p.opts.TLS == TLSStartTLS {
		c, err = imapclient.NewStartTLS(conn, opts)
	} else {
		c = imapclient.New(conn, opts)
		err = c.WaitGreeting()
	}
	if err == nil && !stop() {
		err = dctx.Err()
	}
	if err != nil {
		if c != nil {
			_ = c.Close()
		}
		_ = conn.Close()
		return nil, fmt.Errorf("imappoll: connect to %s: %w", p.opts.Addr, err)
	}
	return c, nil
}

// wait runs one command's wait bounded by Timeout, closing the connection
// (which fails the command) when it is exceeded.
func (p *Poller) wait(c *imapclient.Client, f func() error) error {
	t := time.AfterFunc(p.opts.Timeout, func() { _ = c.Close() })
	err := f()
	if !t.Stop() && err != nil {
		return fmt.Errorf("no answer within %s: %w", p.opts.Timeout, err)
	}
	return err
}

// sizes fetches the RFC822.SIZE of uids.
func (p *Poller) sizes(c *imapclient.Client, uids []imap.UID) (map[imap.UID]int64, error) {
	out := make(map[imap.UID]int64, len(uids))
	err := p.wait(c, func() error {
		msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		for _, m := range msgs {
			out[m.UID] = m.RFC822Size
		}
		return err
	})
	return out, err
}

// body fetches a whole message without setting \Seen.
func (p *Poller) body(c *imapclient.Client, uid imap.UID) ([]byte, error) {
	section := &imap.FetchItemBodySection{Peek: true}
	var raw []byte
	err := p.wait(c, func() error {
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return err
		}
		if len(msgs) != 1 {
			return fmt.Errorf("server returned %d messages for one UID", len(msgs))
		}
		raw = msgs[0].FindBodySection(section)
		if raw == nil {
			return errors.New("server returned no body")
		}
		return nil
	})
	return raw, err
}

// mark adds flags to one message.
func (p *Poller) mark(c *imapclient.Client, uid imap.UID, flags []imap.Flag) error {
	return p.wait(c, c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close)
}

func (p *Poller) logout(c *imapclient.Client) error {
	if err := p.wait(c, c.Logout().Wait); err != nil && !strings.Contains(err.Error(), "closed") {
		p.log.Debug("imappoll: logout", "err", err)
	}
	return nil
}
