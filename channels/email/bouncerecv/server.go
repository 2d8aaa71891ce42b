// Package bouncerecv receives the bounces and complaints that come back
// after herald has sent e-mail, and turns them into events for the
// ledger.
//
// Notices go out with a signed VERP return path
// (bounces+<token>@bounce.example.org, see package verp). The bounce
// domain's MX — or a transport map entry on the organisation's MTA —
// points at the Server here, an SMTP server (github.com/emersion/go-smtp)
// that accepts mail only for the bounce domains. Each message is read by
// package bounce and handled by a Processor, which the IMAP poller
// (package imappoll) shares for bounces that land in a mailbox instead:
//
//   - a DSN's failed recipients become EventBounce, classed Invalid (the
//     mailbox does not exist), Transient (soft) or Permanent (a policy
//     refusal: ours to fix, never the contact's fault); delayed ones
//     become EventDeferred and delivered ones EventDelivered;
//   - an ARF complaint becomes EventComplaint;
//   - auto-replies are ignored;
//   - a message to a VERP address whose token does not verify is a
//     forgery: it is refused at RCPT TO and changes nothing;
//   - a message that names no delivery is kept, one file per message, in
//     the unmatched directory for someone to look at;
//   - when the sink cannot take an event, the message is refused with 451
//     so that the sending MTA tries again later.
//
// Logs name outcomes, report types, delivery IDs and peers' IP addresses,
// never mailbox addresses or message text.
package bouncerecv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/channels/email/verp"
	"github.com/heraldhq/herald/dispatcher"
)

// Defaults for Options left zero.
const (
	DefaultAddr            = ":25"
	DefaultMaxMessageBytes = 10 << 20
	DefaultMaxConnections  = 64
	DefaultMaxRecipients   = 20
	DefaultReadTimeout     = 60 * time.Second
	DefaultWriteTimeout    = 60 * time.Second
	DefaultProcessTimeout  = 30 * time.Second
)

// Options configure a Server.
type Options struct {
	// Addr is the TCP address to listen on; default DefaultAddr.
	Addr string
	// Hostname is the name in the greeting; default the machine's name.
	// It must differ from the name of an MTA that relays bounces here, or
	// that MTA (Postfix: "mail loops back to myself") will not deliver.
	Hostname string
	// Domains are the domains mail is accepted for: the Signer's Domain,
	// and any other address (a feedback-loop mailbox) whose messages
	// should be read. VERP tokens verify in the Signer's Domain only;
	// elsewhere a message is matched by the herald Message-ID it quotes,
	// or kept as unmatched. Mail for any other domain is refused with
	// "550 5.7.1 Relay access denied". Required.
	Domains []string

	// Sink, Signer and UnmatchedDir make the Processor; see
	// ProcessorOptions. UnmatchedDir is required here: a bounce that
	// matches no delivery must not be lost.
	Sink         dispatcher.EventSink
	Signer       *verp.Signer
	UnmatchedDir string

	// MaxMessageBytes is the largest message accepted (552 beyond it);
	// default DefaultMaxMessageBytes. Bounces are small unless they
	// return the whole original.
	MaxMessageBytes int64
	// MaxConnections bounds concurrent SMTP sessions; connections beyond
	// it are answered "421 4.3.2" and closed, and the MTA retries.
	// Default DefaultMaxConnections.
	MaxConnections int
	// MaxRecipients bounds RCPT TO per message; default
	// DefaultMaxRecipients.
	MaxRecipients int
	// ReadTimeout and WriteTimeout close stalled sessions; defaults
	// DefaultReadTimeout and DefaultWriteTimeout.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// ProcessTimeout bounds processing one message (parsing and the
	// sink); when it runs out the message gets 451. Default
	// DefaultProcessTimeout.
	ProcessTimeout time.Duration
	// TLSConfig, when set, offers STARTTLS with it.
	TLSConfig *tls.Config

	// Logger receives sessions' outcomes, without personal data. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is a running bounce receiver.
type Server struct {
	opts    Options
	log     *slog.Logger
	proc    *Processor
	domains map[string]bool
	smtp    *smtp.Server
	ln      *limitListener
	ctx     context.Context // cancelled by Close: aborts processing
	cancel  context.CancelFunc
	done    chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Start checks opts, listens on opts.Addr and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.MaxRecipients == 0 {
		opts.MaxRecipients = DefaultMaxRecipients
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.ProcessTimeout == 0 {
		opts.ProcessTimeout = DefaultProcessTimeout
	}
	switch {
	case len(opts.Domains) == 0:
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "bouncerecv: no bounce domain: give the domain of the VERP return path, e.g. bounce.example.org")
	case opts.UnmatchedDir == "":
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "bouncerecv: no directory for unmatched messages: give one, e.g. /var/lib/herald/unmatched")
	case opts.MaxMessageBytes < 0 || opts.MaxConnections < 0 || opts.MaxRecipients < 0 ||
		opts.ReadTimeout < 0 || opts.WriteTimeout < 0 || opts.ProcessTimeout < 0:
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "bouncerecv: negative limit or timeout")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proc, err := NewProcessor(ProcessorOptions{Sink: opts.Sink, Signer: opts.Signer, UnmatchedDir: opts.UnmatchedDir, Logger: log, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: log, proc: proc, domains: map[string]bool{}, done: make(chan struct{})}
	for _, d := range opts.Domains {
		s.domains[strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))] = true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(backend{s})
	srv.Domain = opts.Hostname
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.TLSConfig = opts.TLSConfig
	srv.ErrorLog = errorLog{log}
	s.smtp = srv

	raw, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("bouncerecv: listen on %s: %w", opts.Addr, err)
	}
	s.ln = newLimitListener(raw, opts.MaxConnections, opts.Hostname, log)
	go func() {
		defer close(s.done)
		if err := srv.Serve(s.ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("bouncerecv: serve stopped", "err", err)
		}
	}()
	log.Info("bouncerecv: listening", "addr", raw.Addr().String(), "domains", len(s.domains))
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Processor is the server's processor, for sharing with an IMAP poller.
func (s *Server) Processor() *Processor { return s.proc }

