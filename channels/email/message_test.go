package email

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"

	"github.com/heraldhq/herald/dispatcher"
)

func offlineChannel(t testing.TB, mod func(*Config)) *Channel {
	t.Helper()
	cfg := Config{Host: "smtp.example.org", TLS: TLSNone}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func TestMessageIDDomain(t *testing.T) {
	tests := []struct {
		configured, from, want string
	}{
		{"", "varsel@Bolgen.Example", "bolgen.example"},
		{"mail.example.org", "varsel@bolgen.example", "mail.example.org"},
		{"", "varsel@bølgen.example", "localhost"}, // IDN: not a dot-atom until punycoded
		{"", "varsel@[192.0.2.1]", "localhost"},
	}
	pattern := regexp.MustCompile(`^herald\.9\.[a-z2-7]{26}@`)
	for _, tt := range tests {
		ch := offlineChannel(t, func(c *Config) { c.MessageIDDomain = tt.configured })
		id := messageID(9, ch.messageIDDomain(tt.from))
		if !pattern.MatchString(id) || !strings.HasSuffix(id, "@"+tt.want) {
			t.Errorf("from %q, configured %q: Message-ID %q, want domain %q", tt.from, tt.configured, id, tt.want)
		}
	}
	if messageID(1, "x") == messageID(1, "x") {
		t.Error("two Message-IDs for the same delivery are equal")
	}
}

// FuzzRender renders notices with arbitrary (valid UTF-8) subjects, names
// and bodies, which come from operators' templates and import files. Every
// rendered message must parse, be 7-bit with lines within SMTP's limit,
// and give back the subject, names and bodies unchanged.
func FuzzRender(f *testing.F) {
	f.Add("Viktig: datainnbrudd hos Bølgen & Co", "Åse Ødegård", "Bølgen & Co", "Hei Åse,\n\nVi har oppdaget …\n", "<p>Hei</p>")
	f.Add("", "", "", "", "")
	f.Add(strings.Repeat("Lang emnelinje med æøå ", 20), "Dr. \"Quoted\", Jr.", "a,b;c", strings.Repeat("x", 2000), "")
	f.Add("Subject\r\nBcc: x@example.org", "Name <evil@example.org>", "=?utf-8?q?x?=", "line.\r\n.\r\nafter dot\n", "<p>.</p>\n.\n")
	f.Add("trailing space ", "  ", "\t", "tab\tand trailing space \nnext", "\x00")
	ch := offlineChannel(f, nil)
	f.Fuzz(func(t *testing.T, subject, toName, fromName, text, html string) {
		for _, s := range []string{subject, toName, fromName, text, html} {
			if !utf8.ValidString(s) {
				t.Skip("templates and imports are UTF-8")
			}
		}
		m := &dispatcher.Message{
			DeliveryID: 5, To: "person@example.no", ToName: toName,
			Sender:  dispatcher.Sender{FromName: fromName, FromEmail: "varsel@bolgen.example"},
			Subject: subject, Text: text, HTML: html, Locale: "nb",
		}
		r, err := ch.render(m, time.Unix(1700000000, 0))
		if err != nil {
			var se *dispatcher.SendError
			if !errors.As(err, &se) {
				t.Fatalf("render error %v is not a SendError", err)
			}
			return
		}
		for i, line := range strings.Split(string(r.raw), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("line %d has %d octets", i, len(line))
			}
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("bare line break in line %d: %q", i, line)
			}
			for _, c := range []byte(line) {
				if c >= 0x80 {
					t.Fatalf("8-bit octet in line %d: %q", i, line)
				}
			}
		}
		mr, err := mail.CreateReader(bytes.NewReader(r.raw))
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, r.raw)
		}
		if got, err := mr.Header.Subject(); err != nil {
			t.Fatalf("subject: %v", err)
		} else if want := oneLine(subject); !strings.Contains(want, "=?") && norm(got) != norm(want) {
			t.Errorf("subject %q, want %q", got, want)
		}
		if mr.Header.Get("Bcc") != "" || mr.Header.Get(HeaderDelivery) != "5" {
			t.Errorf("headers: Bcc %q, delivery %q", mr.Header.Get("Bcc"), mr.Header.Get(HeaderDelivery))
		}
		if to, err := mr.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "person@example.no" {
			t.Errorf("To = %v (%v)", to, err)
		}
		var bodies []string
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("part: %v", err)
			}
			b, err := io.ReadAll(p.Body)
			if err != nil {
				t.Fatalf("read part: %v", err)
			}
			bodies = append(bodies, string(b))
		}
		var want []string
		switch {
		case html == "":
			want = []string{text}
		case text == "":
			want = []string{html}
		default:
			want = []string{text, html}
		}
		if len(bodies) != len(want) {
			t.Fatalf("%d parts, want %d", len(bodies), len(want))
		}
		for i := range want {
			if lines(bodies[i]) != lines(want[i]) {
				t.Errorf("part %d:\n%q\nwant\n%q", i, bodies[i], want[i])
			}
		}
	})
}

// lines normalises line endings, which SMTP makes CRLF.
func lines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// norm collapses runs of white space, which header folding may change.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no host", Config{}},
		{"bad port", Config{Host: "smtp.example.org", Port: 70000}},
		{"bad tls", Config{Host: "smtp.example.org", TLS: "ssl"}},
		{"password without user", Config{Host: "smtp.example.org", Password: "x"}},
		{"negative pool", Config{Host: "smtp.example.org", PoolSize: -1}},
		{"negative timeout", Config{Host: "smtp.example.org", Timeout: -time.Second}},
		{"helo with space", Config{Host: "smtp.example.org", HELOName: "my host"}},
		{"message-id domain", Config{Host: "smtp.example.org", MessageIDDomain: "a@b"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("%s: error %v, want EINVALID", tt.name, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	for mode, port := range map[TLSMode]int{"": 587, TLSStartTLS: 587, TLSStartTLSRequired: 587, TLSImplicit: 465, TLSNone: 25} {
		c := Config{Host: "h", TLS: mode}.withDefaults()
		if c.Port != port || c.PoolSize != DefaultPoolSize || c.Timeout != DefaultTimeout || c.IdleTimeout != DefaultIdleTimeout {
			t.Errorf("TLS %q: %+v", mode, c)
		}
		if mode == "" && c.TLS != TLSStartTLSRequired {
			t.Errorf("default TLS mode %q, want starttls-required", c.TLS)
		}
	}
}

func TestConfigRedactsPassword(t *testing.T) {
	c := Config{Host: "smtp.example.org", Username: "herald", Password: "s3cret-value"}
	var buf bytes.Buffer
	logger := slogTo(&buf)
	logger.Info("config", "email", c)
	for _, s := range []string{c.String(), buf.String()} {
		if strings.Contains(s, "s3cret-value") || !strings.Contains(s, redacted) {
			t.Errorf("password not redacted: %s", s)
		}
	}
}
