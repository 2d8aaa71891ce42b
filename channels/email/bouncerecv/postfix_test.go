package bouncerecv_test

import (
	"context"
	"crypto/rand"
	"math/big"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/dispatcher"
)

// Environment of the Postfix integration test. deploy/postfix-test/setup.sh
// reads the same variables.
const (
	postfixVar     = "HERALD_TEST_POSTFIX"      // "1" runs the test
	postfixPortVar = "HERALD_TEST_POSTFIX_PORT" // Postfix's port for herald [2525]
	bounceAddrVar  = "HERALD_TEST_BOUNCE_ADDR"  // the receiver's address [127.0.0.1:2526]
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// TestPostfixBounce sends a notice through a real Postfix on loopback to a
// mailbox that does not exist; Postfix accepts it, then returns its own
// DSN to the VERP return path, which its transport map routes to the
// bounce receiver started here. The receiver must turn it into an invalid
// bounce for the right delivery.
//
// It runs only with HERALD_TEST_POSTFIX=1, after deploy/postfix-test/setup.sh,
// so that `go test ./...` never needs Postfix.
func TestPostfixBounce(t *testing.T) {
	if os.Getenv(postfixVar) != "1" {
		t.Skipf("%s not set to 1; run deploy/postfix-test/setup.sh and set it to test against a real Postfix", postfixVar)
	}
	postfixPort, err := strconv.Atoi(envOr(postfixPortVar, "2525"))
	if err != nil {
		t.Fatalf("%s: %v", postfixPortVar, err)
	}
	b := start(t, func(o *bouncerecv.Options) {
		o.Addr = envOr(bounceAddrVar, "127.0.0.1:2526")
		// Not Postfix's myhostname, or Postfix refuses to deliver to
		// what it takes for itself ("mail loops back to myself").
		o.Hostname = "bounce-receiver.test"
	})

	ch, err := email.New(email.Config{
		Host:       "127.0.0.1",
		Port:       postfixPort,
		TLS:        email.TLSNone,
		HELOName:   "herald-test.localhost",
		PoolSize:   1,
		Timeout:    10 * time.Second,
		ReturnPath: func(m *dispatcher.Message) string { return signer().Address(m.DeliveryID) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })

	// A fresh delivery ID per run, so that a DSN left over from an earlier
	// run (Postfix retries deferred mail) is not mistaken for this one.
	n, err := rand.Int(rand.Reader, big.NewInt(1<<40))
	if err != nil {
		t.Fatal(err)
	}
	id := n.Int64() + 1
	m := &dispatcher.Message{
		DeliveryID: id,
		CampaignID: 1,
		Channel:    dispatcher.Email,
		To:         "nobody@dead.test",
		ToName:     "Nobody Here",
		Sender:     dispatcher.Sender{FromName: "Bolgen & Co personvern", FromEmail: "varsel@bolgen.example"},
		Subject:    "Viktig: datainnbrudd hos Bolgen & Co",
		Text:       "Hei,\n\nvi har oppdaget et datainnbrudd.\n",
		Locale:     "nb",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rcpt, err := ch.Send(ctx, m)
	if err != nil {
		t.Fatalf("Postfix refused the notice (it should accept it and bounce later): %v", err)
	}
	t.Logf("Postfix accepted delivery %d: %s %s", id, rcpt.Code, rcpt.Detail)

	for seen := 0; ; {
		evs, err := b.sink.waitFor(ctx, seen+1)
		if err != nil {
			t.Fatalf("no bounce for delivery %d within 60s (events %+v); see /var/log/postfix-herald-test.log and `postqueue -p`", id, evs)
		}
		for _, ev := range evs[seen:] {
			if ev.DeliveryID != id {
				t.Logf("ignoring an event for delivery %d from an earlier run", ev.DeliveryID)
				continue
			}
			if ev.Kind != dispatcher.EventBounce || ev.Class != dispatcher.Invalid || ev.Code != "5.1.1" ||
				ev.Address != "nobody@dead.test" || ev.Source != "dsn" {
				t.Fatalf("event %+v, want an invalid dsn bounce 5.1.1 for nobody@dead.test", ev)
			}
			t.Logf("Postfix's DSN arrived: %s %s %q", ev.Kind, ev.Code, ev.Diagnostic)
			if files := b.unmatched(t); len(files) != 0 {
				t.Errorf("messages kept as unmatched: %v", files)
			}
			return
		}
		seen = len(evs)
	}
}
