package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// sendAll runs every queued e-mail job of the fixture's contacts.
func (f *fixture) send(t *testing.T, address string) dispatcher.Delivery {
	t.Helper()
	if err := f.w.Handle(context.Background(), f.job(t, address, dispatcher.Email)); err != nil {
		t.Fatal(err)
	}
	return f.deliveries(t, address)[dispatcher.Email]
}

func TestOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

		t.Run("asynchronous hard bounce: invalid, suppressed, next channel, once", func(t *testing.T) {
			f := setup(t, st, person("late@example.no", "+4791000001"))
			d := f.send(t, "late@example.no")
			o := &dispatcher.Outcomes{Store: st, Queue: f.q}
			ev := dispatcher.ProviderEvent{DeliveryID: d.ID, Channel: dispatcher.Email, Kind: dispatcher.EventBounce, Class: dispatcher.Invalid,
				Code: "5.1.1", Diagnostic: "user unknown", Source: "dsn", Token: "dsn-1", At: at}
			if err := o.Apply(ctx, ev); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "late@example.no")
			if ds[dispatcher.Email].State != dispatcher.StateBouncedHard || ds[dispatcher.SMS].State != dispatcher.StatePending {
				t.Fatalf("after bounce: %+v", ds)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "late@example.no"); sup == nil || sup.Reason != "invalid" {
				t.Errorf("suppression %+v", sup)
			}
			// The same bounce again (a retried delivery of the DSN) changes nothing.
			if err := o.Apply(ctx, ev); err != nil || len(f.deliveries(t, "late@example.no")) != 2 {
				t.Errorf("duplicate: %v, %+v", err, f.deliveries(t, "late@example.no"))
			}
			ev.Token = ""
			if err := o.Apply(ctx, ev); err != nil || len(f.deliveries(t, "late@example.no")) != 2 {
				t.Errorf("second bounce without token: %v", err)
			}
			// The feeder hands the fallback over; it is sent once.
			f.drain(t)
			if got := f.deliveries(t, "late@example.no")[dispatcher.SMS]; got.State != dispatcher.StateSent || f.sms.count() != 1 {
				t.Errorf("fallback %+v, %d SMS", got, f.sms.count())
			}
		})

		t.Run("found by provider id; delivered", func(t *testing.T) {
			f := setup(t, st, person("fine@example.no", "+4791000002"))
			d := f.send(t, "fine@example.no")
			o := &dispatcher.Outcomes{Store: st, Queue: f.q}
			if err := o.Apply(ctx, dispatcher.ProviderEvent{ProviderID: d.ProviderID, Kind: dispatcher.EventDelivered, Source: "ses", At: at}); err != nil {
				t.Fatal(err)
			}
			if got := f.deliveries(t, "fine@example.no")[dispatcher.Email]; got.State != dispatcher.StateDelivered {
				t.Errorf("state %s", got.State)
			}
		})

		t.Run("unknown delivery is unmatched", func(t *testing.T) {
			o := &dispatcher.Outcomes{Store: st}
			for _, ev := range []dispatcher.ProviderEvent{{DeliveryID: 999999, Kind: dispatcher.EventBounce}, {ProviderID: "<nope@x>", Kind: dispatcher.EventBounce}, {Kind: dispatcher.EventBounce}} {
				if err := o.Apply(ctx, ev); !errors.Is(err, dispatcher.ErrUnmatched) {
					t.Errorf("%+v: %v", ev, err)
				}
			}
		})

		t.Run("soft bounces re-send later, then fall back", func(t *testing.T) {
			f := setup(t, st, person("full@example.no", "+4791000003"))
			o := &dispatcher.Outcomes{Store: st, Queue: f.q, SoftLimit: 2, SoftRetryAfter: time.Hour}
			d := f.send(t, "full@example.no")
			soft := dispatcher.ProviderEvent{DeliveryID: d.ID, Kind: dispatcher.EventBounce, Class: dispatcher.Transient, Code: "4.2.2", Diagnostic: "mailbox full", Source: "dsn", At: at}
			if err := o.Apply(ctx, soft); err != nil {
				t.Fatal(err)
			}
			d2 := f.deliveries(t, "full@example.no")[dispatcher.Email]
			if d2.State != dispatcher.StateQueued || d2.Generation != d.Generation+1 || !d2.NotBefore.Equal(at.Add(time.Hour)) || len(f.q.jobs) != 1 ||
				!f.q.jobs[0].NotBefore.Equal(at.Add(time.Hour)) || f.q.jobs[0].Items[0].Generation != d2.Generation {
				t.Fatalf("after one soft bounce: %+v, jobs %+v", d2, f.q.jobs)
			}
			if err := f.w.Handle(ctx, f.q.jobs[0]); err != nil {
				t.Fatal(err)
			}
			if err := o.Apply(ctx, soft); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "full@example.no")
			if ds[dispatcher.Email].State != dispatcher.StateBouncedSoft || ds[dispatcher.SMS].State != dispatcher.StatePending {
				t.Errorf("after the second soft bounce: %+v", ds)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "full@example.no"); sup != nil {
				t.Error("a soft bounce suppressed the address")
			}
		})

		t.Run("policy bounce fails the delivery without blaming the address", func(t *testing.T) {
			f := setup(t, st, person("blocked@example.no", "+4791000004"))
			d := f.send(t, "blocked@example.no")
			o := &dispatcher.Outcomes{Store: st, Queue: f.q}
			if err := o.Apply(ctx, dispatcher.ProviderEvent{DeliveryID: d.ID, Kind: dispatcher.EventBounce, Class: dispatcher.Permanent, Code: "5.7.1", Diagnostic: "blocked by spamhaus", Source: "dsn"}); err != nil {
				t.Fatal(err)
			}
			got := f.deliveries(t, "blocked@example.no")
			if got[dispatcher.Email].State != dispatcher.StateFailed || len(got) != 1 || !strings.Contains(got[dispatcher.Email].Diagnostic, "not the recipient's") {
				t.Errorf("%+v", got)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "blocked@example.no"); sup != nil {
				t.Error("a policy bounce suppressed the address")
			}
		})

		t.Run("an event before the send is recorded asks for a retry", func(t *testing.T) {
			f := setup(t, st, person("early@example.no", "+4791000005"))
			d := f.deliveries(t, "early@example.no")[dispatcher.Email]
			o := &dispatcher.Outcomes{Store: st, Queue: f.q}
			ev := dispatcher.ProviderEvent{DeliveryID: d.ID, Kind: dispatcher.EventDelivered, Source: "twilio", Token: "tw-early"}
			err := o.Apply(ctx, ev)
			if err == nil || errors.Is(err, dispatcher.ErrUnmatched) {
				t.Errorf("got %v", err)
			}
			// Once the send is recorded, the provider's retry of the same
			// event (same token) is applied, not dropped as a duplicate.
			f.send(t, "early@example.no")
			if err := o.Apply(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if got := f.deliveries(t, "early@example.no")[dispatcher.Email]; got.State != dispatcher.StateDelivered {
				t.Errorf("after the retried event: %s", got.State)
			}
		})

		t.Run("complaint: flagged, suppressed, and the guard pauses", func(t *testing.T) {
			var people []dispatcher.Contact
			for i := range 60 {
				people = append(people, person(fmt.Sprintf("c%d@example.no", i), ""))
			}
			f := setup(t, st, people...)
			for i := range 60 {
				f.send(t, fmt.Sprintf("c%d@example.no", i))
			}
			d := f.deliveries(t, "c7@example.no")[dispatcher.Email]
			o := &dispatcher.Outcomes{Store: st, Queue: f.q}
			if err := o.Apply(ctx, dispatcher.ProviderEvent{DeliveryID: d.ID, Kind: dispatcher.EventComplaint, Source: "arf"}); err != nil {
				t.Fatal(err)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "c7@example.no"); sup == nil || sup.Reason != "complaint" {
				t.Errorf("suppression %+v", sup)
			}
			c, _ := st.Campaign(ctx, f.camp.ID)
			if c.Status != dispatcher.CampaignPaused || !strings.Contains(c.Settings.PauseReason, "reported as spam") {
				t.Errorf("campaign %s, reason %q", c.Status, c.Settings.PauseReason)
			}
		})
	})
}

