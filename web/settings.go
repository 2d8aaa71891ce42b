package web

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/starter"
)

// This file is creating a campaign and editing its settings, in the
// console and through the API: one CampaignSettings for both, checked by
// the domain's rules (dispatcher.Campaign.CheckFields and CheckEdit), each
// problem reported against its field, every change audited.

// GuardView is the sender-reputation guard's limits; a share of 0 takes
// herald's default (5 % hard bounces, 0.1 % complaints).
type GuardView struct {
	Off        bool    `json:"off"`
	HardBounce float64 `json:"hard_bounce"` // share of recent e-mails, e.g. 0.05
	Complaint  float64 `json:"complaint"`   // share of recent e-mails, e.g. 0.001
}

// CampaignFields is everything about a campaign an operator sets: what a
// new campaign is created with and what its settings change.
type CampaignFields struct {
	Name                string     `json:"name"`
	IncidentRef         string     `json:"incident_ref"`
	DefaultLocale       string     `json:"default_locale"`
	Channels            []string   `json:"channels"`
	Sender              SenderView `json:"sender"`
	QuietHours          string     `json:"quiet_hours"`
	Deadline            *time.Time `json:"deadline"`
	ConsentRequired     bool       `json:"consent_required"`
	AllChannels         bool       `json:"all_channels"`
	SubstituteThreshold int        `json:"substitute_threshold"`
	Guard               GuardView  `json:"guard"`
}

// CampaignSettings is a campaign's CampaignFields as the settings endpoint
// reads and writes them, with what it shows beside them. Status, Editable,
// ScheduledAt and PauseReason are read only.
type CampaignSettings struct {
	CampaignFields

	Status      dispatcher.CampaignStatus `json:"status,omitempty"`
	Editable    bool                      `json:"editable"`
	ScheduledAt *time.Time                `json:"scheduled_at,omitempty"`
	PauseReason string                    `json:"pause_reason,omitempty"`
	// Revision is the campaign's revision when read. A change that
	// carries it is saved only if the campaign is still as read
	// (compare-and-set); see updateSettings.
	Revision string `json:"revision,omitempty"`
}

func settingsOf(c *dispatcher.Campaign) CampaignSettings {
	st := c.Settings
	cs := CampaignSettings{CampaignFields: CampaignFields{Name: c.Name, IncidentRef: c.IncidentRef, DefaultLocale: c.DefaultLocale,
		Sender:     SenderView{c.Sender.FromName, c.Sender.FromEmail, c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService},
		QuietHours: st.QuietHours, ConsentRequired: st.ConsentRequired, AllChannels: st.AllChannels, SubstituteThreshold: st.SubstituteThreshold,
		Guard:    GuardView{Off: st.Guard.Off, HardBounce: st.Guard.HardBounce, Complaint: st.Guard.Complaint},
		Channels: []string{}},
		Status: c.Status, Editable: c.Status.Editable(), PauseReason: st.PauseReason, Revision: c.Revision}
	for _, k := range c.Policy {
		cs.Channels = append(cs.Channels, string(k))
	}
	if !st.Deadline.IsZero() {
		t := st.Deadline
		cs.Deadline = &t
	}
	if !st.ScheduledAt.IsZero() {
		t := st.ScheduledAt
		cs.ScheduledAt = &t
	}
	return cs
}