// Close stops listening, aborts sessions and processing in progress
// (their messages get no 250, so MTAs retry them) and waits for the
// server's goroutines.
//
// It does not use go-smtp's Server.Close, which closes each session from
// the calling goroutine while the session's own goroutine may be inside a
// BDAT transfer, a data race inside go-smtp (v0.25, v0.26): it closes the
// sockets, and every session's goroutine ends and closes its session
// itself.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		err := s.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil // Shutdown came first
		}
		<-s.done // Serve has returned: nothing more is accepted
		s.ln.closeConns()
		if err != nil {
			s.closeErr = fmt.Errorf("bouncerecv: close: %w", err)
		}
	})
	return s.closeErr
}

// Shutdown stops accepting connections and lets sessions in progress
// finish until ctx ends; then it closes what is left, as Close does.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Replies the server gives.
var (
	errRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	errBadToken    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: invalid bounce address"}
	errTryLater    = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure processing the message, try again later"}
)

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, peer: peerIP(c.Conn())}, nil
}

// session is one SMTP session; go-smtp calls it from one goroutine.
type session struct {
	s     *Server
	peer  string
	rcpts []string
}

func (ss *session) Reset()        { ss.rcpts = nil }
func (ss *session) Logout() error { return nil }

// Mail accepts any sender: bounces come from the null sender "<>",
// complaints from whatever a feedback loop uses.
func (ss *session) Mail(string, *smtp.MailOptions) error {
	ss.rcpts = nil
	return nil
}

// Rcpt accepts the bounce domains only, and refuses VERP addresses whose
// token does not verify, so a forged bounce never gets as far as DATA.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at < 0 || !ss.s.domains[strings.ToLower(strings.TrimSuffix(to[at+1:], "."))] {
		ss.s.log.Warn("bouncerecv: rejected recipient", "reason", "relay denied", "peer", ss.peer)
		return errRelayDenied
	}
	if _, err := ss.s.proc.signer.Verify(to); errors.Is(err, verp.ErrBadToken) {
		ss.s.log.Warn("bounce: rejected", "outcome", Rejected.String(), "reason", "bad VERP token", "peer", ss.peer)
		return errBadToken
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

// Data processes the message; 451 when it must be offered again.
func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // go-smtp answers 552 for a message over the limit
	}
	ctx, cancel := context.WithTimeout(ss.s.ctx, ss.s.opts.ProcessTimeout)
	defer cancel()
	if _, err := ss.s.proc.Process(ctx, Message{Raw: raw, Rcpts: ss.rcpts}); err != nil {
		ss.s.log.Warn("bouncerecv: deferred message", "peer", ss.peer, "err", err)
		return errTryLater
	}
	return nil
}

func peerIP(c net.Conn) string {
	if c == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// errorLog routes go-smtp's internal errors to slog; they name peers and
// errors, never mailboxes.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("bouncerecv: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l errorLog) Println(v ...any) {
	l.log.Warn("bouncerecv: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
