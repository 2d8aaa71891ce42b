package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

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
			if d.State != dispatcher.StateSent || d.ProviderID != "id-ok@example.no" || d.Address != "ok@example.no" || d.Code != "250" {
				t.Errorf("delivery %+v", d)
			}
			if f.email.count() != 1 || f.email.sent[0].Subject != "Notice" || f.email.sent[0].DeliveryID != d.ID {
				t.Errorf("sent %+v", f.email.sent)
			}
			if _, ok := f.deliveries(t, "ok@example.no")[dispatcher.SMS]; ok {
				t.Error("an SMS delivery was planned for a reached contact")
			}
			evs, _ := st.Events(ctx, d.ID)
			if got := statesOf(evs); got != "pending,sent" {
				t.Errorf("events %s, want the plan and the send", got)
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
			// The fallback is planned in the same transaction, pending for
			// the feeder.
			if ds[dispatcher.SMS].State != dispatcher.StatePending || len(f.q.jobs) != 0 {
				t.Fatalf("sms %+v, jobs %+v", ds[dispatcher.SMS], f.q.jobs)
			}
			if sup, err := st.IsSuppressed(ctx, dispatcher.Email, "gone@example.no"); err != nil || sup == nil || sup.Reason != "invalid" {
				t.Errorf("suppression %+v %v", sup, err)
			}
			f.drain(t)
			if got := f.deliveries(t, "gone@example.no")[dispatcher.SMS]; got.State != dispatcher.StateSent || f.sms.count() != 1 {
				t.Errorf("sms after fallback %+v", got)
			}
		})

		t.Run("transient is retried later, then given up and falls back", func(t *testing.T) {
			f := setup(t, st, person("slow@example.no", "+4791234569"))
			f.email.fail["slow@example.no"] = transient
			before := time.Now()
			if err := f.w.Handle(ctx, f.job(t, "slow@example.no", dispatcher.Email)); err != nil {
				t.Fatalf("a delivery's failure failed the job: %v", err)
			}
			d := f.deliveries(t, "slow@example.no")[dispatcher.Email]
			if d.State != dispatcher.StateQueued || d.Code != "451 4.7.1" || !d.NotBefore.After(before) {
				t.Errorf("after a transient failure %+v", d)
			}
			if len(f.q.jobs) != 1 || f.q.jobs[0].Tries != 1 || !f.q.jobs[0].NotBefore.Equal(d.NotBefore) {
				t.Fatalf("retry jobs %+v; want one, its first retry, held until %v", f.q.jobs, d.NotBefore)
			}
			evs, _ := st.Events(ctx, d.ID)
			if last := evs[len(evs)-1]; last.State != dispatcher.StateQueued || !strings.Contains(last.Diagnostic, "will retry") {
				t.Errorf("no event tells support it will be retried: %+v", evs)
			}
			// A duplicate of the retry job before it is due finds nothing.
			if err := f.w.Handle(ctx, f.q.jobs[0]); err != nil || f.email.attempt.Load() != 1 {
				t.Fatalf("early retry: %v, %d attempts", err, f.email.attempt.Load())
			}
			// Due: the last try fails too, and the channel is given up.
			later := d.NotBefore.Add(time.Second)
			f.w.Now = func() time.Time { return later }
			last := f.q.jobs[0]
			last.Tries = 3
			if err := f.w.Handle(ctx, last); err != nil {
				t.Fatalf("last try: %v", err)
			}
			ds := f.deliveries(t, "slow@example.no")
			if ds[dispatcher.Email].State != dispatcher.StateFailed || !strings.Contains(ds[dispatcher.Email].Diagnostic, "gave up after 4 tries") ||
				ds[dispatcher.SMS].State != dispatcher.StatePending {
				t.Errorf("after the last try: %+v", ds)
			}
		})

		t.Run("provider asks to wait: later, not a try", func(t *testing.T) {
			f := setup(t, st, person("busy@example.no", "+4791234570"))
			f.email.fail["busy@example.no"] = &dispatcher.SendError{Class: dispatcher.Transient, Code: "429", RetryAfter: 3 * time.Second}
			now := time.Now()
			f.w.Now = func() time.Time { return now }
			if err := f.w.Handle(ctx, f.job(t, "busy@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			if d := f.deliveries(t, "busy@example.no")[dispatcher.Email]; d.State != dispatcher.StateQueued {
				t.Errorf("state %s", d.State)
			}
			if len(f.q.jobs) != 1 || f.q.jobs[0].Tries != 0 || !f.q.jobs[0].NotBefore.Equal(now.Add(3*time.Second).Truncate(time.Microsecond)) {
				t.Errorf("jobs %+v; want one held 3s, not counted as a try", f.q.jobs)
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
			if err := st.Suppress(ctx, dispatcher.Suppression{Channel: dispatcher.Email, Address: "OLD@example.no", Reason: "invalid", Source: "earlier campaign", FirstSeen: time.Now(), LastSeen: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := f.w.Handle(ctx, f.job(t, "old@example.no", dispatcher.Email)); err != nil {
				t.Fatal(err)
			}
			ds := f.deliveries(t, "old@example.no")
			if f.email.count() != 0 || ds[dispatcher.Email].State != dispatcher.StateSuppressed || ds[dispatcher.SMS].State != dispatcher.StatePending {
				t.Errorf("sent %d, %+v", f.email.count(), ds)
			}
		})

		t.Run("one batch, every outcome", func(t *testing.T) {
			f := setup(t, st,
				person("b-ok@example.no", "+4791230001"), person("b-gone@example.no", "+4791230002"),
				person("b-slow@example.no", "+4791230003"), person("b-old@example.no", "+4791230004"),
				person("b-ok2@example.no", ""))
			f.email.fail["b-gone@example.no"] = invalid
			f.email.fail["b-slow@example.no"] = transient
			if err := st.Suppress(ctx, dispatcher.Suppression{Channel: dispatcher.Email, Address: "b-old@example.no", Reason: "complaint", Source: "test"}); err != nil {
				t.Fatal(err)
			}
			f.w.Parallel = 3
			j := f.jobOf(t, dispatcher.Email, "b-ok@example.no", "b-gone@example.no", "b-slow@example.no", "b-old@example.no", "b-ok2@example.no")
			if len(j.Items) != 5 {
				t.Fatalf("job %+v", j)
			}
			if err := f.w.Handle(ctx, j); err != nil {
				t.Fatal(err)
			}
			want := map[string]dispatcher.State{"b-ok@example.no": dispatcher.StateSent, "b-gone@example.no": dispatcher.StateBouncedHard,
				"b-slow@example.no": dispatcher.StateQueued, "b-old@example.no": dispatcher.StateSuppressed, "b-ok2@example.no": dispatcher.StateSent}
			for a, w := range want {
				if got := f.deliveries(t, a)[dispatcher.Email]; got.State != w {
					t.Errorf("%s: %s, want %s", a, got.State, w)
				}
			}
			for _, a := range []string{"b-gone@example.no", "b-old@example.no"} {
				if got := f.deliveries(t, a)[dispatcher.SMS]; got.State != dispatcher.StatePending {
					t.Errorf("%s fallback: %+v", a, got)
				}
			}
			if f.email.count() != 2 || len(f.q.jobs) != 1 || len(f.q.jobs[0].Items) != 1 {
				t.Errorf("sent %d, retry jobs %+v", f.email.count(), f.q.jobs)
			}
			if sup, _ := st.IsSuppressed(ctx, dispatcher.Email, "b-gone@example.no"); sup == nil {
				t.Error("the bounced address is not suppressed")
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
			f := setup(t, st, person("twice@example.no", "+4791234575"), person("twice2@example.no", ""))
			f.email.delay = 20 * time.Millisecond
			j := f.jobOf(t, dispatcher.Email, "twice@example.no", "twice2@example.no")
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					if err := f.w.Handle(ctx, j); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if f.email.count() != 2 {
				t.Errorf("sent %d times, want each of 2 once", f.email.count())
			}
			// A stale generation is a no-op too.
			j.Items[0].Generation = 7
			if err := f.w.Handle(ctx, j); err != nil || f.email.count() != 2 {
				t.Errorf("stale job: %v, sent %d", err, f.email.count())
			}
		})
	})
}

// TestWorkerQuietHours: an SMS whose recipient is in quiet hours is handed
// back to the queue until the morning, without an attempt on record.
func TestWorkerQuietHours(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	f := setup(t, st, person("", "+4791000021"), person("", "+15125550123"))
	c, _ := st.Campaign(ctx, f.camp.ID)
	c.Settings.QuietHours = "08:00-21:00"
	if err := st.SetCampaignSettings(ctx, c.ID, c.Settings); err != nil {
		t.Fatal(err)
	}
	oslo, _ := time.LoadLocation("Europe/Oslo")
	night := time.Date(2026, 11, 22, 23, 30, 0, 0, oslo) // 16:30 in Texas
	f.w.Now = func() time.Time { return night }
	if err := f.w.Handle(ctx, f.jobOf(t, dispatcher.SMS, "+4791000021", "+15125550123")); err != nil {
		t.Fatal(err)
	}
	no := f.deliveries(t, "+4791000021")[dispatcher.SMS]
	if no.State != dispatcher.StateQueued || no.NotBefore.Before(night.Add(8*time.Hour+30*time.Minute)) || no.NotBefore.After(night.Add(8*time.Hour+37*time.Minute)) {
		t.Errorf("Norwegian SMS at 23:30 = %+v, want queued until about 08:00", no)
	}
	if evs, _ := st.Events(ctx, no.ID); statesOf(evs) != "pending" {
		t.Errorf("quiet hours recorded an attempt: %s", statesOf(evs))
	}
	if us := f.deliveries(t, "+15125550123")[dispatcher.SMS]; us.State != dispatcher.StateSent || f.sms.count() != 1 {
		t.Errorf("Texan SMS at 16:30 local = %+v", us)
	}
	if len(f.q.jobs) != 1 || !f.q.jobs[0].NotBefore.Equal(no.NotBefore) || f.q.jobs[0].Tries != 0 {
		t.Fatalf("jobs %+v", f.q.jobs)
	}
	morning := no.NotBefore.Add(time.Minute)
	f.w.Now = func() time.Time { return morning }
	if err := f.w.Handle(ctx, f.q.jobs[0]); err != nil || f.sms.count() != 2 {
		t.Fatalf("SMS in the morning: %v, sent %d", err, f.sms.count())
	}
}

func statesOf(es []dispatcher.Event) string {
	var s []string
	for _, e := range es {
		s = append(s, string(e.State))
	}
	return strings.Join(s, ",")
}

func TestReconciler(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, person("a@example.no", "+4791234567"), person("b@example.no", "+4791234568"))
		// a: a worker claimed it an hour ago and died.
		da := f.deliveries(t, "a@example.no")[dispatcher.Email]
		claimed, err := st.Claim(ctx, dispatcher.Claim{Items: []dispatcher.JobItem{{DeliveryID: da.ID}}, Attempt: "dead", At: time.Now().Add(-time.Hour)})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v, %v", claimed, err)
		}
		rec := &dispatcher.Reconciler{Store: st, Queue: f.q, StaleAfter: 10 * time.Minute}
		res, err := rec.Run(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Resent != 1 || len(f.q.jobs) != 1 || !slices.Equal(itemsOf(f.q.jobs...), []int64{da.ID}) {
			t.Fatalf("result %+v, jobs %+v", res, f.q.jobs)
		}
		da2 := f.deliveries(t, "a@example.no")[dispatcher.Email]
		if da2.State != dispatcher.StateQueued || da2.Generation != da.Generation+1 {
			t.Errorf("resent delivery %+v", da2)
		}
		// The old job is now stale; the new one sends.
		if err := f.w.Handle(ctx, dispatcher.NewJob(da)); err != nil || f.email.count() != 0 {
			t.Fatalf("old generation: %v, sent %d", err, f.email.count())
		}
		f.drain(t)
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
			if e.State == dispatcher.StateQueued && strings.Contains(e.Diagnostic, "sending again") {
				sawResend = true
			}
		}
		if !sawResend {
			t.Errorf("no event explains the resend: %+v", evs)
		}
	})
}

