package web

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald/dispatcher"
)

func TestExplainCode(t *testing.T) {
	tests := []struct {
		channel    dispatcher.ChannelKind
		code, diag string
		want       string
	}{
		{dispatcher.Email, "550 5.1.1", "User unknown", "mailbox does not exist at the receiving server"},
		{dispatcher.Email, "5.1.1", "", "mailbox does not exist at the receiving server"},
		{dispatcher.Email, "452 4.2.2", "", "mailbox full (temporary; herald retries)"},
		{dispatcher.Email, "552 5.2.2", "", "mailbox full"},
		{dispatcher.Email, "550", "5.7.1 Message rejected as spam", "refused by the receiving server's policy (sender not allowed, or spam filter)"},
		{dispatcher.Email, "554 5.9.99", "", "permanently refused by the receiving server"},
		{dispatcher.Email, "451 4.9.9", "", "a temporary problem at the receiving server; herald retries"},
		{dispatcher.Email, "421", "", "the receiving server was not available; herald retries"},
		{dispatcher.Email, "599", "", "permanently refused by the receiving server"},
		{dispatcher.Email, "250 2.0.0", "", "accepted by the receiving server"},
		{dispatcher.SMS, "21211", "", "not a valid phone number"},
		{dispatcher.SMS, "21610", "", "the person has opted out of SMS (replied STOP)"},
		{dispatcher.SMS, "30003", "", "the phone is unreachable (switched off or out of coverage)"},
		{dispatcher.SMS, "99999", "", ""},
		{dispatcher.SMS, "queued", "", ""},
		{dispatcher.Email, "", "", ""},
		{dispatcher.Email, "garbage 1.2.3.4", "", ""},
	}
	for _, tt := range tests {
		if got := ExplainCode(tt.channel, tt.code, tt.diag); got != tt.want {
			t.Errorf("ExplainCode(%s, %q, %q) = %q, want %q", tt.channel, tt.code, tt.diag, got, tt.want)
		}
	}
	for _, st := range dispatcher.AllStates {
		if w := StateWords(st); w == "" || w == string(st) {
			t.Errorf("state %s has no words", st)
		}
	}
}

// FuzzExplainCode feeds the explainer what mail servers and providers may
// send: it must never panic, and it answers with one of its own phrases.
func FuzzExplainCode(f *testing.F) {
	for _, s := range []string{"550 5.1.1", "4.2.2", "21211", "550-5.1.1 The email account", "5.", "5.1.", "9.9.9", "\x00", "550 5.1.1111"} {
		f.Add(s, "")
	}
	known := map[string]bool{"": true}
	for _, m := range []map[string]string{smtpDetail, smtpBasic, twilioCodes} {
		for _, w := range m {
			known[w], known[w+" (temporary; herald retries)"] = true, true
		}
	}
	for _, w := range []string{"accepted by the receiving server", "a temporary problem at the receiving server; herald retries", "permanently refused by the receiving server"} {
		known[w] = true
	}
	f.Fuzz(func(t *testing.T, code, diag string) {
		for _, k := range []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS} {
			got := ExplainCode(k, code, diag)
			if !known[got] {
				t.Fatalf("ExplainCode(%q, %q) = %q, not one of its phrases", code, diag, got)
			}
			if !utf8.ValidString(got) || strings.Contains(got, code) && code != "" && len(code) > 3 {
				t.Fatalf("ExplainCode echoes its input: %q", got)
			}
		}
	})
}
