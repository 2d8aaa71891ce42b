package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald/dispatcher"
)

// SQLite connection settings, chosen so that many goroutines and two
// processes (say `herald send` and `herald worker` on ./herald.db) never see
// "database is locked":
//
//   - WAL journal: readers never block the writer nor the writer readers.
//   - Writes go through a pool of exactly one connection whose transactions
//     begin IMMEDIATE: the write lock is taken at BEGIN, never by upgrading a
//     read lock mid-transaction (an upgrade that fails with SQLITE_BUSY at
//     once, whatever the busy timeout). One writer per process also means
//     goroutines queue in database/sql instead of spinning on the file lock.
//   - busy_timeout makes a writer in one process wait for the other
//     process's transaction instead of failing.
//   - Reads go through a separate pool of query_only connections, which run
//     in parallel with each other and with the writer.
//   - synchronous=NORMAL is durable across application crashes in WAL mode
//     and much faster than FULL; a power cut can lose the last commits but
//     never corrupts the file.
const (
	sqliteBusyTimeout = 10 * time.Second
	sqliteReaders     = 8
)

func openSQLite(ctx context.Context, target string, o options) (*DB, error) {
	common := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
		"_pragma=foreign_keys(1)",
	}
	writeDSN := sqliteDSN(target, append(common, "_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)", "_txlock=immediate"))
	readDSN := sqliteDSN(target, append(common, "_pragma=query_only(1)"))

	w, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", target, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// Connect the writer first: it switches the file to WAL before any
	// reader opens it. Switching the journal mode does not wait on the
	// busy timeout: when another process is opening the same new file at
	// the same moment it fails with SQLITE_BUSY at once, so retry a while.
	if err := pingBusy(ctx, w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", target, err)
	}
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", target, err)
	}
	n := o.maxConns
	if n <= 0 {
		n = max(sqliteReaders, runtime.GOMAXPROCS(0))
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	o.log.Debug("store opened", "backend", "sqlite", "readers", n)
	return &DB{d: sqliteDialect{}, w: w, r: r, log: o.log, now: o.now, onClose: "PRAGMA optimize"}, nil
}

// sqliteDSN appends the driver parameters to a path or file: URI.
func sqliteDSN(target string, params []string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + strings.Join(params, "&")
}

type sqliteDialect struct{}

func (sqliteDialect) name() string                      { return "sqlite" }
func (sqliteDialect) rebind(q string) string            { return q }
func (sqliteDialect) maxParams() int                    { return sqlite3.SQLITE_MAX_VARIABLE_NUMBER }
func (sqliteDialect) snapshotLevel() sql.IsolationLevel { return sql.LevelDefault }

func (sqliteDialect) timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t).Format(sqliteTimeLayout)
}

func (sqliteDialect) uniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// nextIDs reserves ids above the highest ever used. The write transaction
// holds SQLite's only write lock, so no one else can take them, and the
// AUTOINCREMENT counter moves past them as the rows are inserted.
func (sqliteDialect) nextIDs(ctx context.Context, tx *txn, table string, n int) ([]int64, error) {
	var top int64
	err := tx.queryRow(ctx, `SELECT MAX(
		COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0),
		COALESCE((SELECT MAX(id) FROM `+table+`), 0))`, table).Scan(&top)
	if err != nil {
		return nil, fmt.Errorf("reserve %s ids: %w", table, err)
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = top + int64(i) + 1
	}
	return ids, nil
}

func (sqliteDialect) bulkInsert(ctx context.Context, tx *txn, b *bulk) (int64, error) {
	return multiRowInsert(ctx, tx, b)
}

// moveDeliveries appends the events, then moves the rows, with the same
// condition. Both statements run in one IMMEDIATE transaction, which holds
// the database's only write lock, so they see the same rows.
func (d sqliteDialect) moveDeliveries(ctx context.Context, tx *txn, m move) (int64, error) {
	at := d.timeValue(m.at)
	args := append([]any{at, string(m.to), m.code, m.diagnostic}, m.args...)
	res, err := tx.exec(ctx, `INSERT INTO events (delivery_id, at, state, provider_id, code, diagnostic)
		SELECT id, ?, ?, '', ?, ? FROM deliveries WHERE `+m.where+` ORDER BY id`, args...)
	if err != nil {
		return 0, fmt.Errorf("append events: %w", err)
	}
	events, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	args = append([]any{string(m.to), m.code, m.diagnostic, at}, m.args...)
	res, err = tx.exec(ctx, `UPDATE deliveries SET state = ?, attempt = '', code = ?, diagnostic = ?, updated_at = ?
		WHERE `+m.where, args...)
	if err != nil {
		return 0, fmt.Errorf("move deliveries: %w", err)
	}
	moved, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if moved != events {
		return 0, fmt.Errorf("moved %d deliveries but appended %d events", moved, events)
	}
	return moved, nil
}

// claim updates the rows with one statement that finds them by primary
// key (id IN) and checks each one's generation against the item's (a row
// value IN a VALUES list), then reads their contacts.
func (d sqliteDialect) claim(ctx context.Context, tx *txn, items []dispatcher.JobItem, attempt string, at time.Time) ([]dispatcher.Claimed, error) {
	ids := make([]any, len(items))
	pairs := make([]any, 0, 2*len(items))
	for i, it := range items {
		ids[i] = it.DeliveryID
		pairs = append(pairs, it.DeliveryID, it.Generation)
	}
	now := d.timeValue(at)
	args := append([]any{attempt, now}, ids...)
	args = append(args, pairs...)
	args = append(args, now)
	ds, err := collectDeliveries(tx.query(ctx, `UPDATE deliveries SET state = '`+string(dispatcher.StateSending)+`', attempt = ?, updated_at = ?
		WHERE id IN (`+placeholders(len(items))+`)
		AND (id, generation) IN (VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?), ", len(items)), ", ")+`)
		AND state IN (`+claimableStates+`) AND (not_before IS NULL OR not_before <= ?)
		RETURNING `+deliveryCols, args...))
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return withContacts(ctx, tx.runner, ds)
}

// transitions applies each transition with its own statements: SQLite
// runs in-process, where a statement costs microseconds.
func (sqliteDialect) transitions(ctx context.Context, tx *txn, stamp func(time.Time) time.Time, ts []dispatcher.Transition) (map[int64]bool, error) {
	applied := make(map[int64]bool, len(ts))
	for _, t := range ts {
		ok, err := transitionOne(ctx, tx, stamp, t)
		if err != nil {
			return nil, fmt.Errorf("transition delivery %d: %w", t.DeliveryID, err)
		}
		if ok {
			applied[t.DeliveryID] = true
		}
	}
	return applied, nil
}

// lockMigrations has nothing to do: the migration transaction begins
// IMMEDIATE, which already excludes every other writer.
func (sqliteDialect) lockMigrations(context.Context, *txn) error { return nil }

func (sqliteDialect) migrationsTableDDL() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	) STRICT`
}

// sqliteBusy is SQLite's result code for a database locked by another
// connection.
const sqliteBusy = 5

// pingBusy connects db, retrying for up to the busy timeout while SQLite
// reports the database busy.
func pingBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	wait := 10 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		var coded interface{ Code() int }
		if err == nil || !errors.As(err, &coded) || coded.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}
