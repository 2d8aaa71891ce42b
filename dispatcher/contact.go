package dispatcher

import "strings"

// Contact is one affected person in one campaign, as imported.
//
// Email and Phone hold only values that passed validation (Phone in E.164);
// an empty field means the person cannot be reached on that channel.
type Contact struct {
	ID         int64
	CampaignID int64
	ExternalID string // the organisation's own id (employee or patient number), if given
	Name       string
	Email      string
	Phone      string            // E.164, e.g. +4791234567
	Locale     string            // BCP 47-ish language tag, e.g. nb, nl, en-US; empty means campaign default
	Country    string            // ISO 3166-1 alpha-2, upper case
	Attrs      map[string]string // other import columns, usable as template variables
	SourceRow  int               // row number in the import file (1 = header), for the operator's reference

	// EmailConsent is whether the person agreed to notice by e-mail, as
	// imported; it matters only under Settings.ConsentRequired (see
	// Ineligible).
	EmailConsent Consent
	// DoNotEmail marks a mailbox that must not be written to, e.g. one
	// compromised in the breach itself: whoever now reads it would learn
	// of the notice, and the person would not.
	DoNotEmail bool
	// Postal is the mailing address as imported; Country above is its
	// country.
	Postal PostalAddress
}

// DedupeKey identifies a person within a campaign: the external id when
// there is one, else the normalised e-mail, else the phone number, else
// the name at a complete postal address (two people of one household are
// two contacts). Two rows with the same key are the same person and the
// later one is a duplicate.
func (c *Contact) DedupeKey() string {
	switch {
	case c.ExternalID != "":
		return "x:" + c.ExternalID
	case c.Email != "":
		return "e:" + strings.ToLower(c.Email)
	case c.Phone != "":
		return "p:" + c.Phone
	case c.Postal.Complete():
		return "a:" + strings.ToLower(strings.Join(strings.Fields(c.Name), " ")) + "|" + suppressionKey(Postal, c.Postal.Line(c.Country))
	}
	return ""
}

// Address returns the contact's address on channel k ("" when none).
// The file channel is a stand-in for e-mail and uses the e-mail address,
// falling back to the contact id so a dry run writes every notice. The
// postal address is given on one line, and only when it is complete
// enough for a letter (see PostalAddress.Complete).
func (c *Contact) Address(k ChannelKind) string {
	switch k {
	case Email:
		return c.Email
	case SMS:
		return c.Phone
	case File:
		if c.Email != "" {
			return c.Email
		}
		return c.Phone
	case Postal:
		if c.Postal.Complete() {
			return c.Postal.Line(c.Country)
		}
	}
	return ""
}
