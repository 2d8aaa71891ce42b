package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// Page sizes for Deliveries when the query gives no limit, and the most it
// may ask for.
const (
	defaultPage = 1000
	maxPage     = 10000
)

// idChunk bounds the ids in one statement, well under both backends'
// parameter limits.
const idChunk = 5000

const deliveryCols = `id, campaign_id, contact_id, channel, seq, state, generation, attempt, address,
	provider_id, code, diagnostic, updated_at, not_before`

// deliveryDest returns the scan destinations for deliveryCols into d.
func deliveryDest(d *dispatcher.Delivery) []any {
	return []any{&d.ID, &d.CampaignID, &d.ContactID, &d.Channel, &d.Seq, &d.State, &d.Generation, &d.Attempt,
		&d.Address, &d.ProviderID, &d.Code, &d.Diagnostic, timeCol{&d.UpdatedAt}, timeCol{&d.NotBefore}}
}

func scanDelivery(sc interface{ Scan(...any) error }) (dispatcher.Delivery, error) {
	var d dispatcher.Delivery
	err := sc.Scan(deliveryDest(&d)...)
	return d, err
}

func collectDeliveries(rows *sql.Rows, err error) ([]dispatcher.Delivery, error) {
	return collect(rows, err, func(r *sql.Rows) (dispatcher.Delivery, error) { return scanDelivery(r) })
}

// Delivery returns delivery id, or ErrNotFound.
func (s *DB) Delivery(ctx context.Context, id int64) (*dispatcher.Delivery, error) {
	d, err := scanDelivery(s.reader().queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %w", notFound("delivery", id))
	}
	if err != nil {
		return nil, fmt.Errorf("store: delivery %d: %w", id, err)
	}
	return &d, nil
}

// InsertDeliveries stores new deliveries (a fallback channel, say), each
// with its creation event, and returns them with IDs set. A delivery for a
// contact × channel that already exists is left alone and returned with
// ID 0, which is how two workers planning the same fallback end up with
// one delivery. UpdatedAt defaults to now.
func (s *DB) InsertDeliveries(ctx context.Context, ds []dispatcher.Delivery) ([]dispatcher.Delivery, error) {
	out := append([]dispatcher.Delivery(nil), ds...)
	err := s.write(ctx, func(tx *txn) error {
		return insertDeliveries(ctx, tx, out, s.stamp)
	})
	if err != nil {
		return nil, fmt.Errorf("store: insert deliveries: %w", err)
	}
	return out, nil
}

// Transition applies one conditional state change with a single UPDATE
// (state in t.From, generation = t.Generation and, when t.Attempt is set,
// attempt = t.Attempt) and appends its event, in one transaction. When no
// row matches it returns ErrNotFound if the delivery does not exist and
// ErrStale otherwise. Empty Address and ProviderID keep the stored values;
// Code, Diagnostic and NotBefore are always replaced; BumpGeneration adds
// one to the generation; NoEvent leaves the history alone.
func (s *DB) Transition(ctx context.Context, t dispatcher.Transition) error {
	if len(t.From) == 0 {
		return dispatcher.Errorf(dispatcher.EINVALID, "store: transition delivery %d: no from state given", t.DeliveryID)
	}
	err := s.write(ctx, func(tx *txn) error {
		ok, err := transitionOne(ctx, tx, s.stamp, t)
		if err != nil || ok {
			return err
		}
		return staleOrNotFound(ctx, tx.runner, "deliveries", "delivery", t.DeliveryID)
	})
	if err != nil {
		return fmt.Errorf("store: transition delivery %d to %s: %w", t.DeliveryID, t.To, err)
	}
	return nil
}

