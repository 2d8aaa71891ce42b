package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// The suppression list in the console and the API: the cross-campaign
// do-not-contact list (see dispatcher/suppressions.go). Support may check
// whether one address is on it; operators page through it, add and remove.
// The list is personal data: every look and every change is audited.

// suppressionPageSize is how many entries one console page lists.
const suppressionPageSize = 50

// suppressionView is the suppressions page: a check of one address, and
// for operators a page of the list.
type suppressionView struct {
	// The check of one address.
	Channel, Address string
	Checked          bool
	Found            *SuppressionView
	// The list (operators).
	List                bool
	Filter              dispatcher.SuppressionQuery
	Entries             []SuppressionView
	NextChannel         dispatcher.ChannelKind
	NextAddress         string
	After               bool // not the first page
	Reasons             []string
	Channels            []dispatcher.ChannelKind
	AddChannel, AddNote string
}

func suppressionViewOf(s *dispatcher.Suppression) SuppressionView {
	v := SuppressionView{Channel: s.Channel, Address: s.Address, Suppressed: true, Reason: s.Reason, Source: s.Source}
	first, last := s.FirstSeen, s.LastSeen
	v.FirstSeen, v.LastSeen = &first, &last
	return v
}

func newSuppressionView() *suppressionView {
	return &suppressionView{Reasons: dispatcher.SuppressionReasons,
		Channels: []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS, dispatcher.Postal}, Channel: string(dispatcher.Email)}
}

// checkSuppression looks one address up, audited.
func (s *Server) checkSuppression(ctx context.Context, p *principal, channel, address string) (*SuppressionView, error) {
	k, addr, err := dispatcher.NormalizeSuppression(channel, address, s.cfg.Region)
	if err != nil {
		return nil, err
	}
	sup, err := s.cfg.Store.IsSuppressed(ctx, k, addr)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, p, "suppression.lookup", addr, fmt.Sprintf("%s: suppressed %t", k, sup != nil)); err != nil {
		return nil, err
	}
	if sup == nil {
		return &SuppressionView{Channel: k, Address: addr}, nil
	}
	v := suppressionViewOf(sup)
	return &v, nil
}

// suppressionCheckPage is the check of one address, for every role.
func (s *Server) suppressionCheckPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := newSuppressionView()
	d := pageData{Title: "Suppression list", Nav: "suppressions", Data: v}
	if c := q.Get("channel"); c != "" {
		v.Channel = c
	}
	v.Address = strings.TrimSpace(q.Get("address"))
	if v.Address != "" {
		ctx := r.Context()
		found, err := s.checkSuppression(ctx, principalOf(ctx), v.Channel, v.Address)
		switch {
		case dispatcher.ErrorCode(err) == dispatcher.EINVALID:
			d.Error = userMessage(err)
		case err != nil:
			s.pageFail(w, r, err)
			return
		default:
			v.Checked, v.Found = true, found
		}
	}
	s.render(w, r, http.StatusOK, "suppressions", d)
}

// suppressionQuery reads the list's filter and page from a query.
func suppressionQuery(q url.Values) (dispatcher.SuppressionQuery, error) {
	var sq dispatcher.SuppressionQuery
	if c := q.Get("channel"); c != "" {
		k, err := dispatcher.ParseChannelKind(c)
		if err != nil {
			return sq, err
		}
		sq.Channel = k
	}
	if r := q.Get("reason"); r != "" {
		reason, err := dispatcher.ParseSuppressionReason(r)
		if err != nil {
			return sq, err
		}
		sq.Reason = reason
	}
	if c := q.Get("after_channel"); c != "" {
		k, err := dispatcher.ParseChannelKind(c)
		if err != nil {
			return sq, err
		}
		sq.AfterChannel, sq.AfterAddress = k, q.Get("after_address")
	}
	return sq, nil
}

// suppressionPage reads one page of the list (sq.Limit entries at most),
// audited, with where the next page starts.
func (s *Server) suppressionPage(ctx context.Context, p *principal, sq dispatcher.SuppressionQuery, how string) (*SuppressionPage, error) {
	page, err := s.cfg.Store.Suppressions(ctx, sq)
	if err != nil {
		return nil, err
	}
	filter := strings.TrimSpace(string(sq.Channel) + " " + sq.Reason)
	if filter == "" {
		filter = "all"
	}
	after := ""
	if sq.AfterChannel != "" {
		after = " after an entry"
	}
	if err := s.audit(ctx, p, "suppression.list", filter, fmt.Sprintf("%s page%s: %d entries shown", how, after, len(page))); err != nil {
		return nil, err
	}
	out := &SuppressionPage{Entries: make([]SuppressionView, 0, len(page))}
	for i := range page {
		out.Entries = append(out.Entries, suppressionViewOf(&page[i]))
	}
	if len(page) == sq.Limit {
		last := page[len(page)-1]
		out.NextAfterChannel, out.NextAfterAddress = last.Channel, last.Address
	}
	return out, nil
}