// apply writes the settings onto a copy of base (the campaign as it is,
// or an empty one when creating) and returns it with the problems the
// values themselves have; the domain's rules are checked afterwards.
func (cs CampaignSettings) apply(base dispatcher.Campaign) (*dispatcher.Campaign, dispatcher.FieldErrors) {
	var fe dispatcher.FieldErrors
	c := base
	c.Name, c.IncidentRef, c.DefaultLocale = strings.TrimSpace(cs.Name), strings.TrimSpace(cs.IncidentRef), strings.TrimSpace(cs.DefaultLocale)
	c.Policy = nil
	if len(cs.Channels) > 0 {
		p, err := dispatcher.ParsePolicy(strings.Join(cs.Channels, ","))
		if err != nil {
			fe.Add("channels", "%s", userMessage(err))
		}
		c.Policy = p
	}
	sv := cs.Sender
	c.Sender = dispatcher.Sender{FromName: strings.TrimSpace(sv.FromName), FromEmail: strings.TrimSpace(sv.FromEmail), ReplyTo: strings.TrimSpace(sv.ReplyTo),
		SMSFrom: strings.TrimSpace(sv.SMSFrom), SMSService: strings.TrimSpace(sv.SMSService)}
	st := base.Settings // keeps ScheduledAt and PauseReason, which are not set here
	st.QuietHours = strings.TrimSpace(cs.QuietHours)
	st.Deadline = time.Time{}
	if cs.Deadline != nil {
		st.Deadline = *cs.Deadline
	}
	st.ConsentRequired, st.AllChannels, st.SubstituteThreshold = cs.ConsentRequired, cs.AllChannels, cs.SubstituteThreshold
	st.Guard.Off, st.Guard.HardBounce, st.Guard.Complaint = cs.Guard.Off, cs.Guard.HardBounce, cs.Guard.Complaint
	c.Settings = st
	return &c, fe
}

// settingsFields are the settings an operator sets, by their API names,
// with the console's label for each.
var settingsFields = []struct{ name, label string }{
	{"name", "Name"}, {"incident_ref", "Incident reference"}, {"default_locale", "Default language"}, {"channels", "Channels, in order"},
	{"sender.from_name", "From name"}, {"sender.from_email", "From address"}, {"sender.reply_to", "Replies go to"},
	{"sender.sms_from", "SMS sender"}, {"sender.sms_service", "Twilio Messaging Service"}, {"quiet_hours", "SMS sending window"},
	{"deadline", "Deadline"}, {"consent_required", "E-mail only to people who consented"}, {"all_channels", "Every channel at once"},
	{"substitute_threshold", "Substitute notice at"}, {"guard.off", "Never pause for bounce or complaint rates"},
	{"guard.hard_bounce", "Pause above hard bounces of"}, {"guard.complaint", "Pause above complaints of"},
}

// flat is the settings as text, in settingsFields' order.
func (cs CampaignSettings) flat() []string {
	deadline := ""
	if cs.Deadline != nil {
		deadline = cs.Deadline.UTC().Format(time.RFC3339)
	}
	return []string{cs.Name, cs.IncidentRef, cs.DefaultLocale, strings.Join(cs.Channels, ","),
		cs.Sender.FromName, cs.Sender.FromEmail, cs.Sender.ReplyTo, cs.Sender.SMSFrom, cs.Sender.SMSService, cs.QuietHours,
		deadline, strconv.FormatBool(cs.ConsentRequired), strconv.FormatBool(cs.AllChannels), strconv.Itoa(cs.SubstituteThreshold),
		strconv.FormatBool(cs.Guard.Off), strconv.FormatFloat(cs.Guard.HardBounce, 'f', -1, 64), strconv.FormatFloat(cs.Guard.Complaint, 'f', -1, 64)}
}

// settingDiff is one setting that differs between two versions.
type settingDiff struct {
	Field, Label string
	Old, New     string
}

// diff lists the settings that differ between cs and next.
func (cs CampaignSettings) diff(next CampaignSettings) []settingDiff {
	a, b := cs.flat(), next.flat()
	var out []settingDiff
	for i, f := range settingsFields {
		if a[i] != b[i] {
			out = append(out, settingDiff{Field: f.name, Label: f.label, Old: a[i], New: b[i]})
		}
	}
	return out
}

// changes lists what differs between two settings, for the audit log.
func (cs CampaignSettings) changes(next CampaignSettings) []string {
	var out []string
	for _, d := range cs.diff(next) {
		out = append(out, fmt.Sprintf("%s %q → %q", d.Field, d.Old, d.New))
	}
	return out
}

