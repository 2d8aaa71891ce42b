package bouncerecv_test

import (
	"testing"

	"github.com/heraldhq/herald/channels/email/bouncerecv"
)

// FuzzProcess feeds arbitrary messages and envelope recipients to the
// processor: it must never panic, and with a working sink it must always
// reach an outcome rather than ask for the message again.
func FuzzProcess(f *testing.F) {
	addr := signer().Address(42)
	for _, name := range []string{"postfix-user-unknown.eml", "arf-abuse.eml", "autoreply-vacation.eml", "human-reply.eml", "exchange-recipient-not-found.eml"} {
		f.Add(fixture(f, name, addr, msgID(42), 42), addr)
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b\nAction: failed\n--x--\n"), "bounces+1-aaaaaaaaaaaaaaaa@bounce.test")
	f.Add([]byte{}, "")
	s := newSink()
	p, err := bouncerecv.NewProcessor(bouncerecv.ProcessorOptions{Sink: s, Signer: signer()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, rcpt string) {
		var rcpts []string
		if rcpt != "" {
			rcpts = []string{rcpt}
		}
		res, err := p.Process(t.Context(), bouncerecv.Message{Raw: raw, Rcpts: rcpts})
		if err != nil {
			t.Fatalf("Process failed with a working sink: %v", err)
		}
		if res.Outcome == bouncerecv.Applied && res.Events == 0 {
			t.Fatalf("applied without events: %+v", res)
		}
		if res.DeliveryID != 0 && rcpt != "" {
			if id, err := signer().Verify(rcpt); err != nil || id != res.DeliveryID {
				t.Fatalf("delivery %d not from a verified token (%q: %d, %v)", res.DeliveryID, rcpt, id, err)
			}
		}
	})
}
