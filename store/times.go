package store

import (
	"fmt"
	"time"
)

// sqliteTimeLayout is how SQLite stores times: fixed width, UTC, in
// microseconds, so that text order is time order and comparisons such as
// updated_at < ? work on the stored text.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// utc brings t into the ledger's resolution: UTC, truncated to microseconds
// (PostgreSQL's resolution), so both backends give back exactly what was
// stored.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeCol scans a time column stored as TEXT (SQLite) or timestamptz
// (PostgreSQL); NULL becomes the zero time. Times come back in UTC.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = utc(x)
	case string:
		return c.parse(x)
	case []byte:
		return c.parse(string(x))
	default:
		return fmt.Errorf("store: cannot scan %T into a time", v)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := parseStoredTime(s)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

// parseStoredTime parses a time written by this package into SQLite, and
// tolerates the RFC 3339 forms a person might write with the sqlite3 tool.
func parseStoredTime(s string) (time.Time, error) {
	if t, err := time.Parse(sqliteTimeLayout, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: stored time %q: %w", s, err)
	}
	return utc(t), nil
}