// suppressionsPage lists the suppression list, for operators.
func (s *Server) suppressionsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := newSuppressionView()
	v.List = true
	d := pageData{Title: "Suppression list", Nav: "suppressions", Flash: flashes[r.URL.Query().Get("done")], Data: v}
	sq, err := suppressionQuery(r.URL.Query())
	if err != nil {
		d.Error = userMessage(err)
		s.render(w, r, http.StatusBadRequest, "suppressions", d)
		return
	}
	sq.Limit = suppressionPageSize
	v.Filter, v.After = sq, sq.AfterChannel != ""
	pg, err := s.suppressionPage(ctx, principalOf(ctx), sq, "console")
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	v.Entries, v.NextChannel, v.NextAddress = pg.Entries, pg.NextAfterChannel, pg.NextAfterAddress
	s.render(w, r, http.StatusOK, "suppressions", d)
}

// addSuppression puts an address on the list, audited.
func (s *Server) addSuppression(ctx context.Context, p *principal, channel, address, reason, note, via string) (*SuppressionView, error) {
	sup, err := dispatcher.AddSuppression(ctx, s.cfg.Store, dispatcher.ManualSuppression{Channel: channel, Address: address, Region: s.cfg.Region,
		Reason: reason, Note: note, Via: via, Actor: p.actor(), At: s.cfg.Now()})
	if err != nil {
		return nil, err
	}
	s.log.Info("suppression added", "user", p.name(), "channel", sup.Channel, "reason", sup.Reason)
	v := suppressionViewOf(sup)
	return &v, nil
}

// removeSuppression takes an address off the list, audited.
func (s *Server) removeSuppression(ctx context.Context, p *principal, channel, address string) (dispatcher.ChannelKind, string, error) {
	k, addr, err := dispatcher.RemoveSuppression(ctx, s.cfg.Store, channel, address, s.cfg.Region, p.actor(), s.cfg.Now())
	if err != nil {
		return "", "", err
	}
	s.log.Info("suppression removed", "user", p.name(), "channel", k)
	return k, addr, nil
}

func (s *Server) suppressionsAdd(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := r.PostFormValue
	if _, err := s.addSuppression(ctx, principalOf(ctx), f("channel"), f("address"), f("reason"), f("note"), "console"); err != nil {
		if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			s.pageFail(w, r, err)
			return
		}
		// Show the problem above the list, with what was typed.
		v := newSuppressionView()
		v.List, v.Filter = true, dispatcher.SuppressionQuery{Limit: suppressionPageSize}
		v.AddChannel, v.Address, v.AddNote = f("channel"), f("address"), f("note")
		pg, perr := s.suppressionPage(ctx, principalOf(ctx), v.Filter, "console")
		if perr != nil {
			s.pageFail(w, r, perr)
			return
		}
		v.Entries, v.NextChannel, v.NextAddress = pg.Entries, pg.NextAfterChannel, pg.NextAfterAddress
		s.render(w, r, http.StatusBadRequest, "suppressions", pageData{Title: "Suppression list", Nav: "suppressions",
			Error: "Nothing was added: " + userMessage(err), Data: v})
		return
	}
	http.Redirect(w, r, "/suppressions?done=suppressed", http.StatusSeeOther)
}

func (s *Server) suppressionsRemove(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, _, err := s.removeSuppression(ctx, principalOf(ctx), r.PostFormValue("channel"), r.PostFormValue("address")); err != nil {
		s.pageFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/suppressions?done=unsuppressed", http.StatusSeeOther)
}

// ---- API ----

// SuppressionPage is one page of the suppression list.
type SuppressionPage struct {
	Entries []SuppressionView `json:"entries"`
	// NextAfterChannel and NextAfterAddress are the after_channel and
	// after_address of the next page; empty on the last.
	NextAfterChannel dispatcher.ChannelKind `json:"next_after_channel,omitempty"`
	NextAfterAddress string                 `json:"next_after_address,omitempty"`
}

func (s *Server) apiSuppressionList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	sq, err := suppressionQuery(q)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	sq.Limit = 1000
	if v := q.Get("limit"); v != "" {
		if sq.Limit, err = strconv.Atoi(v); err != nil || sq.Limit <= 0 || sq.Limit > 10000 {
			s.apiFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "limit=%q: give a number from 1 to 10000", v))
			return
		}
	}
	pg, err := s.suppressionPage(ctx, principalOf(ctx), sq, "API")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pg)
}

func (s *Server) apiUnsuppress(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	k, addr, err := s.removeSuppression(ctx, principalOf(ctx), r.URL.Query().Get("channel"), r.URL.Query().Get("address"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SuppressionView{Channel: k, Address: addr, Suppressed: false})
}

// suppressionTime shows when an entry was first or last seen, to the
// minute in the server's zone (the list is wide enough without seconds).
func suppressionTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04")
}
