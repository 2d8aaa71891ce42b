// Package smtpd is a real SMTP server that runs inside the process: the
// mail sink of herald's demo, the far end of every test that sends e-mail,
// and the target of the e-mail benchmarks.
//
// It speaks SMTP through github.com/emersion/go-smtp, so clients meet the
// same protocol a real MTA speaks: EHLO, STARTTLS or implicit TLS with a
// certificate generated at start, AUTH PLAIN, and replies with enhanced
// status codes. It can be told to misbehave the way real MTAs do — reject
// unknown mailboxes with Postfix's wording, greylist, refuse to relay, or
// drop the connection — and it records what it accepted so a test can
// check what arrived and over how many connections.
package smtpd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// TLSMode says how the server offers TLS.
type TLSMode int

// TLS modes.
const (
	// NoTLS serves plain SMTP and does not offer STARTTLS.
	NoTLS TLSMode = iota
	// StartTLS offers STARTTLS on a plain connection (ports 25 and 587).
	StartTLS
	// ImplicitTLS expects a TLS handshake before the greeting (port 465).
	ImplicitTLS
)

func (m TLSMode) String() string {
	switch m {
	case NoTLS:
		return "none"
	case StartTLS:
		return "starttls"
	case ImplicitTLS:
		return "tls"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// Defaults for Options left zero.
const (
	DefaultAddr            = "127.0.0.1:0"
	DefaultHostname        = "localhost"
	DefaultMaxMessageBytes = 10 << 20
)

// Options configure a Server. The zero value is a plain, accepting server
// on a free loopback port that keeps every message.
type Options struct {
	// Addr is the TCP address to listen on. Default DefaultAddr, a free
	// port on the loopback interface.
	Addr string
	// Hostname is the name in the greeting and in the certificate.
	// Default DefaultHostname.
	Hostname string

	// TLS says whether STARTTLS or implicit TLS is offered. The
	// certificate is self-signed and made at Start; clients trust it
	// through CertPool or TLSConfig.
	TLS TLSMode

	// Username and Password, when Username is set, make the server offer
	// AUTH PLAIN and refuse MAIL FROM until the client authenticated.
	Username string
	Password string
	// AllowInsecureAuth offers AUTH on connections without TLS. Real
	// servers do not; a demo on loopback may.
	AllowInsecureAuth bool

	// UnknownUsers are mailboxes rejected at RCPT TO with Postfix's
	// "550 5.1.1 … User unknown in virtual mailbox table": the hard bounce.
	UnknownUsers []string
	// Greylist maps a mailbox to how many times RCPT TO is deferred before
	// it is accepted, as a greylisting MTA does with a new sender.
	Greylist map[string]int
	// GreylistReply is the reply given while a mailbox is greylisted.
	// Default Greylisted (Postfix with postgrey, 450 4.2.0); TryAgainLater
	// gives the 451 4.7.1 of rspamd and others.
	GreylistReply func(rcpt string) *smtp.SMTPError
	// RelayDenied are mailboxes rejected at RCPT TO with Postfix's
	// "554 5.7.1 … Relay access denied": a policy refusal that is the
	// sender's problem, not the recipient's.
	RelayDenied []string

	// MailHook, RcptHook and DataHook decide anything the lists above do
	// not: return nil to accept, an *smtp.SMTPError to reply with it, or
	// Drop to close the connection without a reply. RcptHook runs after
	// the lists; DataHook gets the message (nil in Discard mode) before it
	// is recorded. Hooks run on the server's connection goroutines and
	// must be safe for concurrent use.
	MailHook func(from string) *smtp.SMTPError
	RcptHook func(from, rcpt string) *smtp.SMTPError
	DataHook func(from string, rcpts []string, data []byte) *smtp.SMTPError

	// Discard counts accepted messages without keeping them, so a
	// benchmark can push millions through without growing memory.
	Discard bool

	// DSN advertises the DSN extension (RFC 3461), as Postfix and most
	// MTAs do, so that clients send RET= and NOTIFY= parameters; they are
	// recorded in Received.Return and Received.Notify.
	DSN bool

	// ReadTimeout closes a connection that stays silent this long, with
	// "421 4.4.2 Idle timeout", as MTAs do with idle clients. Zero means
	// never.
	ReadTimeout time.Duration
	// MaxMessageBytes is the largest message accepted. Default
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64

	// Logger receives connection-level events. It never gets addresses or
	// message content. Nil discards.
	Logger *slog.Logger
}

// Received is one message the server accepted.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Data []byte   // the message as transmitted, headers and body
	// Conn numbers the TCP connection that carried the message, from 1 in
	// the order connections were accepted.
	Conn int
	TLS  bool   // whether the session was encrypted
	User string // the authenticated user, if any
	At   time.Time
	// Return is the DSN RET= parameter of MAIL FROM ("HDRS" or "FULL"),
	// empty when not given; only with Options.DSN.
	Return string
	// Notify holds the DSN NOTIFY= parameter of each recipient in To
	// order ("FAILURE", "SUCCESS,DELAY", "NEVER"), empty when not given;
	// only with Options.DSN.
	Notify []string
}

// Server is a running SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	opts      Options
	log       *slog.Logger
	smtp      *smtp.Server
	ln        net.Listener
	addr      string
	serveDone chan struct{}
	certPool  *x509.CertPool
	closeOnce sync.Once
	closeErr  error

	unknown map[string]bool
	denied  map[string]bool

	accepted atomic.Int64 // TCP connections accepted so far
	open     atomic.Int64 // TCP connections open now
	connWG   sync.WaitGroup

	mu       sync.Mutex
	conns    map[*trackedConn]struct{}
	greylist map[string]int
	messages []Received
	count    int
	bytes    int64
	changed  chan struct{} // closed and replaced whenever count changes
}

