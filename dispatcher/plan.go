package dispatcher

import "time"

// PlanFrom returns the deliveries to create for contact c starting at
// position from of campaign policy p: every channel the contact has no
// address for, or may not be notified on (a mailbox marked do-not-email),
// is recorded as skipped with the reason (so the ledger shows why it was
// not used), up to and including the first channel that can be tried,
// which is pending. When no channel remains, only skipped deliveries are
// returned and the contact is unreachable.
//
// done lists channels already recorded for the contact; they are passed
// over, which is what makes fallback happen "once per channel".
//
// PlanFrom knows the policy only; PlanFor and PlanNext (eligibility.go)
// apply the campaign's settings too (consent required, all channels).
func PlanFrom(p Policy, c *Contact, from int, done map[ChannelKind]bool, at time.Time) []Delivery {
	return planChannels(p, Settings{}, c, from, done, at)
}

// Plan returns the initial deliveries for a newly imported contact.
func Plan(p Policy, c *Contact, at time.Time) []Delivery { return PlanFrom(p, c, 0, nil, at) }

func addressNoun(k ChannelKind) string {
	switch k {
	case Email, File:
		return "e-mail address"
	case SMS:
		return "mobile number"
	case Postal:
		return "postal address"
	}
	return string(k) + " address"
}
