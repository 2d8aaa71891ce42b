package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/heraldhq/herald/dispatcher"
)

// Unreachable page sizes: the default when limit is not positive, and the
// most one page may hold.
const (
	defaultUnreachablePage = 100
	maxUnreachablePage     = 1000
)

// State groups used by the report, as SQL lists.
var (
	sqlReached  = stateList(dispatcher.ReachedStates...)
	sqlBusy     = stateList(dispatcher.Unfinished...)
	sqlFailed   = stateList(dispatcher.StateBouncedHard, dispatcher.StateBouncedSoft, dispatcher.StateFailed, dispatcher.StateSuppressed)
	sqlInvalid  = stateList(dispatcher.StateBouncedHard)
	sqlNotFinal = stateList(append(append([]dispatcher.State{}, dispatcher.ReachedStates...), dispatcher.Unfinished...)...)
)

// outcomeQuery classifies, in one pass over a campaign's deliveries grouped
// by contact, every contact that has at least one delivery. Per contact (p):
//
//	reached_seq  lowest seq among its deliveries in sent, delivered or
//	             handed_to_print (a letter given to the mail house)
//	             (NULL: not reached)
//	busy         1 if any delivery is pending, queued or sending
//	invalid      1 if any delivery is bounced_hard
//	failed_seq   lowest seq among deliveries in bounced_hard, bounced_soft,
//	             failed or suppressed
//
// and it returns, over those contacts: how many there are, how many are
// unreachable (not reached, nothing pending, queued or sending), invalid,
// reached after a failure earlier in the policy (fallback), and reached.
// Contacts without any delivery are counted apart: they are unreachable.
var outcomeQuery = `
SELECT COUNT(*),
	COALESCE(SUM(CASE WHEN p.reached_seq IS NULL AND p.busy = 0 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(p.invalid), 0),
	COALESCE(SUM(CASE WHEN p.failed_seq < p.reached_seq THEN 1 ELSE 0 END), 0),
	COUNT(p.reached_seq)
FROM (
	SELECT d.contact_id,
		MIN(CASE WHEN d.state IN (` + sqlReached + `) THEN d.seq END) AS reached_seq,
		MAX(CASE WHEN d.state IN (` + sqlBusy + `) THEN 1 ELSE 0 END) AS busy,
		MAX(CASE WHEN d.state IN (` + sqlInvalid + `) THEN 1 ELSE 0 END) AS invalid,
		MIN(CASE WHEN d.state IN (` + sqlFailed + `) THEN d.seq END) AS failed_seq
	FROM deliveries d
	WHERE d.campaign_id = ?
	GROUP BY d.contact_id
) p`

// reachedByQuery counts reached contacts by the channel of their first
// reaching delivery: a sent or delivered delivery with no other sent or
// delivered delivery of the same contact before it in the policy (ties,
// which a consistent ledger does not have, go to the lower id).
var reachedByQuery = `
SELECT d.channel, COUNT(*) FROM deliveries d
WHERE d.campaign_id = ? AND d.state IN (` + sqlReached + `)
AND NOT EXISTS (
	SELECT 1 FROM deliveries e
	WHERE e.contact_id = d.contact_id AND e.state IN (` + sqlReached + `)
	AND (e.seq < d.seq OR (e.seq = d.seq AND e.id < d.id)))
GROUP BY d.channel`

