package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/csvsafe"
)

// This file holds what the API and the console share: finding campaigns,
// the audited person lookup, imports, campaign controls and the
// unreachable list. Each answers in domain terms; the API and the console
// only format.

// campaign finds a campaign by name with a message that helps.
func (s *Server) campaign(ctx context.Context, name string) (*dispatcher.Campaign, error) {
	c, err := s.cfg.Store.CampaignByName(ctx, name)
	if dispatcher.ErrorCode(err) == dispatcher.ENOTFOUND {
		return nil, dispatcher.Errorf(dispatcher.ENOTFOUND, "no campaign named %q", name)
	}
	return c, err
}

// audit appends to the audit log; a failure is logged, and returned so
// that a lookup whose audit failed shows nothing.
func (s *Server) audit(ctx context.Context, p *principal, action, subject, detail string) error {
	err := s.cfg.Store.Audit(ctx, dispatcher.AuditEntry{At: s.cfg.Now(), Actor: p.actor(), Action: action, Subject: subject, Detail: detail})
	if err != nil {
		s.log.Error("audit failed", "action", action, "user", p.name(), "err", err)
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// ContactView is a person as support sees them.
type ContactView struct {
	ID         int64  `json:"id"`
	ExternalID string `json:"external_id,omitempty"`
	Name       string `json:"name"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Locale     string `json:"locale,omitempty"`
	Country    string `json:"country,omitempty"`
	SourceRow  int    `json:"source_row,omitempty"`
}

func contactView(c *dispatcher.Contact) ContactView {
	return ContactView{ID: c.ID, ExternalID: c.ExternalID, Name: c.Name, Email: c.Email, Phone: c.Phone, Locale: c.Locale, Country: c.Country, SourceRow: c.SourceRow}
}

// EventView is one event of a delivery, explained.
type EventView struct {
	At          time.Time        `json:"at"`
	State       dispatcher.State `json:"state"`
	StateWords  string           `json:"state_words"`
	ProviderID  string           `json:"provider_id,omitempty"`
	Code        string           `json:"code,omitempty"`
	Diagnostic  string           `json:"diagnostic,omitempty"`
	Explanation string           `json:"explanation,omitempty"`
}

// DeliveryView is one notice to one person on one channel, with its
// history.
type DeliveryView struct {
	ID          int64                  `json:"id"`
	Channel     dispatcher.ChannelKind `json:"channel"`
	State       dispatcher.State       `json:"state"`
	StateWords  string                 `json:"state_words"`
	Address     string                 `json:"address,omitempty"`
	ProviderID  string                 `json:"provider_id,omitempty"`
	Code        string                 `json:"code,omitempty"`
	Diagnostic  string                 `json:"diagnostic,omitempty"`
	Explanation string                 `json:"explanation,omitempty"`
	UpdatedAt   time.Time              `json:"updated_at"`
	Events      []EventView            `json:"events"`
}

// Timeline is everything herald holds about one person in one campaign.
type Timeline struct {
	Campaign    string         `json:"campaign"`
	IncidentRef string         `json:"incident_ref,omitempty"`
	Contact     ContactView    `json:"contact"`
	Reached     bool           `json:"reached"`
	Deliveries  []DeliveryView `json:"deliveries"`
}

// explainDelivery is the plain-words reason for where a delivery is.
func explainDelivery(k dispatcher.ChannelKind, st dispatcher.State, code, diag string) string {
	if w := ExplainCode(k, code, diag); w != "" && st != dispatcher.StateSent && st != dispatcher.StateDelivered {
		return w
	}
	if st == dispatcher.StateSkipped && diag != "" {
		return diag
	}
	return ""
}

// Lookup limits: how many people a name search shows (the API may ask for
// up to lookupMaxShown), and how long a query may be.
const (
	lookupShown    = 20
	lookupMaxShown = 50
	lookupMaxQuery = 320
)

// LookupResult is what the support lookup found for one query.
type LookupResult struct {
	Query string `json:"query"`
	// By is how the people were found: "address" (exact e-mail, phone
	// number or external id), "name" (name search) or "contact" (one
	// contact chosen by id, e.g. from a name search's list).
	By string `json:"by"`
	// Matched is how many contacts matched, counted up to 1,000 for a
	// name search; More is set when there were more than that.
	Matched int  `json:"matched"`
	More    bool `json:"more,omitempty"`
	// People are the timelines of the contacts shown, best match first.
	People []Timeline `json:"people"`
	// Refine says how to narrow a search that matched more people than
	// are shown.
	Refine string `json:"refine,omitempty"`
}

// lookupRequest is one support lookup: a query (e-mail, phone, external
// id or name) or a contact id, and how many people to show.
type lookupRequest struct {
	Query   string
	Contact int64 // when set, show this contact (Query is what led to it)
	Limit   int
}

// lookup finds people in every campaign: by exact e-mail, phone or
// external id, else by name (see dispatcher.NameQuery), or one contact by
// id; fillTimelines then reads their notices. Every lookup is audited, with what was searched and which contacts
// were shown, before anything is returned; the query itself goes nowhere
// else (not to logs, not to metrics).
func (s *Server) lookup(ctx context.Context, p *principal, req lookupRequest) (*LookupResult, error) {
	q := strings.TrimSpace(req.Query)
	limit := req.Limit
	if limit <= 0 {
		limit = lookupShown
	}
	limit = min(limit, lookupMaxShown)
	if len(q) > lookupMaxQuery {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "the search is too long")
	}
	res := &LookupResult{Query: q, People: []Timeline{}}
	var found []dispatcher.Contact
	switch {
	case req.Contact > 0:
		c, err := s.cfg.Store.Contact(ctx, req.Contact)
		if errors.Is(err, dispatcher.ErrNotFound) {
			return nil, dispatcher.Errorf(dispatcher.ENOTFOUND, "no contact %d", req.Contact)
		}
		if err != nil {
			return nil, err
		}
		res.By, found = "contact", []dispatcher.Contact{*c}
		if q == "" {
			q = "contact " + strconv.FormatInt(c.ID, 10)
		}
	case q == "":
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "give an e-mail address, phone number, external id or name to look up")
	default:
		var err error
		if found, err = dispatcher.FindContactsExact(ctx, s.cfg.Store, q, s.cfg.Region); err != nil {
			return nil, err
		}
		res.By = "address"
		if len(found) == 0 && dispatcher.IsNameQuery(q) {
			nq, err := dispatcher.ParseNameQuery(q)
			if err != nil {
				return nil, err
			}
			m, err := s.cfg.Store.FindContactsByName(ctx, nq, limit)
			if err != nil {
				return nil, err
			}
			res.By, found, res.Matched, res.More = "name", m.Contacts, m.Total, m.More
		}
	}
	if res.By != "name" {
		res.Matched = len(found)
	}
	if len(found) > limit {
		found = found[:limit]
	}
	if res.More || res.Matched > len(found) {
		res.Refine = "More people match than are shown: give more of the name (a middle name, the full surname), or search by e-mail address, phone number or id."
	}
	ids := make([]string, len(found))
	for i, c := range found {
		ids[i] = strconv.FormatInt(c.ID, 10)
	}
	detail := "nothing found"
	switch len(ids) {
	case 0:
	case 1:
		detail = "shown contact " + ids[0]
	default:
		detail = "shown contacts " + strings.Join(ids, ", ")
	}
	switch {
	case res.By == "name":
		more := ""
		if res.More {
			more = " or more"
		}
		detail = fmt.Sprintf("name search, %d%s matched: %s", res.Matched, more, detail)
	case res.By == "contact" && req.Query != "":
		detail = "opened from the search: " + detail
	}
	if err := s.audit(ctx, p, "contact.lookup", q, detail); err != nil {
		return nil, err
	}
	s.metrics.lookups.Inc()
	s.log.Info("contact lookup", "user", p.name(), "by", res.By, "shown", len(found))
	names := map[int64]*dispatcher.Campaign{}
	for i := range found {
		ct := &found[i]
		c := names[ct.CampaignID]
		if c == nil {
			var err error
			if c, err = s.cfg.Store.Campaign(ctx, ct.CampaignID); err != nil {
				return nil, err
			}
			names[ct.CampaignID] = c
		}
		res.People = append(res.People, Timeline{Campaign: c.Name, IncidentRef: c.IncidentRef, Contact: contactView(ct), Deliveries: []DeliveryView{}})
	}
	return res, nil
}

// fillTimelines reads the deliveries and events of every person in res:
// two queries however many people it shows.
func (s *Server) fillTimelines(ctx context.Context, res *LookupResult) error {
	ids := make([]int64, len(res.People))
	for i := range res.People {
		ids[i] = res.People[i].Contact.ID
	}
	ds, err := s.cfg.Store.DeliveriesOfContacts(ctx, ids)
	if err != nil {
		return err
	}
	dids := make([]int64, len(ds))
	for i := range ds {
		dids[i] = ds[i].ID
	}
	evs, err := s.cfg.Store.EventsOfDeliveries(ctx, dids)
	if err != nil {
		return err
	}
	byDelivery := map[int64][]dispatcher.Event{}
	for _, e := range evs {
		byDelivery[e.DeliveryID] = append(byDelivery[e.DeliveryID], e)
	}
	byContact := map[int64][]DeliveryView{}
	reached := map[int64]bool{}
	for _, d := range ds {
		dv := DeliveryView{ID: d.ID, Channel: d.Channel, State: d.State, StateWords: StateWords(d.State), Address: d.Address,
			ProviderID: d.ProviderID, Code: d.Code, Diagnostic: d.Diagnostic, UpdatedAt: d.UpdatedAt,
			Explanation: explainDelivery(d.Channel, d.State, d.Code, d.Diagnostic), Events: []EventView{}}
		for _, e := range byDelivery[d.ID] {
			dv.Events = append(dv.Events, EventView{At: e.At, State: e.State, StateWords: StateWords(e.State), ProviderID: e.ProviderID,
				Code: e.Code, Diagnostic: e.Diagnostic, Explanation: explainDelivery(d.Channel, e.State, e.Code, e.Diagnostic)})
		}
		reached[d.ContactID] = reached[d.ContactID] || d.State.Reached()
		byContact[d.ContactID] = append(byContact[d.ContactID], dv)
	}
	for i := range res.People {
		tl := &res.People[i]
		tl.Deliveries, tl.Reached = byContact[tl.Contact.ID], reached[tl.Contact.ID]
		if tl.Deliveries == nil {
			tl.Deliveries = []DeliveryView{}
		}
	}
	return nil
}

// RejectRow is one problem in one row of an import.
type RejectRow struct {
	Row      int    `json:"row"`
	Column   string `json:"column,omitempty"`
	Value    string `json:"value,omitempty"`
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
}

// ImportResult is an import's summary and its per-row problems.
type ImportResult struct {
	ID         int64       `json:"id"`
	Source     string      `json:"source"`
	Read       int         `json:"read"`
	Accepted   int         `json:"accepted"`
	Rejected   int         `json:"rejected"`
	Warnings   int         `json:"warnings"`
	Duplicates int         `json:"duplicates"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt time.Time   `json:"finished_at"`
	Problems   []RejectRow `json:"problems"`
	// Truncated is set when there were more problems than shown here;
	// the console's CSV download and the ledger have them all.
	Truncated bool `json:"truncated,omitempty"`

	csv []byte // the reject report as CSV, neutralised for spreadsheets
}

// maxProblemsShown bounds the problems an import answer lists.
const maxProblemsShown = 1000

// importOptions reads import settings from a form or query.
func importOptions(get func(string) string, source string) (dispatcher.ImportOptions, error) {
	opt := dispatcher.ImportOptions{Source: source, Encoding: strings.TrimSpace(get("encoding")), Region: strings.ToUpper(strings.TrimSpace(get("region")))}
	switch d := get("delimiter"); d {
	case "", "auto":
	case "tab", `\t`:
		opt.Delimiter = '\t'
	case ",", ";", "|":
		opt.Delimiter = rune(d[0])
	default:
		return opt, dispatcher.Errorf(dispatcher.EINVALID, "delimiter %q: use auto, comma (,), semicolon (;), tab or |", d)
	}
	switch v := strings.ToLower(get("strict")); v {
	case "", "0", "false", "off", "no":
	case "1", "true", "on", "yes":
		opt.Strict = true
	default:
		return opt, dispatcher.Errorf(dispatcher.EINVALID, "strict %q: use true or false", v)
	}
	return opt, nil
}

// runImport imports r into c and collects the reject report.
func (s *Server) runImport(ctx context.Context, p *principal, c *dispatcher.Campaign, r io.Reader, opt dispatcher.ImportOptions) (*ImportResult, error) {
	rep := &cappedBuffer{max: rejectMaxBytes}
	opt.Rejects = rep
	im := &dispatcher.Importer{Store: s.cfg.Store, Logger: s.log, Now: s.cfg.Now}
	run, err := im.Import(ctx, c, r, opt)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, p, "campaign.import", c.Name, fmt.Sprintf("%s: read %d, accepted %d, rejected %d, duplicates %d, warnings %d",
		run.Source, run.Read, run.Accepted, run.Rejected, run.Duplicates, run.Warnings)); err != nil {
		return nil, err
	}
	res := &ImportResult{ID: run.ID, Source: run.Source, Read: run.Read, Accepted: run.Accepted, Rejected: run.Rejected,
		Warnings: run.Warnings, Duplicates: run.Duplicates, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt, Problems: []RejectRow{}}
	res.Truncated = rep.cut
	cr := csv.NewReader(bytes.NewReader(rep.b.Bytes()))
	cr.FieldsPerRecord = -1
	var safe bytes.Buffer
	cw := csv.NewWriter(&safe)
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.Truncated = true // the capped buffer ended mid-row
			}
			break
		}
		_ = cw.Write(csvsafe.Cells(rec))
		if i == 0 || len(rec) < 5 {
			continue
		}
		if len(res.Problems) >= maxProblemsShown {
			res.Truncated = true
			continue
		}
		row, _ := strconv.Atoi(rec[0])
		res.Problems = append(res.Problems, RejectRow{Row: row, Column: rec[1], Value: rec[2], Severity: rec[3], Reason: rec[4]})
	}
	cw.Flush()
	res.csv = safe.Bytes()
	s.log.Info("import via web", "user", p.name(), "campaign", c.ID, "read", run.Read, "accepted", run.Accepted, "rejected", run.Rejected)
	return res, nil
}

