package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/dispatcher"
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

// claim updates the rows and returns them joined with their contacts in
// one statement. The items travel as two arrays, so the statement text is
// the same for every batch and pgx prepares it once per connection.
func (d postgresDialect) claim(ctx context.Context, tx *txn, items []dispatcher.JobItem, attempt string, at time.Time) ([]dispatcher.Claimed, error) {
	ids := make([]int64, len(items))
	gens := make([]int32, len(items))
	for i, it := range items {
		ids[i], gens[i] = it.DeliveryID, int32(it.Generation)
	}
	rows, err := tx.query(ctx, `UPDATE deliveries AS d SET state = '`+string(dispatcher.StateSending)+`', attempt = ?, updated_at = ?
		FROM unnest(CAST(? AS bigint[]), CAST(? AS integer[])) AS t (id, gen), contacts AS c
		WHERE d.id = t.id AND d.generation = t.gen AND d.state IN (`+claimableStates+`)
		AND (d.not_before IS NULL OR d.not_before <= ?) AND c.id = d.contact_id
		RETURNING `+qualify("d", deliveryCols)+`, `+qualify("c", contactCols),
		attempt, d.timeValue(at), ids, gens, d.timeValue(at))
	return collect(rows, err, func(r *sql.Rows) (dispatcher.Claimed, error) {
		var cl dispatcher.Claimed
		var cs contactScan
		if err := r.Scan(append(deliveryDest(&cl.Delivery), cs.dest(&cl.Contact)...)...); err != nil {
			return cl, err
		}
		return cl, cs.finish(&cl.Contact)
	})
}

// transitions applies every transition with one statement: the
// transitions travel as arrays, one UPDATE ... FROM unnest(...) moves the
// rows that match, and a data-modifying CTE appends their events. A
// hundred outcomes cost one round trip and one plan, not a hundred.
func (d postgresDialect) transitions(ctx context.Context, tx *txn, stamp func(time.Time) time.Time, ts []dispatcher.Transition) (map[int64]bool, error) {
	n := len(ts)
	var (
		ids        = make([]int64, n)
		gens       = make([]int32, n)
		attempts   = make([]string, n)
		froms      = make([]string, n)
		tos        = make([]string, n)
		newAttempt = make([]string, n)
		bumps      = make([]int32, n)
		addrs      = make([]string, n)
		providers  = make([]string, n)
		codes      = make([]string, n)
		diags      = make([]string, n)
		ats        = make([]time.Time, n)
		notBefores = make([]*time.Time, n)
		events     = make([]bool, n)
	)
	for i, t := range ts {
		ids[i], gens[i], attempts[i] = t.DeliveryID, int32(t.Generation), t.Attempt
		from := make([]string, len(t.From))
		for j, st := range t.From {
			from[j] = string(st)
		}
		froms[i] = strings.Join(from, ",")
		tos[i], newAttempt[i] = string(t.To), t.NewAttempt
		if t.BumpGeneration {
			bumps[i] = 1
		}
		addrs[i], providers[i], codes[i], diags[i] = t.Address, t.ProviderID, t.Code, t.Diagnostic
		ats[i] = stamp(t.At)
		if !t.NotBefore.IsZero() {
			nb := utc(t.NotBefore)
			notBefores[i] = &nb
		}
		events[i] = !t.NoEvent
	}
	rows, err := tx.query(ctx, `WITH v AS (
			SELECT * FROM unnest(CAST(? AS bigint[]), CAST(? AS integer[]), CAST(? AS text[]), CAST(? AS text[]),
				CAST(? AS text[]), CAST(? AS text[]), CAST(? AS integer[]), CAST(? AS text[]), CAST(? AS text[]),
				CAST(? AS text[]), CAST(? AS text[]), CAST(? AS timestamptz[]), CAST(? AS timestamptz[]), CAST(? AS boolean[]))
				AS v (id, gen, attempt, from_states, to_state, new_attempt, bump, address, provider_id, code, diagnostic, at, not_before, event)
		), moved AS (
			UPDATE deliveries AS d SET state = v.to_state, attempt = v.new_attempt, generation = d.generation + v.bump,
				address = CASE WHEN v.address = '' THEN d.address ELSE v.address END,
				provider_id = CASE WHEN v.provider_id = '' THEN d.provider_id ELSE v.provider_id END,
				code = v.code, diagnostic = v.diagnostic, updated_at = v.at, not_before = v.not_before
			FROM v
			WHERE d.id = v.id AND d.generation = v.gen AND d.state = ANY (string_to_array(v.from_states, ','))
				AND (v.attempt = '' OR d.attempt = v.attempt)
			RETURNING d.id, v.event, v.at, v.to_state, v.provider_id, v.code, v.diagnostic
		), appended AS (
			INSERT INTO events (delivery_id, at, state, provider_id, code, diagnostic)
			SELECT id, at, to_state, provider_id, code, diagnostic FROM moved WHERE event ORDER BY id
		)
		SELECT id FROM moved`,
		ids, gens, attempts, froms, tos, newAttempt, bumps, addrs, providers, codes, diags, ats, notBefores, events)
	moved, err := collect(rows, err, scanOne[int64])
	if err != nil {
		return nil, fmt.Errorf("transitions: %w", err)
	}
	applied := make(map[int64]bool, len(moved))
	for _, id := range moved {
		applied[id] = true
	}
	return applied, nil
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