// TestReconcilerFullPass: `herald reconcile` queues every queued delivery
// again, each job held back until its delivery is due, and rewinds the
// feed cursors.
func TestReconcilerFullPass(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	f := setup(t, st, person("q1@example.no", ""), person("q2@example.no", ""), person("p@example.no", ""))
	later := time.Now().Add(3 * time.Hour).Truncate(time.Minute).Add(time.Minute)
	for i, a := range []string{"q1@example.no", "q2@example.no"} {
		d := f.deliveries(t, a)[dispatcher.Email]
		tr := dispatcher.Transition{DeliveryID: d.ID, From: []dispatcher.State{dispatcher.StatePending}, To: dispatcher.StateQueued}
		if i == 1 {
			tr.NotBefore = later
		}
		if err := st.Transition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := f.q.AdvanceFed(ctx, f.camp.ID, dispatcher.Email, 0, 1<<40); !ok {
		t.Fatal("cursor")
	}
	res, err := (&dispatcher.Reconciler{Store: st, Queue: f.q}).Run(ctx, true)
	if err != nil || res.Queued != 2 {
		t.Fatalf("full pass: %+v, %v", res, err)
	}
	if fed, _ := f.q.Fed(ctx, f.camp.ID, dispatcher.Email); fed != 0 {
		t.Errorf("cursor %d after a full pass, want rewound", fed)
	}
	var due, held int
	for _, j := range f.q.jobs {
		switch {
		case j.NotBefore.IsZero():
			due++
		case j.NotBefore.Equal(later):
			held++
		default:
			t.Errorf("job %+v", j)
		}
	}
	if due != 1 || held != 1 {
		t.Errorf("jobs %+v: want one due now and one held until %v", f.q.jobs, later)
	}
}

// failingSuppressions is a store whose suppression look-up fails, the
// first n times.
type failingSuppressions struct {
	dispatcher.Store
	n int
}

func (s *failingSuppressions) SuppressedAmong(ctx context.Context, k dispatcher.ChannelKind, addrs []string) (map[string]dispatcher.Suppression, error) {
	if s.n > 0 {
		s.n--
		return nil, errors.New("connection reset by peer")
	}
	return s.Store.SuppressedAmong(ctx, k, addrs)
}

// TestWorkerHandsClaimsBackWhenItCannotSend: a batch that fails before
// anything is sent (the ledger did not answer) leaves its deliveries
// claimable, not in sending for the reconciler; the job run again sends
// them.
func TestWorkerHandsClaimsBackWhenItCannotSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		f := setup(t, st, person("c1@example.no", ""), person("c2@example.no", ""))
		f.w.Store = &failingSuppressions{Store: st, n: 1}
		j := f.jobOf(t, dispatcher.Email, "c1@example.no", "c2@example.no")
		if err := f.w.Handle(ctx, j); err == nil {
			t.Fatal("the job succeeded although the ledger failed")
		}
		for _, a := range []string{"c1@example.no", "c2@example.no"} {
			d := f.deliveries(t, a)[dispatcher.Email]
			if d.State != dispatcher.StateQueued || d.Attempt != "" {
				t.Errorf("%s after the failure: %+v, want queued and unheld", a, d)
			}
			if evs, _ := st.Events(ctx, d.ID); statesOf(evs) != "pending" {
				t.Errorf("%s history %s: the failed run left a trace", a, statesOf(evs))
			}
		}
		if err := f.w.Handle(ctx, j); err != nil {
			t.Fatal(err)
		}
		if f.email.count() != 2 {
			t.Errorf("sent %d after the job ran again, want 2", f.email.count())
		}
	})
}