// staleSettings is an edit of settings that changed after the editor read
// them (another operator saved, a launch was scheduled, the guard paused
// the campaign): nothing was saved. Current is the campaign as it is now.
type staleSettings struct {
	Current *dispatcher.Campaign
}

func (e *staleSettings) Error() string {
	return fmt.Sprintf("campaign %s changed while you were editing it: nothing was saved", e.Current.Name)
}

// Unwrap makes it a conflict (409) with a message for the editor.
func (e *staleSettings) Unwrap() error {
	return dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %s changed while you were editing it (someone saved its settings, a launch was scheduled, or it paused itself): nothing was saved. Apply your change to the current settings and save again.", e.Current.Name)
}

// hasContacts reports whether any contact is imported into c.
func (s *Server) hasContacts(ctx context.Context, c *dispatcher.Campaign) (bool, error) {
	cs, err := s.cfg.Store.Contacts(ctx, c.ID, 0, 1)
	return len(cs) > 0, err
}

// updateSettings checks and saves new settings of campaign c, and audits
// them. It returns the campaign as saved. The save is a compare-and-set:
// on next.Revision when given (the revision the editor read), else on c
// as read for this request; when the campaign changed since, nothing is
// saved and the error is a *staleSettings with the campaign as it is.
func (s *Server) updateSettings(ctx context.Context, p *principal, c *dispatcher.Campaign, next CampaignSettings) (*dispatcher.Campaign, error) {
	if next.Revision != "" && next.Revision != c.Revision {
		return nil, &staleSettings{Current: c}
	}
	nc, fe := next.apply(*c)
	has, err := s.hasContacts(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := nc.CheckEdit(c, has, s.cfg.Now()); err != nil {
		var more dispatcher.FieldErrors
		if errors.As(err, &more) {
			return nil, append(fe, more...)
		}
		return nil, err
	}
	if len(fe) > 0 {
		return nil, fe
	}
	changes := settingsOf(c).changes(settingsOf(nc))
	if len(changes) == 0 {
		return nc, nil
	}
	err = s.cfg.Store.UpdateCampaign(ctx, nc, []dispatcher.CampaignStatus{dispatcher.CampaignDraft, dispatcher.CampaignPaused})
	switch {
	case errors.Is(err, dispatcher.ErrStale):
		cur, gerr := s.cfg.Store.Campaign(ctx, c.ID)
		if gerr != nil {
			return nil, gerr
		}
		if !cur.Status.Editable() {
			return nil, dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %s was launched or resumed meanwhile: its settings can no longer change", c.Name)
		}
		return nil, &staleSettings{Current: cur}
	case dispatcher.ErrorCode(err) == dispatcher.ECONFLICT:
		return nil, nameTaken(nc.Name)
	case err != nil:
		return nil, err
	}
	if err := s.audit(ctx, p, "campaign.settings", c.Name, strings.Join(changes, "; ")); err != nil {
		return nil, err
	}
	s.log.Info("campaign settings changed", "user", p.name(), "campaign", c.ID, "fields", len(changes))
	return nc, nil
}

// createCampaign checks and creates a draft campaign with its templates,
// and audits it.
func (s *Server) createCampaign(ctx context.Context, p *principal, cs CampaignSettings, ts []dispatcher.Template, how string) (*dispatcher.Campaign, error) {
	c, fe := cs.apply(dispatcher.Campaign{Status: dispatcher.CampaignDraft})
	fe = append(fe, c.CheckFields(nil, s.cfg.Now())...)
	if len(fe) == 0 {
		var err error
		if len(ts) == 0 {
			fe.Add("templates", "give the notices: start from the starter notices of at least one language, or upload a templates folder as a .zip")
		} else if ts, err = dispatcher.PrepareTemplates(ts); err != nil {
			fe.Add("templates", "%s", userMessage(err))
		} else if err := c.TemplatesCover(ts); err != nil {
			fe.Add("templates", "%s", userMessage(err))
		}
	}
	if len(fe) > 0 {
		return nil, fe
	}
	if err := s.cfg.Store.CreateCampaign(ctx, c, ts); err != nil {
		if dispatcher.ErrorCode(err) == dispatcher.ECONFLICT {
			return nil, nameTaken(c.Name)
		}
		return nil, err
	}
	if err := s.audit(ctx, p, "campaign.create", c.Name, fmt.Sprintf("channels %s, %d templates (%s)", c.Policy, len(ts), how)); err != nil {
		return nil, err
	}
	s.log.Info("campaign created", "user", p.name(), "campaign", c.ID)
	return c, nil
}

// nameTaken is the error for a campaign name in use: a conflict (409 in
// the API) that the forms show at the name field.
func nameTaken(name string) error {
	msg := fmt.Sprintf("a campaign named %q exists already: choose another name", name)
	return errors.Join(dispatcher.Errorf(dispatcher.ECONFLICT, "%s", msg), dispatcher.FieldErrors{{Field: "name", Message: msg}})
}

// maxTemplateUpload bounds an uploaded templates folder (.zip) and the
// files in it.
const maxTemplateUpload = 4 << 20

// templatesFromZip reads a templates folder uploaded as a .zip: locale
// folders at the top (nb/email.txt), or inside one folder (tpl/nb/...).
func templatesFromZip(b []byte) ([]dispatcher.Template, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "the upload is not a .zip file: zip the templates folder (nb/email.subject, nb/email.txt, nb/sms.txt, ...)")
	}
	// Locale folders at the top (nb/email.txt), or all of them inside one
	// folder (tpl/nb/email.txt), as zipping a folder makes it.
	var total uint64
	tops := map[string]bool{}
	nested := true
	for _, f := range zr.File {
		total += f.UncompressedSize64
		name := strings.TrimPrefix(f.Name, "/")
		if f.FileInfo().IsDir() || isJunk(name) {
			continue
		}
		top, _, _ := strings.Cut(name, "/")
		tops[top] = true
		nested = nested && strings.Count(name, "/") == 2
	}
	if total > maxTemplateUpload {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "the templates in the .zip are larger than %d MiB: a notice is a few kilobytes", maxTemplateUpload>>20)
	}
	var fsys fs.FS = zr
	if nested && len(tops) == 1 {
		for top := range tops {
			if fsys, err = fs.Sub(zr, top); err != nil {
				return nil, fmt.Errorf("templates zip: %w", err)
			}
		}
	}
	fsys = skipJunk{fsys}
	ts, err := dispatcher.LoadTemplates(fsys)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "the .zip holds no templates: it needs folders named for locales with email.subject, email.txt and sms.txt in them")
	}
	return ts, nil
}

