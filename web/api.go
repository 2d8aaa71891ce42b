package web

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/starter"
)

// openAPISpec is the hand-written description of the API under /api/v1.
// A test checks that it documents every API route and nothing else.
//
//go:embed openapi.json
var openAPISpec []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPISpec)
}

// apiError is the body of every API error.
type apiError struct {
	Error   string `json:"error"`   // the HTTP status text
	Message string `json:"message"` // what went wrong and what to do, for a person
	// Fields names each field of the request that is wrong, with what to
	// write instead (creating a campaign, changing its settings).
	Fields []dispatcher.FieldError `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// apiFail answers an API error from a handler.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	s.fail(w, r, &route{Name: "api", kind: kindAPI}, err)
}

// decodeJSON reads a JSON request body strictly: unknown fields are an
// error, so a typo in a field name is not silently ignored.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" {
			return dispatcher.Errorf(dispatcher.EINVALID, "send the request body as application/json, not %s", mt)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return dispatcher.Errorf(dispatcher.EINVALID, "request body is not valid JSON for this call: %v", err)
	}
	return nil
}

// UserView is a user as the API shows it (never the password hash).
type UserView struct {
	Name      string          `json:"name"`
	Role      dispatcher.Role `json:"role"`
	CreatedAt time.Time       `json:"created_at"`
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	writeJSON(w, http.StatusOK, UserView{Name: p.user.Name, Role: p.user.Role, CreatedAt: p.user.CreatedAt})
}

// SenderView is who a campaign's notices come from.
type SenderView struct {
	FromName   string `json:"from_name,omitempty"`
	FromEmail  string `json:"from_email,omitempty"`
	ReplyTo    string `json:"reply_to,omitempty"`
	SMSFrom    string `json:"sms_from,omitempty"`
	SMSService string `json:"sms_service,omitempty"`
}

// CampaignView is a campaign as the API shows it.
type CampaignView struct {
	ID            int64                     `json:"id"`
	Name          string                    `json:"name"`
	IncidentRef   string                    `json:"incident_ref,omitempty"`
	DefaultLocale string                    `json:"default_locale"`
	Channels      []dispatcher.ChannelKind  `json:"channels"`
	Status        dispatcher.CampaignStatus `json:"status"`
	Sender        SenderView                `json:"sender"`
	CreatedAt     time.Time                 `json:"created_at"`
	LaunchedAt    *time.Time                `json:"launched_at,omitempty"`
	FinishedAt    *time.Time                `json:"finished_at,omitempty"`
}

func campaignView(c *dispatcher.Campaign) CampaignView {
	v := CampaignView{ID: c.ID, Name: c.Name, IncidentRef: c.IncidentRef, DefaultLocale: c.DefaultLocale,
		Channels: append([]dispatcher.ChannelKind{}, c.Policy...), Status: c.Status, CreatedAt: c.CreatedAt,
		Sender: SenderView{c.Sender.FromName, c.Sender.FromEmail, c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService}}
	if !c.LaunchedAt.IsZero() {
		t := c.LaunchedAt
		v.LaunchedAt = &t
	}
	if !c.FinishedAt.IsZero() {
		t := c.FinishedAt
		v.FinishedAt = &t
	}
	return v
}

func (s *Server) apiCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := s.cfg.Store.Campaigns(r.Context())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := make([]CampaignView, len(cs))
	for i, c := range cs {
		out[i] = campaignView(c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiCampaign(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, campaignView(c))
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	st, err := s.campaignStatus(r.Context(), c)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// ReportView is the ledger's report with the campaign's name and status.
type ReportView struct {
	Campaign string                    `json:"campaign"`
	Status   dispatcher.CampaignStatus `json:"status"`
	*dispatcher.Report
}

func (s *Server) apiReport(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	rep, err := s.cfg.Store.Report(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ReportView{Campaign: c.Name, Status: c.Status, Report: rep})
}

func (s *Server) apiLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := lookupRequest{Query: q.Get("q")}
	if v := q.Get("contact"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			s.apiFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "contact=%q: give a contact id, e.g. contact=42", v))
			return
		}
		req.Contact = id
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > lookupMaxShown {
			s.apiFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "limit=%q: give a number from 1 to %d", v, lookupMaxShown))
			return
		}
		req.Limit = n
	}
	res, err := s.lookup(r.Context(), principalOf(r.Context()), req)
	if err == nil {
		err = s.fillTimelines(r.Context(), res)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// SuppressionView is an entry of the do-not-contact list.
type SuppressionView struct {
	Channel    dispatcher.ChannelKind `json:"channel"`
	Address    string                 `json:"address"`
	Suppressed bool                   `json:"suppressed"`
	Reason     string                 `json:"reason,omitempty"`
	Source     string                 `json:"source,omitempty"`
	FirstSeen  *time.Time             `json:"first_seen,omitempty"`
	LastSeen   *time.Time             `json:"last_seen,omitempty"`
}

func (s *Server) apiSuppression(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := s.checkSuppression(ctx, principalOf(ctx), r.URL.Query().Get("channel"), r.URL.Query().Get("address"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// SuppressRequest adds an address to the do-not-contact list.
type SuppressRequest struct {
	Channel dispatcher.ChannelKind `json:"channel"`
	Address string                 `json:"address"`
	Reason  string                 `json:"reason"`
	Note    string                 `json:"note"`
}

func (s *Server) apiSuppress(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req SuppressRequest
	if err := decodeJSON(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	v, err := s.addSuppression(ctx, principalOf(ctx), string(req.Channel), req.Address, req.Reason, req.Note, "API")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// TemplateView is a notice template for one channel and locale.
type TemplateView struct {
	Channel dispatcher.ChannelKind `json:"channel"`
	Locale  string                 `json:"locale"`
	Subject string                 `json:"subject,omitempty"`
	Text    string                 `json:"text"`
	HTML    string                 `json:"html,omitempty"`
}

// CreateCampaignRequest creates a draft campaign with its templates: those
// given, on top of the starter notices of StarterLocales, if any. The
// settings fields are CampaignFields, the same as the settings endpoint.
type CreateCampaignRequest struct {
	CampaignFields
	StarterLocales []string       `json:"starter_locales"`
	Templates      []TemplateView `json:"templates"`
}

func (s *Server) apiCreateCampaign(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req CreateCampaignRequest
	if err := decodeJSON(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	cs := CampaignSettings{CampaignFields: req.CampaignFields}
	ts, err := starter.Templates(req.StarterLocales...)
	if err != nil {
		s.apiFail(w, r, dispatcher.FieldErrors{{Field: "starter_locales", Message: userMessage(err)}})
		return
	}
	for _, t := range req.Templates {
		k, err := dispatcher.ParseChannelKind(string(t.Channel))
		if err != nil {
			s.apiFail(w, r, dispatcher.FieldErrors{{Field: "templates", Message: userMessage(err)}})
			return
		}
		// Given templates come after the starter notices: of a channel ×
		// locale in both, the given one wins (dispatcher.PrepareTemplates).
		ts = append(ts, dispatcher.Template{Channel: k, Locale: t.Locale, Subject: t.Subject, Text: t.Text, HTML: t.HTML})
	}
	how := fmt.Sprintf("%d given", len(req.Templates))
	if len(req.StarterLocales) > 0 {
		how += ", starter notices " + strings.Join(req.StarterLocales, ", ")
	}
	c, err := s.createCampaign(ctx, principalOf(ctx), cs, ts, how)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/campaigns/"+c.Name)
	writeJSON(w, http.StatusCreated, campaignView(c))
}

func (s *Server) apiTemplates(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	ts, err := s.cfg.Store.Templates(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := make([]TemplateView, len(ts))
	for i, t := range ts {
		out[i] = TemplateView{Channel: t.Channel, Locale: t.Locale, Subject: t.Subject, Text: t.Text, HTML: t.HTML}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiPutTemplate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	var req TemplateView
	if err := decodeJSON(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	k, err := dispatcher.ParseChannelKind(string(req.Channel))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if c.Status.Final() {
		s.apiFail(w, r, dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %s is %s: its templates can no longer change", c.Name, c.Status))
		return
	}
	ts, err := s.putTemplates(ctx, principalOf(ctx), c, []dispatcher.Template{{Channel: k, Locale: req.Locale, Subject: req.Subject, Text: req.Text, HTML: req.HTML}}, "API")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	t := ts[0]
	writeJSON(w, http.StatusOK, TemplateView{Channel: t.Channel, Locale: t.Locale, Subject: t.Subject, Text: t.Text, HTML: t.HTML})
}

// apiImport takes a contact list as the request body (text/csv) or as the
// "file" part of a multipart form, and answers the import's summary and
// every problem row.
func (s *Server) apiImport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	q := r.URL.Query()
	source := q.Get("source")
	var body io.Reader = r.Body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		f, hdr, err := r.FormFile("file")
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.apiFail(w, r, err)
				return
			}
			s.apiFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "multipart upload has no \"file\" part"))
			return
		}
		defer f.Close()
		body = f
		if source == "" {
			source = hdr.Filename
		}
	}
	if source == "" {
		source = "api upload"
	}
	opt, err := importOptions(q.Get, source)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	res, err := s.runImport(ctx, principalOf(ctx), c, body, opt)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) controlAPI(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c, err := s.campaign(ctx, r.PathValue("name"))
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		msg, err := s.control(ctx, principalOf(ctx), c, verb)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Campaign CampaignView `json:"campaign"`
			Message  string       `json:"message"`
		}{campaignView(c), msg})
	}
}

// UnreachablePage is one page of the unreachable list.
type UnreachablePage struct {
	Contacts []UnreachableRow `json:"contacts"`
	// NextAfter is the after= value of the next page; 0 on the last.
	NextAfter int64 `json:"next_after"`
}

func (s *Server) apiUnreachable(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	q := r.URL.Query()
	p := principalOf(ctx)
	if q.Get("format") == "csv" {
		if err := s.audit(ctx, p, "report.unreachable", c.Name, "csv export via API"); err != nil {
			s.apiFail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", attachment(c.Name+"-unreachable.csv"))
		if err := s.writeUnreachableCSV(ctx, w, c); err != nil {
			s.log.Error("unreachable CSV", "campaign", c.ID, "err", err)
		}
		return
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.unreachableRows(ctx, c, after, limit)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := s.audit(ctx, p, "report.unreachable", c.Name, fmt.Sprintf("json page after %d: %d contacts shown", after, len(rows))); err != nil {
		s.apiFail(w, r, err)
		return
	}
	page := UnreachablePage{Contacts: rows}
	if len(rows) == limit {
		page.NextAfter = rows[len(rows)-1].Contact.ID
	}
	writeJSON(w, http.StatusOK, page)
}

// AuditView is an audit log entry.
type AuditView struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Subject string    `json:"subject,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	es, err := s.cfg.Users.AuditLog(r.Context(), dispatcher.AuditQuery{BeforeID: before, Actor: q.Get("actor"), Action: q.Get("action"), Limit: limit})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	out := make([]AuditView, len(es))
	for i, e := range es {
		out[i] = AuditView{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Detail: e.Detail}
	}
	writeJSON(w, http.StatusOK, out)
}