// cappedBuffer keeps the first max bytes written to it and swallows the
// rest, so an import with millions of bad rows does not fill memory.
type cappedBuffer struct {
	b   bytes.Buffer
	max int
	cut bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); room < len(p) {
		c.cut = true
		if room > 0 {
			c.b.Write(p[:room])
		}
		return len(p), nil
	}
	return c.b.Write(p)
}

// control runs a campaign control and returns what it did, in words.
func (s *Server) control(ctx context.Context, p *principal, c *dispatcher.Campaign, verb string) (string, error) {
	ops := &dispatcher.Operations{Store: s.cfg.Store, Now: s.cfg.Now, Actor: p.actor()}
	var err error
	msg := ""
	switch verb { // a launch goes through the campaign check: see launch
	case "pause":
		err = ops.Pause(ctx, c)
		msg = "Campaign paused: nothing more is sent until you resume."
	case "resume":
		err = ops.Resume(ctx, c)
		msg = "Campaign resumed."
	case "cancel":
		var n int64
		n, err = ops.Cancel(ctx, c)
		msg = fmt.Sprintf("Campaign cancelled: %d unsent notices will not be sent.", n)
	default:
		return "", dispatcher.Errorf(dispatcher.EINVALID, "unknown control %q", verb)
	}
	if err != nil {
		return "", err
	}
	s.log.Info("campaign control", "user", p.name(), "campaign", c.ID, "action", verb)
	return msg, nil
}

