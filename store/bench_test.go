package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// BenchmarkImportContacts imports batches of 1,000 contacts with one
// pending delivery (and its creation event) each, and reports rows/s
// (contacts per second).
//
//	go test -run '^$' -bench ImportContacts -benchtime 20x ./store/
func BenchmarkImportContacts(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchImport(b, filepath.Join(b.TempDir(), "bench.db"))
	})
	b.Run("postgres-copy", func(b *testing.B) {
		benchImport(b, storetest.PostgresURL(b))
	})
	b.Run("postgres-multirow", func(b *testing.B) {
		benchImport(b, storetest.PostgresURL(b), store.WithoutCopy())
	})
}

func benchImport(b *testing.B, url string, opts ...store.Option) {
	const batch = 1000
	ctx := context.Background()
	s, err := store.Open(ctx, url, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &dispatcher.Campaign{Name: "bench", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email}}
	if err := s.CreateCampaign(ctx, c, nil); err != nil {
		b.Fatal(err)
	}
	plan := func(ct *dispatcher.Contact) []dispatcher.Delivery { return dispatcher.Plan(c.Policy, ct, time.Now()) }
	contacts := make([]dispatcher.Contact, batch)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range contacts {
			n := i*batch + j
			contacts[j] = dispatcher.Contact{
				ExternalID: fmt.Sprintf("EMP%08d", n), Name: fmt.Sprintf("Person %d", n),
				Email: fmt.Sprintf("person%d@example.org", n), Phone: fmt.Sprintf("+479%07d", n),
				Locale: "nb", Country: "NO", SourceRow: n + 2, Attrs: map[string]string{"dept": "HR"},
			}
		}
		res, err := s.ImportContacts(ctx, c.ID, contacts, plan)
		if err != nil {
			b.Fatal(err)
		}
		if res.Inserted != batch || len(res.Deliveries) != batch {
			b.Fatalf("inserted %d with %d deliveries", res.Inserted, len(res.Deliveries))
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReport computes the report of a campaign of 100,000 contacts,
// half of whose deliveries are queued; it shows the report stays in SQL.
//
//	go test -run '^$' -bench Report -benchtime 5x ./store/
func BenchmarkReport(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchReport(b, filepath.Join(b.TempDir(), "bench.db")) })
	b.Run("postgres", func(b *testing.B) { benchReport(b, storetest.PostgresURL(b)) })
}

func benchReport(b *testing.B, url string) {
	const contacts = 100_000
	ctx := context.Background()
	s, c, ids := bigCampaign(b, url, contacts)
	b.Run("report", func(b *testing.B) {
		for b.Loop() {
			rep, err := s.Report(ctx, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Contacts != contacts || rep.InProgress != contacts {
				b.Fatalf("report = %+v", rep)
			}
		}
	})
	b.Run("last-page", func(b *testing.B) {
		// the reconciler's page at the end of the campaign
		after := ids[len(ids)-1001]
		for b.Loop() {
			page, err := s.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: c.ID, States: dispatcher.Unfinished, AfterID: after, Limit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			if len(page) != 1000 {
				b.Fatalf("page of %d", len(page))
			}
		}
	})
}

// bigCampaign makes a campaign of n contacts with one e-mail delivery each,
// the first half of them queued.
func bigCampaign(b *testing.B, url string, n int) (*store.DB, *dispatcher.Campaign, []int64) {
	ctx := context.Background()
	s, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	c := &dispatcher.Campaign{Name: "big", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}}
	if err := s.CreateCampaign(ctx, c, nil); err != nil {
		b.Fatal(err)
	}
	plan := func(ct *dispatcher.Contact) []dispatcher.Delivery { return dispatcher.Plan(c.Policy, ct, time.Now()) }
	var ids []int64
	batch := make([]dispatcher.Contact, 1000)
	for i := 0; i < n; i += len(batch) {
		for j := range batch {
			batch[j] = dispatcher.Contact{ExternalID: fmt.Sprint(i + j), Email: fmt.Sprintf("p%d@example.org", i+j)}
		}
		res, err := s.ImportContacts(ctx, c.ID, batch, plan)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range res.Deliveries {
			ids = append(ids, d.ID)
		}
	}
	ts := make([]dispatcher.Transition, n/2)
	for i, id := range ids[:n/2] {
		ts[i] = dispatcher.Transition{DeliveryID: id, From: []dispatcher.State{dispatcher.StatePending}, To: dispatcher.StateQueued, At: time.Now()}
	}
	if _, _, err := s.Transitions(ctx, ts, nil); err != nil {
		b.Fatal(err)
	}
	return s, c, ids
}

// BenchmarkSendPath is a worker's ledger work for one batch of 100
// deliveries: the claim (with contacts) and the transaction that records
// every outcome with its event. It reports deliveries/s of one worker
// connection, sequentially, so the time is mostly the database's.
//
//	HERALD_TEST_DATABASE_URL=postgres://... go test -run '^$' -bench SendPath -benchtime 200x ./store/
func BenchmarkSendPath(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchSendPath(b, filepath.Join(b.TempDir(), "bench.db")) })
	b.Run("postgres", func(b *testing.B) { benchSendPath(b, storetest.PostgresURL(b)) })
}

func benchSendPath(b *testing.B, url string) {
	const batch = 100
	ctx := context.Background()
	s, _, ids := bigCampaign(b, url, 100_000)
	ids = ids[len(ids)/2:] // the pending half
	if b.N*batch > len(ids) {
		b.Fatalf("-benchtime %dx needs %d deliveries, the campaign has %d pending", b.N, b.N*batch, len(ids))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		items := make([]dispatcher.JobItem, batch)
		for j := range items {
			items[j] = dispatcher.JobItem{DeliveryID: ids[i*batch+j]}
		}
		attempt := fmt.Sprintf("a%d", i)
		cl, err := s.Claim(ctx, dispatcher.Claim{Items: items, Attempt: attempt, At: time.Now()})
		if err != nil || len(cl) != batch {
			b.Fatalf("claimed %d: %v", len(cl), err)
		}
		ts := make([]dispatcher.Transition, batch)
		for j, c := range cl {
			ts[j] = dispatcher.Transition{DeliveryID: c.Delivery.ID, From: []dispatcher.State{dispatcher.StateSending}, Attempt: attempt,
				To: dispatcher.StateSent, Address: c.Contact.Email, ProviderID: fmt.Sprintf("<herald.%d.x@example.org>", c.Delivery.ID),
				Code: "250 2.0.0", Diagnostic: "Ok: queued as 4Xk2", At: time.Now()}
		}
		if stale, _, err := s.Transitions(ctx, ts, nil); err != nil || len(stale) > 0 {
			b.Fatalf("record: %v, stale %v", err, stale)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deliveries/s")
}
