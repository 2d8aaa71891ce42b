package email_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/smtpd"
)

// relayMode is one way a transaction can go, by what the relay offers and
// what the channel is told to use.
type relayMode struct {
	name string
	// hide removes these extensions from the relay's EHLO reply (through
	// hidingProxy), as a relay without them would answer.
	hide []string
	// noPipelining sets Config.NoPipelining.
	noPipelining bool
}

// relayModes are the three transactions the channel can make: pipelined
// with BDAT (one round trip), pipelined with DATA (two), and one command
// at a time (four).
var relayModes = []relayMode{
	{name: "pipelined with BDAT"},
	{name: "pipelined with DATA", hide: []string{"CHUNKING"}},
	{name: "one command at a time", noPipelining: true},
}

// eachMode runs fn once per relay mode.
func eachMode(t *testing.T, fn func(t *testing.T, m relayMode)) {
	for _, m := range relayModes {
		t.Run(m.name, func(t *testing.T) { fn(t, m) })
	}
}

// channelIn returns a channel to s that transacts in mode m.
func channelIn(t *testing.T, s *smtpd.Server, m relayMode, mod func(*email.Config)) *email.Channel {
	t.Helper()
	host, port := s.Host(), s.Port()
	if len(m.hide) > 0 {
		host, port = hidingProxy(t, s.Host()+":"+strconv.Itoa(s.Port()), m.hide...)
	}
	return newChannel(t, s, func(c *email.Config) {
		c.Host, c.Port = host, port
		c.NoPipelining = m.noPipelining
		if mod != nil {
			mod(c)
		}
	})
}

// hidingProxy relays TCP connections to addr and drops the given
// extensions from the server's EHLO reply (never its last line, which
// go-smtp never makes one of them).
func hidingProxy(t *testing.T, addr string, exts ...string) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	hidden := map[string]bool{}
	for _, e := range exts {
		hidden["250-"+e+"\r\n"] = true
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", addr)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			open = append(open, client, server)
			mu.Unlock()
			wg.Go(func() {
				_, _ = io.Copy(server, client)
				server.Close()
			})
			wg.Go(func() {
				defer client.Close()
				r := bufio.NewReader(server)
				for {
					line, err := r.ReadString('\n')
					if !hidden[strings.ToUpper(line)] {
						if _, werr := io.WriteString(client, line); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}
