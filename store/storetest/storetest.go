// Package storetest is the conformance suite every dispatcher.Store must
// pass, and the helpers other packages' tests use to get a real ledger.
//
// Run exercises every method of the Store contract against a fresh store
// per subtest. SQLite and PostgreSQL give fresh, isolated ledgers: a file in
// t.TempDir(), or a schema of its own in the database at
// HERALD_TEST_DATABASE_URL that is dropped when the test ends (tests of
// several packages share that database concurrently, so nothing here ever
// touches the public schema). Each runs a test body against both.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for schema setup

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/store"
)

// SQLite returns an empty ledger in a fresh SQLite file under t.TempDir(),
// closed when the test ends.
func SQLite(t testing.TB) dispatcher.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sqlite store: %v", err)
		}
	})
	return s
}

// Postgres returns an empty ledger in a schema of its own in the database
// at HERALD_TEST_DATABASE_URL (skipping when unset, unless services are
// required). The schema is dropped when the test ends.
func Postgres(t testing.TB) dispatcher.Store {
	t.Helper()
	s, err := store.Open(context.Background(), PostgresURL(t), store.WithMaxConns(4))
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close postgres store: %v", err)
		}
	})
	return s
}

// PostgresURL creates a fresh schema in the test database and returns a URL
// whose search_path selects it; the schema is dropped when the test ends.
// It skips the test when HERALD_TEST_DATABASE_URL is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := testenv.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	admin.SetMaxOpenConns(1)
	schema := "herald_test_" + randomHex(t, 8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", testenv.DatabaseVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// Each runs fn as a subtest against a fresh SQLite ledger and a fresh
// PostgreSQL ledger (the latter skipped when HERALD_TEST_DATABASE_URL is
// unset, per testenv's rules).
func Each(t *testing.T, fn func(t *testing.T, s dispatcher.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Run runs the conformance suite: every Store method, each subtest on a
// fresh store from open, in parallel.
func Run(t *testing.T, open func(t *testing.T) dispatcher.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s dispatcher.Store)
	}{
		{"CampaignCRUD", testCampaignCRUD},
		{"CampaignStatus", testCampaignStatus},
		{"CampaignSettings", testCampaignSettings},
		{"UpdateCampaign", testUpdateCampaign},
		{"UpdateCampaignRevision", testUpdateCampaignRevision},
		{"Templates", testTemplates},
		{"ImportDedupe", testImportDedupe},
		{"ImportPlanAndCreationEvents", testImportPlan},
		{"ImportLargeBatch", testImportLargeBatch},
		{"UnicodeAndAttrs", testUnicode},
		{"Rejects", testRejects},
		{"RecordImport", testRecordImport},
		{"InsertDeliveries", testInsertDeliveries},
		{"TransitionRace", testTransitionRace},
		{"TransitionChecks", testTransitionChecks},
		{"TimesRoundTrip", testTimes},
		{"Transitions", testTransitions},
		{"Claim", testClaim},
		{"ClaimRace", testClaimRace},
		{"PendingAfter", testPendingAfter},
		{"SuppressedAmong", testSuppressedAmong},
		{"DeliveriesOfContacts", testDeliveriesOfContacts},
		{"DeliveriesPaging", testDeliveriesPaging},
		{"CancelUnsent", testCancelUnsent},
		{"CountUnfinished", testCountUnfinished},
		{"FindContacts", testFindContacts},
		{"FindContactsByName", testFindContactsByName},
		{"ContactsPaging", testContactsPaging},
		{"DeliveriesOfAndEventsOrder", testOrdering},
		{"Report", testReport},
		{"ReportEmpty", testReportEmpty},
		{"Unreachable", testUnreachable},
		{"Suppressions", testSuppressions},
		{"Audit", testAudit},
		{"NotFound", testNotFound},
		{"DeleteCampaignCascade", testDeleteCascade},
		{"Users", testUsers},
		{"EligibilityFields", testEligibilityFields},
		{"SuppressionList", testSuppressionList},
		{"PostalBatches", testPostalBatches},
		{"UnreachableByArea", testUnreachableByArea},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// t0 is the suite's reference time: not UTC and with nanoseconds, so that
// stores must normalise it.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CET", 3600))

// at returns t0 plus d, as stored: UTC, in microseconds.
func at(d time.Duration) time.Time { return t0.Add(d).UTC().Truncate(time.Microsecond) }

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newCampaign creates a campaign with policy email,sms (or the given one).
func newCampaign(t *testing.T, s dispatcher.Store, name string, policy ...dispatcher.ChannelKind) *dispatcher.Campaign {
	t.Helper()
	if len(policy) == 0 {
		policy = dispatcher.Policy{dispatcher.Email, dispatcher.SMS}
	}
	c := &dispatcher.Campaign{
		Name: name, IncidentRef: "INC-" + name, DefaultLocale: "nb", Policy: policy,
		Sender: dispatcher.Sender{FromName: "Personvern", FromEmail: "personvern@example.no", ReplyTo: "svar@example.no",
			SMSFrom: "+4790000000", SMSService: "MG123"},
	}
	if err := s.CreateCampaign(ctxOf(t), c, nil); err != nil {
		t.Fatalf("create campaign %s: %v", name, err)
	}
	return c
}

// person returns contact n with an e-mail, a phone and an external id.
func person(n int) dispatcher.Contact {
	return dispatcher.Contact{
		ExternalID: fmt.Sprintf("E%05d", n),
		Name:       fmt.Sprintf("Person %d", n),
		Email:      fmt.Sprintf("person%d@example.org", n),
		Phone:      fmt.Sprintf("+479%07d", n),
		Locale:     "nb",
		Country:    "NO",
		SourceRow:  n + 1,
	}
}

// importPlanned imports contacts into c with the dispatcher's own plan.
func importPlanned(t *testing.T, s dispatcher.Store, c *dispatcher.Campaign, contacts ...dispatcher.Contact) dispatcher.ImportResult {
	t.Helper()
	res, err := s.ImportContacts(ctxOf(t), c.ID, contacts, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, at(0))
	})
	if err != nil {
		t.Fatalf("import %d contacts: %v", len(contacts), err)
	}
	return res
}

// only returns the single contact a one-contact import stored, with its
// deliveries.
func only(t *testing.T, s dispatcher.Store, c *dispatcher.Campaign, ct dispatcher.Contact) (int64, []dispatcher.Delivery) {
	t.Helper()
	cs := []dispatcher.Contact{ct}
	_, err := s.ImportContacts(ctxOf(t), c.ID, cs, func(x *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, x, at(0))
	})
	if err != nil {
		t.Fatalf("import contact: %v", err)
	}
	if cs[0].ID == 0 {
		t.Fatalf("import did not store the contact (duplicate?)")
	}
	ds, err := s.DeliveriesOf(ctxOf(t), cs[0].ID)
	if err != nil {
		t.Fatalf("deliveries of contact %d: %v", cs[0].ID, err)
	}
	return cs[0].ID, ds
}

