package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) dispatcher.Store { return storetest.SQLite(t) })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	testenv.DatabaseURL(t) // skip the whole suite at once when unset
	storetest.Run(t, func(t *testing.T) dispatcher.Store { return storetest.Postgres(t) })
}

// TestPostgresMultiRowInsert runs the bulk-path tests with COPY switched
// off, so the fallback stays correct.
func TestPostgresMultiRowInsert(t *testing.T) {
	t.Parallel()
	u := storetest.PostgresURL(t)
	s, err := store.Open(context.Background(), u, store.WithoutCopy(), store.WithMaxConns(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := &dispatcher.Campaign{Name: "multirow", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}}
	if err := s.CreateCampaign(context.Background(), c, nil); err != nil {
		t.Fatal(err)
	}
	const n = 6000 // more rows than one statement's 65535 parameters hold
	contacts := make([]dispatcher.Contact, n)
	for i := range contacts {
		contacts[i] = dispatcher.Contact{ExternalID: strings.Repeat("x", i%3) + itoa(i), Email: "p" + itoa(i) + "@example.org"}
	}
	res, err := s.ImportContacts(context.Background(), c.ID, contacts, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != n || len(res.Deliveries) != n {
		t.Fatalf("inserted %d with %d deliveries, want %d", res.Inserted, len(res.Deliveries), n)
	}
	res, err = s.ImportContacts(context.Background(), c.ID, contacts, nil)
	if err != nil || res.Duplicates != n {
		t.Fatalf("re-import = %+v, %v; want all duplicates", res, err)
	}
}

func itoa(i int) string {
	return strings.TrimLeft(strings.Replace(time.Duration(i).String(), "ns", "", 1), " ")
}

func TestEachHelper(t *testing.T) {
	var ran []string
	storetest.Each(t, func(t *testing.T, s dispatcher.Store) {
		c := &dispatcher.Campaign{Name: "each", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.File}}
		if err := s.CreateCampaign(context.Background(), c, nil); err != nil {
			t.Fatal(err)
		}
		ran = append(ran, t.Name())
	})
	if len(ran) == 0 {
		t.Error("Each ran no backend")
	}
}

// TestOpenConcurrently opens one fresh database from several handles at
// once, as a CLI and a worker starting together would: the migration must
// run exactly once and nobody may fail.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "herald.db") }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresURL(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url(t)
			const handles = 4
			dbs := make([]*store.DB, handles)
			errs := make([]error, handles)
			var wg sync.WaitGroup
			for i := range handles {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dbs[i], errs[i] = store.Open(context.Background(), u, store.WithMaxConns(2))
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				t.Cleanup(func() { _ = dbs[i].Close() })
			}
			// Two "processes" write to the same ledger at once.
			ctx := context.Background()
			c := &dispatcher.Campaign{Name: "shared", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email}}
			if err := dbs[0].CreateCampaign(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
			var wg2 sync.WaitGroup
			werrs := make(chan error, handles*50)
			for i := range handles {
				wg2.Add(1)
				go func() {
					defer wg2.Done()
					for j := range 25 {
						ct := []dispatcher.Contact{{ExternalID: itoa(i*1000 + j), Email: "x" + itoa(i*1000+j) + "@example.org"}}
						_, err := dbs[i].ImportContacts(ctx, c.ID, ct, func(ct *dispatcher.Contact) []dispatcher.Delivery {
							return dispatcher.Plan(c.Policy, ct, time.Now())
						})
						if err != nil {
							werrs <- err
						}
						if _, err := dbs[i].Report(ctx, c.ID); err != nil {
							werrs <- err
						}
					}
				}()
			}
			wg2.Wait()
			close(werrs)
			for err := range werrs {
				t.Errorf("concurrent use: %v", err)
			}
			rep, err := dbs[handles-1].Report(ctx, c.ID)
			if err != nil || rep.Contacts != handles*25 {
				t.Errorf("report after concurrent imports = %+v, %v; want %d contacts", rep, err, handles*25)
			}
			for i, db := range dbs {
				if err := db.Ping(ctx); err != nil {
					t.Errorf("ping %d: %v", i, err)
				}
			}
		})
	}
}

func TestSQLiteMigrationsRecordedOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	for range 2 {
		s, err := store.Open(context.Background(), "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, v int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if want := store.MigrationCount(); n != want || v != want {
		t.Errorf("schema_migrations has %d rows up to version %d, want one row per migration up to %d", n, v, want)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	// A database from a newer herald is refused rather than misused.
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')`); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(context.Background(), path); err == nil {
		_ = s.Close()
		t.Fatal("opened a database with an unknown schema version")
	} else if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error %q does not name the version", err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"mysql://localhost/x", "sqlite:", "file:", ":memory:", "sqlite::memory:", "file::memory:?cache=shared", "a?b.db"} {
		s, err := store.Open(context.Background(), u)
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("Open(%q) err = %v, want EINVALID", u, err)
		}
	}
	s, err := store.Open(context.Background(), "postgres://nobody:secret@127.0.0.1:1/x?connect_timeout=1")
	if err == nil {
		_ = s.Close()
		t.Fatal("opened a postgres server that is not there")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows the password: %v", err)
	}
}

// TestLogsNoPersonalData imports and moves contacts with debug logging on
// and checks that no name, address or number reaches the log.
func TestLogsNoPersonalData(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), store.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := &dispatcher.Campaign{Name: "pii", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}}
	if err := s.CreateCampaign(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	ct := []dispatcher.Contact{{ExternalID: "EMP-SECRET", Name: "Kari Hemmelig", Email: "kari.hemmelig@example.no", Phone: "+4799887766"}}
	if _, err := s.ImportContacts(ctx, c.ID, ct, func(x *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, x, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelUnsent(ctx, c.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "schema migrated") || !strings.Contains(out, "contacts imported") {
		t.Errorf("expected migration and import records, got:\n%s", out)
	}
	for _, secret := range []string{"EMP-SECRET", "Hemmelig", "kari", "99887766"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains personal data %q:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestContextCancelled checks that a cancelled context stops a write
// cleanly and leaves the store usable.
func TestContextCancelled(t *testing.T) {
	t.Parallel()
	s := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Audit(ctx, dispatcher.AuditEntry{Action: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Audit with a cancelled context: %v, want context.Canceled", err)
	}
	if err := s.Audit(context.Background(), dispatcher.AuditEntry{Action: "x"}); err != nil {
		t.Errorf("store unusable after a cancelled call: %v", err)
	}
}

// TestWithClock checks that times the caller leaves zero come from the
// injected clock, in the ledger's resolution.
func TestWithClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 7200))
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), store.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := &dispatcher.Campaign{Name: "clock", DefaultLocale: "en", Policy: dispatcher.Policy{dispatcher.Email}}
	if err := s.CreateCampaign(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	want := now.UTC().Truncate(time.Microsecond)
	if c.CreatedAt != want {
		t.Errorf("CreatedAt = %v, want %v", c.CreatedAt, want)
	}
	ct := []dispatcher.Contact{{ExternalID: "1", Email: "a@example.org"}}
	res, err := s.ImportContacts(ctx, c.ID, ct, func(x *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, x, time.Time{}) // zero: the store stamps it
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Delivery(ctx, res.Deliveries[0].ID)
	if err != nil || !d.UpdatedAt.Equal(want) {
		t.Errorf("delivery = %+v, %v; want UpdatedAt %v", d, err, want)
	}
}
