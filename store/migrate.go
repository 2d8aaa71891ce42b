package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds the schema of each dialect as numbered steps,
// migrations/<dialect>/NNNN_name.sql. A step is never edited once released;
// a change is a new step.
//
//go:embed migrations/*/*.sql
var migrationFiles embed.FS

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// goStepMarker, on a line of its own in a migration, runs the Go step it
// names at that point of the migration, in the same transaction: for data
// that SQL cannot compute the same way on both backends (e.g. the name
// search key, which folds accents in Go).
const goStepMarker = "-- herald:go "

// goSteps are the Go steps migrations may name.
var goSteps = map[string]func(ctx context.Context, s *DB, tx *txn) error{
	"backfill-name-keys": backfillNameKeys,
}

// parts splits the migration at its Go step markers: SQL, then for each
// marker the step's name and the SQL after it.
func (m migration) parts() (sqls []string, steps []string, err error) {
	var cur strings.Builder
	for _, line := range strings.SplitAfter(m.sql, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), goStepMarker)
		if !ok {
			cur.WriteString(line)
			continue
		}
		name = strings.TrimSpace(name)
		if goSteps[name] == nil {
			return nil, nil, fmt.Errorf("migration %04d_%s names an unknown Go step %q", m.version, m.name, name)
		}
		sqls = append(sqls, cur.String())
		steps = append(steps, name)
		cur.Reset()
	}
	return append(sqls, cur.String()), steps, nil
}

// migrations returns the steps for dialect in version order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		v, name, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		m := migration{version: v, name: name, sql: string(b)}
		if _, _, err := m.parts(); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// parseMigrationName splits "0001_init.sql" into 1 and "init".
func parseMigrationName(file string) (int, string, error) {
	base, ok := strings.CutSuffix(file, ".sql")
	num, name, ok2 := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || !ok2 || err != nil || v <= 0 || name == "" {
		return 0, "", fmt.Errorf("migration file %q is not named NNNN_name.sql", file)
	}
	return v, name, nil
}

// migrate applies the steps the database has not seen, all in one
// transaction: a failure leaves the schema as it was. The dialect's lock
// keeps two processes from migrating at once; the second one waits and then
// finds every step recorded.
func (s *DB) migrate(ctx context.Context) error {
	steps, err := migrations(s.d.name())
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	var done []migration
	err = s.write(ctx, func(tx *txn) error {
		done = done[:0]
		if err := s.d.lockMigrations(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, s.d.migrationsTableDDL()); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		known := map[int]bool{}
		for _, m := range steps {
			known[m.version] = true
		}
		for v := range applied {
			if !known[v] {
				return fmt.Errorf("database has schema version %d, which this herald does not know: upgrade herald", v)
			}
		}
		for _, m := range steps {
			if applied[m.version] {
				continue
			}
			sqls, names, err := m.parts()
			if err != nil {
				return err
			}
			for i, q := range sqls {
				if strings.TrimSpace(q) != "" {
					if _, err := tx.exec(ctx, q); err != nil {
						return fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
					}
				}
				if i < len(names) {
					if err := goSteps[names[i]](ctx, s, tx); err != nil {
						return fmt.Errorf("apply migration %04d_%s, step %s: %w", m.version, m.name, names[i], err)
					}
				}
			}
			if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, s.d.timeValue(s.stamp(s.now()))); err != nil {
				return fmt.Errorf("record migration %04d: %w", m.version, err)
			}
			done = append(done, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", s.d.name(), err)
	}
	for _, m := range done {
		s.log.Info("schema migrated", "backend", s.d.name(), "version", m.version, "name", m.name)
	}
	return nil
}

func appliedVersions(ctx context.Context, tx *txn) (map[int]bool, error) {
	rows, err := tx.query(ctx, `SELECT version FROM schema_migrations`)
	versions, err := collect(rows, err, scanOne[int])
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}
