package dispatcher

import (
	"strings"
	"time"
)

// This file holds who may be notified on which channel, and the planning
// that applies it. Two rules come from breach-notification law:
//
//   - Consent to electronic notice. The US HIPAA breach rule (45 CFR
//     164.404(d)(1)) makes first-class mail the default and allows e-mail
//     only to a person who agreed to electronic notice. A campaign under
//     such a rule sets Settings.ConsentRequired; its contacts without
//     recorded consent are then never e-mailed.
//   - A mailbox compromised in the breach. California's rule on breaches
//     of login credentials forbids notice by e-mail to the very account
//     that was compromised: whoever holds it would read the notice. Such
//     contacts carry Contact.DoNotEmail, whatever the campaign.
//
// A channel a contact may not be notified on is recorded as skipped with
// the reason, exactly as a channel without an address is, so the ledger
// shows why it was passed over and the next channel of the policy is used.

// Consent is a yes/no answer that may be missing.
type Consent string

// Consent values. ConsentUnknown is the zero value: the import had no
// answer for the person.
const (
	ConsentUnknown Consent = ""
	ConsentYes     Consent = "yes"
	ConsentNo      Consent = "no"
)

// Reasons recorded on a delivery skipped because the contact may not be
// notified on its channel.
const (
	ReasonNoConsent         = "no consent to electronic notice"
	ReasonMailboxCompromise = "mailbox compromised in the breach: do not e-mail"
)

// Ineligible returns why the contact may not be notified on channel k under
// campaign settings s, or "" when it may. The file channel is a dry run of
// e-mail and follows e-mail's rules, so a dry run shows what a real run
// would do. Consent is asked of e-mail only: the HIPAA rule names e-mail,
// and a campaign that must not text people without consent leaves sms out
// of its policy.
func Ineligible(s Settings, c *Contact, k ChannelKind) string {
	switch k {
	case Email, File:
		if k == File && c.Email == "" {
			return "" // the dry run writes the notice under the phone number
		}
		if c.DoNotEmail {
			return ReasonMailboxCompromise
		}
		if s.ConsentRequired && c.EmailConsent != ConsentYes {
			return ReasonNoConsent
		}
	}
	return ""
}

// PlanFor returns the initial deliveries for a newly imported contact of
// campaign c: PlanFrom with the campaign's eligibility rules, and in
// all-channels mode (Settings.AllChannels) every channel the contact can
// be notified on as pending at once.
func PlanFor(c *Campaign, ct *Contact, at time.Time) []Delivery {
	return planChannels(c.Policy, c.Settings, ct, 0, nil, at)
}

// PlanNext plans the fallback for a contact of campaign c after the
// channel at position from−1 of the policy ended without reaching them:
// the next usable channel, once per channel (done lists those already
// recorded). In all-channels mode every channel was planned at import, so
// there is nothing to add.
func PlanNext(c *Campaign, ct *Contact, from int, done map[ChannelKind]bool, at time.Time) []Delivery {
	if c.Settings.AllChannels {
		return nil
	}
	return planChannels(c.Policy, c.Settings, ct, from, done, at)
}

// planChannels walks policy p from position from: a channel without an
// address, or one the contact may not be notified on, is recorded as
// skipped with the reason; the first usable one is pending and ends the
// walk, unless s.AllChannels asks for every usable one.
func planChannels(p Policy, s Settings, c *Contact, from int, done map[ChannelKind]bool, at time.Time) []Delivery {
	var out []Delivery
	for i := from; i < len(p); i++ {
		k := p[i]
		if done[k] {
			continue
		}
		d := Delivery{CampaignID: c.CampaignID, ContactID: c.ID, Channel: k, Seq: i, UpdatedAt: at}
		addr := c.Address(k)
		if addr == "" {
			d.State = StateSkipped
			d.Diagnostic = "no valid " + addressNoun(k) + " on record"
			out = append(out, d)
			continue
		}
		if why := Ineligible(s, c, k); why != "" {
			d.State = StateSkipped
			d.Diagnostic = why
			out = append(out, d)
			continue
		}
		d.State = StatePending
		d.Address = addr
		out = append(out, d)
		if !s.AllChannels {
			return out
		}
	}
	return out
}

// ParseYesNo reads a yes/no cell as spreadsheets and people write it, in
// English, Norwegian, Swedish, Danish, Dutch and German: yes, y, true, 1,
// x, ja, j, oui; no, n, false, 0, nei, nej, nee, nein, non. Case and
// surrounding spaces are ignored. ok is false for anything else, including
// an empty cell.
func ParseYesNo(s string) (yes, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true", "t", "1", "x", "ja", "j", "oui", "si", "sí", "✓", "✔":
		return true, true
	case "no", "n", "false", "f", "0", "nei", "nej", "nee", "nein", "non", "-":
		return false, true
	}
	return false, false
}