// TestGuardPausesStaleList: a list with 10 % dead mailboxes pauses itself
// once enough has been sent to judge, says why, and sends nothing more.
func TestGuardPausesStaleList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		var people []dispatcher.Contact
		for i := range 200 {
			people = append(people, person(fmt.Sprintf("p%d@example.no", i), ""))
		}
		f := setup(t, st, people...)
		for i := 0; i < 200; i += 10 {
			f.email.fail[fmt.Sprintf("p%d@example.no", i)] = &dispatcher.SendError{Class: dispatcher.Invalid, Code: "550 5.1.1"}
		}
		var snoozed int
		for i := range 200 {
			err := f.w.Handle(ctx, f.job(t, fmt.Sprintf("p%d@example.no", i), dispatcher.Email))
			var sn *dispatcher.SnoozeError
			switch {
			case errors.As(err, &sn):
				snoozed++
			case err != nil:
				t.Fatal(err)
			}
		}
		c, err := st.Campaign(ctx, f.camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != dispatcher.CampaignPaused || !strings.Contains(c.Settings.PauseReason, "mailbox does not exist") {
			t.Fatalf("campaign %s, reason %q", c.Status, c.Settings.PauseReason)
		}
		sent := f.email.count()
		if sent >= 150 || sent < dispatcher.DefaultGuardMinimum-10 || snoozed == 0 {
			t.Errorf("sent %d, snoozed %d: the guard should stop sending soon after %d sends", sent, snoozed, dispatcher.DefaultGuardMinimum)
		}
		t.Logf("guard paused after %d sends: %s", sent, c.Settings.PauseReason)
		// Resume clears the reason.
		ops := &dispatcher.Operations{Store: st}
		if err := ops.Resume(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c, _ := st.Campaign(ctx, f.camp.ID); c.Status != dispatcher.CampaignRunning || c.Settings.PauseReason != "" {
			t.Errorf("after resume: %s %q", c.Status, c.Settings.PauseReason)
		}
	})
}
