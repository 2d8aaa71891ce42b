package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// scriptChannel is a channel whose outcome per address is scripted.
type scriptChannel struct {
	kind    dispatcher.ChannelKind
	mu      sync.Mutex
	fail    map[string]error
	sent    []*dispatcher.Message
	delay   time.Duration
	attempt atomic.Int64
}

func (c *scriptChannel) Kind() dispatcher.ChannelKind { return c.kind }

func (c *scriptChannel) Send(ctx context.Context, m *dispatcher.Message) (dispatcher.Receipt, error) {
	c.attempt.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fail[m.To]; err != nil {
		return dispatcher.Receipt{}, err
	}
	c.sent = append(c.sent, m)
	return dispatcher.Receipt{ProviderID: "id-" + m.To, Code: "250"}, nil
}

func (c *scriptChannel) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// recordQueue records enqueued jobs.
type recordQueue struct {
	mu   sync.Mutex
	jobs []dispatcher.Job
}

func (q *recordQueue) Enqueue(_ context.Context, jobs ...dispatcher.Job) (dispatcher.EnqueueResult, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, jobs...)
	return dispatcher.EnqueueResult{Enqueued: len(jobs)}, nil
}

var campaignSeq atomic.Int64

type fixture struct {
	st    dispatcher.Store
	camp  *dispatcher.Campaign
	email *scriptChannel
	sms   *scriptChannel
	q     *recordQueue
	w     *dispatcher.Worker
}

