package dispatcher

import (
	"strings"
	"testing"
	"time"
)

func validCampaign() *Campaign {
	return &Campaign{Name: "datainnbrudd-2026", IncidentRef: "INC-1", DefaultLocale: "nb", Policy: Policy{Email, SMS}, Status: CampaignDraft,
		Sender: Sender{FromName: "Klinikk Personvern", FromEmail: "personvern@example.no", SMSFrom: "Klinikk"}}
}

func TestCheckFields(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		edit  func(c *Campaign)
		field string // "" = valid
		says  string
	}{
		{"valid", func(*Campaign) {}, "", ""},
		{"no name", func(c *Campaign) { c.Name = " " }, "name", "give the campaign a name"},
		{"space in name", func(c *Campaign) { c.Name = "data innbrudd" }, "name", "no spaces"},
		{"reserved name", func(c *Campaign) { c.Name = "new" }, "name", "reserved"},
		{"long incident", func(c *Campaign) { c.IncidentRef = strings.Repeat("x", 101) }, "incident_ref", "at most 100"},
		{"bad locale", func(c *Campaign) { c.DefaultLocale = "Norsk" }, "default_locale", "nb, en or de-AT"},
		{"region locale", func(c *Campaign) { c.DefaultLocale = "nb-NO" }, "", ""},
		{"no channels", func(c *Campaign) { c.Policy = nil }, "channels", "at least one channel"},
		{"no from", func(c *Campaign) { c.Sender.FromEmail = "" }, "sender.from_email", "give the address"},
		{"bad from", func(c *Campaign) { c.Sender.FromEmail = "personvern@" }, "sender.from_email", "not an e-mail address"},
		{"sms only needs no from", func(c *Campaign) { c.Policy, c.Sender.FromEmail = Policy{SMS}, "" }, "", ""},
		{"bad reply-to", func(c *Campaign) { c.Sender.ReplyTo = "svar" }, "sender.reply_to", "not an e-mail address"},
		{"header in name", func(c *Campaign) { c.Sender.FromName = "A\r\nBcc: x@example.org" }, "sender.from_name", "one line"},
		{"no sms sender", func(c *Campaign) { c.Sender.SMSFrom = "" }, "sender.sms_from", "give a sender"},
		{"sms service instead", func(c *Campaign) { c.Sender.SMSFrom, c.Sender.SMSService = "", "MG"+strings.Repeat("0a", 16) }, "", ""},
		{"bad sms service", func(c *Campaign) { c.Sender.SMSService = "MG12" }, "sender.sms_service", "32 hexadecimal"},
		{"sms number", func(c *Campaign) { c.Sender.SMSFrom = "+4790000000" }, "", ""},
		{"sms number with spaces", func(c *Campaign) { c.Sender.SMSFrom = "+47 900 00 000" }, "sender.sms_from", "without spaces"},
		{"long sms name", func(c *Campaign) { c.Sender.SMSFrom = "KlinikkPersonvern" }, "sender.sms_from", "1 to 11"},
		{"sms name of digits", func(c *Campaign) { c.Sender.SMSFrom = "12345" }, "sender.sms_from", "at least one letter"},
		{"quiet hours", func(c *Campaign) { c.Settings.QuietHours = "8-21" }, "quiet_hours", "08:00-21:00"},
		{"quiet hours off", func(c *Campaign) { c.Settings.QuietHours = "off" }, "", ""},
		{"past deadline", func(c *Campaign) { c.Settings.Deadline = now.Add(-time.Hour) }, "deadline", "already passed"},
		{"threshold", func(c *Campaign) { c.Settings.SubstituteThreshold = -1 }, "substitute_threshold", "number of people"},
		{"guard", func(c *Campaign) { c.Settings.Guard.HardBounce = 1.5 }, "guard.hard_bounce", "below 100%"},
		{"complaint", func(c *Campaign) { c.Settings.Guard.Complaint = -0.1 }, "guard.complaint", "below 100%"},
	}
	for _, tt := range tests {
		c := validCampaign()
		tt.edit(c)
		fe := c.CheckFields(nil, now)
		if tt.field == "" {
			if len(fe) != 0 {
				t.Errorf("%s: %v", tt.name, fe)
			}
			continue
		}
		if msg := fe.For(tt.field); !strings.Contains(msg, tt.says) {
			t.Errorf("%s: %s says %q (all: %v), want %q", tt.name, tt.field, msg, fe, tt.says)
		}
		if ErrorCode(fe.Err()) != EINVALID || !strings.Contains(fe.Error(), tt.field+": ") {
			t.Errorf("%s: as an error %v (%s)", tt.name, fe.Err(), ErrorCode(fe.Err()))
		}
	}
}