// Report counts a campaign's contacts and outcomes, all in SQL. The
// numbers are exact, and every contact is in exactly one of Reached,
// Unreachable and InProgress:
//
//   - Contacts: contacts imported into the campaign.
//   - Reached: contacts with at least one delivery in sent, delivered or
//     handed_to_print (dispatcher.ReachedStates).
//   - ReachedBy[channel]: reached contacts by the channel of their
//     lowest-seq (first in policy) sent or delivered delivery.
//   - Fallback: reached contacts that also have a delivery earlier in the
//     policy (lower seq) in bounced_hard, bounced_soft, failed or
//     suppressed: the people reached only thanks to fallback.
//   - Invalid: contacts with at least one delivery in bounced_hard.
//   - Unreachable: contacts with no sent or delivered delivery and none
//     pending, queued or sending (including contacts with no delivery).
//   - InProgress: Contacts − Reached − Unreachable.
//   - RejectedRows: rows with at least one reject of severity "error"
//     (distinct row contents; a row with two problems counts once).
//   - States: deliveries per channel × state, channels in policy order and
//     states in lifecycle order, zero counts left out.
//
// ErrNotFound when the campaign does not exist.
func (s *DB) Report(ctx context.Context, campaignID int64) (*dispatcher.Report, error) {
	rep := &dispatcher.Report{CampaignID: campaignID, ReachedBy: map[dispatcher.ChannelKind]int64{}}
	var policy dispatcher.Policy
	err := s.snapshot(ctx, func(r runner) error {
		c, err := scanCampaign(r.queryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE id = ?`, campaignID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("campaign", campaignID)
		}
		if err != nil {
			return err
		}
		policy = c.Policy
		if err := reportOutcomes(ctx, r, rep); err != nil {
			return err
		}
		if err := r.queryRow(ctx, `SELECT COUNT(DISTINCT CASE WHEN row_hash = '' THEN CAST(id AS TEXT) ELSE row_hash END) FROM rejects WHERE campaign_id = ? AND severity = ?`,
			campaignID, dispatcher.SeverityError).Scan(&rep.RejectedRows); err != nil {
			return fmt.Errorf("count rejects: %w", err)
		}
		return reportStates(ctx, r, rep)
	})
	if err != nil {
		return nil, fmt.Errorf("store: report campaign %d: %w", campaignID, err)
	}
	rep.InProgress = rep.Contacts - rep.Reached - rep.Unreachable
	sortStates(rep.States, policy)
	return rep, nil
}

func reportOutcomes(ctx context.Context, r runner, rep *dispatcher.Report) error {
	if err := r.queryRow(ctx, `SELECT COUNT(*) FROM contacts WHERE campaign_id = ?`, rep.CampaignID).Scan(&rep.Contacts); err != nil {
		return fmt.Errorf("count contacts: %w", err)
	}
	var withDeliveries int64
	err := r.queryRow(ctx, outcomeQuery, rep.CampaignID).Scan(&withDeliveries, &rep.Unreachable, &rep.Invalid,
		&rep.Fallback, &rep.Reached)
	if err != nil {
		return fmt.Errorf("count outcomes: %w", err)
	}
	rep.Unreachable += rep.Contacts - withDeliveries
	type byChannel struct {
		channel dispatcher.ChannelKind
		n       int64
	}
	rows, err := r.query(ctx, reachedByQuery, rep.CampaignID)
	counts, err := collect(rows, err, func(r *sql.Rows) (byChannel, error) {
		var b byChannel
		err := r.Scan(&b.channel, &b.n)
		return b, err
	})
	if err != nil {
		return fmt.Errorf("count reached by channel: %w", err)
	}
	for _, b := range counts {
		rep.ReachedBy[b.channel] = b.n
	}
	return nil
}

func reportStates(ctx context.Context, r runner, rep *dispatcher.Report) error {
	rows, err := r.query(ctx, `SELECT channel, state, COUNT(*) FROM deliveries WHERE campaign_id = ?
		GROUP BY channel, state`, rep.CampaignID)
	states, err := collect(rows, err, func(r *sql.Rows) (dispatcher.StateCount, error) {
		var sc dispatcher.StateCount
		err := r.Scan(&sc.Channel, &sc.State, &sc.N)
		return sc, err
	})
	if err != nil {
		return fmt.Errorf("count states: %w", err)
	}
	rep.States = states
	return nil
}

// sortStates orders state counts by the channel's place in the policy
// (unknown channels last, by name) and then by lifecycle order.
func sortStates(states []dispatcher.StateCount, p dispatcher.Policy) {
	stateRank := map[dispatcher.State]int{}
	for i, st := range dispatcher.AllStates {
		stateRank[st] = i
	}
	channelRank := func(k dispatcher.ChannelKind) int {
		if i := p.Index(k); i >= 0 {
			return i
		}
		return len(p)
	}
	rank := func(st dispatcher.State) int {
		if i, ok := stateRank[st]; ok {
			return i
		}
		return len(stateRank)
	}
	sort.Slice(states, func(i, j int) bool {
		a, b := states[i], states[j]
		if ca, cb := channelRank(a.Channel), channelRank(b.Channel); ca != cb {
			return ca < cb
		}
		if a.Channel != b.Channel {
			return a.Channel < b.Channel
		}
		if ra, rb := rank(a.State), rank(b.State); ra != rb {
			return ra < rb
		}
		return a.State < b.State
	})
}

// Unreachable pages through the contacts every channel failed to reach:
// no delivery reached them and none is pending, queued or sending (the
// same rule as Report.Unreachable). Contacts come in ID order after
// afterID, each with all its deliveries in seq order. limit defaults to
// 100 and is capped at 1000.
func (s *DB) Unreachable(ctx context.Context, campaignID int64, afterID int64, limit int) ([]dispatcher.ContactDeliveries, error) {
	if limit <= 0 {
		limit = defaultUnreachablePage
	}
	limit = min(limit, maxUnreachablePage)
	var out []dispatcher.ContactDeliveries
	err := s.snapshot(ctx, func(r runner) error {
		contacts, err := collectContacts(r.query(ctx, `SELECT `+contactCols+` FROM contacts c
			WHERE c.campaign_id = ? AND c.id > ?
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.contact_id = c.id AND d.state IN (`+sqlNotFinal+`))
			ORDER BY c.id LIMIT ?`, campaignID, afterID, limit))
		if err != nil || len(contacts) == 0 {
			return err
		}
		index := make(map[int64]int, len(contacts))
		ids := make([]int64, len(contacts))
		out = make([]dispatcher.ContactDeliveries, len(contacts))
		for i, c := range contacts {
			out[i].Contact = c
			index[c.ID] = i
			ids[i] = c.ID
		}
		ds, err := collectDeliveries(r.query(ctx, `SELECT `+deliveryCols+` FROM deliveries
			WHERE contact_id IN (`+placeholders(len(ids))+`) ORDER BY contact_id, seq, id`, int64Args(ids)...))
		if err != nil {
			return err
		}
		for _, d := range ds {
			i := index[d.ContactID]
			out[i].Deliveries = append(out[i].Deliveries, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: unreachable contacts of campaign %d: %w", campaignID, err)
	}
	return out, nil
}

// UnreachableByArea counts a campaign's unreachable contacts (the same
// rule as Unreachable) by country and region, largest group first; the
// region is the state or province of the imported postal address, "" when
// there is none. Its total equals Report.Unreachable.
func (s *DB) UnreachableByArea(ctx context.Context, campaignID int64) ([]dispatcher.AreaCount, error) {
	rows, err := s.reader().query(ctx, `SELECT c.country, c.region, COUNT(*) FROM contacts c
		WHERE c.campaign_id = ?
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.contact_id = c.id AND d.state IN (`+sqlNotFinal+`))
		GROUP BY c.country, c.region
		ORDER BY COUNT(*) DESC, c.country, c.region`, campaignID)
	out, err := collect(rows, err, func(r *sql.Rows) (dispatcher.AreaCount, error) {
		var a dispatcher.AreaCount
		err := r.Scan(&a.Country, &a.Region, &a.N)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: unreachable contacts of campaign %d by area: %w", campaignID, err)
	}
	return out, nil
}