// setup creates a running email,sms campaign with one contact per given
// e-mail address (each with a phone), queued for its first channel.
func setup(t *testing.T, st dispatcher.Store, contacts ...dispatcher.Contact) *fixture {
	t.Helper()
	ctx := context.Background()
	camp := &dispatcher.Campaign{Name: fmt.Sprintf("w%d", campaignSeq.Add(1)), DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
		Status: dispatcher.CampaignDraft, Sender: dispatcher.Sender{FromEmail: "hr@example.no", SMSFrom: "HR"},
		Settings: dispatcher.Settings{QuietHours: "off"}}
	ts := []dispatcher.Template{
		{Channel: dispatcher.Email, Locale: "en", Subject: "Notice {{.Campaign.IncidentRef}}", Text: "Dear {{.Name}}"},
		{Channel: dispatcher.SMS, Locale: "en", Text: "Hi {{.FirstName}}"},
	}
	if err := st.CreateCampaign(ctx, camp, ts); err != nil {
		t.Fatal(err)
	}
	res, err := st.ImportContacts(ctx, camp.ID, contacts, func(c *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(camp.Policy, c, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, d := range res.Deliveries {
		ids = append(ids, d.ID)
	}
	if err := st.MarkQueued(ctx, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCampaignStatus(ctx, camp.ID, []dispatcher.CampaignStatus{dispatcher.CampaignDraft}, dispatcher.CampaignRunning, time.Now()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, camp: camp, q: &recordQueue{},
		email: &scriptChannel{kind: dispatcher.Email, fail: map[string]error{}},
		sms:   &scriptChannel{kind: dispatcher.SMS, fail: map[string]error{}}}
	f.w = &dispatcher.Worker{Store: st, Queue: f.q, Channels: map[dispatcher.ChannelKind]dispatcher.Channel{dispatcher.Email: f.email, dispatcher.SMS: f.sms}}
	return f
}

func person(email, phone string) dispatcher.Contact {
	return dispatcher.Contact{Name: "Åse Kværnø", Email: email, Phone: phone, ExternalID: email + phone}
}

// deliveries returns the contact's deliveries by channel.
func (f *fixture) deliveries(t *testing.T, address string) map[dispatcher.ChannelKind]dispatcher.Delivery {
	t.Helper()
	cs, err := f.st.FindContacts(context.Background(), address)
	if err != nil || len(cs) != 1 {
		t.Fatalf("find %s: %v %v", address, cs, err)
	}
	ds, err := f.st.DeliveriesOf(context.Background(), cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[dispatcher.ChannelKind]dispatcher.Delivery{}
	for _, d := range ds {
		out[d.Channel] = d
	}
	return out
}

func (f *fixture) job(t *testing.T, address string, k dispatcher.ChannelKind) dispatcher.Job {
	t.Helper()
	d := f.deliveries(t, address)[k]
	j := dispatcher.JobOf(&d)
	j.MaxRetry = 3
	return j
}

func TestWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		invalid := &dispatcher.SendError{Class: dispatcher.Invalid, Code: "550 5.1.1", Diagnostic: "user unknown"}
		transient := &dispatcher.SendError{Class: dispatcher.Transient, Code: "451 4.7.1", Diagnostic: "try later"}

		t.Run("sent", func(t *testing.T) {
			f := setup(t, st, person("ok@example.no", "+4791234567"))
			if err := f.w.Handle(ctx, f.job(t, "ok@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			d := f.deliveries(t, "ok@example.no")[dispatcher.Email]
			if d.State != dispatcher.StateSent || d.ProviderID != "id-ok@example.no" || d.Address != "ok@example.no" {
				t.Errorf("delivery %+v", d)
			}
			if f.email.count() != 1 || f.email.sent[0].Subject != "Notice" || f.email.sent[0].DeliveryID != d.ID {
				t.Errorf("sent %+v", f.email.sent)
			}
			if _, ok := f.deliveries(t, "ok@example.no")[dispatcher.SMS]; ok {
				t.Error("an SMS delivery was planned for a reached contact")
			}
		})

		t.Run("invalid address falls back to SMS", func(t *testing.T) {
			f := setup(t, st, person("gone@example.no", "+4791234568"))
			f.email.fail["gone@example.no"] = invalid
			if err := f.w.Handle(ctx, f.job(t, "gone@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "gone@example.no")
			if ds[dispatcher.Email].State != dispatcher.StateBouncedHard || ds[dispatcher.Email].Code != "550 5.1.1" {
				t.Errorf("email %+v", ds[dispatcher.Email])
			}
			if ds[dispatcher.SMS].State != dispatcher.StateQueued || len(f.q.jobs) != 1 || f.q.jobs[0].DeliveryID != ds[dispatcher.SMS].ID {
				t.Fatalf("sms %+v, jobs %+v", ds[dispatcher.SMS], f.q.jobs)
			}
			if sup, err := st.IsSuppressed(ctx, dispatcher.Email, "gone@example.no"); err != nil || sup == nil || sup.Reason != "invalid" {
				t.Errorf("suppression %+v %v", sup, err)
			}
			if err := f.w.Handle(ctx, f.q.jobs[0]); err != nil {
				t.Fatal(err)
			}
			if got := f.deliveries(t, "gone@example.no")[dispatcher.SMS]; got.State != dispatcher.StateSent || f.sms.count() != 1 {
				t.Errorf("sms after fallback %+v", got)
			}
		})

		t.Run("transient is retried, then given up and falls back", func(t *testing.T) {
			f := setup(t, st, person("slow@example.no", "+4791234569"))
			f.email.fail["slow@example.no"] = transient
			j := f.job(t, "slow@example.no", dispatcher.Email)
			err := f.w.Handle(ctx, j)
			var snooze *dispatcher.SnoozeError
			if err == nil || errors.As(err, &snooze) {
				t.Fatalf("want a retryable error, got %v", err)
			}
			if d := f.deliveries(t, "slow@example.no")[dispatcher.Email]; d.State != dispatcher.StateQueued || d.Code != "451 4.7.1" {
				t.Errorf("after a transient failure %+v", d)
			}
			j.Retry = j.MaxRetry
			if err := f.w.Handle(ctx, j); err != nil {
				t.Fatalf("last try: %v", err)
			}
			ds := f.deliveries(t, "slow@example.no")
			if ds[dispatcher.Email].State != dispatcher.StateFailed || ds[dispatcher.SMS].State != dispatcher.StateQueued {
				t.Errorf("after the last try: %+v", ds)
			}
		})

		t.Run("provider asks to wait: snooze, not failure", func(t *testing.T) {
			f := setup(t, st, person("busy@example.no", "+4791234570"))
			f.email.fail["busy@example.no"] = &dispatcher.SendError{Class: dispatcher.Transient, Code: "429", RetryAfter: 3 * time.Second}
			var snooze *dispatcher.SnoozeError
			if err := f.w.Handle(ctx, f.job(t, "busy@example.no", dispatcher.Email)); !errors.As(err, &snooze) || snooze.After != 3*time.Second {
				t.Fatalf("got %v", err)
			}
			if d := f.deliveries(t, "busy@example.no")[dispatcher.Email]; d.State != dispatcher.StateQueued {
				t.Errorf("state %s", d.State)
			}
		})

		t.Run("permanent failure is not the contact's fault: no fallback", func(t *testing.T) {
			f := setup(t, st, person("relay@example.no", "+4791234571"))
			f.email.fail["relay@example.no"] = &dispatcher.SendError{Class: dispatcher.Permanent, Code: "554 5.7.1", Diagnostic: "relay denied"}
			if err := f.w.Handle(ctx, f.job(t, "relay@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "relay@example.no")
			if ds[dispatcher.Email].State != dispatcher.StateFailed || len(ds) != 1 {
				t.Errorf("%+v", ds)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "relay@example.no"); sup != nil {
				t.Error("a policy failure suppressed the address")
			}
		})

		t.Run("opted out number is suppressed", func(t *testing.T) {
			f := setup(t, st, person("", "+4791234572"))
			f.sms.fail["+4791234572"] = &dispatcher.SendError{Class: dispatcher.Suppressed, Code: "21610"}
			if err := f.w.Handle(ctx, f.job(t, "+4791234572", dispatcher.SMS)); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "+4791234572")
			if ds[dispatcher.SMS].State != dispatcher.StateSuppressed || ds[dispatcher.Email].State != dispatcher.StateSkipped {
				t.Errorf("%+v", ds)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.SMS, "+4791234572"); sup == nil || sup.Reason != "opted_out" {
				t.Errorf("suppression %+v", sup)
			}
		})

		t.Run("address already suppressed: not sent", func(t *testing.T) {
			f := setup(t, st, person("old@example.no", "+4791234573"))
			if err := st.Suppress(ctx, dispatcher.Suppression{Channel: dispatcher.Email, Address: "old@example.no", Reason: "invalid", Source: "earlier campaign", FirstSeen: time.Now(), LastSeen: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := f.w.Handle(ctx, f.job(t, "old@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "old@example.no")
			if f.email.count() != 0 || ds[dispatcher.Email].State != dispatcher.StateSuppressed || ds[dispatcher.SMS].State != dispatcher.StateQueued {
				t.Errorf("sent %d, %+v", f.email.count(), ds)
			}
		})

		t.Run("paused campaign snoozes; cancelled cancels", func(t *testing.T) {
			f := setup(t, st, person("p@example.no", "+4791234574"))
			ops := &dispatcher.Operations{Store: st}
			if err := ops.Pause(ctx, f.camp); err != nil {
				t.Fatal(err)
			}
			var snooze *dispatcher.SnoozeError
			if err := f.w.Handle(ctx, f.job(t, "p@example.no", dispatcher.Email)); !errors.As(err, &snooze) {
				t.Fatalf("paused: %v", err)
			}
			if _, err := ops.Cancel(ctx, f.camp); err != nil {
				t.Fatal(err)
			}
			w := &dispatcher.Worker{Store: st, Channels: f.w.Channels} // fresh cache
			if err := w.Handle(ctx, f.job(t, "p@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			if d := f.deliveries(t, "p@example.no")[dispatcher.Email]; d.State != dispatcher.StateCancelled || f.email.count() != 0 {
				t.Errorf("after cancel %+v, sent %d", d, f.email.count())
			}
		})

		t.Run("a job run many times at once sends once", func(t *testing.T) {
			f := setup(t, st, person("twice@example.no", "+4791234575"))
			f.email.delay = 20 * time.Millisecond
			j := f.job(t, "twice@example.no", dispatcher.Email)
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := f.w.Handle(ctx, j); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if f.email.count() != 1 {
				t.Errorf("sent %d times", f.email.count())
			}
			// A stale generation is a no-op too.
			j.Generation = 7
			if err := f.w.Handle(ctx, j); err != nil || f.email.count() != 1 {
				t.Errorf("stale job: %v, sent %d", err, f.email.count())
			}
		})
	})
}

func TestReconciler(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, person("a@example.no", "+4791234567"), person("b@example.no", "+4791234568"))
		// a: a worker claimed it an hour ago and died.
		da := f.deliveries(t, "a@example.no")[dispatcher.Email]
		if err := st.Transition(ctx, dispatcher.Transition{DeliveryID: da.ID, From: []dispatcher.State{dispatcher.StateQueued}, Generation: da.Generation,
			To: dispatcher.StateSending, NewAttempt: "dead", At: time.Now().Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		q := &recordQueue{}
		rec := &dispatcher.Reconciler{Store: st, Queue: q, StaleAfter: 10 * time.Minute}
		res, err := rec.Run(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Resent != 1 || res.Queued != 1 || len(q.jobs) != 2 {
			t.Fatalf("result %+v, jobs %+v", res, q.jobs)
		}
		da2 := f.deliveries(t, "a@example.no")[dispatcher.Email]
		if da2.State != dispatcher.StateQueued || da2.Generation != da.Generation+1 {
			t.Errorf("resent delivery %+v", da2)
		}
		// The old job is now stale; the new one sends.
		old := dispatcher.JobOf(&da)
		if err := f.w.Handle(ctx, old); err != nil || f.email.count() != 0 {
			t.Fatalf("old generation: %v, sent %d", err, f.email.count())
		}
		for _, j := range q.jobs {
			if err := f.w.Handle(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		if f.email.count() != 2 {
			t.Fatalf("sent %d", f.email.count())
		}
		res, err = rec.Run(ctx, false)
		if err != nil || res.Completed != 1 {
			t.Fatalf("completion: %+v %v", res, err)
		}
		if c, _ := st.Campaign(ctx, f.camp.ID); c.Status != dispatcher.CampaignCompleted {
			t.Errorf("status %s", c.Status)
		}
		evs, _ := st.Events(ctx, da.ID)
		var sawResend bool
		for _, e := range evs {
			if e.State == dispatcher.StateQueued && e.Diagnostic != "" {
				sawResend = true
			}
		}
		if !sawResend {
			t.Errorf("no event explains the resend: %+v", evs)
		}
	})
}
