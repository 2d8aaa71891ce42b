package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// findLimit caps FindContacts: it is a support lookup of one person, and a
// query matching more than this is too vague to be useful.
const findLimit = 100

const contactCols = `id, campaign_id, external_id, name, email, phone, locale, country, attrs, source_row,
	email_consent, do_not_email, address_line1, address_line2, postal_code, city, region`

func scanContact(sc interface{ Scan(...any) error }) (dispatcher.Contact, error) {
	var c dispatcher.Contact
	var cs contactScan
	if err := sc.Scan(cs.dest(&c)...); err != nil {
		return c, err
	}
	return c, cs.finish(&c)
}

// contactScan holds the columns of contactCols that need converting after
// a scan.
type contactScan struct {
	attrs      []byte
	doNotEmail int64
}

// dest returns the scan destinations for contactCols into c.
func (cs *contactScan) dest(c *dispatcher.Contact) []any {
	return []any{&c.ID, &c.CampaignID, &c.ExternalID, &c.Name, &c.Email, &c.Phone, &c.Locale, &c.Country,
		&cs.attrs, &c.SourceRow, &c.EmailConsent, &cs.doNotEmail, &c.Postal.Line1, &c.Postal.Line2, &c.Postal.PostalCode,
		&c.Postal.City, &c.Postal.Region}
}

// finish converts what dest scanned into c.
func (cs *contactScan) finish(c *dispatcher.Contact) error {
	c.DoNotEmail = cs.doNotEmail != 0
	if len(cs.attrs) > 0 {
		if err := json.Unmarshal(cs.attrs, &c.Attrs); err != nil {
			return fmt.Errorf("contact %d attributes: %w", c.ID, err)
		}
		if len(c.Attrs) == 0 {
			c.Attrs = nil
		}
	}
	return nil
}

// qualify prefixes every column of a column list with a table alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// withContacts reads the contacts of ds and pairs each delivery with its
// contact.
func withContacts(ctx context.Context, r runner, ds []dispatcher.Delivery) ([]dispatcher.Claimed, error) {
	byID, err := contactsOf(ctx, r, ds)
	if err != nil {
		return nil, err
	}
	out := make([]dispatcher.Claimed, len(ds))
	for i, d := range ds {
		out[i] = dispatcher.Claimed{Delivery: d, Contact: byID[d.ContactID]}
	}
	return out, nil
}

// contactsOf reads the contacts of ds, by ID. A delivery whose contact is
// missing is an error.
func contactsOf(ctx context.Context, r runner, ds []dispatcher.Delivery) (map[int64]dispatcher.Contact, error) {
	ids := make([]int64, 0, len(ds))
	seen := make(map[int64]bool, len(ds))
	for _, d := range ds {
		if !seen[d.ContactID] {
			seen[d.ContactID] = true
			ids = append(ids, d.ContactID)
		}
	}
	byID, err := contactsByID(ctx, r, ids)
	if err != nil {
		return nil, fmt.Errorf("contacts of %d deliveries: %w", len(ds), err)
	}
	for _, d := range ds {
		if _, ok := byID[d.ContactID]; !ok {
			return nil, fmt.Errorf("delivery %d: contact %d: %w", d.ID, d.ContactID, dispatcher.ErrNotFound)
		}
	}
	return byID, nil
}

// contactsByID reads the contacts with the given IDs (a few thousand at
// most), by ID; IDs with no contact are left out.
func contactsByID(ctx context.Context, r runner, ids []int64) (map[int64]dispatcher.Contact, error) {
	byID := make(map[int64]dispatcher.Contact, len(ids))
	if len(ids) == 0 {
		return byID, nil
	}
	cs, err := collectContacts(r.query(ctx, `SELECT `+contactCols+` FROM contacts WHERE id IN (`+placeholders(len(ids))+`)`, int64Args(ids)...))
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		byID[c.ID] = c
	}
	return byID, nil
}

