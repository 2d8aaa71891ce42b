package bouncerecv

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// limitListener bounds concurrent connections and tracks them, so that
// Close can end every one and wait for them. A connection over the limit
// is told "421 4.3.2" and closed at once rather than left waiting, so the
// sending MTA moves on and retries later.
type limitListener struct {
	net.Listener
	slots    chan struct{}
	hostname string
	log      *slog.Logger

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*limitConn]struct{}
	closed bool
}

func newLimitListener(l net.Listener, n int, hostname string, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), hostname: hostname, log: log, conns: map[*limitConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
		default:
			l.log.Warn("bouncerecv: too many connections; refused one", "limit", cap(l.slots), "peer", peerIP(c))
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c, "421 4.3.2 "+l.hostname+" Too many connections, try again later\r\n")
			_ = c.Close()
			continue
		}
		lc := &limitConn{Conn: c, l: l}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			<-l.slots
			_ = c.Close()
			return nil, net.ErrClosed
		}
		l.conns[lc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		return lc, nil
	}
}

// closeConns closes the socket of every open connection, refuses new
// ones and waits until the goroutine serving each has closed it.
func (l *limitListener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*limitConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close() // the socket only: its session's goroutine closes the rest
	}
	l.wg.Wait()
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.slots
		c.l.wg.Done()
	})
	return err
}
