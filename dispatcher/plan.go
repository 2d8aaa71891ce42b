package dispatcher

import "time"

// PlanFrom returns the deliveries to create for contact c starting at
// position from of campaign policy p: every channel the contact has no
// address for is recorded as skipped (so the ledger shows why it was not
// used), up to and including the first channel that can be tried, which is
// pending. When no channel remains, only skipped deliveries are returned
// and the contact is unreachable.
//
// done lists channels already recorded for the contact; they are passed
// over, which is what makes fallback happen "once per channel".
func PlanFrom(p Policy, c *Contact, from int, done map[ChannelKind]bool, at time.Time) []Delivery {
	var out []Delivery
	for i := from; i < len(p); i++ {
		k := p[i]
		if done[k] {
			continue
		}
		d := Delivery{CampaignID: c.CampaignID, ContactID: c.ID, Channel: k, Seq: i, UpdatedAt: at}
		if c.Address(k) == "" {
			d.State = StateSkipped
			d.Diagnostic = "no valid " + addressNoun(k) + " on record"
			out = append(out, d)
			continue
		}
		d.State = StatePending
		d.Address = c.Address(k)
		out = append(out, d)
		return out
	}
	return out
}

// Plan returns the initial deliveries for a newly imported contact.
func Plan(p Policy, c *Contact, at time.Time) []Delivery { return PlanFrom(p, c, 0, nil, at) }

func addressNoun(k ChannelKind) string {
	switch k {
	case Email, File:
		return "e-mail address"
	case SMS:
		return "mobile number"
	}
	return string(k) + " address"
}