// isJunk reports whether a file or folder in a .zip is what archivers add
// (a __MACOSX folder and what is in it, .DS_Store) rather than a template.
func isJunk(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	return top == "__MACOSX" || path.Base(name) == ".DS_Store"
}

// skipJunk hides what archivers add to a .zip (__MACOSX folders) from
// LoadTemplates, which refuses files it does not know.
type skipJunk struct{ fs.FS }

func (j skipJunk) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := fs.ReadDir(j.FS, name)
	return slices.DeleteFunc(es, func(e fs.DirEntry) bool { return isJunk(path.Join(name, e.Name())) }), err
}

// ---- Console pages ----

// settingsView is the new-campaign and settings forms.
type settingsView struct {
	New      bool
	C        CampaignView
	S        CampaignSettings
	Editable bool
	// Inputs as typed, for the fields that are parsed from text.
	Channels, Deadline, HardBounce, Complaint, Threshold string
	Errs                                                 dispatcher.FieldErrors
	HasContacts                                          bool
	Starter                                              []string
	Chosen                                               map[string]bool
	// Unsaved lists, after a save refused because the campaign changed
	// meanwhile, the entries that differ from the current values shown.
	Unsaved []settingDiff
}

// Err is the problem with field, for the form.
func (v *settingsView) Err(field string) string { return v.Errs.For(field) }

