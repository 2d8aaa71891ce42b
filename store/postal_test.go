package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestPostgresMultiRowContactFields: the eligibility and postal columns
// also travel the multi-row INSERT fallback of the PostgreSQL bulk path
// (the conformance suite covers COPY and SQLite).
func TestPostgresMultiRowContactFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.PostgresURL(t), store.WithoutCopy(), store.WithMaxConns(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := &dispatcher.Campaign{Name: "fields", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.Postal}}
	if err := s.CreateCampaign(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	want := dispatcher.Contact{Name: "Ann Lee", Email: "ann@example.com", Country: "US", EmailConsent: dispatcher.ConsentNo, DoNotEmail: true,
		Postal: dispatcher.PostalAddress{Line1: "1 Main St", Line2: "Apt 2", PostalCode: "90210", City: "Beverly Hills", Region: "CA"}}
	cs := []dispatcher.Contact{want}
	if _, err := s.ImportContacts(ctx, c.ID, cs, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.PlanFor(c, ct, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Contact(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.EmailConsent != want.EmailConsent || got.DoNotEmail != want.DoNotEmail || got.Postal != want.Postal {
		t.Errorf("contact = %+v, want %+v", got, want)
	}
	ds, err := s.DeliveriesOf(ctx, cs[0].ID)
	if err != nil || len(ds) != 2 || ds[0].Diagnostic != dispatcher.ReasonMailboxCompromise || ds[1].State != dispatcher.StatePending {
		t.Errorf("deliveries = %+v, %v", ds, err)
	}
}
