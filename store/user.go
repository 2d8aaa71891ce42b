package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

var _ dispatcher.UserStore = (*DB)(nil)

// Audit log page sizes: the default when the limit is not positive, and the
// most one page may hold.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

const userCols = `id, name, role, password_hash, created_at, updated_at`

func scanUser(sc interface{ Scan(...any) error }) (*dispatcher.User, error) {
	var u dispatcher.User
	err := sc.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser inserts u and sets its ID, CreatedAt and UpdatedAt. A taken
// name is ECONFLICT; a bad name or role is EINVALID.
func (s *DB) CreateUser(ctx context.Context, u *dispatcher.User) error {
	if err := dispatcher.ValidateUserName(u.Name); err != nil {
		return err
	}
	if _, err := dispatcher.ParseRole(string(u.Role)); err != nil {
		return err
	}
	now := s.stamp(time.Time{})
	var id int64
	err := s.write(ctx, func(tx *txn) error {
		err := tx.queryRow(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`,
			u.Name, string(u.Role), u.PasswordHash, s.d.timeValue(now), s.d.timeValue(now)).Scan(&id)
		if s.d.uniqueViolation(err) {
			return dispatcher.Errorf(dispatcher.ECONFLICT, "user %q already exists", u.Name)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, now, now
	return nil
}

// User returns user id, or ErrNotFound.
func (s *DB) User(ctx context.Context, id int64) (*dispatcher.User, error) {
	u, err := scanUser(s.reader().queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %w", notFound("user", id))
	}
	if err != nil {
		return nil, fmt.Errorf("store: user %d: %w", id, err)
	}
	return u, nil
}

// UserByName returns the user signing in as name, or ErrNotFound.
func (s *DB) UserByName(ctx context.Context, name string) (*dispatcher.User, error) {
	u, err := scanUser(s.reader().queryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: user %q: %w", name, dispatcher.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: user by name: %w", err)
	}
	return u, nil
}

// Users lists every user in name order.
func (s *DB) Users(ctx context.Context) ([]dispatcher.User, error) {
	rows, err := s.reader().query(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.User, error) {
		u, err := scanUser(r)
		if err != nil {
			return dispatcher.User{}, err
		}
		return *u, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

// SetPassword replaces the password hash of user userID and deletes every
// session of that user in the same transaction.
func (s *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	err := s.write(ctx, func(tx *txn) error {
		if err := updateUser(ctx, tx, userID, `password_hash = ?`, hash, s.d.timeValue(s.stamp(time.Time{}))); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password of user %d: %w", userID, err)
	}
	return nil
}

// SetRole changes the role of user userID.
func (s *DB) SetRole(ctx context.Context, userID int64, role dispatcher.Role) error {
	if _, err := dispatcher.ParseRole(string(role)); err != nil {
		return err
	}
	err := s.write(ctx, func(tx *txn) error {
		return updateUser(ctx, tx, userID, `role = ?`, string(role), s.d.timeValue(s.stamp(time.Time{})))
	})
	if err != nil {
		return fmt.Errorf("store: set role of user %d: %w", userID, err)
	}
	return nil
}

// updateUser sets one column (set, with one placeholder) and updated_at.
func updateUser(ctx context.Context, tx *txn, userID int64, set string, value, updated any) error {
	res, err := tx.exec(ctx, `UPDATE users SET `+set+`, updated_at = ? WHERE id = ?`, value, updated, userID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound("user", userID)
	}
	return nil
}

// DeleteUser removes user userID; its sessions and tokens go with it.
// The audit log keeps naming the user: it is history.
func (s *DB) DeleteUser(ctx context.Context, userID int64) error {
	err := s.write(ctx, func(tx *txn) error {
		// Explicit deletes as well as the foreign keys' cascade, so that
		// revocation never depends on a connection's foreign_keys pragma.
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = ?`, `DELETE FROM api_tokens WHERE user_id = ?`} {
			if _, err := tx.exec(ctx, q, userID); err != nil {
				return err
			}
		}
		res, err := tx.exec(ctx, `DELETE FROM users WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("user", userID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete user %d: %w", userID, err)
	}
	return nil
}

// CreateSession stores a new session. Zero CreatedAt and LastSeen mean
// now.
func (s *DB) CreateSession(ctx context.Context, sess *dispatcher.Session) error {
	if sess.IDHash == "" || sess.ExpiresAt.IsZero() {
		return fmt.Errorf("store: create session: id hash and expiry are required")
	}
	sess.CreatedAt = s.stamp(sess.CreatedAt)
	if sess.LastSeen.IsZero() {
		sess.LastSeen = sess.CreatedAt
	}
	sess.LastSeen, sess.ExpiresAt = utc(sess.LastSeen), utc(sess.ExpiresAt)
	err := s.write(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, sess.IDHash, sess.UserID, sess.CSRFToken,
			s.d.timeValue(sess.CreatedAt), s.d.timeValue(sess.LastSeen), s.d.timeValue(sess.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create session for user %d: %w", sess.UserID, err)
	}
	return nil
}

// Session returns the session with id hash idHash that has not expired as
// of now, with its user.
func (s *DB) Session(ctx context.Context, idHash string, now time.Time) (*dispatcher.Session, *dispatcher.User, error) {
	var sess dispatcher.Session
	var u dispatcher.User
	err := s.reader().queryRow(ctx, `SELECT s.id_hash, s.user_id, s.csrf_token, s.created_at, s.last_seen, s.expires_at,
			u.id, u.name, u.role, u.password_hash, u.created_at, u.updated_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = ? AND s.expires_at > ?`, idHash, s.d.timeValue(utc(now))).
		Scan(&sess.IDHash, &sess.UserID, &sess.CSRFToken, timeCol{&sess.CreatedAt}, timeCol{&sess.LastSeen}, timeCol{&sess.ExpiresAt},
			&u.ID, &u.Name, &u.Role, &u.PasswordHash, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: session: %w", dispatcher.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: session: %w", err)
	}
	return &sess, &u, nil
}

// TouchSession sets a session's last activity.
func (s *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	err := s.write(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `UPDATE sessions SET last_seen = ? WHERE id_hash = ?`, s.d.timeValue(s.stamp(at)), idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session; a missing one is not an error.
func (s *DB) DeleteSession(ctx context.Context, idHash string) error {
	err := s.write(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes every session that expired before now.
func (s *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, s.d.timeValue(utc(now)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}

const tokenCols = `id, user_id, label, hash, created_at, last_used`

func scanToken(sc interface{ Scan(...any) error }) (dispatcher.APIToken, error) {
	var t dispatcher.APIToken
	err := sc.Scan(&t.ID, &t.UserID, &t.Label, &t.Hash, timeCol{&t.CreatedAt}, timeCol{&t.LastUsed})
	return t, err
}

// CreateAPIToken stores t and sets its ID and CreatedAt.
func (s *DB) CreateAPIToken(ctx context.Context, t *dispatcher.APIToken) error {
	if t.Hash == "" {
		return fmt.Errorf("store: create API token: hash is required")
	}
	created := s.stamp(t.CreatedAt)
	var id int64
	err := s.write(ctx, func(tx *txn) error {
		if ok, err := exists(ctx, tx.runner, "users", t.UserID); err != nil {
			return err
		} else if !ok {
			return notFound("user", t.UserID)
		}
		return tx.queryRow(ctx, `INSERT INTO api_tokens (user_id, label, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			t.UserID, t.Label, t.Hash, s.d.timeValue(created)).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("store: create API token for user %d: %w", t.UserID, err)
	}
	t.ID, t.CreatedAt = id, created
	return nil
}

// APIToken returns the token whose secret hashes to hash, with its user.
func (s *DB) APIToken(ctx context.Context, hash string) (*dispatcher.APIToken, *dispatcher.User, error) {
	var t dispatcher.APIToken
	var u dispatcher.User
	err := s.reader().queryRow(ctx, `SELECT t.id, t.user_id, t.label, t.hash, t.created_at, t.last_used,
			u.id, u.name, u.role, u.password_hash, u.created_at, u.updated_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hash).
		Scan(&t.ID, &t.UserID, &t.Label, &t.Hash, timeCol{&t.CreatedAt}, timeCol{&t.LastUsed},
			&u.ID, &u.Name, &u.Role, &u.PasswordHash, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: API token: %w", dispatcher.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: API token: %w", err)
	}
	return &t, &u, nil
}

// APITokens lists the tokens of user userID (every user's when 0), oldest
// first.
func (s *DB) APITokens(ctx context.Context, userID int64) ([]dispatcher.APIToken, error) {
	q := `SELECT ` + tokenCols + ` FROM api_tokens`
	var args []any
	if userID != 0 {
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	rows, err := s.reader().query(ctx, q+` ORDER BY id`, args...)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.APIToken, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("store: API tokens: %w", err)
	}
	return out, nil
}

// TouchAPIToken records that token id was used at at.
func (s *DB) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	err := s.write(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, s.d.timeValue(s.stamp(at)), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: touch API token %d: %w", id, err)
	}
	return nil
}

// DeleteAPIToken revokes token id.
func (s *DB) DeleteAPIToken(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("API token", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete API token: %w", err)
	}
	return nil
}

// AuditLog reads audit entries newest first. An Action ending in "."
// selects every action with that prefix.
func (s *DB) AuditLog(ctx context.Context, q dispatcher.AuditQuery) ([]dispatcher.AuditRecord, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditPage
	}
	limit = min(limit, maxAuditPage)
	var where []string
	var args []any
	if q.BeforeID > 0 {
		where, args = append(where, `id < ?`), append(args, q.BeforeID)
	}
	if q.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, q.Actor)
	}
	switch {
	case strings.HasSuffix(q.Action, "."):
		where, args = append(where, `SUBSTR(action, 1, ?) = ?`), append(args, len(q.Action), q.Action)
	case q.Action != "":
		where, args = append(where, `action = ?`), append(args, q.Action)
	}
	query := `SELECT id, at, actor, action, subject, detail FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := s.reader().query(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.AuditRecord, error) {
		var e dispatcher.AuditRecord
		err := r.Scan(&e.ID, timeCol{&e.At}, &e.Actor, &e.Action, &e.Subject, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}
