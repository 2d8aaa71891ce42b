package email

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// conn is one open, greeted (and, as configured, encrypted and
// authenticated) SMTP session to the relay.
type conn struct {
	client   *smtp.Client
	raw      net.Conn // the socket under client, for deadlines
	lastUsed time.Time
	reused   bool // taken from the idle list rather than freshly dialled
	sent     int  // messages accepted on this connection
	caps     relayCaps
}

// pool keeps up to size connections open and lends them to one sender at
// a time. A slot is held for each lent connection (and while dialling), so
// there are never more than size connections open; idle ones are reused
// newest first, so a quiet period lets the oldest ones age out.
type pool struct {
	size        int
	idleTimeout time.Duration // <0: keep idle connections until close
	quitTimeout time.Duration
	dial        func(ctx context.Context) (*conn, error)
	log         *slog.Logger

	slots      chan struct{}
	closing    chan struct{}
	reaperDone chan struct{}
	closeOnce  sync.Once

	mu     sync.Mutex
	idle   []*conn // least recently used first
	closed bool

	dials atomic.Int64
	open  atomic.Int64
}

func newPool(size int, idleTimeout, quitTimeout time.Duration, dial func(context.Context) (*conn, error), log *slog.Logger) *pool {
	p := &pool{
		size:        size,
		idleTimeout: idleTimeout,
		quitTimeout: quitTimeout,
		dial:        dial,
		log:         log,
		slots:       make(chan struct{}, size),
		closing:     make(chan struct{}),
		reaperDone:  make(chan struct{}),
	}
	if idleTimeout > 0 {
		go p.reap()
	} else {
		close(p.reaperDone)
	}
	return p
}

// get takes a slot and returns a connection for it: the most recently
// used idle one, or a new one. It blocks while all slots are taken.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closing:
		return nil, ErrClosed
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, ErrClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if p.idleTimeout > 0 && time.Since(c.lastUsed) > p.idleTimeout {
			p.drop(c, false) // the reaper was about to; do not use it
			continue
		}
		c.reused = true
		return c, nil
	}
	return p.redial(ctx)
}

// redial opens a new connection for a slot the caller holds. When it
// fails, the slot is given back.
func (p *pool) redial(ctx context.Context) (*conn, error) {
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.dials.Add(1)
	p.open.Add(1)
	p.log.Debug("email: connection opened", "open", p.open.Load())
	return c, nil
}

// put gives back the slot of a connection from get; the connection goes
// to the idle list when keep is set and the pool is open, and is closed
// otherwise. c may be nil when the caller already dropped it.
func (p *pool) put(c *conn, keep bool) {
	defer func() { <-p.slots }()
	if c == nil {
		return
	}
	if keep {
		c.lastUsed = time.Now()
		c.reused = false
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	p.drop(c, keep)
}

// drop closes a connection: politely with QUIT when it is in a clean
// state, else by closing the socket.
func (p *pool) drop(c *conn, polite bool) {
	if polite {
		_ = c.raw.SetDeadline(time.Now().Add(p.quitTimeout))
		if err := c.client.Quit(); err != nil {
			_ = c.client.Close()
		}
	} else {
		_ = c.client.Close()
	}
	p.open.Add(-1)
	p.log.Debug("email: connection closed", "messages", c.sent, "open", p.open.Load())
}

// reap closes connections idle longer than idleTimeout, until close.
func (p *pool) reap() {
	defer close(p.reaperDone)
	every := p.idleTimeout / 2
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-t.C:
			for _, c := range p.takeIdle(time.Now().Add(-p.idleTimeout)) {
				p.drop(c, true)
			}
		}
	}
}

// takeIdle removes and returns the idle connections last used before
// cutoff.
func (p *pool) takeIdle(cutoff time.Time) []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var stale []*conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if c.lastUsed.Before(cutoff) {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	return stale
}

// close stops the reaper and closes the idle connections; connections
// lent out are closed when they come back. Later gets fail with ErrClosed.
func (p *pool) close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		close(p.closing)
		<-p.reaperDone
		for _, c := range idle {
			p.drop(c, true)
		}
	})
}
