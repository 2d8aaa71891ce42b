package email_test

import (
	"slices"
	"testing"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/smtpd"
)

// TestDSNRequest checks that notices ask for a bounce on failure only,
// with headers only, when the relay offers DSN, and that nothing changes
// for relays that do not (go-smtp would answer an unannounced RET= with
// 504).
func TestDSNRequest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		serverDSN  bool
		omit       bool
		wantRet    string
		wantNotify string
	}{
		{"relay with DSN", true, false, "HDRS", "FAILURE"},
		{"relay without DSN", false, false, "", ""},
		{"DSN omitted", true, true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSMTP(t, smtpd.Options{DSN: tc.serverDSN})
			ch := newChannel(t, s, func(c *email.Config) {
				c.OmitDSN = tc.omit
				c.ReturnPath = nil
			})
			// Two messages: the options must survive the pooled
			// connection's reuse and RSET-free transactions.
			for _, id := range []int64{1, 2} {
				if _, err := ch.Send(ctxTimeout(t), notice(id, "ase@example.net")); err != nil {
					t.Fatalf("send %d: %v", id, err)
				}
			}
			msgs := s.Messages()
			if len(msgs) != 2 {
				t.Fatalf("%d messages received, want 2", len(msgs))
			}
			for _, m := range msgs {
				if m.Return != tc.wantRet || !slices.Equal(m.Notify, []string{tc.wantNotify}) {
					t.Errorf("RET=%q NOTIFY=%q, want RET=%q NOTIFY=%q", m.Return, m.Notify, tc.wantRet, tc.wantNotify)
				}
			}
			if s.Connections() != 1 {
				t.Errorf("%d connections, want 1 reused", s.Connections())
			}
		})
	}
}
