package dispatcher_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/starter"
	"github.com/heraldhq/herald/store/storetest"
)

// BenchmarkCheck runs the campaign check over a campaign of 100,000
// contacts (HERALD_BENCH_CHECK_CONTACTS overrides) with the starter
// notices in English and Norwegian (e-mail with an HTML part, and SMS),
// every contact with an e-mail address and a phone number, so that two
// notices are rendered per contact. It reports contacts/s: the console
// and the API decide from it how long a launch may wait for its check.
//
//	go test -run '^$' -bench Check -benchtime 3x ./dispatcher/
func BenchmarkCheck(b *testing.B) {
	n := 100_000
	if v := os.Getenv("HERALD_BENCH_CHECK_CONTACTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("HERALD_BENCH_CHECK_CONTACTS=%q: give a number of contacts", v)
		}
	}
	for _, backend := range []struct {
		name string
		open func(testing.TB) dispatcher.Store
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(backend.name, func(b *testing.B) {
			st := backend.open(b)
			c := checkCampaign(b, st, n)
			for _, workers := range []int{1, 2, 4} {
				b.Run(fmt.Sprintf("workers-%d", workers), func(b *testing.B) {
					for b.Loop() {
						rep, err := dispatcher.Check(context.Background(), st, c, dispatcher.CheckOptions{Workers: workers})
						if err != nil {
							b.Fatal(err)
						}
						if rep.Contacts != n {
							b.Fatalf("checked %d contacts, want %d", rep.Contacts, n)
						}
					}
					b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "contacts/s")
				})
			}
		})
	}
}

// checkCampaign makes a draft campaign with the starter notices and n
// contacts.
func checkCampaign(b *testing.B, st dispatcher.Store, n int) *dispatcher.Campaign {
	b.Helper()
	ctx := context.Background()
	ts, err := starter.Templates("en", "nb")
	if err != nil {
		b.Fatal(err)
	}
	c := &dispatcher.Campaign{Name: "check-bench", IncidentRef: "INC-1", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
		Sender: dispatcher.Sender{FromName: "Clinic", FromEmail: "privacy@clinic.example", SMSFrom: "Clinic"}}
	if err := st.CreateCampaign(ctx, c, ts); err != nil {
		b.Fatal(err)
	}
	plan := func(ct *dispatcher.Contact) []dispatcher.Delivery { return dispatcher.Plan(c.Policy, ct, time.Now()) }
	const batch = 1000
	page := make([]dispatcher.Contact, 0, batch)
	for i := range n {
		locale := "en"
		if i%3 == 0 {
			locale = "nb"
		}
		page = append(page, dispatcher.Contact{ExternalID: fmt.Sprintf("P%08d", i), Name: fmt.Sprintf("Person Number %d", i),
			Email: fmt.Sprintf("person%d@example.org", i), Phone: fmt.Sprintf("+4791%06d", i), Locale: locale, Country: "NO",
			SourceRow: i + 2, Attrs: map[string]string{"ward": "Cardiology"}})
		if len(page) == batch || i == n-1 {
			if _, err := st.ImportContacts(ctx, c.ID, page, plan); err != nil {
				b.Fatal(err)
			}
			page = page[:0]
		}
	}
	return c
}
