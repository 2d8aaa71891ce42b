package smtpd

import (
	"crypto/tls"
	"net"
	"sync"
)

// listener counts and tracks the TCP connections it accepts, so the server
// can report connection reuse and close every connection on Close.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s, id: int(l.s.accepted.Add(1))}
	l.s.open.Add(1)
	l.s.connWG.Add(1)
	l.s.mu.Lock()
	l.s.conns[tc] = struct{}{}
	l.s.mu.Unlock()
	l.s.log.Debug("smtpd: connection accepted", "conn", tc.id)
	return tc, nil
}

// trackedConn is an accepted connection that knows its number and tells
// the server when it closes.
type trackedConn struct {
	net.Conn
	s    *Server
	id   int
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.open.Add(-1)
		c.s.log.Debug("smtpd: connection closed", "conn", c.id)
		c.s.connWG.Done()
	})
	return err
}

// connInfo finds the number of the TCP connection under nc and whether it
// is encrypted, looking through the TLS layer STARTTLS or the implicit-TLS
// listener put on top of it.
func connInfo(nc net.Conn) (id int, encrypted bool) {
	if t, ok := nc.(*tls.Conn); ok {
		encrypted = true
		nc = t.NetConn()
	}
	if tc, ok := nc.(*trackedConn); ok {
		id = tc.id
	}
	return id, encrypted
}
