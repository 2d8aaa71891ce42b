package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// racingStore saves an operator's edit between ChangeCampaign's read and
// its write, once, as a console user saving at the wrong moment would.
type racingStore struct {
	dispatcher.Store
	raced atomic.Bool
	edit  func(ctx context.Context, st dispatcher.Store) error
}

func (r *racingStore) UpdateCampaign(ctx context.Context, c *dispatcher.Campaign, from []dispatcher.CampaignStatus) error {
	if r.raced.CompareAndSwap(false, true) {
		if err := r.edit(ctx, r.Store); err != nil {
			return err
		}
	}
	return r.Store.UpdateCampaign(ctx, c, from)
}

// TestChangeCampaignKeepsConcurrentEdits: herald's own change (here a
// schedule) and an operator's edit saved between its read and its write
// both survive: the compare-and-set fails once and the change is applied
// again to the edited campaign.
func TestChangeCampaignKeepsConcurrentEdits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		c := &dispatcher.Campaign{Name: "cas", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.SMS}, Sender: dispatcher.Sender{SMSFrom: "HR"}}
		if err := st.CreateCampaign(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		rs := &racingStore{Store: st, edit: func(ctx context.Context, st dispatcher.Store) error {
			cur, err := st.Campaign(ctx, c.ID)
			if err != nil {
				return err
			}
			cur.Settings.QuietHours = "off"
			return st.UpdateCampaign(ctx, cur, []dispatcher.CampaignStatus{dispatcher.CampaignDraft})
		}}
		when := time.Date(2026, 12, 24, 8, 0, 0, 0, time.UTC)
		calls := 0
		got, err := dispatcher.ChangeCampaign(ctx, rs, c.ID, func(cur *dispatcher.Campaign) error {
			calls++
			cur.Settings.ScheduledAt = when
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Errorf("change applied %d times, want 2 (once more after the concurrent edit)", calls)
		}
		now, err := st.Campaign(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !now.Settings.ScheduledAt.Equal(when) || now.Settings.QuietHours != "off" || got.Revision != now.Revision {
			t.Errorf("after the change: %+v (returned revision %q, ledger %q)", now.Settings, got.Revision, now.Revision)
		}

		// change may refuse, and nothing is written.
		refused := errors.New("not now")
		if _, err := dispatcher.ChangeCampaign(ctx, st, c.ID, func(cur *dispatcher.Campaign) error {
			cur.Settings.QuietHours = "09:00-10:00"
			return refused
		}); !errors.Is(err, refused) {
			t.Errorf("refused change: %v", err)
		}
		if again, _ := st.Campaign(ctx, c.ID); again.Settings.QuietHours != "off" {
			t.Errorf("a refused change was written: %+v", again.Settings)
		}
	})
}

// TestLaunchAudits: a launch after a passed check records the check's
// summary; a forced launch is its own action with the reasons.
func TestLaunchAudits(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	ops := &dispatcher.Operations{Store: st, Actor: "kari"}
	for _, name := range []string{"checked", "forced"} {
		c := &dispatcher.Campaign{Name: name, DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.SMS}, Sender: dispatcher.Sender{SMSFrom: "HR"}}
		if err := st.CreateCampaign(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		var err error
		if name == "checked" {
			err = ops.LaunchChecked(ctx, c, "3 contacts checked; no problems")
		} else {
			err = ops.LaunchForced(ctx, c, "placeholder in sms/nb; reason: the hotline number is right")
		}
		if err != nil || c.Status != dispatcher.CampaignRunning {
			t.Fatalf("launch %s: %v (status %s)", name, err, c.Status)
		}
		if err := ops.LaunchForced(ctx, c, "again"); dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
			t.Errorf("second launch of %s: %v, want ECONFLICT", name, err)
		}
	}
	es, err := st.(dispatcher.UserStore).AuditLog(ctx, dispatcher.AuditQuery{Action: "campaign."})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.Action+" "+e.Subject] = e.Actor + ": " + e.Detail
	}
	if got["campaign.launch checked"] != "kari: 3 contacts checked; no problems" ||
		!strings.HasPrefix(got["campaign.launch_forced forced"], "kari: placeholder in sms/nb") || len(got) != 2 {
		t.Errorf("audit: %v", got)
	}
}

// TestCheckProgressAndSummary: Progress counts every contact, the report
// knows the last contact it saw, and the summary names problems, never
// people.
func TestCheckProgressAndSummary(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	c := &dispatcher.Campaign{Name: "progress", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.Email}, Sender: dispatcher.Sender{FromEmail: "hr@example.no"}}
	if err := st.CreateCampaign(ctx, c, []dispatcher.Template{{Channel: dispatcher.Email, Locale: "nb", Subject: "Varsel «organisasjon»",
		Text: "Hei {{.FirstName}}, {{index .Attrs \"avdeling\"}}"}}); err != nil {
		t.Fatal(err)
	}
	var contacts []dispatcher.Contact
	for i := range 2500 {
		ct := dispatcher.Contact{Name: "Ola Nordmann", Email: fmt.Sprintf("ola%d@example.no", i), ExternalID: fmt.Sprintf("E%d", i), SourceRow: i + 2,
			Attrs: map[string]string{"avdeling": "Oslo"}}
		if i%1000 == 0 {
			ct.Attrs = nil
		}
		contacts = append(contacts, ct)
	}
	res, err := st.ImportContacts(ctx, c.ID, contacts, func(ct *dispatcher.Contact) []dispatcher.Delivery { return dispatcher.Plan(c.Policy, ct, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64
	rep, err := dispatcher.Check(ctx, st, c, dispatcher.CheckOptions{Workers: 2, Progress: func(n int64) {
		for {
			if cur := last.Load(); n <= cur || last.CompareAndSwap(cur, n) {
				return
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if int(last.Load()) != res.Inserted || rep.Contacts != res.Inserted {
		t.Errorf("progress reached %d, report %d, imported %d", last.Load(), rep.Contacts, res.Inserted)
	}
	page, err := st.Contacts(ctx, c.ID, rep.LastContactID, 1)
	if err != nil || len(page) != 0 || rep.LastContactID == 0 {
		t.Errorf("contacts after the last checked (%d): %v, %v", rep.LastContactID, page, err)
	}
	sum := rep.Summary()
	for _, want := range []string{fmt.Sprintf("%d contacts checked", res.Inserted), "notices rendered: email", "2 kinds of problem", "placeholder in email/nb: fill in «organisasjon» (1)", "missing-variable in email/nb: Attrs.avdeling (3)"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "Ola") || strings.Contains(sum, "@example.no") {
		t.Errorf("summary names a person: %s", sum)
	}
}