// UnreachableRow is one person no channel reached, for substitute notice.
type UnreachableRow struct {
	Contact ContactView                       `json:"contact"`
	Reasons map[dispatcher.ChannelKind]string `json:"reasons"`
}

// unreachablePage reads one page of unreachable contacts with reasons.
func (s *Server) unreachableRows(ctx context.Context, c *dispatcher.Campaign, after int64, limit int) ([]UnreachableRow, error) {
	page, err := s.cfg.Store.Unreachable(ctx, c.ID, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]UnreachableRow, 0, len(page))
	for _, cd := range page {
		row := UnreachableRow{Contact: contactView(&cd.Contact), Reasons: map[dispatcher.ChannelKind]string{}}
		for _, d := range cd.Deliveries {
			row.Reasons[d.Channel] = reasonWords(d)
		}
		for _, k := range c.Policy {
			if _, ok := row.Reasons[k]; !ok {
				row.Reasons[k] = "not attempted"
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// reasonWords says why a delivery did not reach the person: the state in
// words, the provider's code, and what the code means.
func reasonWords(d dispatcher.Delivery) string {
	parts := []string{StateWords(d.State)}
	if d.Code != "" {
		parts = append(parts, d.Code)
	}
	if w := explainDelivery(d.Channel, d.State, d.Code, d.Diagnostic); w != "" && w != d.Diagnostic {
		parts = append(parts, w)
	} else if d.Diagnostic != "" {
		parts = append(parts, d.Diagnostic)
	}
	return strings.Join(parts, ": ")
}

// writeUnreachableCSV streams every unreachable contact of c as CSV with
// cells safe for spreadsheets.
func (s *Server) writeUnreachableCSV(ctx context.Context, w io.Writer, c *dispatcher.Campaign) error {
	cw := csv.NewWriter(w)
	header := []string{"external_id", "name", "email", "phone", "country", "locale", "source_row"}
	for _, k := range c.Policy {
		header = append(header, string(k)+"_reason")
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	const page = 1000
	var after int64
	for {
		rows, err := s.unreachableRows(ctx, c, after, page)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ct := r.Contact
			rec := []string{ct.ExternalID, ct.Name, ct.Email, ct.Phone, ct.Country, ct.Locale, strconv.Itoa(ct.SourceRow)}
			for _, k := range c.Policy {
				rec = append(rec, r.Reasons[k])
			}
			if err := cw.Write(csvsafe.Cells(rec)); err != nil {
				return err
			}
			after = ct.ID
		}
		if len(rows) < page {
			break
		}
	}
	cw.Flush()
	return cw.Error()
}
