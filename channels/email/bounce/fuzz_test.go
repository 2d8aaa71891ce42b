package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary bytes: it must not panic, must return
// a consistent report or an error, and must finish quickly (every pattern
// is a linear-time RE2 expression and every loop is bounded).
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./channels/email/bounce/
func FuzzParse(f *testing.F) {
	for _, s := range []string{postfixDSN, eximText, qmailLocal, sendmailMulti, exchangeHTMLOnly, courierDSN, sesBase64, postfixDelay, arfWithRcpt, arfNoRcpt, exchangeOOF, latin1Norwegian} {
		f.Add([]byte(s))
	}
	// A few corpus messages of different shapes.
	for _, name := range []string{"dev/exchange-no-01.eml", "dev/gmail-01.eml", "dev/mailru-01.eml", "dev/office365-01.eml", "dev/arf-microsoft-01.eml"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "corpus", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=\"\"\n\n--\n--\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=a\n\n--a\n"))
	f.Add(bytes.Repeat([]byte("Final-Recipient: rfc822; a@b.c\n"), 50))

	valid := map[string]bool{TypeDSN: true, TypeARF: true, TypeAutoreply: true, TypeUnknown: true}
	classes := map[string]bool{"": true, ClassInvalid: true, ClassSoft: true, ClassPolicy: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		rep, err := Parse(bytes.NewReader(data))
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Parse took %v on %d bytes", d, len(data))
		}
		if err != nil {
			if rep != nil {
				t.Fatal("report and error both returned")
			}
			return
		}
		if !valid[rep.Type] {
			t.Fatalf("Type = %q", rep.Type)
		}
		if rep.Recipients == nil {
			t.Fatal("Recipients is nil")
		}
		if len(rep.Recipients) > 100 {
			t.Fatalf("%d recipients", len(rep.Recipients))
		}
		for _, r := range rep.Recipients {
			if !classes[r.Class] || r.Hard != (r.Class == ClassInvalid) {
				t.Fatalf("inconsistent recipient %+v", r)
			}
			if strings.ContainsAny(r.Address, "\r\n") {
				t.Fatalf("address with a line break: %q", r.Address)
			}
		}
		if rep.DeliveryID < 0 {
			t.Fatalf("DeliveryID = %d", rep.DeliveryID)
		}
	})
}

// FuzzClassify checks that Classify always answers one of its classes.
func FuzzClassify(f *testing.F) {
	f.Add("5.1.1", "550", "550 5.1.1 user unknown")
	f.Add("", "", "")
	f.Add("4.7.1", "450", "greylisted")
	f.Fuzz(func(t *testing.T, status, code, diag string) {
		switch c := Classify(status, code, diag); c {
		case "", ClassInvalid, ClassSoft, ClassPolicy:
		default:
			t.Fatalf("Classify = %q", c)
		}
	})
}
