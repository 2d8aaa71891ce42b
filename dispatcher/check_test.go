package dispatcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

func TestCheck(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		camp := &dispatcher.Campaign{Name: "check", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
			Status: dispatcher.CampaignDraft, Sender: dispatcher.Sender{FromEmail: "hr@example.no", SMSFrom: "HR"}}
		ts := []dispatcher.Template{
			{Channel: dispatcher.Email, Locale: "nb", Subject: "Varsel", Text: "Hei {{.FirstName}}, du jobbet i {{index .Attrs \"avdeling\"}}.{{with .Attrs.merknad}} {{.}}{{end}}"},
			{Channel: dispatcher.SMS, Locale: "nb", Text: "Hei {{.Name}}. Opplysninger om deg kan være lekket. Ring 23 96 03 92."},
		}
		if err := st.CreateCampaign(ctx, camp, ts); err != nil {
			t.Fatal(err)
		}
		contacts := []dispatcher.Contact{
			{Name: "Kari Nordmann", Email: "kari@example.no", Phone: "+4791234567", SourceRow: 2, Attrs: map[string]string{"avdeling": "Oslo"}},
			{Name: "Ola Nordmann", Email: "ola@example.no", SourceRow: 3, Attrs: map[string]string{"avdeling": ""}},
			{Name: "Åse Kværnø", Phone: "+4791234568", SourceRow: 4, Attrs: map[string]string{"avdeling": "Bergen"}},
			{Name: "Per Hansen", Email: "per@example.no", SourceRow: 5},
			{Name: strings.Repeat("Zofia Żółć 🙂 ", 12), Email: "zofia@example.pl", Phone: "+48512345678", SourceRow: 6, Locale: "pl", Attrs: map[string]string{"avdeling": "Gdańsk"}},
		}
		if _, err := st.ImportContacts(ctx, camp.ID, contacts, func(c *dispatcher.Contact) []dispatcher.Delivery {
			return dispatcher.Plan(camp.Policy, c, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		rep, err := dispatcher.Check(ctx, st, camp, dispatcher.CheckOptions{Workers: 3, MaxSMSSegments: 3})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Contacts != 5 || rep.Notices[dispatcher.Email] != 4 || rep.Notices[dispatcher.SMS] != 3 {
			t.Errorf("counts %+v", rep)
		}
		if rep.OK() {
			t.Fatal("check passed a campaign with missing variables")
		}
		var missing, long *dispatcher.CheckProblem
		for i, p := range rep.Problems {
			switch {
			case p.Kind == dispatcher.ProblemMissingVariable && p.Detail == "Attrs.avdeling":
				missing = &rep.Problems[i]
			case p.Kind == dispatcher.ProblemSMSTooLong:
				long = &rep.Problems[i]
			default:
				t.Errorf("unexpected problem %+v", p)
			}
		}
		if missing == nil || missing.Count != 2 || len(missing.Rows) != 2 || missing.Rows[0] != 3 || missing.Rows[1] != 5 || missing.Channel != dispatcher.Email || missing.Locale != "nb" {
			t.Errorf("missing variable: %+v", missing)
		}
		if long == nil || long.Count != 1 || long.Rows[0] != 6 {
			t.Errorf("long SMS: %+v", long)
		}
		if rep.SMSUCS2 != 1 || rep.SMSSegments < 3+1+1 {
			t.Errorf("SMS estimate: %d segments, %d UCS-2", rep.SMSSegments, rep.SMSUCS2)
		}
	})
}
