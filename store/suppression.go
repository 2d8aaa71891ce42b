package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// suppressionAddress is how an address is keyed on the suppression list:
// trimmed and lower-cased, so that Ola.Nordmann@Example.no and
// ola.nordmann@example.no are one entry (phone numbers have no case).
func suppressionAddress(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// Suppress adds an address to the cross-campaign suppression list, or
// refreshes it: a known address keeps its FirstSeen and takes the new
// LastSeen, Reason and Source. Zero times mean now; a zero LastSeen is
// FirstSeen.
func (s *DB) Suppress(ctx context.Context, sup dispatcher.Suppression) error {
	addr := suppressionAddress(sup.Address)
	if addr == "" {
		return dispatcher.Errorf(dispatcher.EINVALID, "store: suppress: empty %s address", sup.Channel)
	}
	first := s.stamp(sup.FirstSeen)
	last := first
	if !sup.LastSeen.IsZero() {
		last = utc(sup.LastSeen)
	}
	err := s.write(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO suppressions (channel, address, reason, source, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (channel, address) DO UPDATE SET
				reason = excluded.reason, source = excluded.source, last_seen = excluded.last_seen`,
			string(sup.Channel), addr, sup.Reason, sup.Source, s.d.timeValue(first), s.d.timeValue(last))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: suppress %s address: %w", sup.Channel, err)
	}
	return nil
}

// IsSuppressed returns the suppression of address on channel, or nil (and
// no error) when the address is not suppressed: not being on the list is
// the normal case, not a failure. The lookup ignores case and surrounding
// spaces.
func (s *DB) IsSuppressed(ctx context.Context, channel dispatcher.ChannelKind, address string) (*dispatcher.Suppression, error) {
	var sup dispatcher.Suppression
	err := s.reader().queryRow(ctx, `SELECT channel, address, reason, source, first_seen, last_seen
		FROM suppressions WHERE channel = ? AND address = ?`, string(channel), suppressionAddress(address)).
		Scan(&sup.Channel, &sup.Address, &sup.Reason, &sup.Source, timeCol{&sup.FirstSeen}, timeCol{&sup.LastSeen})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: look up %s suppression: %w", channel, err)
	}
	return &sup, nil
}

// SuppressedAmong returns the suppressions among addresses on channel,
// keyed by each address as given (the lookup ignores case and surrounding
// spaces, as IsSuppressed does).
func (s *DB) SuppressedAmong(ctx context.Context, channel dispatcher.ChannelKind, addresses []string) (map[string]dispatcher.Suppression, error) {
	byKey := make(map[string][]string, len(addresses))
	keys := make([]any, 0, len(addresses))
	for _, a := range addresses {
		k := suppressionAddress(a)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], a)
	}
	out := map[string]dispatcher.Suppression{}
	for start := 0; start < len(keys); start += idChunk {
		chunk := keys[start:min(start+idChunk, len(keys))]
		rows, err := s.reader().query(ctx, `SELECT channel, address, reason, source, first_seen, last_seen
			FROM suppressions WHERE channel = ? AND address IN (`+placeholders(len(chunk))+`)`,
			append([]any{string(channel)}, chunk...)...)
		sups, err := collect(rows, err, func(r *sql.Rows) (dispatcher.Suppression, error) {
			var sup dispatcher.Suppression
			err := r.Scan(&sup.Channel, &sup.Address, &sup.Reason, &sup.Source, timeCol{&sup.FirstSeen}, timeCol{&sup.LastSeen})
			return sup, err
		})
		if err != nil {
			return nil, fmt.Errorf("store: look up %d %s suppressions: %w", len(addresses), channel, err)
		}
		for _, sup := range sups {
			for _, a := range byKey[sup.Address] {
				out[a] = sup
			}
		}
	}
	return out, nil
}

// SuppressMany adds or refreshes many entries in one transaction, each as
// Suppress does, and returns how many addresses were not on the list
// before. An entry with an empty address fails the whole call.
func (s *DB) SuppressMany(ctx context.Context, ss []dispatcher.Suppression) (int, error) {
	for i, sup := range ss {
		if suppressionAddress(sup.Address) == "" {
			return 0, dispatcher.Errorf(dispatcher.EINVALID, "store: suppress: entry %d has an empty %s address", i+1, sup.Channel)
		}
	}
	added := 0
	err := s.write(ctx, func(tx *txn) error {
		added = 0
		for _, sup := range ss {
			addr := suppressionAddress(sup.Address)
			first := s.stamp(sup.FirstSeen)
			last := first
			if !sup.LastSeen.IsZero() {
				last = utc(sup.LastSeen)
			}
			var one int
			err := tx.queryRow(ctx, `SELECT 1 FROM suppressions WHERE channel = ? AND address = ?`, string(sup.Channel), addr).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				added++
			case err != nil:
				return err
			}
			_, err = tx.exec(ctx, `INSERT INTO suppressions (channel, address, reason, source, first_seen, last_seen)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (channel, address) DO UPDATE SET
					reason = excluded.reason, source = excluded.source, last_seen = excluded.last_seen`,
				string(sup.Channel), addr, sup.Reason, sup.Source, s.d.timeValue(first), s.d.timeValue(last))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: suppress %d addresses: %w", len(ss), err)
	}
	return added, nil
}

// Suppression list page sizes: the default and the most one page holds.
const (
	defaultSuppressionPage = 1000
	maxSuppressionPage     = 10000
)

// Suppressions pages through the suppression list in (channel, address)
// order after (q.AfterChannel, q.AfterAddress), keeping only q.Channel and
// q.Reason when they are set.
func (s *DB) Suppressions(ctx context.Context, q dispatcher.SuppressionQuery) ([]dispatcher.Suppression, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultSuppressionPage
	}
	limit = min(limit, maxSuppressionPage)
	where := "(channel > ? OR (channel = ? AND address > ?))"
	args := []any{string(q.AfterChannel), string(q.AfterChannel), q.AfterAddress}
	if q.Channel != "" {
		where += " AND channel = ?"
		args = append(args, string(q.Channel))
	}
	if q.Reason != "" {
		where += " AND reason = ?"
		args = append(args, q.Reason)
	}
	args = append(args, limit)
	rows, err := s.reader().query(ctx, `SELECT channel, address, reason, source, first_seen, last_seen
		FROM suppressions WHERE `+where+` ORDER BY channel, address LIMIT ?`, args...)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.Suppression, error) {
		var sup dispatcher.Suppression
		err := r.Scan(&sup.Channel, &sup.Address, &sup.Reason, &sup.Source, timeCol{&sup.FirstSeen}, timeCol{&sup.LastSeen})
		return sup, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list suppressions: %w", err)
	}
	return out, nil
}

// Unsuppress takes an address off the suppression list (ignoring case and
// surrounding spaces, as IsSuppressed does); ErrNotFound when it is not
// on it.
func (s *DB) Unsuppress(ctx context.Context, channel dispatcher.ChannelKind, address string) error {
	err := s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM suppressions WHERE channel = ? AND address = ?`, string(channel), suppressionAddress(address))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s address not on the suppression list: %w", channel, dispatcher.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: unsuppress: %w", err)
	}
	return nil
}

// Audit appends e to the audit log; a zero At means now.
func (s *DB) Audit(ctx context.Context, e dispatcher.AuditEntry) error {
	err := s.write(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
			s.d.timeValue(s.stamp(e.At)), e.Actor, e.Action, e.Subject, e.Detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: audit %s: %w", e.Action, err)
	}
	return nil
}