// transitionOne applies t within tx and reports whether the row matched.
func transitionOne(ctx context.Context, tx *txn, stamp func(time.Time) time.Time, t dispatcher.Transition) (bool, error) {
	at := stamp(t.At)
	set := "state = ?, attempt = ?, code = ?, diagnostic = ?, updated_at = ?, not_before = ?"
	args := []any{string(t.To), t.NewAttempt, t.Code, t.Diagnostic, tx.d.timeValue(at), notBefore(tx.d, t.NotBefore)}
	if t.BumpGeneration {
		set += ", generation = generation + 1"
	}
	if t.Address != "" {
		set += ", address = ?"
		args = append(args, t.Address)
	}
	if t.ProviderID != "" {
		set += ", provider_id = ?"
		args = append(args, t.ProviderID)
	}
	where := "id = ? AND generation = ? AND state IN (" + placeholders(len(t.From)) + ")"
	args = append(args, t.DeliveryID, t.Generation)
	args = append(args, stateArgs(t.From)...)
	if t.Attempt != "" {
		where += " AND attempt = ?"
		args = append(args, t.Attempt)
	}
	res, err := tx.exec(ctx, `UPDATE deliveries SET `+set+` WHERE `+where, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if t.NoEvent {
		return true, nil
	}
	_, err = tx.exec(ctx, `INSERT INTO events (delivery_id, at, state, provider_id, code, diagnostic)
		VALUES (?, ?, ?, ?, ?, ?)`, t.DeliveryID, tx.d.timeValue(at), string(t.To), t.ProviderID, t.Code, t.Diagnostic)
	return err == nil, err
}

// notBefore encodes a NotBefore time: NULL when zero.
func notBefore(d dialect, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.timeValue(utc(t))
}

// Transitions applies ts in one transaction, each as Transition does, and
// returns the IDs of those whose row did not match (stale or missing). For
// each applied transition the deliveries follow holds under its
// DeliveryID are inserted too, as InsertDeliveries does, and returned with
// their IDs (a delivery whose contact × channel exists keeps ID 0).
func (s *DB) Transitions(ctx context.Context, ts []dispatcher.Transition, follow map[int64][]dispatcher.Delivery) ([]int64, []dispatcher.Delivery, error) {
	if len(ts) == 0 {
		return nil, nil, nil
	}
	for _, t := range ts {
		if len(t.From) == 0 {
			return nil, nil, dispatcher.Errorf(dispatcher.EINVALID, "store: transition delivery %d: no from state given", t.DeliveryID)
		}
	}
	var stale []int64
	var inserted []dispatcher.Delivery
	err := s.write(ctx, func(tx *txn) error {
		stale, inserted = nil, nil
		applied, err := s.d.transitions(ctx, tx, s.stamp, ts)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if !applied[t.DeliveryID] {
				stale = append(stale, t.DeliveryID)
				continue
			}
			inserted = append(inserted, follow[t.DeliveryID]...)
		}
		return insertDeliveries(ctx, tx, inserted, s.stamp)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: record %d transitions: %w", len(ts), err)
	}
	return stale, inserted, nil
}

// Claim moves the due, pending or queued deliveries among c.Items (at the
// item's generation) to sending with attempt c.Attempt and returns them
// with their contacts, in delivery ID order.
func (s *DB) Claim(ctx context.Context, c dispatcher.Claim) ([]dispatcher.Claimed, error) {
	if len(c.Items) == 0 {
		return nil, nil
	}
	if c.Attempt == "" {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "store: claim: no attempt id given")
	}
	at := s.stamp(c.At)
	var out []dispatcher.Claimed
	err := s.write(ctx, func(tx *txn) error {
		out = out[:0]
		for start := 0; start < len(c.Items); start += idChunk / 2 {
			chunk := c.Items[start:min(start+idChunk/2, len(c.Items))]
			got, err := s.d.claim(ctx, tx, chunk, c.Attempt, at)
			if err != nil {
				return err
			}
			out = append(out, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim %d deliveries: %w", len(c.Items), err)
	}
	slices.SortFunc(out, func(a, b dispatcher.Claimed) int { return cmp.Compare(a.Delivery.ID, b.Delivery.ID) })
	return out, nil
}

// claimableStates are the states a worker may claim a delivery from.
var claimableStates = stateList(dispatcher.StatePending, dispatcher.StateQueued)

// PendingAfter returns up to limit of a campaign's pending deliveries on
// channel k with IDs above afterID, in ID order (the deliveries_pending
// partial index).
func (s *DB) PendingAfter(ctx context.Context, campaignID int64, k dispatcher.ChannelKind, afterID int64, limit int) ([]dispatcher.JobItem, error) {
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage)
	rows, err := s.reader().query(ctx, `SELECT id, generation FROM deliveries
		WHERE campaign_id = ? AND channel = ? AND state = '`+string(dispatcher.StatePending)+`' AND id > ?
		ORDER BY id LIMIT ?`, campaignID, string(k), afterID, limit)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.JobItem, error) {
		var it dispatcher.JobItem
		err := r.Scan(&it.DeliveryID, &it.Generation)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending %s deliveries of campaign %d: %w", k, campaignID, err)
	}
	return out, nil
}

// Deliveries pages through a campaign's deliveries in q.States (every state
// when empty), in ID order after q.AfterID; a non-zero q.UpdatedBefore
// keeps only rows last changed strictly before it. q.Limit defaults to 1000
// and is capped at 10000.
//
// Each state is read as its own range of the (campaign_id, state, id) index
// and the ranges are merged, so a page costs the same at the end of a
// campaign of millions as at the start: one IN (...) over several states
// would make the database collect and sort every remaining row per page.
func (s *DB) Deliveries(ctx context.Context, q dispatcher.DeliveryQuery) ([]dispatcher.Delivery, error) {
	states := q.States
	if len(states) == 0 {
		states = dispatcher.AllStates
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage)
	arm := "SELECT " + deliveryCols + " FROM deliveries WHERE campaign_id = ? AND state = ? AND id > ?"
	if !q.UpdatedBefore.IsZero() {
		arm += " AND updated_at < ?"
	}
	arm += " ORDER BY id LIMIT ?"
	arms := make([]string, len(states))
	var args []any
	for i, st := range states {
		arms[i] = "SELECT * FROM (" + arm + ") s" + strconv.Itoa(i)
		args = append(args, q.CampaignID, string(st), q.AfterID)
		if !q.UpdatedBefore.IsZero() {
			args = append(args, s.d.timeValue(q.UpdatedBefore))
		}
		args = append(args, limit)
	}
	query := "SELECT * FROM (" + strings.Join(arms, " UNION ALL ") + ") page ORDER BY id LIMIT ?"
	args = append(args, limit)
	out, err := collectDeliveries(s.reader().query(ctx, query, args...))
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of campaign %d: %w", q.CampaignID, err)
	}
	return out, nil
}