// ImportContacts stores a batch of contacts in one transaction. Contacts
// whose DedupeKey is already in the campaign, or earlier in the batch, are
// counted as duplicates and not stored; a contact without any key (no
// external id, e-mail or phone) is never a duplicate. The ID of every
// stored contact is set in contacts (duplicates are left with ID 0), plan
// is called for each stored contact in batch order, and the deliveries it
// returns are stored with a creation event each.
//
// plan runs inside the write transaction and must not call the store.
func (s *DB) ImportContacts(ctx context.Context, campaignID int64, contacts []dispatcher.Contact, plan func(*dispatcher.Contact) []dispatcher.Delivery) (dispatcher.ImportResult, error) {
	var res dispatcher.ImportResult
	err := s.write(ctx, func(tx *txn) error {
		res = dispatcher.ImportResult{}
		if err := campaignExists(ctx, tx.runner, campaignID); err != nil {
			return err
		}
		seen := make(map[string]bool, len(contacts))
		batch := make([]*dispatcher.Contact, 0, len(contacts))
		for i := range contacts {
			c := &contacts[i]
			c.ID, c.CampaignID = 0, campaignID
			if k := c.DedupeKey(); k != "" {
				if seen[k] {
					res.Duplicates++
					continue
				}
				seen[k] = true
			}
			batch = append(batch, c)
		}
		if len(batch) == 0 {
			return nil
		}
		ids, err := s.d.nextIDs(ctx, tx, "contacts", len(batch))
		if err != nil {
			return err
		}
		for i, c := range batch {
			c.ID = ids[i]
		}
		inserted, err := insertContacts(ctx, tx, batch)
		if err != nil {
			return err
		}
		var planned []dispatcher.Delivery
		for _, c := range batch {
			if !inserted[c.ID] {
				c.ID = 0
				res.Duplicates++
				continue
			}
			res.Inserted++
			if plan == nil {
				continue
			}
			for _, d := range plan(c) {
				d.CampaignID, d.ContactID = campaignID, c.ID
				planned = append(planned, d)
			}
		}
		if err := insertNewDeliveries(ctx, tx, planned, s.stamp); err != nil {
			return err
		}
		for _, d := range planned {
			if d.ID != 0 && d.State == dispatcher.StatePending {
				res.Deliveries = append(res.Deliveries, d)
			}
		}
		return nil
	})
	if err != nil {
		for i := range contacts {
			contacts[i].ID = 0
		}
		return dispatcher.ImportResult{}, fmt.Errorf("store: import contacts: %w", err)
	}
	s.log.Debug("contacts imported", "campaign", campaignID, "inserted", res.Inserted,
		"duplicates", res.Duplicates, "pending", len(res.Deliveries))
	return res, nil
}

// AddRejects records rejected rows; a row whose Hash is already recorded
// for the campaign is skipped (rows without a Hash are always added). It
// returns how many were new.
func (s *DB) AddRejects(ctx context.Context, campaignID int64, rejects []dispatcher.Reject) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *txn) error {
		if err := campaignExists(ctx, tx.runner, campaignID); err != nil {
			return err
		}
		var err error
		n, err = insertRejects(ctx, tx, campaignID, rejects)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: add rejects: %w", err)
	}
	return int(n), nil
}

