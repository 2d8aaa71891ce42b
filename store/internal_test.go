package store

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in     string
		kind   backendKind
		target string
		bad    bool
	}{
		{"", kindSQLite, "./herald.db", false},
		{"  ", kindSQLite, "./herald.db", false},
		{"herald.db", kindSQLite, "herald.db", false},
		{"/var/lib/herald/ledger.db", kindSQLite, "/var/lib/herald/ledger.db", false},
		{"sqlite:./x.db", kindSQLite, "./x.db", false},
		{"sqlite:///var/x.db", kindSQLite, "/var/x.db", false},
		{"SQLITE:x.db", kindSQLite, "x.db", false},
		{"file:x.db", kindSQLite, "file:x.db", false},
		{"file:/tmp/x.db?mode=rwc", kindSQLite, "file:/tmp/x.db?mode=rwc", false},
		{"postgres://u:p@h/db", kindPostgres, "postgres://u:p@h/db", false},
		{"postgresql://h/db?sslmode=disable", kindPostgres, "postgresql://h/db?sslmode=disable", false},
		{"POSTGRES://h/db", kindPostgres, "POSTGRES://h/db", false},
		{"mysql://h/db", 0, "", true},
		{"sqlite:", 0, "", true},
		{"sqlite://", 0, "", true},
		{"file:", 0, "", true},
		{"file:?mode=memory", 0, "", true},
		{":memory:", 0, "", true},
		{"sqlite::memory:", 0, "", true},
		{"file::memory:", 0, "", true},
		{"x.db?_pragma=foo", 0, "", true},
		{"x#y.db", 0, "", true},
	}
	for _, tc := range tests {
		kind, target, err := parseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseURL(%q) = %v %q, want an error", tc.in, kind, target)
			}
			continue
		}
		if err != nil || kind != tc.kind || target != tc.target {
			t.Errorf("parseURL(%q) = %v %q %v, want %v %q", tc.in, kind, target, err, tc.kind, tc.target)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"", "herald.db", "sqlite:x", "file:x?mode=ro", "postgres://u:p@h/d", "x://y", ":memory:", "sqlite:////"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		kind, target, err := parseURL(in)
		if err != nil {
			if kind != 0 || target != "" {
				t.Errorf("parseURL(%q) returned %v %q with error %v", in, kind, target, err)
			}
			return
		}
		switch kind {
		case kindSQLite:
			if target == "" {
				t.Errorf("parseURL(%q): empty SQLite target", in)
			}
			if !strings.HasPrefix(target, "file:") && strings.ContainsAny(target, "?#") {
				t.Errorf("parseURL(%q): plain path %q with a query", in, target)
			}
			if strings.Contains(strings.ToLower(target), ":memory:") {
				t.Errorf("parseURL(%q): in-memory target %q", in, target)
			}
		case kindPostgres:
			if !strings.Contains(strings.ToLower(target), "postgres") {
				t.Errorf("parseURL(%q): postgres target %q", in, target)
			}
		default:
			t.Errorf("parseURL(%q): kind %v without error", in, kind)
		}
	})
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h/db":   "postgres://u:xxxxx@h/db",
		"postgres://u@h/db":          "postgres://u@h/db",
		"postgres://h/db":            "postgres://h/db",
		"postgres://u:p@ss:w@h:5/db": "postgres://u:xxxxx@h:5/db",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRebindDollar(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                     "SELECT 1",
		"a = ? AND b IN (?, ?)":        "a = $1 AND b IN ($2, $3)",
		"x = 'æøå' AND y = ?":          "x = 'æøå' AND y = $1",
		strings.Repeat("?,", 11) + "?": "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12",
	} {
		if got := rebindDollar(in); got != want {
			t.Errorf("rebindDollar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStoredTime(t *testing.T) {
	in := time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 5*3600))
	s := sqliteDialect{}.timeValue(in).(string)
	if s != "2025-01-01T22:04:05.678901Z" {
		t.Errorf("stored as %q", s)
	}
	got, err := parseStoredTime(s)
	if err != nil || !got.Equal(utc(in)) || got.Location() != time.UTC {
		t.Errorf("parseStoredTime(%q) = %v, %v; want %v", s, got, err, utc(in))
	}
	// text order is time order
	a := sqliteDialect{}.timeValue(in).(string)
	b := sqliteDialect{}.timeValue(in.Add(time.Microsecond)).(string)
	c := sqliteDialect{}.timeValue(in.Add(10 * time.Second)).(string)
	if !(a < b && b < c) {
		t.Errorf("stored times do not sort: %q %q %q", a, b, c)
	}
	if (sqliteDialect{}).timeValue(time.Time{}) != nil || (postgresDialect{}).timeValue(time.Time{}) != nil {
		t.Error("zero time is not NULL")
	}
	if _, err := parseStoredTime("yesterday"); err == nil {
		t.Error("parsed garbage")
	}
	var tt time.Time
	if err := (timeCol{&tt}).Scan(int64(5)); err == nil {
		t.Error("scanned an integer as a time")
	}
}

func TestMigrationsNamed(t *testing.T) {
	for _, d := range []string{"sqlite", "postgres"} {
		ms, err := migrations(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || ms[0].version != 1 || ms[0].name != "init" {
			t.Errorf("%s migrations = %+v", d, ms)
		}
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("%s migration %d has version %d: versions must be 1, 2, 3, ...", d, i, m.version)
			}
		}
	}
	for _, bad := range []string{"init.sql", "0001.sql", "x_init.sql", "0000_zero.sql", "0001_init.txt"} {
		if _, _, err := parseMigrationName(bad); err == nil {
			t.Errorf("parseMigrationName(%q) accepted", bad)
		}
	}
}

func TestStateListRefusesOddStates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("stateList accepted a quote")
		}
	}()
	stateList("x'y")
}