// CancelUnsent moves every pending or queued delivery of a campaign to
// cancelled, each with an event, and returns how many moved. Deliveries a
// worker holds in sending are left to finish.
func (s *DB) CancelUnsent(ctx context.Context, campaignID int64, at time.Time) (int64, error) {
	at = s.stamp(at)
	var n int64
	err := s.write(ctx, func(tx *txn) error {
		var err error
		n, err = s.d.moveDeliveries(ctx, tx, move{
			where:      "campaign_id = ? AND state IN (" + stateList(dispatcher.StatePending, dispatcher.StateQueued) + ")",
			args:       []any{campaignID},
			to:         dispatcher.StateCancelled,
			at:         at,
			diagnostic: "campaign cancelled",
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: cancel unsent deliveries of campaign %d: %w", campaignID, err)
	}
	s.log.Info("unsent deliveries cancelled", "campaign", campaignID, "count", n)
	return n, nil
}

// CountUnfinished counts a campaign's deliveries that are pending, queued
// or sending.
func (s *DB) CountUnfinished(ctx context.Context, campaignID int64) (int64, error) {
	var n int64
	err := s.reader().queryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE campaign_id = ? AND state IN (`+
		stateList(dispatcher.Unfinished...)+`)`, campaignID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count unfinished deliveries of campaign %d: %w", campaignID, err)
	}
	return n, nil
}

// DeliveriesOf returns a contact's deliveries in policy order (Seq).
func (s *DB) DeliveriesOf(ctx context.Context, contactID int64) ([]dispatcher.Delivery, error) {
	out, err := collectDeliveries(s.reader().query(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE contact_id = ? ORDER BY seq, id`, contactID))
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of contact %d: %w", contactID, err)
	}
	return out, nil
}

// DeliveriesOfContacts returns the deliveries of the given contacts, by
// contact and then policy order.
func (s *DB) DeliveriesOfContacts(ctx context.Context, contactIDs []int64) ([]dispatcher.Delivery, error) {
	var out []dispatcher.Delivery
	for start := 0; start < len(contactIDs); start += idChunk {
		chunk := contactIDs[start:min(start+idChunk, len(contactIDs))]
		ds, err := collectDeliveries(s.reader().query(ctx, `SELECT `+deliveryCols+` FROM deliveries
			WHERE contact_id IN (`+placeholders(len(chunk))+`) ORDER BY contact_id, seq, id`, int64Args(chunk)...))
		if err != nil {
			return nil, fmt.Errorf("store: deliveries of %d contacts: %w", len(contactIDs), err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

const eventCols = `id, delivery_id, at, state, provider_id, code, diagnostic`

func collectEvents(rows *sql.Rows, err error) ([]dispatcher.Event, error) {
	return collect(rows, err, func(r *sql.Rows) (dispatcher.Event, error) {
		var e dispatcher.Event
		err := r.Scan(&e.ID, &e.DeliveryID, timeCol{&e.At}, &e.State, &e.ProviderID, &e.Code, &e.Diagnostic)
		return e, err
	})
}

// Events returns a delivery's history, oldest first.
func (s *DB) Events(ctx context.Context, deliveryID int64) ([]dispatcher.Event, error) {
	out, err := collectEvents(s.reader().query(ctx, `SELECT `+eventCols+` FROM events WHERE delivery_id = ? ORDER BY id`, deliveryID))
	if err != nil {
		return nil, fmt.Errorf("store: events of delivery %d: %w", deliveryID, err)
	}
	return out, nil
}

// EventsOfDeliveries returns the histories of many deliveries at once, by
// delivery ID and then oldest first.
func (s *DB) EventsOfDeliveries(ctx context.Context, deliveryIDs []int64) ([]dispatcher.Event, error) {
	var out []dispatcher.Event
	for start := 0; start < len(deliveryIDs); start += idChunk {
		chunk := deliveryIDs[start:min(start+idChunk, len(deliveryIDs))]
		es, err := collectEvents(s.reader().query(ctx, `SELECT `+eventCols+` FROM events
			WHERE delivery_id IN (`+placeholders(len(chunk))+`) ORDER BY delivery_id, id`, int64Args(chunk)...))
		if err != nil {
			return nil, fmt.Errorf("store: events of %d deliveries: %w", len(deliveryIDs), err)
		}
		out = append(out, es...)
	}
	return out, nil
}
