package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Campaigns are created and edited in the console and the API as well as
// on the command line. This file holds the rules for what an operator
// enters there: every problem is reported against the field it concerns,
// with what to write instead, and a campaign's settings change only while
// nothing is being sent.

// FieldError is a problem with one field of what an operator entered.
type FieldError struct {
	Field   string `json:"field"`   // the field's name in the API, e.g. sender.from_email
	Message string `json:"message"` // what is wrong and what to write instead
}

// FieldErrors are the problems of one form or request. As an error it is
// EINVALID, with every problem in its message.
type FieldErrors []FieldError

func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Field + ": " + e.Message
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes FieldErrors an EINVALID *Error for ErrorCode and callers
// that show an error's message.
func (fe FieldErrors) Unwrap() error { return &Error{Code: EINVALID, Message: fe.Error()} }

// Add records a problem with field.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// For returns the message for field, "" when it has none.
func (fe FieldErrors) For(field string) string {
	for _, e := range fe {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// Err returns fe as an error, nil when there is no problem.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// Limits of what an operator may enter.
const (
	maxCampaignName = 64
	maxIncidentRef  = 100
	maxSenderName   = 100
)

var (
	localeRE     = regexp.MustCompile(`^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
	smsServiceRE = regexp.MustCompile(`^MG[0-9a-f]{32}$`)
	smsAlphaRE   = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
)

// CheckFields checks a campaign as an operator entered it, field by field
// (the names are those of the API): everything Validate checks, and the
// form of addresses, sender ids, the locale and the limits. now is for
// the deadline, which must be in the future when it is new; old is the
// campaign before an edit, nil when creating.
func (c *Campaign) CheckFields(old *Campaign, now time.Time) FieldErrors {
	var fe FieldErrors
	switch name := c.Name; {
	case strings.TrimSpace(name) == "":
		fe.Add("name", "give the campaign a name, e.g. datainnbrudd-2026")
	case strings.ContainsAny(name, " \t\r\n/?#%\\"):
		fe.Add("name", "use letters, digits, - and _ only (no spaces or slashes), e.g. datainnbrudd-2026")
	case len(name) > maxCampaignName:
		fe.Add("name", "use at most %d characters", maxCampaignName)
	case name == "new":
		fe.Add("name", `"new" is reserved by the console: choose another name`)
	}
	if len(c.IncidentRef) > maxIncidentRef || strings.ContainsAny(c.IncidentRef, "\r\n") {
		fe.Add("incident_ref", "use one line of at most %d characters, e.g. INC-2026-042", maxIncidentRef)
	}
	if !localeRE.MatchString(c.DefaultLocale) {
		fe.Add("default_locale", "write a language code such as nb, en or de-AT: the notice language for people whose own has no template")
	}
	if len(c.Policy) == 0 {
		fe.Add("channels", "choose at least one channel, e.g. email,sms (tried in that order)")
	}
	uses := func(k ChannelKind) bool { return c.Policy.Index(k) >= 0 }
	s := c.Sender
	switch {
	case s.FromEmail == "" && (uses(Email) || uses(File)):
		fe.Add("sender.from_email", "the campaign sends e-mail: give the address notices come from, e.g. personvern@example.no")
	case s.FromEmail != "":
		if _, err := NormalizeEmail(s.FromEmail); err != nil {
			fe.Add("sender.from_email", "%q is not an e-mail address: write it as name@example.no", s.FromEmail)
		}
	}
	if len(s.FromName) > maxSenderName || strings.ContainsAny(s.FromName, "\r\n<>\"") {
		fe.Add("sender.from_name", "use one line of at most %d characters without < > or \", e.g. Klinikk Personvern", maxSenderName)
	}
	if s.ReplyTo != "" {
		if _, err := NormalizeEmail(s.ReplyTo); err != nil {
			fe.Add("sender.reply_to", "%q is not an e-mail address: write it as name@example.no, or leave it empty", s.ReplyTo)
		}
	}
	switch {
	case s.SMSFrom == "" && s.SMSService == "" && uses(SMS):
		fe.Add("sender.sms_from", "the campaign sends SMS: give a sender, either a number in international form (+4790000000) or a name of up to 11 letters and digits (Klinikk)")
	case s.SMSFrom != "" && strings.HasPrefix(s.SMSFrom, "+"):
		if n, err := NormalizePhone(s.SMSFrom, ""); err != nil || n != s.SMSFrom {
			fe.Add("sender.sms_from", "%q is not a number in international form: write it as +4790000000, without spaces", s.SMSFrom)
		}
	case s.SMSFrom != "" && (!smsAlphaRE.MatchString(s.SMSFrom) || strings.IndexFunc(s.SMSFrom, isASCIILetter) < 0):
		fe.Add("sender.sms_from", "a sender name is 1 to 11 letters, digits and spaces with at least one letter (e.g. Klinikk); or give a number as +4790000000")
	}
	if s.SMSService != "" && !smsServiceRE.MatchString(s.SMSService) {
		fe.Add("sender.sms_service", "a Twilio Messaging Service SID is MG followed by 32 hexadecimal digits; or leave it empty and give sms_from")
	}
	st := c.Settings
	if q := strings.TrimSpace(st.QuietHours); q != "" && q != "off" {
		if _, err := ParseWindow(q); err != nil {
			fe.Add("quiet_hours", "%q: write the SMS sending window as 08:00-21:00, or off to send at any hour", q)
		}
	}
	if !st.Deadline.IsZero() && (old == nil || !st.Deadline.Equal(old.Settings.Deadline)) && st.Deadline.Before(now) {
		fe.Add("deadline", "the deadline has already passed: give a later time, or none")
	}
	if st.SubstituteThreshold < 0 {
		fe.Add("substitute_threshold", "give a number of people, e.g. 10, or 0 for none")
	}
	if g := st.Guard; g.HardBounce < 0 || g.HardBounce >= 1 {
		fe.Add("guard.hard_bounce", "give a share below 100%%, e.g. 5%% (0.05), or 0 for the default")
	}
	if g := st.Guard; g.Complaint < 0 || g.Complaint >= 1 {
		fe.Add("guard.complaint", "give a share below 100%%, e.g. 0.1%% (0.001), or 0 for the default")
	}
	return fe
}

func isASCIILetter(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }

// Editable reports whether a campaign's settings may change: while it is
// a draft or paused, when nothing is being sent.
func (s CampaignStatus) Editable() bool { return s == CampaignDraft || s == CampaignPaused }

// CheckEdit checks a change of campaign old into c: the fields (see
// CheckFields), and what may no longer change. The name changes only
// before launch (scripts and people know a launched campaign by it); the
// channel policy, consent required and all channels only before contacts
// are imported, since each contact's notices are planned by them at import.
// A campaign that is not Editable is ECONFLICT.
func (c *Campaign) CheckEdit(old *Campaign, hasContacts bool, now time.Time) error {
	if !old.Status.Editable() {
		return Errorf(ECONFLICT, "campaign %s is %s: settings can be changed only while it is a draft or paused", old.Name, old.Status)
	}
	fe := c.CheckFields(old, now)
	if c.Name != old.Name && old.Status != CampaignDraft && fe.For("name") == "" {
		fe.Add("name", "the name cannot change after launch: keep %q", old.Name)
	}
	if hasContacts {
		const why = "cannot change after contacts are imported (their notices are planned by it): keep it, or create a new campaign"
		if c.Policy.String() != old.Policy.String() && fe.For("channels") == "" {
			fe.Add("channels", "the channel policy (%s) %s", old.Policy, why)
		}
		if c.Settings.ConsentRequired != old.Settings.ConsentRequired {
			fe.Add("consent_required", "%s", why)
		}
		if c.Settings.AllChannels != old.Settings.AllChannels {
			fe.Add("all_channels", "%s", why)
		}
	}
	return fe.Err()
}

// TemplatesCover refuses templates that do not compile, or that lack the
// default locale's template for a channel of the policy: every contact
// must get something.
func (c *Campaign) TemplatesCover(ts []Template) error {
	n, err := CompileTemplates(c.DefaultLocale, ts)
	if err != nil {
		return err
	}
	for _, k := range c.Policy {
		if !n.Has(k, c.DefaultLocale) {
			tk := k
			if k == File {
				tk = Email
			}
			return Errorf(EINVALID, "no %s template for the default locale %q: add %s/%s to the templates folder", tk, c.DefaultLocale, c.DefaultLocale, TemplateFile(k))
		}
	}
	return nil
}

// ParseShare reads a share as an operator writes it: "5%", "0.05" or "5"
// (a number of 1 or more is a percentage). Empty is 0.
func ParseShare(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
	if err != nil || v < 0 {
		return 0, Errorf(EINVALID, "%q: write a share such as 5%% or 0.05", s)
	}
	if pct || v >= 1 {
		v /= 100
	}
	if v >= 1 {
		return 0, Errorf(EINVALID, "%q: a share must be below 100%%", s)
	}
	return v, nil
}

// ParseDeadline reads a deadline as an operator writes it: a duration from
// now (72h, 60d) or a time (2026-12-01T12:00 in the local zone, or RFC
// 3339 with a zone). Empty is no deadline.
func ParseDeadline(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.Add(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, Errorf(EINVALID, "%q: write a duration such as 72h or 60d, or a time such as 2026-12-01T12:00", s)
}

// changeAttempts bounds ChangeCampaign's retries: each is one read and one
// conditional write, and only a campaign changed again between them
// needs another.
const changeAttempts = 5

// ChangeCampaign applies change to campaign id as the ledger holds it now
// and saves it with a compare-and-set on the revision it read, reading
// and applying again when someone else changed the campaign in between.
// Herald's own changes (a schedule, why the guard paused a campaign)
// go through it, so that they never overwrite an operator's edit saved
// meanwhile, nor an operator's edit theirs. change sees the current
// campaign, status included, and may refuse with an error, which is
// returned as is. It returns the campaign as saved.
func ChangeCampaign(ctx context.Context, st Store, id int64, change func(c *Campaign) error) (*Campaign, error) {
	for attempt := 1; ; attempt++ {
		c, err := st.Campaign(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(c); err != nil {
			return nil, err
		}
		if c.Revision == "" {
			return nil, fmt.Errorf("change campaign %d: the store gave no revision to compare", id)
		}
		err = st.UpdateCampaign(ctx, c, []CampaignStatus{c.Status})
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrStale) || attempt == changeAttempts {
			return nil, fmt.Errorf("change campaign %s: %w", c.Name, err)
		}
	}
}
