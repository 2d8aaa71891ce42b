package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgUniqueViolation is PostgreSQL's SQLSTATE for unique_violation.
const pgUniqueViolation = "23505"

// pgMigrationLock is the first key of the advisory lock taken while
// migrating; the second is derived from the schema, so that databases in
// different schemas migrate independently.
const pgMigrationLock = 0x6865726c // "herl"

const pgDefaultConns = 10

func openPostgres(ctx context.Context, url string, o options) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse postgres URL %s: %w", redactURL(url), err)
	}
	db := stdlib.OpenDB(*cfg)
	n := o.maxConns
	if n <= 0 {
		n = pgDefaultConns
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: connect to postgres %s: %w", redactURL(url), err)
	}
	o.log.Debug("store opened", "backend", "postgres", "max_conns", n, "copy", !o.noCopy)
	return &DB{d: postgresDialect{copy: !o.noCopy}, w: db, r: db, log: o.log, now: o.now}, nil
}

type postgresDialect struct {
	copy bool // bulk inserts through COPY (else multi-row INSERT)
}

func (postgresDialect) name() string                      { return "postgres" }
func (postgresDialect) rebind(q string) string            { return rebindDollar(q) }
func (postgresDialect) maxParams() int                    { return 65535 }
func (postgresDialect) snapshotLevel() sql.IsolationLevel { return sql.LevelRepeatableRead }

func (postgresDialect) timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t)
}

func (postgresDialect) uniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == pgUniqueViolation
}

// nextIDs draws n values from the table's identity sequence. They need not
// be consecutive: other sessions draw from the same sequence.
func (postgresDialect) nextIDs(ctx context.Context, tx *txn, table string, n int) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)`, table, n)
	ids, err := collect(rows, err, scanOne[int64])
	if err != nil {
		return nil, fmt.Errorf("reserve %s ids: %w", table, err)
	}
	return ids, nil
}

func (d postgresDialect) bulkInsert(ctx context.Context, tx *txn, b *bulk) (int64, error) {
	if d.copy {
		return copyInsert(ctx, tx, b)
	}
	return multiRowInsert(ctx, tx, b)
}

// moveDeliveries moves the rows and appends their events in one statement:
// under READ COMMITTED two statements could see different rows, since a
// worker may move a delivery in between.
func (d postgresDialect) moveDeliveries(ctx context.Context, tx *txn, m move) (int64, error) {
	at := d.timeValue(m.at)
	args := append([]any{string(m.to), m.code, m.diagnostic, at}, m.args...)
	args = append(args, at, string(m.to), m.code, m.diagnostic)
	res, err := tx.exec(ctx, `WITH moved AS (
			UPDATE deliveries SET state = ?, attempt = '', code = ?, diagnostic = ?, updated_at = ?
			WHERE `+m.where+`
			RETURNING id)
		INSERT INTO events (delivery_id, at, state, provider_id, code, diagnostic)
		SELECT id, CAST(? AS timestamptz), CAST(? AS text), '', CAST(? AS text), CAST(? AS text) FROM moved ORDER BY id`, args...)
	if err != nil {
		return 0, fmt.Errorf("move deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, nil
}

// lockMigrations takes a transaction-scoped advisory lock, so a second
// process opening the database waits for the first to finish migrating and
// then finds nothing left to do.
func (postgresDialect) lockMigrations(ctx context.Context, tx *txn) error {
	_, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock(?, hashtext(COALESCE(current_schema(), '')))`, pgMigrationLock)
	if err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}

func (postgresDialect) migrationsTableDDL() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`
}

// withPgx runs fn on the pgx connection under tx, inside tx's transaction.
func withPgx(tx *txn, fn func(*pgx.Conn) error) error {
	return tx.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres connection is %T, not pgx", dc)
		}
		return fn(c.Conn())
	})
}
