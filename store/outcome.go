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

// DeliveryByProvider returns the delivery a provider message id (the
// Message-ID we set, a Twilio SID) belongs to, or ErrNotFound.
func (s *DB) DeliveryByProvider(ctx context.Context, providerID string) (*dispatcher.Delivery, error) {
	providerID = strings.TrimSpace(providerID)
	if providerID == "" {
		return nil, fmt.Errorf("store: delivery by provider id: %w", dispatcher.ErrNotFound)
	}
	d, err := scanDelivery(s.reader().queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE provider_id = ? AND provider_id <> '' ORDER BY id LIMIT 1`, providerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: delivery by provider id: %w", dispatcher.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: delivery by provider id: %w", err)
	}
	return &d, nil
}

// FirstSeen records a provider idempotency token and reports whether it
// is new: false means the event was applied before.
func (s *DB) FirstSeen(ctx context.Context, source, token string, at time.Time) (bool, error) {
	var first bool
	err := s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `INSERT INTO provider_tokens (source, token, seen_at) VALUES (?, ?, ?)
			ON CONFLICT (source, token) DO NOTHING`, source, token, s.d.timeValue(s.stamp(at)))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: provider token: %w", err)
	}
	return first, nil
}

// MarkComplaint flags a delivery whose recipient complained (marked it as
// spam), for the sender-reputation guard, and appends an event.
func (s *DB) MarkComplaint(ctx context.Context, deliveryID int64, source string, at time.Time) error {
	err := s.write(ctx, func(tx *txn) error {
		var state string
		if err := tx.queryRow(ctx, `SELECT state FROM deliveries WHERE id = ?`, deliveryID).Scan(&state); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("delivery", deliveryID)
			}
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE deliveries SET complained = 1 WHERE id = ?`, deliveryID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO events (delivery_id, at, state, provider_id, code, diagnostic) VALUES (?, ?, ?, '', 'complaint', ?)`,
			deliveryID, s.d.timeValue(s.stamp(at)), state, "the recipient reported the message as spam ("+source+")")
		return err
	})
	if err != nil {
		return fmt.Errorf("store: complaint on delivery %d: %w", deliveryID, err)
	}
	return nil
}

// finishedStates are the outcomes of an attempt the reputation guard
// counts, as the partial index deliveries_campaign_finished lists them.
var finishedStates = stateList(dispatcher.StateSent, dispatcher.StateDelivered, dispatcher.StateBouncedHard,
	dispatcher.StateBouncedSoft, dispatcher.StateFailed)

// Health counts the outcomes of a campaign's last n finished attempts on
// a channel (most recently updated first): how many were attempted, hard
// bounced, and complained about.
func (s *DB) Health(ctx context.Context, campaignID int64, channel dispatcher.ChannelKind, n int) (dispatcher.Health, error) {
	var h dispatcher.Health
	var hard, complaints sql.NullInt64
	// The state list is written out as literals, exactly as the partial
	// index deliveries_campaign_finished has it, so that both backends
	// see the query is covered by it.
	err := s.reader().queryRow(ctx, `SELECT COUNT(*),
			SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), SUM(complained)
		FROM (SELECT state, complained FROM deliveries
			WHERE campaign_id = ? AND channel = ? AND state IN (`+finishedStates+`)
			ORDER BY updated_at DESC LIMIT ?) recent`,
		string(dispatcher.StateBouncedHard), campaignID, string(channel), n).Scan(&h.Attempted, &hard, &complaints)
	if err != nil {
		return h, fmt.Errorf("store: health of campaign %d: %w", campaignID, err)
	}
	h.HardBounced, h.Complaints = hard.Int64, complaints.Int64
	return h, nil
}