// Start listens on opts.Addr and serves SMTP until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Hostname == "" {
		opts.Hostname = DefaultHostname
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.GreylistReply == nil {
		opts.GreylistReply = Greylisted
	}
	if opts.Username == "" && opts.Password != "" {
		return nil, errors.New("smtpd: password given without a username")
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		serveDone: make(chan struct{}),
		unknown:   mailboxSet(opts.UnknownUsers),
		denied:    mailboxSet(opts.RelayDenied),
		conns:     map[*trackedConn]struct{}{},
		greylist:  map[string]int{},
		changed:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for mbox, n := range opts.Greylist {
		s.greylist[normalize(mbox)] = n
	}

	srv := smtp.NewServer(backend{s})
	srv.Domain = opts.Hostname
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = 100
	srv.AllowInsecureAuth = opts.AllowInsecureAuth
	srv.ReadTimeout = opts.ReadTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = opts.DSN
	srv.ErrorLog = errorLog{s.log}
	s.smtp = srv

	var tlsConf *tls.Config
	if opts.TLS != NoTLS {
		cert, pool, err := selfSigned(opts.Hostname)
		if err != nil {
			return nil, fmt.Errorf("smtpd: make certificate: %w", err)
		}
		s.certPool = pool
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	raw, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtpd: listen on %s: %w", opts.Addr, err)
	}
	s.addr = raw.Addr().String()
	var ln net.Listener = &listener{Listener: raw, s: s}
	switch opts.TLS {
	case StartTLS:
		srv.TLSConfig = tlsConf
	case ImplicitTLS:
		ln = tls.NewListener(ln, tlsConf)
	}
	s.ln = ln

	go func() {
		defer close(s.serveDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("smtpd: serve stopped", "err", err)
		}
	}()
	s.log.Debug("smtpd: listening", "addr", s.addr, "tls", opts.TLS.String())
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Host and Port split Addr, for clients configured with both.
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.addr)
	return h
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int {
	return s.ln.Addr().(*net.TCPAddr).Port
}

// CertPool holds the server's self-signed certificate, for clients that
// should verify it; nil when TLS is off.
func (s *Server) CertPool() *x509.CertPool { return s.certPool }

// TLSConfig is a client configuration that trusts the server's certificate
// (and no other); nil when TLS is off.
func (s *Server) TLSConfig() *tls.Config {
	if s.certPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.certPool, ServerName: s.Host(), MinVersion: tls.VersionTLS12}
}

// Close stops listening, closes every connection and waits until all of
// the server's goroutines are gone.
//
// It does not use go-smtp's Server.Close, which closes each session from
// the calling goroutine while the session's own goroutine may be inside a
// BDAT transfer: go-smtp (v0.25, v0.26) then reads and writes the
// session's chunk pipe from two goroutines at once, a data race that can
// end in a nil dereference. Closing the sockets instead makes every
// session's goroutine see the error and close its session itself.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		// Serve returns once its listener is closed; from then on no
		// connection is accepted.
		<-s.serveDone
		s.mu.Lock()
		conns := make([]*trackedConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			_ = c.Conn.Close() // the socket only: the session's goroutine closes the rest
		}
		// Every connection's goroutine closes its trackedConn on the way
		// out, which is what connWG counts.
		s.connWG.Wait()
		if err != nil {
			s.closeErr = fmt.Errorf("smtpd: close: %w", err)
		}
	})
	return s.closeErr
}

// Messages returns a copy of every message accepted so far, in order of
// acceptance. In Discard mode it is empty.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.messages))
	for i, m := range s.messages {
		m.To = append([]string(nil), m.To...)
		m.Notify = append([]string(nil), m.Notify...)
		m.Data = append([]byte(nil), m.Data...)
		out[i] = m
	}
	return out
}

// Count is how many messages were accepted, also in Discard mode.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Bytes is the total size of the messages accepted.
func (s *Server) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Connections is how many TCP connections were accepted since Start: with
// Count, it shows whether a client reuses its connections.
func (s *Server) Connections() int { return int(s.accepted.Load()) }

// Active is how many TCP connections are open now.
func (s *Server) Active() int { return int(s.open.Load()) }

// WaitFor blocks until at least n messages were accepted, or ctx ends.
func (s *Server) WaitFor(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		count, changed := s.count, s.changed
		s.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("smtpd: waiting for %d messages, have %d: %w", n, count, ctx.Err())
		}
	}
}

// record keeps an accepted message and wakes WaitFor.
func (s *Server) record(m Received, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opts.Discard {
		s.messages = append(s.messages, m)
	}
	s.count++
	s.bytes += int64(size)
	close(s.changed)
	s.changed = make(chan struct{})
}

// takeGreylist reports whether rcpt is still greylisted, using up one
// deferral.
func (s *Server) takeGreylist(rcpt string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := normalize(rcpt)
	if s.greylist[key] > 0 {
		s.greylist[key]--
		return true
	}
	return false
}

func mailboxSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, a := range list {
		m[normalize(a)] = true
	}
	return m
}

// normalize makes mailbox matching case-insensitive, as MTAs do in
// practice.
func normalize(addr string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
}

// errorLog routes go-smtp's internal error reports to slog. They name the
// client's network address and the error, never a mailbox.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("smtpd: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l errorLog) Println(v ...any) {
	l.log.Warn("smtpd: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