// addProblems adds the problems of fields that have none yet: a value
// that did not parse keeps its own message.
func (v *settingsView) addProblems(fe dispatcher.FieldErrors) {
	for _, e := range fe {
		if v.Errs.For(e.Field) == "" {
			v.Errs = append(v.Errs, e)
		}
	}
}

func fmtShare(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

// deadlineInput formats a deadline for an <input type="datetime-local">,
// in the server's zone.
func deadlineInput(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(time.Local).Format("2006-01-02T15:04")
}

func newSettingsView(cs CampaignSettings) *settingsView {
	return &settingsView{S: cs, Editable: true, Channels: strings.Join(cs.Channels, ","), Deadline: deadlineInput(cs.Deadline),
		HardBounce: fmtShare(cs.Guard.HardBounce), Complaint: fmtShare(cs.Guard.Complaint), Threshold: strconv.Itoa(cs.SubstituteThreshold),
		Starter: starter.Locales, Chosen: map[string]bool{}}
}

// readSettingsForm reads the settings form into v.S, keeping what was
// typed, and records the problems of values that do not parse.
func (s *Server) readSettingsForm(r *http.Request, v *settingsView) {
	f := r.PostFormValue
	v.S.Revision = f("revision")
	v.S.Name, v.S.IncidentRef, v.S.DefaultLocale = f("name"), f("incident_ref"), f("default_locale")
	v.Channels = strings.TrimSpace(f("channels"))
	v.S.Channels = nil
	for _, k := range strings.Split(v.Channels, ",") {
		if k = strings.TrimSpace(k); k != "" {
			v.S.Channels = append(v.S.Channels, k)
		}
	}
	if len(v.S.Channels) == 0 {
		v.Errs.Add("channels", "choose at least one channel, e.g. email,sms (tried in that order)")
	}
	v.S.Sender = SenderView{FromName: f("sender.from_name"), FromEmail: f("sender.from_email"), ReplyTo: f("sender.reply_to"),
		SMSFrom: f("sender.sms_from"), SMSService: f("sender.sms_service")}
	v.S.QuietHours = f("quiet_hours")
	v.S.ConsentRequired, v.S.AllChannels, v.S.Guard.Off = f("consent_required") != "", f("all_channels") != "", f("guard.off") != ""
	// A value shown in the form and sent back unchanged keeps its stored
	// value exactly (the form shows a deadline to the minute and shares
	// rounded), so saving other fields changes nothing else.
	oldDeadline, oldHard, oldComplaint := v.Deadline, v.HardBounce, v.Complaint
	v.Deadline, v.HardBounce, v.Complaint, v.Threshold = f("deadline"), f("guard.hard_bounce"), f("guard.complaint"), f("substitute_threshold")
	if v.Deadline != oldDeadline || v.Deadline == "" {
		v.S.Deadline = nil
		if t, err := dispatcher.ParseDeadline(v.Deadline, s.cfg.Now()); err != nil {
			v.Errs.Add("deadline", "%s", userMessage(err))
		} else if !t.IsZero() {
			v.S.Deadline = &t
		}
	}
	var err error
	if v.HardBounce != oldHard || v.HardBounce == "" {
		if v.S.Guard.HardBounce, err = dispatcher.ParseShare(v.HardBounce); err != nil {
			v.Errs.Add("guard.hard_bounce", "%s", userMessage(err))
		}
	}
	if v.Complaint != oldComplaint || v.Complaint == "" {
		if v.S.Guard.Complaint, err = dispatcher.ParseShare(v.Complaint); err != nil {
			v.Errs.Add("guard.complaint", "%s", userMessage(err))
		}
	}
	v.S.SubstituteThreshold = 0
	if t := strings.TrimSpace(v.Threshold); t != "" {
		if v.S.SubstituteThreshold, err = strconv.Atoi(t); err != nil || v.S.SubstituteThreshold < 0 {
			v.Errs.Add("substitute_threshold", "give a number of people, e.g. 10, or 0 for none")
		}
	}
}

// fieldProblems splits err into the form's field problems, or returns it
// when it is not one.
func fieldProblems(err error) (dispatcher.FieldErrors, error) {
	var fe dispatcher.FieldErrors
	if errors.As(err, &fe) {
		return fe, nil
	}
	return nil, err
}

func (s *Server) newCampaignForm(w http.ResponseWriter, r *http.Request) {
	v := newSettingsView(CampaignSettings{CampaignFields: CampaignFields{DefaultLocale: "en", Channels: []string{"email", "sms"}}})
	v.New = true
	v.Chosen["en"] = true
	s.render(w, r, http.StatusOK, "settings", pageData{Title: "New campaign", Nav: "campaigns", Data: v})
}

func (s *Server) createCampaignForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := newSettingsView(CampaignSettings{})
	v.New = true
	s.readSettingsForm(r, v)
	var ts []dispatcher.Template
	how := ""
	if f, hdr, err := r.FormFile("templates_zip"); err == nil {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxTemplateUpload+1))
		switch {
		case err != nil:
			s.pageFail(w, r, err)
			return
		case len(b) > maxTemplateUpload:
			v.Errs.Add("templates", "the .zip is larger than %d MiB: a templates folder is a few kilobytes", maxTemplateUpload>>20)
		default:
			if ts, err = templatesFromZip(b); err != nil {
				v.Errs.Add("templates", "%s: %s", hdr.Filename, userMessage(err))
			}
			how = "uploaded " + hdr.Filename
		}
	} else {
		var locales []string
		for _, l := range r.PostForm["starter"] {
			if starter.Has(l) {
				locales = append(locales, l)
				v.Chosen[l] = true
			}
		}
		if ts, err = starter.Templates(locales...); err != nil {
			s.pageFail(w, r, err)
			return
		}
		how = "starter notices " + strings.Join(locales, ", ")
	}
	if len(v.Errs) == 0 {
		c, err := s.createCampaign(ctx, principalOf(ctx), v.S, ts, how)
		if err == nil {
			http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"?done=created", http.StatusSeeOther)
			return
		}
		if v.Errs, err = fieldProblems(err); err != nil {
			s.pageFail(w, r, err)
			return
		}
	} else {
		// Report the other fields' problems too, not one round at a time.
		c, fe := v.S.apply(dispatcher.Campaign{})
		v.addProblems(append(fe, c.CheckFields(nil, s.cfg.Now())...))
	}
	s.render(w, r, http.StatusBadRequest, "settings", pageData{Title: "New campaign", Nav: "campaigns",
		Error: "The campaign was not created: see the fields marked below.", Data: v})
}

