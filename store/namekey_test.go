package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to rewind the schema

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// TestNameKeyBackfill upgrades a ledger that has contacts but no name
// keys (schema 5) and checks that migration 0006 computes every key in Go,
// in several batches, exactly as an import would have.
func TestNameKeyBackfill(t *testing.T) {
	t.Parallel()
	for _, b := range []struct{ name, driver, url, rewind string }{
		{"sqlite", "sqlite", filepath.Join(t.TempDir(), "old.db"), `DROP INDEX contacts_name; ALTER TABLE contacts DROP COLUMN name_key`},
		{"postgres", "pgx", "", `ALTER TABLE contacts DROP COLUMN name_key`},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url
			if b.name == "postgres" {
				url = storetest.PostgresURL(t)
			}
			ctx := context.Background()
			s, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			c := &dispatcher.Campaign{Name: "old", DefaultLocale: "nb", Policy: dispatcher.Policy{dispatcher.Email}}
			if err := s.CreateCampaign(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
			names := []string{"Bjørn Ødegård", "Ødegård, Kari", "Nguyễn Thị Minh Khai", "Łukasz Wałęsa", "Heinz Strauß", ""}
			const n = 23_000 // three batches of the backfill
			contacts := make([]dispatcher.Contact, n)
			for i := range contacts {
				contacts[i] = dispatcher.Contact{Name: names[i%len(names)] + fmt.Sprintf(" %d", i/len(names)), Email: fmt.Sprintf("p%d@example.no", i), Locale: "nb"}
				if i%len(names) == 2 {
					contacts[i].Locale = "vi"
				}
			}
			if _, err := s.ImportContacts(ctx, c.ID, contacts, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// Rewind to schema 5: no name_key, migration 6 not applied.
			db, err := sql.Open(b.driver, url)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{b.rewind, `DELETE FROM schema_migrations WHERE version = 6`} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_ = db.Close()

			s, err = store.Open(ctx, url)
			if err != nil {
				t.Fatalf("migrate to 6: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			for _, want := range []int{0, 2, n - 1} {
				q, err := dispatcher.ParseNameQuery(contacts[want].Name)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.FindContactsByName(ctx, q, 10)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, ct := range got.Contacts {
					found = found || ct.Email == contacts[want].Email
				}
				if !found {
					t.Errorf("after the backfill, %q does not find contact %d: %+v", contacts[want].Name, want, got)
				}
			}
			// Every key is what an import computes.
			db, err = sql.Open(b.driver, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Query(`SELECT name, locale, country, name_key FROM contacts`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			seen := 0
			for rows.Next() {
				var name, locale, country string
				var key sql.NullString
				if err := rows.Scan(&name, &locale, &country, &key); err != nil {
					t.Fatal(err)
				}
				if want := dispatcher.NameKey(name, locale, country); !key.Valid || key.String != want {
					t.Fatalf("name_key of %q = %v, want %q", name, key, want)
				}
				seen++
			}
			if err := rows.Err(); err != nil || seen != n {
				t.Fatalf("checked %d keys (%v), want %d", seen, err, n)
			}
		})
	}
}
