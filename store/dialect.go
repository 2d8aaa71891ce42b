package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// dialect is everything that differs between SQLite and PostgreSQL. The
// queries themselves are shared and written with ? placeholders; SQLite and
// PostgreSQL agree on ON CONFLICT, RETURNING and excluded.
type dialect interface {
	name() string
	// rebind rewrites ? placeholders into the dialect's form.
	rebind(query string) string
	// timeValue encodes t (already in UTC microseconds) for a query; the
	// zero time becomes NULL.
	timeValue(t time.Time) any
	// uniqueViolation reports whether err is a unique or primary key
	// violation, from the driver's error code.
	uniqueViolation(err error) bool
	// maxParams is the most bind parameters one statement may carry.
	maxParams() int
	// snapshotLevel is the isolation of read-only snapshots.
	snapshotLevel() sql.IsolationLevel
	// nextIDs reserves n ids of table for rows about to be inserted.
	nextIDs(ctx context.Context, tx *txn, table string, n int) ([]int64, error)
	// bulkInsert inserts many rows at once (see bulk.go).
	bulkInsert(ctx context.Context, tx *txn, b *bulk) (int64, error)
	// moveDeliveries moves every delivery matching m.where to m.to and
	// appends one event for each, atomically, and returns how many moved.
	moveDeliveries(ctx context.Context, tx *txn, m move) (int64, error)
	// claim moves the claimable deliveries among items to sending with
	// attempt (see DB.Claim) and returns them with their contacts.
	claim(ctx context.Context, tx *txn, items []dispatcher.JobItem, attempt string, at time.Time) ([]dispatcher.Claimed, error)
	// transitions applies ts (see DB.Transitions) and returns the IDs of
	// the deliveries that moved.
	transitions(ctx context.Context, tx *txn, stamp func(time.Time) time.Time, ts []dispatcher.Transition) (map[int64]bool, error)
	// lockMigrations serialises migrations between processes.
	lockMigrations(ctx context.Context, tx *txn) error
	// migrationsTableDDL creates the table recording applied migrations.
	migrationsTableDDL() string
}

// move describes a set-wise state change of deliveries.
type move struct {
	where      string // condition on deliveries, with ? placeholders
	args       []any
	to         dispatcher.State
	at         time.Time
	code       string
	diagnostic string
}

// rebindDollar turns ? into $1, $2, ... The queries in this package never
// contain ? inside string literals.
func rebindDollar(q string) string {
	n := strings.Count(q, "?")
	if n == 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + n*4)
	i := 0
	for _, r := range q {
		if r == '?' {
			i++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// stateList renders states as an SQL list of literals, e.g. 'sent',
// 'delivered'. States are program constants; anything that is not a plain
// lower-case word is refused rather than quoted.
func stateList(states ...dispatcher.State) string {
	parts := make([]string, len(states))
	for i, st := range states {
		for _, r := range st {
			if (r < 'a' || r > 'z') && r != '_' {
				panic(fmt.Sprintf("store: state %q is not a plain word", st))
			}
		}
		parts[i] = "'" + string(st) + "'"
	}
	return strings.Join(parts, ", ")
}

// int64Args converts ids to query arguments.
func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// stateArgs converts states to query arguments.
func stateArgs(states []dispatcher.State) []any {
	out := make([]any, len(states))
	for i, st := range states {
		out[i] = string(st)
	}
	return out
}