// settingsFor reads a campaign and the settings form's view of it.
func (s *Server) settingsFor(ctx context.Context, name string) (*dispatcher.Campaign, *settingsView, error) {
	c, err := s.campaign(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	v := newSettingsView(settingsOf(c))
	v.C, v.Editable = campaignView(c), c.Status.Editable()
	if v.HasContacts, err = s.hasContacts(ctx, c); err != nil {
		return nil, nil, err
	}
	return c, v, nil
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, v, err := s.settingsFor(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "settings", pageData{Title: "Settings · " + c.Name, Nav: "campaigns", Flash: flashes[r.URL.Query().Get("done")], Data: v})
}

func (s *Server) settingsSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, v, err := s.settingsFor(ctx, r.PathValue("name"))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	d := pageData{Title: "Settings · " + c.Name, Nav: "campaigns", Data: v}
	if !v.Editable {
		d.Error = fmt.Sprintf("Campaign %s is %s: settings can be changed only while it is a draft or paused.", c.Name, c.Status)
		s.render(w, r, http.StatusConflict, "settings", d)
		return
	}
	s.readSettingsForm(r, v)
	if len(v.Errs) > 0 {
		nc, fe := v.S.apply(*c)
		v.addProblems(fe)
		if err := nc.CheckEdit(c, v.HasContacts, s.cfg.Now()); err != nil {
			more, _ := fieldProblems(err)
			v.addProblems(more)
		}
	} else {
		nc, err := s.updateSettings(ctx, principalOf(ctx), c, v.S)
		if err == nil {
			http.Redirect(w, r, "/campaigns/"+url.PathEscape(nc.Name)+"/settings?done=settings", http.StatusSeeOther)
			return
		}
		var stale *staleSettings
		if errors.As(err, &stale) {
			// Show the current values, and what the operator entered
			// that differs from them, to do again.
			cur := newSettingsView(settingsOf(stale.Current))
			cur.C, cur.Editable, cur.HasContacts = campaignView(stale.Current), stale.Current.Status.Editable(), v.HasContacts
			cur.Unsaved = cur.S.diff(v.S)
			d.Data, d.Error = cur, "Nothing was saved: the campaign changed while you were editing it (someone saved its settings, a launch was scheduled, or it paused itself). The form now shows the current values; make your changes again and save."
			s.render(w, r, http.StatusConflict, "settings", d)
			return
		}
		if v.Errs, err = fieldProblems(err); dispatcher.ErrorCode(err) == dispatcher.ECONFLICT {
			d.Error = userMessage(err)
			s.render(w, r, http.StatusConflict, "settings", d)
			return
		} else if err != nil {
			s.pageFail(w, r, err)
			return
		}
	}
	d.Error = "Nothing was saved: see the fields marked below."
	s.render(w, r, http.StatusBadRequest, "settings", d)
}

