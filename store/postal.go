package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// Print batches of the postal channel (see dispatcher/postal.go). A batch
// is a row of postal_batches; its letters are the postal deliveries whose
// provider_id is the batch's reference ("print-batch-<id>"), found through
// the deliveries_provider index.

// Letter page sizes: the default and the most one page holds (the contacts
// of a page are read with one IN list).
const (
	defaultLetterPage = 1000
	maxLetterPage     = 1000
)

const postalBatchCols = `id, campaign_id, status, letters, created_at, mailed_at`

var sqlPostal = "'" + string(dispatcher.Postal) + "'"

func scanPostalBatch(sc interface{ Scan(...any) error }) (dispatcher.PostalBatch, error) {
	var b dispatcher.PostalBatch
	err := sc.Scan(&b.ID, &b.CampaignID, &b.Status, &b.Count, timeCol{&b.CreatedAt}, timeCol{&b.MailedAt})
	return b, err
}

// CreatePostalBatch records print batch b and hands those of deliveryIDs
// that are pending postal deliveries of b.CampaignID to print, in one
// transaction: each gets the batch's reference as provider_id, moves to
// handed_to_print and gets an event. b's ID, Status, Count and CreatedAt
// (now when zero) are set. When none of the deliveries is still pending
// nothing is recorded and ErrStale is returned; ErrNotFound when the
// campaign does not exist.
func (s *DB) CreatePostalBatch(ctx context.Context, b *dispatcher.PostalBatch, deliveryIDs []int64) error {
	created := s.stamp(b.CreatedAt)
	var id, moved int64
	err := s.write(ctx, func(tx *txn) error {
		if err := campaignExists(ctx, tx.runner, b.CampaignID); err != nil {
			return err
		}
		err := tx.queryRow(ctx, `INSERT INTO postal_batches (campaign_id, status, letters, created_at) VALUES (?, ?, 0, ?) RETURNING id`,
			b.CampaignID, string(dispatcher.BatchHandedToPrint), s.d.timeValue(created)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert batch: %w", err)
		}
		ref := dispatcher.PostalBatchRef(id)
		// Claim the letters first: on PostgreSQL the UPDATE also locks the
		// rows, so the move below sees exactly them.
		for start := 0; start < len(deliveryIDs); start += idChunk {
			chunk := deliveryIDs[start:min(start+idChunk, len(deliveryIDs))]
			args := append([]any{ref, b.CampaignID}, int64Args(chunk)...)
			if _, err := tx.exec(ctx, `UPDATE deliveries SET provider_id = ?
				WHERE campaign_id = ? AND channel = `+sqlPostal+` AND state = '`+string(dispatcher.StatePending)+`'
				AND id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return fmt.Errorf("claim letters: %w", err)
			}
		}
		moved, err = s.d.moveDeliveries(ctx, tx, move{
			where:      "provider_id = ? AND provider_id <> '' AND channel = " + sqlPostal + " AND state = '" + string(dispatcher.StatePending) + "'",
			args:       []any{ref},
			to:         dispatcher.StateHandedToPrint,
			at:         created,
			diagnostic: fmt.Sprintf("handed to the mail house in print batch %d", id),
		})
		if err != nil {
			return err
		}
		if moved == 0 {
			return fmt.Errorf("print batch for campaign %d: no letter is pending any more: %w", b.CampaignID, dispatcher.ErrStale)
		}
		_, err = tx.exec(ctx, `UPDATE postal_batches SET letters = ? WHERE id = ?`, moved, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create print batch: %w", err)
	}
	b.ID, b.Status, b.Count, b.CreatedAt, b.MailedAt = id, dispatcher.BatchHandedToPrint, moved, created, time.Time{}
	s.log.Info("print batch created", "campaign", b.CampaignID, "batch", id, "letters", moved)
	return nil
}

// PostalBatch returns print batch id, or ErrNotFound.
func (s *DB) PostalBatch(ctx context.Context, id int64) (*dispatcher.PostalBatch, error) {
	b, err := scanPostalBatch(s.reader().queryRow(ctx, `SELECT `+postalBatchCols+` FROM postal_batches WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %w", notFound("print batch", id))
	}
	if err != nil {
		return nil, fmt.Errorf("store: print batch %d: %w", id, err)
	}
	return &b, nil
}

// PostalBatches lists a campaign's print batches, or every campaign's
// when campaignID is 0, oldest first.
func (s *DB) PostalBatches(ctx context.Context, campaignID int64) ([]dispatcher.PostalBatch, error) {
	q := `SELECT ` + postalBatchCols + ` FROM postal_batches`
	var args []any
	if campaignID != 0 {
		q += ` WHERE campaign_id = ?`
		args = append(args, campaignID)
	}
	rows, err := s.reader().query(ctx, q+` ORDER BY id`, args...)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.PostalBatch, error) { return scanPostalBatch(r) })
	if err != nil {
		return nil, fmt.Errorf("store: print batches: %w", err)
	}
	return out, nil
}

// MarkPostalBatchMailed marks batch id mailed at at and moves its letters
// still handed_to_print to sent, each with an event, in one transaction.
// It returns how many letters moved (returned letters stay bounced_hard).
// ErrStale when the batch is not handed_to_print, ErrNotFound when it
// does not exist.
func (s *DB) MarkPostalBatchMailed(ctx context.Context, id int64, at time.Time) (int64, error) {
	at = s.stamp(at)
	var moved int64
	err := s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE postal_batches SET status = ?, mailed_at = ? WHERE id = ? AND status = ?`,
			string(dispatcher.BatchMailed), s.d.timeValue(at), id, string(dispatcher.BatchHandedToPrint))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return staleOrNotFound(ctx, tx.runner, "postal_batches", "print batch", id)
		}
		moved, err = s.d.moveDeliveries(ctx, tx, move{
			where:      "provider_id = ? AND provider_id <> '' AND channel = " + sqlPostal + " AND state = '" + string(dispatcher.StateHandedToPrint) + "'",
			args:       []any{dispatcher.PostalBatchRef(id)},
			to:         dispatcher.StateSent,
			at:         at,
			diagnostic: fmt.Sprintf("mailed by the mail house in print batch %d", id),
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: mark print batch %d mailed: %w", id, err)
	}
	s.log.Info("print batch mailed", "batch", id, "letters", moved)
	return moved, nil
}

// PostalLetters pages through postal deliveries of a campaign with their
// contacts, in delivery ID order after afterID: those of print batch
// batchID, or, when batchID is 0, the pending ones (letters waiting for a
// batch). limit defaults to 1000 and is capped there.
func (s *DB) PostalLetters(ctx context.Context, campaignID, batchID, afterID int64, limit int) ([]dispatcher.Letter, error) {
	if limit <= 0 {
		limit = defaultLetterPage
	}
	limit = min(limit, maxLetterPage)
	cond, arg := "state = ?", any(string(dispatcher.StatePending))
	if batchID != 0 {
		cond, arg = "provider_id = ?", any(dispatcher.PostalBatchRef(batchID))
	}
	var out []dispatcher.Letter
	err := s.snapshot(ctx, func(r runner) error {
		ds, err := collectDeliveries(r.query(ctx, `SELECT `+deliveryCols+` FROM deliveries
			WHERE campaign_id = ? AND `+cond+` AND channel = `+sqlPostal+` AND id > ?
			ORDER BY id LIMIT ?`, campaignID, arg, afterID, limit))
		if err != nil || len(ds) == 0 {
			return err
		}
		byID, err := contactsOf(ctx, r, ds)
		if err != nil {
			return err
		}
		out = make([]dispatcher.Letter, len(ds))
		for i, d := range ds {
			out[i] = dispatcher.Letter{Delivery: d, Contact: byID[d.ContactID]}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: letters of campaign %d: %w", campaignID, err)
	}
	return out, nil
}
