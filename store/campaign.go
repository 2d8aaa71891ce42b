package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

const campaignCols = `id, name, incident_ref, default_locale, policy, from_name, from_email, reply_to,
	sms_from, sms_service, status, created_at, launched_at, finished_at, settings`

func scanCampaign(sc interface{ Scan(...any) error }) (*dispatcher.Campaign, error) {
	var c dispatcher.Campaign
	var policy, settings string
	err := sc.Scan(&c.ID, &c.Name, &c.IncidentRef, &c.DefaultLocale, &policy,
		&c.Sender.FromName, &c.Sender.FromEmail, &c.Sender.ReplyTo, &c.Sender.SMSFrom, &c.Sender.SMSService,
		&c.Status, timeCol{&c.CreatedAt}, timeCol{&c.LaunchedAt}, timeCol{&c.FinishedAt}, &settings)
	if err != nil {
		return nil, err
	}
	if c.Settings, err = dispatcher.UnmarshalSettings(settings); err != nil {
		return nil, fmt.Errorf("campaign %d: %w", c.ID, err)
	}
	if c.Policy, err = dispatcher.ParsePolicy(policy); err != nil {
		return nil, fmt.Errorf("campaign %d has a bad stored policy: %w", c.ID, err)
	}
	c.Revision = campaignRow{c.Name, c.IncidentRef, c.DefaultLocale, policy, c.Sender.FromName, c.Sender.FromEmail,
		c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService, string(c.Status), settings}.revision()
	return &c, nil
}

// campaignRow is what a campaign's revision covers, as stored: every
// column an edit or a control changes.
type campaignRow [11]string

// campaignRowCols are campaignRow's columns, in its order.
const campaignRowCols = `name, incident_ref, default_locale, policy, from_name, from_email, reply_to, sms_from, sms_service, status, settings`