// TestScheduledLaunchRunsTheCheck: the reconciler launches a scheduled
// draft only if its notices still pass the campaign check; otherwise the
// schedule is cleared and the reason kept for the operator.
func TestScheduledLaunchRunsTheCheck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		for _, tc := range []struct {
			name   string
			text   string
			launch bool
		}{
			{"passes", "Dear {{.Name}}", true},
			{"fails", "Dear {{index .Attrs \"avdeling\"}}", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				camp := &dispatcher.Campaign{Name: fmt.Sprintf("sched%d", campaignSeq.Add(1)), DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email},
					Status: dispatcher.CampaignDraft, Sender: dispatcher.Sender{FromEmail: "hr@example.no"},
					Settings: dispatcher.Settings{QuietHours: "off", ScheduledAt: time.Now().Add(-time.Minute)}}
				ts := []dispatcher.Template{{Channel: dispatcher.Email, Locale: "en", Subject: "Notice", Text: tc.text}}
				if err := st.CreateCampaign(ctx, camp, ts); err != nil {
					t.Fatal(err)
				}
				if _, err := st.ImportContacts(ctx, camp.ID, []dispatcher.Contact{person("s@example.no", "")}, func(c *dispatcher.Contact) []dispatcher.Delivery {
					return dispatcher.Plan(camp.Policy, c, time.Now())
				}); err != nil {
					t.Fatal(err)
				}
				res, err := (&dispatcher.Reconciler{Store: st}).Run(ctx, false)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := st.Campaign(ctx, camp.ID)
				if tc.launch {
					if res.Launched != 1 || got.Status != dispatcher.CampaignRunning {
						t.Errorf("launched %d, status %s", res.Launched, got.Status)
					}
					return
				}
				if res.Launched != 0 || got.Status != dispatcher.CampaignDraft || !got.Settings.ScheduledAt.IsZero() ||
					!strings.Contains(got.Settings.PauseReason, "campaign check found problems") {
					t.Errorf("launched %d, status %s, schedule %v, reason %q", res.Launched, got.Status, got.Settings.ScheduledAt, got.Settings.PauseReason)
				}
				// A launch after the fix clears the reason.
				if err := (&dispatcher.Operations{Store: st, Actor: "test"}).LaunchForced(ctx, got, "fixed by hand"); err != nil {
					t.Fatal(err)
				}
				if again, _ := st.Campaign(ctx, camp.ID); again.Settings.PauseReason != "" {
					t.Errorf("reason %q after the launch", again.Settings.PauseReason)
				}
			})
		}
	})
}