// RecordImport stores the summary of one import run and sets r.ID.
func (s *DB) RecordImport(ctx context.Context, r *dispatcher.ImportRun) error {
	var id int64
	err := s.write(ctx, func(tx *txn) error {
		if err := campaignExists(ctx, tx.runner, r.CampaignID); err != nil {
			return err
		}
		return tx.queryRow(ctx, `INSERT INTO imports (campaign_id, source, read_rows, accepted, rejected, warnings,
			duplicates, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.CampaignID, r.Source, r.Read, r.Accepted, r.Rejected, r.Warnings, r.Duplicates,
			s.d.timeValue(r.StartedAt), s.d.timeValue(r.FinishedAt)).Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("store: record import: %w", err)
	}
	r.ID = id
	return nil
}

// Contact returns contact id, or ErrNotFound.
func (s *DB) Contact(ctx context.Context, id int64) (*dispatcher.Contact, error) {
	c, err := scanContact(s.reader().queryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %w", notFound("contact", id))
	}
	if err != nil {
		return nil, fmt.Errorf("store: contact %d: %w", id, err)
	}
	return &c, nil
}

// Contacts pages through a campaign's contacts in ID order after afterID,
// at most limit (default 1,000, capped at 10,000) at a time.
func (s *DB) Contacts(ctx context.Context, campaignID, afterID int64, limit int) ([]dispatcher.Contact, error) {
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 10000)
	out, err := collectContacts(s.reader().query(ctx, `SELECT `+contactCols+` FROM contacts
		WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?`, campaignID, afterID, limit))
	if err != nil {
		return nil, fmt.Errorf("store: contacts of campaign %d: %w", campaignID, err)
	}
	return out, nil
}

// FindContacts finds contacts in every campaign whose e-mail (ignoring
// case), phone or external id is exactly query, for support staff answering
// "was I told?". The query is trimmed; for the phone comparison spaces
// inside it are removed too, so "+47 912 34 567" finds +4791234567. At most
// 100 contacts are returned, oldest first.
func (s *DB) FindContacts(ctx context.Context, query string) ([]dispatcher.Contact, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, nil
	}
	phone := strings.Join(strings.Fields(q), "")
	out, err := collectContacts(s.reader().query(ctx, `SELECT `+contactCols+` FROM contacts
		WHERE email_lower = ? OR phone = ? OR external_id = ? ORDER BY id LIMIT ?`,
		strings.ToLower(q), phone, q, findLimit))
	if err != nil {
		return nil, fmt.Errorf("store: find contacts: %w", err)
	}
	return out, nil
}

// FindContactsByName finds contacts in every campaign whose name matches
// q (see dispatcher.NameQuery), best first, at most limit (default and
// most 100). Each way the query can match (NameQuery.Candidates) is one
// range scan of the contacts_name index, whose other words filter the
// range on the index itself; each scan stops after MaxNameMatches+1 rows,
// so a search costs a bounded piece of one index however many contacts the
// ledger holds. Only the contacts shown are read from the table.
func (s *DB) FindContactsByName(ctx context.Context, q dispatcher.NameQuery, limit int) (dispatcher.NameMatches, error) {
	if limit <= 0 || limit > findLimit {
		limit = findLimit
	}
	var res dispatcher.NameMatches
	cands := q.Candidates()
	if len(cands) == 0 {
		return res, nil
	}
	type hit struct {
		id   int64
		key  string
		rank int
	}
	keys := map[int64]string{}
	for _, c := range cands {
		where := "name_key >= ? AND name_key < ?"
		args := []any{c.Prefix, dispatcher.NameUpperBound(c.Prefix)}
		for _, o := range c.Others {
			// Folded words are letters and digits: no LIKE wildcard
			// needs escaping.
			where += " AND ' ' || name_key LIKE ?"
			args = append(args, "% "+o+"%")
		}
		args = append(args, dispatcher.MaxNameMatches+1)
		rows, err := s.reader().query(ctx, `SELECT id, name_key FROM contacts WHERE `+where+` ORDER BY name_key LIMIT ?`, args...)
		found, err := collect(rows, err, func(r *sql.Rows) (hit, error) {
			var h hit
			err := r.Scan(&h.id, &h.key)
			return h, err
		})
		if err != nil {
			return res, fmt.Errorf("store: find contacts by name: %w", err)
		}
		if len(found) > dispatcher.MaxNameMatches {
			res.More = true
		}
		for _, h := range found {
			keys[h.id] = h.key
		}
	}
	hits := make([]hit, 0, len(keys))
	for id, k := range keys {
		hits = append(hits, hit{id: id, key: k, rank: q.Rank(k)})
	}
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if a.rank != b.rank {
			return a.rank > b.rank
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.id < b.id
	})
	res.Total = len(hits)
	if res.Total > dispatcher.MaxNameMatches {
		res.Total, res.More = dispatcher.MaxNameMatches, true
	}
	hits = hits[:min(limit, len(hits))]
	if len(hits) == 0 {
		return res, nil
	}
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	byID, err := contactsByID(ctx, s.reader(), ids)
	if err != nil {
		return res, fmt.Errorf("store: find contacts by name: %w", err)
	}
	for _, h := range hits {
		if c, ok := byID[h.id]; ok { // a contact deleted meanwhile is left out
			res.Contacts = append(res.Contacts, c)
		}
	}
	return res, nil
}

// nameKeyBatch is how many contacts the name key backfill updates at once.
const nameKeyBatch = 10000

// backfillNameKeys is migration 0006's Go step: it computes the name key
// of every contact already in the ledger (the key folds accents, which
// SQLite cannot do in SQL, and must equal what ImportContacts writes).
// Batches of keys go to a temporary table with the bulk insert path (COPY
// on PostgreSQL) and into contacts with one UPDATE ... FROM each.
func backfillNameKeys(ctx context.Context, s *DB, tx *txn) error {
	if _, err := tx.exec(ctx, `CREATE TEMPORARY TABLE name_keys (id bigint PRIMARY KEY, k text NOT NULL)`); err != nil {
		return fmt.Errorf("create name_keys: %w", err)
	}
	empty := `DELETE FROM name_keys`
	if s.d.name() == "postgres" {
		empty = `TRUNCATE name_keys` // DELETE would leave dead rows for every later batch to scan
	}
	var after, done int64
	for {
		type row struct {
			id                    int64
			name, locale, country string
		}
		rows, err := tx.query(ctx, `SELECT id, name, locale, country FROM contacts WHERE id > ? ORDER BY id LIMIT ?`, after, nameKeyBatch)
		batch, err := collect(rows, err, func(r *sql.Rows) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.name, &x.locale, &x.country)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("read contacts after %d: %w", after, err)
		}
		if len(batch) == 0 {
			break
		}
		vals := make([][]any, len(batch))
		for i, x := range batch {
			vals[i] = []any{x.id, dispatcher.NameKey(x.name, x.locale, x.country)}
		}
		if _, err := tx.exec(ctx, empty); err != nil {
			return fmt.Errorf("clear name_keys: %w", err)
		}
		if _, err := tx.d.bulkInsert(ctx, tx, &bulk{table: "name_keys", cols: []string{"id", "k"}, rows: vals}); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE contacts SET name_key = name_keys.k FROM name_keys WHERE name_keys.id = contacts.id`); err != nil {
			return fmt.Errorf("update name keys: %w", err)
		}
		after = batch[len(batch)-1].id
		done += int64(len(batch))
		if done%(20*nameKeyBatch) == 0 {
			s.log.Info("backfilling contact name keys", "done", done)
		}
	}
	if _, err := tx.exec(ctx, `DROP TABLE name_keys`); err != nil {
		return fmt.Errorf("drop name_keys: %w", err)
	}
	if done > 0 {
		s.log.Info("contact name keys backfilled", "contacts", done)
	}
	return nil
}

func collectContacts(rows *sql.Rows, err error) ([]dispatcher.Contact, error) {
	return collect(rows, err, func(r *sql.Rows) (dispatcher.Contact, error) { return scanContact(r) })
}
