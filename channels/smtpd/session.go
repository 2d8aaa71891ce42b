package smtpd

import (
	"crypto/subtle"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// backend makes a session for every client that says EHLO.
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

// session is one SMTP session; go-smtp calls it from the connection's
// goroutine only.
type session struct {
	s      *Server
	conn   *smtp.Conn
	user   string
	from   string
	rcpts  []string
	ret    string   // DSN RET= of MAIL FROM
	notify []string // DSN NOTIFY= of each recipient
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) Reset() {
	ss.from = ""
	ss.rcpts = nil
	ss.ret = ""
	ss.notify = nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.opts.Username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		userOK := subtle.ConstantTimeCompare([]byte(username), []byte(ss.s.opts.Username)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(password), []byte(ss.s.opts.Password)) == 1
		if !userOK || !passOK || (identity != "" && identity != username) {
			return errAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.user == "" {
		return errAuthRequired
	}
	if h := ss.s.opts.MailHook; h != nil {
		if err := ss.reply(h(from)); err != nil {
			return err
		}
	}
	ss.from = from
	ss.rcpts = nil
	ss.notify = nil
	ss.ret = ""
	if opts != nil {
		ss.ret = string(opts.Return)
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	key := normalize(to)
	switch {
	case ss.s.unknown[key]:
		return UserUnknown(to)
	case ss.s.denied[key]:
		return RelayDenied(to)
	case ss.s.takeGreylist(to):
		return ss.s.opts.GreylistReply(to)
	}
	if h := ss.s.opts.RcptHook; h != nil {
		if err := ss.reply(h(ss.from, to)); err != nil {
			return err
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	ss.notify = append(ss.notify, notifyString(opts))
	return nil
}

// notifyString is the NOTIFY= parameter as the client wrote it, values
// joined by commas; "" when not given.
func notifyString(opts *smtp.RcptOptions) string {
	if opts == nil {
		return ""
	}
	vals := make([]string, len(opts.Notify))
	for i, n := range opts.Notify {
		vals[i] = string(n)
	}
	return strings.Join(vals, ",")
}

func (ss *session) Data(r io.Reader) error {
	var (
		data []byte
		size int64
		err  error
	)
	if ss.s.opts.Discard {
		size, err = io.Copy(io.Discard, r)
	} else {
		data, err = io.ReadAll(r)
		size = int64(len(data))
	}
	if err != nil {
		return err // go-smtp turns ErrDataTooLarge into 552 5.3.4
	}
	rcpts := append([]string(nil), ss.rcpts...)
	if h := ss.s.opts.DataHook; h != nil {
		if err := ss.reply(h(ss.from, rcpts, data)); err != nil {
			return err
		}
	}
	id, encrypted := connInfo(ss.conn.Conn())
	ss.s.record(Received{
		From: ss.from, To: rcpts, Data: data,
		Conn: id, TLS: encrypted, User: ss.user, At: time.Now(),
		Return: ss.ret, Notify: append([]string(nil), ss.notify...),
	}, int(size))
	return nil
}

// reply turns a hook's answer into the session's error, closing the
// connection for Drop. It keeps a nil *SMTPError from becoming a non-nil
// error.
func (ss *session) reply(e *smtp.SMTPError) error {
	if e == nil {
		return nil
	}
	if e == Drop {
		_ = ss.conn.Conn().Close()
	}
	return e
}