// templateTarget reads which template a form names.
func templateTarget(r *http.Request) (dispatcher.ChannelKind, string, error) {
	k, err := dispatcher.ParseChannelKind(r.PostFormValue("channel"))
	if err != nil {
		return "", "", err
	}
	loc, err := dispatcher.TemplateLocale(r.PostFormValue("locale"))
	if err != nil {
		return "", "", err
	}
	return k, loc, nil
}

// templatesBack sends the browser back to the templates page, showing
// the template of channel k in locale, with a confirmation.
func templatesBack(w http.ResponseWriter, r *http.Request, c *dispatcher.Campaign, k dispatcher.ChannelKind, locale, done string) {
	q := url.Values{"channel": {string(k)}, "locale": {locale}, "done": {done}}
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.Name)+"/templates?"+q.Encode(), http.StatusSeeOther)
}

// editableTemplates finds the campaign in the path and refuses one whose
// notices can no longer change; on failure it has answered.
func (s *Server) editableTemplates(w http.ResponseWriter, r *http.Request) (*dispatcher.Campaign, bool) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err == nil && c.Status.Final() {
		err = dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %s is %s: its templates can no longer change", c.Name, c.Status)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return nil, false
	}
	return c, true
}

// templateSave saves one template edited on the templates page.
func (s *Server) templateSave(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, ok := s.editableTemplates(w, r)
	if !ok {
		return
	}
	k, loc, err := templateTarget(r)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	t := dispatcher.Template{CampaignID: c.ID, Channel: k, Locale: loc, Text: normalizeNewlines(r.PostFormValue("text"))}
	if k == dispatcher.Email {
		t.Subject = strings.TrimSpace(r.PostFormValue("subject"))
		t.HTML = normalizeNewlines(r.PostFormValue("html"))
	}
	if _, err := s.putTemplates(ctx, principalOf(ctx), c, []dispatcher.Template{t}, "edited in the console"); err != nil {
		if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			s.pageFail(w, r, err)
			return
		}
		v, perr := s.preview(r, c)
		if perr != nil {
			s.pageFail(w, r, perr)
			return
		}
		v.Channel, v.Locale, v.Edit, v.Message = k, loc, &t, nil
		s.render(w, r, http.StatusBadRequest, "templates", pageData{Title: "Templates · " + c.Name, Nav: "campaigns",
			Error: "The template was not saved: " + userMessage(err), Data: v})
		return
	}
	templatesBack(w, r, c, k, loc, "template")
}

