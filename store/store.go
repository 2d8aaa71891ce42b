package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// DefaultURL is the database used when none is given: a SQLite file in the
// working directory, so that `herald` works out of the box on one machine.
const DefaultURL = "./herald.db"

// DB is the ledger on SQLite or PostgreSQL. It implements dispatcher.Store
// and is safe for concurrent use by many goroutines.
type DB struct {
	d   dialect
	w   *sql.DB // writes and read-modify-write transactions
	r   *sql.DB // plain reads; the same pool as w on PostgreSQL
	log *slog.Logger
	now func() time.Time
	// onClose runs on the writer before it closes (SQLite: PRAGMA optimize,
	// which keeps the query planner's statistics fresh).
	onClose string
}

var _ dispatcher.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	log      *slog.Logger
	maxConns int
	now      func() time.Time
	noCopy   bool
}

// WithLogger sets the logger for migrations and slow paths; nil discards.
// Only IDs and counts are logged, never personal data.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMaxConns caps open connections: to PostgreSQL (default 10), or the
// SQLite read pool (default 8; SQLite always has exactly one writer). Tests
// that open many stores against one server keep it low.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithClock sets the clock used for timestamps the caller left zero
// (creation times, events without At). Tests use it to get exact times.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// withoutCopy makes PostgreSQL bulk inserts use multi-row INSERT instead of
// COPY; the benchmarks use it to compare the two.
func withoutCopy() Option { return func(o *options) { o.noCopy = true } }

// Open opens (creating if needed) the ledger at url and brings its schema up
// to date. url selects the backend:
//
//	""                                  SQLite at ./herald.db
//	sqlite:PATH, file:PATH[?...], PATH  SQLite at PATH
//	postgres://..., postgresql://...    PostgreSQL
//
// A search_path parameter in a PostgreSQL URL selects the schema the tables
// live in. Open is safe to call from two processes at once on the same
// database: migrations run under a lock and only once.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kind, target, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	var s *DB
	switch kind {
	case kindSQLite:
		s, err = openSQLite(ctx, target, o)
	case kindPostgres:
		s, err = openPostgres(ctx, target, o)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

type backendKind int

const (
	kindSQLite backendKind = iota + 1
	kindPostgres
)

// parseURL tells which backend url names and returns what that backend's
// opener needs: a file path or file: URI for SQLite, the URL for PostgreSQL.
func parseURL(url string) (backendKind, string, error) {
	u := strings.TrimSpace(url)
	lower := strings.ToLower(u)
	switch {
	case u == "":
		return kindSQLite, DefaultURL, nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return kindPostgres, u, nil
	case strings.HasPrefix(lower, "sqlite:"):
		p := strings.TrimPrefix(u[len("sqlite:"):], "//")
		if p == "" {
			return 0, "", dispatcher.Errorf(dispatcher.EINVALID, "database URL %q has no file path: use sqlite:PATH, e.g. sqlite:./herald.db", url)
		}
		return checkSQLitePath(url, p)
	case strings.HasPrefix(lower, "file:"):
		if len(u) == len("file:") || strings.HasPrefix(u[len("file:"):], "?") {
			return 0, "", dispatcher.Errorf(dispatcher.EINVALID, "database URL %q has no file path: use file:PATH, e.g. file:./herald.db", url)
		}
		if strings.Contains(lower, ":memory:") || strings.Contains(lower, "mode=memory") {
			return 0, "", errMemory(url)
		}
		return kindSQLite, "file:" + u[len("file:"):], nil
	case strings.Contains(u, "://"):
		return 0, "", dispatcher.Errorf(dispatcher.EINVALID, "unsupported database URL %q: use postgres://..., sqlite:PATH or a file path", redactURL(u))
	}
	return checkSQLitePath(url, u)
}

func checkSQLitePath(url, p string) (backendKind, string, error) {
	if p == ":memory:" {
		return 0, "", errMemory(url)
	}
	if strings.ContainsAny(p, "?#") {
		return 0, "", dispatcher.Errorf(dispatcher.EINVALID, "database path %q contains ? or #: use a file:URI with percent-encoding", url)
	}
	return kindSQLite, p, nil
}

func errMemory(url string) error {
	return dispatcher.Errorf(dispatcher.EINVALID, "in-memory SQLite (%q) is not supported: the ledger must outlive the process; give a file path", url)
}

// redactURL hides a password in a URL shown in an error message.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":xxxxx" + u[at:]
	}
	return u
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.d.name(), err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping %s readers: %w", s.d.name(), err)
		}
	}
	return nil
}

// Close closes every connection. The DB must not be used afterwards.
func (s *DB) Close() error {
	if s.onClose != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := s.w.ExecContext(ctx, s.onClose); err != nil {
			s.log.Debug("store close hook failed", "backend", s.d.name(), "err", err)
		}
		cancel()
	}
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs queries written with ? placeholders on a pool, a connection
// or a transaction, rewriting them for the dialect.
type runner struct {
	q queryer
	d dialect
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.d.rebind(query), args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.d.rebind(query), args...)
}

// txn is a write transaction. It keeps the connection it runs on so that
// the PostgreSQL bulk path can reach pgx's COPY on the same transaction.
type txn struct {
	runner
	conn *sql.Conn
}

// reader returns a runner for plain reads.
func (s *DB) reader() runner { return runner{q: s.r, d: s.d} }

// write runs fn in a write transaction, committing when it returns nil.
// On SQLite the transaction starts with BEGIN IMMEDIATE, taking the write
// lock up front, so it never fails half-way with "database is locked".
func (s *DB) write(ctx context.Context, fn func(tx *txn) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&txn{runner: runner{q: tx, d: s.d}, conn: conn}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// snapshot runs fn in a read-only transaction, so that several queries see
// one consistent state (PostgreSQL: REPEATABLE READ; SQLite: a WAL read
// transaction).
func (s *DB) snapshot(ctx context.Context, fn func(r runner) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.d.snapshotLevel()})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(runner{q: tx, d: s.d})
}

// stamp returns t in the ledger's resolution, or now when t is zero.
func (s *DB) stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = s.now()
	}
	return utc(t)
}

// collect reads every row of a query with scan and closes the rows; err is
// the query's own error, so that a query call can be passed straight in.
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanOne scans a single-column row.
func scanOne[T any](r *sql.Rows) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}

// notFound wraps dispatcher.ErrNotFound with what was looked for.
func notFound(what string, id int64) error {
	return fmt.Errorf("%s %d: %w", what, id, dispatcher.ErrNotFound)
}

// exists reports whether table has a row with the given id.
func exists(ctx context.Context, r runner, table string, id int64) (bool, error) {
	var one int
	err := r.queryRow(ctx, "SELECT 1 FROM "+table+" WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// staleOrNotFound explains why a conditional update touched no row.
func staleOrNotFound(ctx context.Context, r runner, table, what string, id int64) error {
	ok, err := exists(ctx, r, table, id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(what, id)
	}
	return fmt.Errorf("%s %d: %w", what, id, dispatcher.ErrStale)
}