// revision is a digest of the row: equal rows, equal revisions.
func (r campaignRow) revision() string {
	h := sha256.New()
	for _, v := range r {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CreateCampaign inserts c (status draft unless set) and its templates,
// setting c.ID and c.CreatedAt. A taken name is ECONFLICT.
func (s *DB) CreateCampaign(ctx context.Context, c *dispatcher.Campaign, templates []dispatcher.Template) error {
	status := c.Status
	if status == "" {
		status = dispatcher.CampaignDraft
	}
	created := s.stamp(time.Time{})
	settings, err := dispatcher.MarshalSettings(c.Settings)
	if err != nil {
		return fmt.Errorf("store: create campaign: %w", err)
	}
	var id int64
	err = s.write(ctx, func(tx *txn) error {
		err := tx.queryRow(ctx, `INSERT INTO campaigns (name, incident_ref, default_locale, policy, from_name, from_email,
			reply_to, sms_from, sms_service, status, created_at, launched_at, finished_at, settings)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			c.Name, c.IncidentRef, c.DefaultLocale, c.Policy.String(), c.Sender.FromName, c.Sender.FromEmail,
			c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService, string(status), s.d.timeValue(created),
			s.d.timeValue(c.LaunchedAt), s.d.timeValue(c.FinishedAt), settings).Scan(&id)
		if s.d.uniqueViolation(err) {
			return dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %q already exists", c.Name)
		}
		if err != nil {
			return err
		}
		for i := range templates {
			t := templates[i]
			t.CampaignID = id
			if err := putTemplate(ctx, tx.runner, &t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create campaign: %w", err)
	}
	c.ID, c.CreatedAt, c.Status = id, created, status
	c.LaunchedAt, c.FinishedAt = utcOrZero(c.LaunchedAt), utcOrZero(c.FinishedAt)
	c.Revision = campaignRow{c.Name, c.IncidentRef, c.DefaultLocale, c.Policy.String(), c.Sender.FromName, c.Sender.FromEmail,
		c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService, string(status), settings}.revision()
	return nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return utc(t)
}

// SetCampaignSettings replaces campaign id's settings.
func (s *DB) SetCampaignSettings(ctx context.Context, id int64, set dispatcher.Settings) error {
	v, err := dispatcher.MarshalSettings(set)
	if err != nil {
		return fmt.Errorf("store: campaign %d settings: %w", id, err)
	}
	err = s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE campaigns SET settings = ? WHERE id = ?`, v, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("campaign", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: campaign %d settings: %w", id, err)
	}
	return nil
}

// UpdateCampaign replaces the name, incident reference, default locale,
// policy, sender and settings of campaign c.ID with c's, if the campaign's
// status is one of from (ErrStale otherwise, ErrNotFound when there is no
// such campaign). When c.Revision is set the update is a compare-and-set:
// it is also ErrStale when the campaign's row changed since c was read,
// and on success c.Revision is the new revision. A name another campaign
// has is ECONFLICT. Which changes are allowed is the caller's rule
// (Campaign.CheckEdit), not the ledger's.
func (s *DB) UpdateCampaign(ctx context.Context, c *dispatcher.Campaign, from []dispatcher.CampaignStatus) error {
	if len(from) == 0 {
		return dispatcher.Errorf(dispatcher.EINVALID, "store: update campaign: no current status given")
	}
	settings, err := dispatcher.MarshalSettings(c.Settings)
	if err != nil {
		return fmt.Errorf("store: update campaign %d: %w", c.ID, err)
	}
	next := campaignRow{c.Name, c.IncidentRef, c.DefaultLocale, c.Policy.String(), c.Sender.FromName, c.Sender.FromEmail,
		c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService, "", settings}
	args := []any{next[0], next[1], next[2], next[3], next[4], next[5], next[6], next[7], next[8], next[10], c.ID}
	for _, f := range from {
		args = append(args, string(f))
	}
	var revision string
	err = s.write(ctx, func(tx *txn) error {
		where := `id = ? AND status IN (` + placeholders(len(from)) + `)`
		if c.Revision != "" {
			// Compare-and-set: the row must be as it was read. The
			// UPDATE names every old value as well, so that a change
			// committed between this read and the write (PostgreSQL
			// re-reads the row it waited for) leaves it unmatched.
			var cur campaignRow
			ptrs := make([]any, len(cur))
			for i := range cur {
				ptrs[i] = &cur[i]
			}
			err := tx.queryRow(ctx, `SELECT `+campaignRowCols+` FROM campaigns WHERE id = ?`, c.ID).Scan(ptrs...)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("campaign", c.ID)
			}
			if err != nil {
				return err
			}
			if cur.revision() != c.Revision {
				return fmt.Errorf("campaign %d changed since it was read: %w", c.ID, dispatcher.ErrStale)
			}
			where += ` AND name = ? AND incident_ref = ? AND default_locale = ? AND policy = ? AND from_name = ? AND from_email = ?
				AND reply_to = ? AND sms_from = ? AND sms_service = ? AND status = ? AND settings = ?`
			for _, v := range cur {
				args = append(args, v)
			}
			next[9] = cur[9] // the status does not change
			revision = next.revision()
		}
		res, err := tx.exec(ctx, `UPDATE campaigns SET name = ?, incident_ref = ?, default_locale = ?, policy = ?, from_name = ?,
			from_email = ?, reply_to = ?, sms_from = ?, sms_service = ?, settings = ?
			WHERE `+where, args...)
		if s.d.uniqueViolation(err) {
			return dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %q already exists", c.Name)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return staleOrNotFound(ctx, tx.runner, "campaigns", "campaign", c.ID)
	})
	if err != nil {
		return fmt.Errorf("store: update campaign %d: %w", c.ID, err)
	}
	if revision != "" {
		c.Revision = revision
	}
	return nil
}

// Campaign returns campaign id, or ErrNotFound.
func (s *DB) Campaign(ctx context.Context, id int64) (*dispatcher.Campaign, error) {
	c, err := scanCampaign(s.reader().queryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %w", notFound("campaign", id))
	}
	if err != nil {
		return nil, fmt.Errorf("store: campaign %d: %w", id, err)
	}
	return c, nil
}

// CampaignByName returns the campaign called name, or ErrNotFound.
func (s *DB) CampaignByName(ctx context.Context, name string) (*dispatcher.Campaign, error) {
	c, err := scanCampaign(s.reader().queryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: campaign %q: %w", name, dispatcher.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: campaign %q: %w", name, err)
	}
	return c, nil
}

// Campaigns returns every campaign, oldest first.
func (s *DB) Campaigns(ctx context.Context) ([]*dispatcher.Campaign, error) {
	rows, err := s.reader().query(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY id`)
	out, err := collect(rows, err, func(r *sql.Rows) (*dispatcher.Campaign, error) { return scanCampaign(r) })
	if err != nil {
		return nil, fmt.Errorf("store: campaigns: %w", err)
	}
	return out, nil
}

// SetCampaignStatus moves campaign id from one of from to to. Moving to
// running stamps LaunchedAt the first time only; completed and cancelled
// stamp FinishedAt. ErrStale when the campaign is in another status,
// ErrNotFound when there is no such campaign. Whether the move is legal
// (CampaignStatus.CanMove) is the caller's rule, not the ledger's.
func (s *DB) SetCampaignStatus(ctx context.Context, id int64, from []dispatcher.CampaignStatus, to dispatcher.CampaignStatus, at time.Time) error {
	if len(from) == 0 {
		return dispatcher.Errorf(dispatcher.EINVALID, "store: set campaign status: no current status given")
	}
	at = s.stamp(at)
	set := "status = ?"
	args := []any{string(to)}
	switch {
	case to == dispatcher.CampaignRunning:
		set += ", launched_at = COALESCE(launched_at, ?)"
		args = append(args, s.d.timeValue(at))
	case to.Final():
		set += ", finished_at = ?"
		args = append(args, s.d.timeValue(at))
	}
	args = append(args, id)
	for _, f := range from {
		args = append(args, string(f))
	}
	err := s.write(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE campaigns SET `+set+` WHERE id = ? AND status IN (`+placeholders(len(from))+`)`, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return staleOrNotFound(ctx, tx.runner, "campaigns", "campaign", id)
	})
	if err != nil {
		return fmt.Errorf("store: set campaign %d status %s: %w", id, to, err)
	}
	return nil
}

// DeleteCampaign removes a campaign with its templates, contacts,
// deliveries, events, rejects and import runs (foreign keys cascade).
// Suppressions and the audit log are kept: they are not the campaign's.
func (s *DB) DeleteCampaign(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *txn) error {
		// Children first: on PostgreSQL these tables keep no foreign keys
		// (migration 0007), so nothing cascades to them.
		for _, q := range []string{
			`DELETE FROM events WHERE delivery_id IN (SELECT id FROM deliveries WHERE campaign_id = ?)`,
			`DELETE FROM deliveries WHERE campaign_id = ?`,
			`DELETE FROM contacts WHERE campaign_id = ?`,
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.exec(ctx, `DELETE FROM campaigns WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("campaign", id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete campaign: %w", err)
	}
	s.log.Info("campaign deleted", "campaign", id)
	return nil
}

// PutTemplate inserts or replaces the template for its campaign, channel
// and locale. ErrNotFound when the campaign does not exist.
func (s *DB) PutTemplate(ctx context.Context, t *dispatcher.Template) error {
	err := s.write(ctx, func(tx *txn) error {
		if err := campaignExists(ctx, tx.runner, t.CampaignID); err != nil {
			return err
		}
		return putTemplate(ctx, tx.runner, t)
	})
	if err != nil {
		return fmt.Errorf("store: put template %s: %w", dispatcher.TemplateKey{Channel: t.Channel, Locale: t.Locale}, err)
	}
	return nil
}

func putTemplate(ctx context.Context, r runner, t *dispatcher.Template) error {
	_, err := r.exec(ctx, `INSERT INTO templates (campaign_id, channel, locale, subject, text_body, html_body)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (campaign_id, channel, locale) DO UPDATE SET
			subject = excluded.subject, text_body = excluded.text_body, html_body = excluded.html_body`,
		t.CampaignID, string(t.Channel), t.Locale, t.Subject, t.Text, t.HTML)
	if err != nil {
		return fmt.Errorf("template %s/%s: %w", t.Channel, t.Locale, err)
	}
	return nil
}

// Templates returns a campaign's templates ordered by channel and locale
// (byte order, the same on both backends whatever PostgreSQL's collation).
func (s *DB) Templates(ctx context.Context, campaignID int64) ([]dispatcher.Template, error) {
	rows, err := s.reader().query(ctx, `SELECT campaign_id, channel, locale, subject, text_body, html_body
		FROM templates WHERE campaign_id = ?`, campaignID)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.Template, error) {
		var t dispatcher.Template
		err := r.Scan(&t.CampaignID, &t.Channel, &t.Locale, &t.Subject, &t.Text, &t.HTML)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: templates: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Channel != out[j].Channel {
			return out[i].Channel < out[j].Channel
		}
		return out[i].Locale < out[j].Locale
	})
	return out, nil
}

// campaignExists fails with ErrNotFound unless campaign id exists.
func campaignExists(ctx context.Context, r runner, id int64) error {
	ok, err := exists(ctx, r, "campaigns", id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("campaign", id)
	}
	return nil
}