// templateStarter adds the starter notices of one language.
func (s *Server) templateStarter(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, ok := s.editableTemplates(w, r)
	if !ok {
		return
	}
	loc := r.PostFormValue("locale")
	ts, err := starter.Templates(loc)
	if err == nil {
		_, err = s.putTemplates(ctx, principalOf(ctx), c, ts, "starter notices "+loc)
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	templatesBack(w, r, c, dispatcher.Email, loc, "starter")
}

// templateUpload replaces the templates found in an uploaded .zip.
func (s *Server) templateUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, ok := s.editableTemplates(w, r)
	if !ok {
		return
	}
	f, hdr, err := r.FormFile("templates_zip")
	if err != nil {
		s.pageFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "choose a .zip of a templates folder to upload"))
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplateUpload+1))
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if len(b) > maxTemplateUpload {
		s.pageFail(w, r, dispatcher.Errorf(dispatcher.EINVALID, "the .zip is larger than %d MiB: a templates folder is a few kilobytes", maxTemplateUpload>>20))
		return
	}
	ts, err := templatesFromZip(b)
	if err == nil {
		ts, err = s.putTemplates(ctx, principalOf(ctx), c, ts, "uploaded "+path.Base(hdr.Filename))
	}
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	templatesBack(w, r, c, ts[0].Channel, ts[0].Locale, "upload")
}

// putTemplates checks templates (dispatcher.PrepareTemplates; with the
// campaign's others they compile and cover its default locale), saves and
// audits them, and returns them as saved.
func (s *Server) putTemplates(ctx context.Context, p *principal, c *dispatcher.Campaign, ts []dispatcher.Template, how string) ([]dispatcher.Template, error) {
	ts, err := dispatcher.PrepareTemplates(ts)
	if err != nil {
		return nil, err
	}
	have, err := s.cfg.Store.Templates(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	next := map[dispatcher.TemplateKey]dispatcher.Template{}
	for _, t := range have {
		next[dispatcher.TemplateKey{Channel: t.Channel, Locale: t.Locale}] = t
	}
	var keys []string
	for _, t := range ts {
		k := dispatcher.TemplateKey{Channel: t.Channel, Locale: t.Locale}
		next[k] = t
		keys = append(keys, k.String())
	}
	all := make([]dispatcher.Template, 0, len(next))
	for _, t := range next {
		all = append(all, t)
	}
	if _, err := dispatcher.CompileTemplates(c.DefaultLocale, all); err != nil {
		return nil, err
	}
	for i := range ts {
		t := ts[i]
		t.CampaignID = c.ID
		if err := s.cfg.Store.PutTemplate(ctx, &t); err != nil {
			return nil, err
		}
	}
	return ts, s.audit(ctx, p, "campaign.template", c.Name, strings.Join(keys, ", ")+" ("+how+")")
}

// normalizeNewlines turns a textarea's CRLF into LF, as template files
// have them.
func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// ---- API ----

func (s *Server) apiSettings(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, settingsOf(c))
}

// apiPutSettings changes a campaign's settings. Fields the body leaves out
// keep their value; the read-only fields are ignored.
func (s *Server) apiPutSettings(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.campaign(ctx, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	next := settingsOf(c)
	if err := decodeJSON(r, &next); err != nil {
		s.apiFail(w, r, err)
		return
	}
	nc, err := s.updateSettings(ctx, principalOf(ctx), c, next)
	var stale *staleSettings
	if errors.As(err, &stale) {
		writeJSON(w, http.StatusConflict, SettingsConflict{Error: http.StatusText(http.StatusConflict), Message: userMessage(err), Current: settingsOf(stale.Current)})
		return
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, settingsOf(nc))
}

// SettingsConflict answers a settings change refused because the campaign
// changed since the revision it was based on: Current is the settings as
// they are now, to apply the change to and send again.
type SettingsConflict struct {
	Error   string           `json:"error"`
	Message string           `json:"message"`
	Current CampaignSettings `json:"current"`
}
