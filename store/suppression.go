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
