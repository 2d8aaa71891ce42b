package dispatcher

import (
	"fmt"
	"strings"
	"time"
)

// CampaignStatus is where a campaign is in its life.
//
//	draft → running ⇄ paused → completed
//	   └───────┴────────┴────→ cancelled
type CampaignStatus string

// Campaign statuses.
const (
	CampaignDraft     CampaignStatus = "draft"
	CampaignRunning   CampaignStatus = "running"
	CampaignPaused    CampaignStatus = "paused"
	CampaignCompleted CampaignStatus = "completed"
	CampaignCancelled CampaignStatus = "cancelled"
)

// Final reports whether no further sends can happen in this status.
func (s CampaignStatus) Final() bool { return s == CampaignCompleted || s == CampaignCancelled }

// campaignTransitions lists the legal moves; anything else is ECONFLICT.
var campaignTransitions = map[CampaignStatus][]CampaignStatus{
	CampaignDraft:   {CampaignRunning, CampaignCancelled},
	CampaignRunning: {CampaignPaused, CampaignCompleted, CampaignCancelled},
	CampaignPaused:  {CampaignRunning, CampaignCancelled},
}

// CanMove reports whether a campaign may go from s to next.
func (s CampaignStatus) CanMove(next CampaignStatus) bool {
	for _, n := range campaignTransitions[s] {
		if n == next {
			return true
		}
	}
	return false
}

// ChannelKind names a way of reaching a person.
type ChannelKind string

// Channel kinds. File is a dry-run channel that writes notices to a folder
// instead of sending them; it stands in for email in a policy. Postal is a
// printed letter: no worker sends it; the contacts routed to it are
// collected into print batches for a mail house (see postal.go).
const (
	Email  ChannelKind = "email"
	SMS    ChannelKind = "sms"
	File   ChannelKind = "file"
	Postal ChannelKind = "postal"
)

// ParseChannelKind parses one channel name as used in policies and flags.
func ParseChannelKind(s string) (ChannelKind, error) {
	switch k := ChannelKind(strings.ToLower(strings.TrimSpace(s))); k {
	case Email, SMS, File, Postal:
		return k, nil
	}
	return "", Errorf(EINVALID, "unknown channel %q: use email, sms, postal or file", s)
}

// Policy is the ordered list of channels tried for each contact: the first
// channel the contact has a usable address for, and may be notified on
// (see Ineligible), is used, and when it ends invalid, suppressed or
// exhausted the next is tried, once each. With Settings.AllChannels every
// usable channel is used at once instead.
type Policy []ChannelKind

// ParsePolicy parses "email,sms".
func ParsePolicy(s string) (Policy, error) {
	var p Policy
	seen := map[ChannelKind]bool{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, err := ParseChannelKind(part)
		if err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, Errorf(EINVALID, "channel %q appears twice in policy %q", k, s)
		}
		seen[k] = true
		p = append(p, k)
	}
	if len(p) == 0 {
		return nil, Errorf(EINVALID, "empty channel policy: give at least one channel, e.g. email,sms")
	}
	return p, nil
}

func (p Policy) String() string {
	s := make([]string, len(p))
	for i, k := range p {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// Index returns the position of k in p, or -1.
func (p Policy) Index(k ChannelKind) int {
	for i, c := range p {
		if c == k {
			return i
		}
	}
	return -1
}

// Sender is who the notice comes from on each channel.
type Sender struct {
	FromName   string // display name on e-mail
	FromEmail  string // envelope and header From
	ReplyTo    string // where replies from affected people should go
	SMSFrom    string // E.164 number or alphanumeric sender id; empty when a Messaging Service is used
	SMSService string // Twilio Messaging Service SID (MG...), preferred over SMSFrom when set
}

// Campaign is one notification effort about one incident.
type Campaign struct {
	ID            int64
	Name          string // unique, used on the command line
	IncidentRef   string // the organisation's reference for the breach
	DefaultLocale string // used when a contact's locale has no template
	Policy        Policy
	Sender        Sender
	Status        CampaignStatus
	CreatedAt     time.Time
	LaunchedAt    time.Time // zero until launched
	FinishedAt    time.Time // zero until completed or cancelled
	Settings      Settings
	// Revision identifies the campaign as the ledger held it when it was
	// read: its name, reference, locale, policy, sender, status and
	// settings. Any change to them gives another revision. An update
	// that carries the revision it started from is a compare-and-set:
	// the ledger refuses it (ErrStale) when the campaign changed since
	// (Store.UpdateCampaign, ChangeCampaign). Set by the store; opaque.
	Revision string
}

// Validate checks a campaign before it is created.
func (c *Campaign) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return Errorf(EINVALID, "campaign name is empty: give --name")
	}
	if strings.ContainsAny(c.Name, " \t\r\n/") {
		return Errorf(EINVALID, "campaign name %q contains spaces or slashes: use letters, digits, - and _", c.Name)
	}
	if len(c.Policy) == 0 {
		return Errorf(EINVALID, "campaign %s has no channel policy: give --channels email,sms", c.Name)
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if c.DefaultLocale == "" {
		return Errorf(EINVALID, "campaign %s has no default locale: give --locale, e.g. nb or en", c.Name)
	}
	for _, k := range c.Policy {
		switch k {
		case Email:
			if c.Sender.FromEmail == "" {
				return Errorf(EINVALID, "campaign %s sends e-mail but has no sender address: give --from", c.Name)
			}
		case SMS:
			if c.Sender.SMSFrom == "" && c.Sender.SMSService == "" {
				return Errorf(EINVALID, "campaign %s sends SMS but has no sender: give --sms-from or --sms-service", c.Name)
			}
		}
	}
	return nil
}

// Template is the notice for one channel in one locale. Subject and HTML
// apply to e-mail only; for SMS only Text is used.
type Template struct {
	CampaignID int64
	Channel    ChannelKind
	Locale     string
	Subject    string
	Text       string
	HTML       string
}

// TemplateKey identifies a template within a campaign.
type TemplateKey struct {
	Channel ChannelKind
	Locale  string
}

func (k TemplateKey) String() string { return fmt.Sprintf("%s/%s", k.Channel, k.Locale) }