func TestCheckEdit(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	old := validCampaign()
	old.Settings.Deadline = now.Add(-time.Hour) // passed, but unchanged: not a problem
	for _, tt := range []struct {
		name        string
		status      CampaignStatus
		hasContacts bool
		edit        func(c *Campaign)
		field, says string
		code        string
	}{
		{"draft rename", CampaignDraft, false, func(c *Campaign) { c.Name = "nytt-navn" }, "", "", ""},
		{"paused rename", CampaignPaused, false, func(c *Campaign) { c.Name = "nytt-navn" }, "name", "after launch", EINVALID},
		{"paused sender", CampaignPaused, true, func(c *Campaign) { c.Sender.FromName = "Ny" }, "", "", ""},
		{"policy with contacts", CampaignDraft, true, func(c *Campaign) { c.Policy = Policy{SMS} }, "channels", "after contacts are imported", EINVALID},
		{"policy without contacts", CampaignDraft, false, func(c *Campaign) { c.Policy = Policy{SMS} }, "", "", ""},
		{"consent with contacts", CampaignDraft, true, func(c *Campaign) { c.Settings.ConsentRequired = true }, "consent_required", "after contacts", EINVALID},
		{"all channels with contacts", CampaignPaused, true, func(c *Campaign) { c.Settings.AllChannels = true }, "all_channels", "after contacts", EINVALID},
		{"running", CampaignRunning, false, func(c *Campaign) { c.IncidentRef = "x" }, "", "", ECONFLICT},
		{"completed", CampaignCompleted, false, func(c *Campaign) {}, "", "", ECONFLICT},
	} {
		o := *old
		o.Status = tt.status
		c := o
		tt.edit(&c)
		err := c.CheckEdit(&o, tt.hasContacts, now)
		if ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want code %q", tt.name, err, tt.code)
			continue
		}
		if tt.field != "" {
			fe, _ := err.(FieldErrors)
			if !strings.Contains(fe.For(tt.field), tt.says) {
				t.Errorf("%s: %v, want %s to say %q", tt.name, err, tt.field, tt.says)
			}
		}
	}
}

func TestParseShare(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "5%": 0.05, "0.05": 0.05, "5": 0.05, " 0.1 % ": 0.001, "0": 0} {
		if got, err := ParseShare(in); err != nil || got != want {
			t.Errorf("ParseShare(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"abc", "-1", "100%", "150"} {
		if _, err := ParseShare(in); ErrorCode(err) != EINVALID {
			t.Errorf("ParseShare(%q) = %v, want EINVALID", in, err)
		}
	}
}

func TestParseDeadline(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"72h":                       now.Add(72 * time.Hour),
		"60d":                       now.Add(60 * 24 * time.Hour),
		"2026-12-01T12:00:00+01:00": time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC),
		"2026-12-01T12:00":          time.Date(2026, 12, 1, 12, 0, 0, 0, time.Local),
		"2026-12-01":                time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local),
	} {
		if got, err := ParseDeadline(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseDeadline(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseDeadline("next week", now); ErrorCode(err) != EINVALID {
		t.Errorf("ParseDeadline(next week) = %v", err)
	}
}