// step moves delivery d from its current state to `to`, as a worker would,
// and returns it as stored.
func step(t *testing.T, s dispatcher.Store, d dispatcher.Delivery, to dispatcher.State, when time.Duration) dispatcher.Delivery {
	t.Helper()
	tr := dispatcher.Transition{DeliveryID: d.ID, From: []dispatcher.State{d.State}, Generation: d.Generation,
		Attempt: d.Attempt, To: to, At: at(when)}
	switch to {
	case dispatcher.StateSending:
		tr.NewAttempt = fmt.Sprintf("attempt-%d-%d", d.ID, d.Generation)
	case dispatcher.StateSent:
		tr.ProviderID = fmt.Sprintf("<%d@herald.test>", d.ID)
		tr.Code = "250"
	case dispatcher.StateBouncedHard:
		tr.Code, tr.Diagnostic = "550 5.1.1", "user unknown"
	case dispatcher.StateFailed:
		tr.Code, tr.Diagnostic = "554", "content rejected"
	}
	if err := s.Transition(ctxOf(t), tr); err != nil {
		t.Fatalf("delivery %d %s → %s: %v", d.ID, d.State, to, err)
	}
	got, err := s.Delivery(ctxOf(t), d.ID)
	if err != nil {
		t.Fatalf("delivery %d: %v", d.ID, err)
	}
	if got.State != to {
		t.Fatalf("delivery %d is %s after transition to %s", d.ID, got.State, to)
	}
	return *got
}

// markQueued moves pending deliveries to queued, with an event each, as
// a worker's re-queue does.
func markQueued(t *testing.T, s dispatcher.Store, when time.Time, ds ...dispatcher.Delivery) {
	t.Helper()
	ts := make([]dispatcher.Transition, len(ds))
	for i, d := range ds {
		ts[i] = dispatcher.Transition{DeliveryID: d.ID, From: []dispatcher.State{dispatcher.StatePending}, Generation: d.Generation,
			To: dispatcher.StateQueued, At: when}
	}
	stale, _, err := s.Transitions(ctxOf(t), ts, nil)
	if err != nil || len(stale) > 0 {
		t.Fatalf("queue %d deliveries: stale %v, %v", len(ds), stale, err)
	}
}

// drive takes a delivery through the given states in order.
func drive(t *testing.T, s dispatcher.Store, d dispatcher.Delivery, states ...dispatcher.State) dispatcher.Delivery {
	t.Helper()
	for i, st := range states {
		d = step(t, s, d, st, time.Duration(i+1)*time.Minute)
	}
	return d
}

// byChannel picks a contact's delivery on channel k.
func byChannel(t *testing.T, ds []dispatcher.Delivery, k dispatcher.ChannelKind) dispatcher.Delivery {
	t.Helper()
	for _, d := range ds {
		if d.Channel == k {
			return d
		}
	}
	t.Fatalf("no %s delivery among %d", k, len(ds))
	return dispatcher.Delivery{}
}

func eventStates(t *testing.T, s dispatcher.Store, deliveryID int64) []dispatcher.State {
	t.Helper()
	es, err := s.Events(ctxOf(t), deliveryID)
	if err != nil {
		t.Fatalf("events of %d: %v", deliveryID, err)
	}
	out := make([]dispatcher.State, len(es))
	for i, e := range es {
		out[i] = e.State
	}
	return out
}

// checkHistory checks that delivery i (its ID id) is in state and has
// the history events (states joined by commas), and returns it.
func checkHistory(t *testing.T, s dispatcher.Store, i int, id int64, state dispatcher.State, events string) *dispatcher.Delivery {
	t.Helper()
	got, err := s.Delivery(ctxOf(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != state {
		t.Errorf("delivery %d = %s, want %s", i, got.State, state)
	}
	if es := statesString(eventStates(t, s, id)); es != events {
		t.Errorf("delivery %d events = %s, want %s", i, es, events)
	}
	return got
}

func statesString(ss []dispatcher.State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
