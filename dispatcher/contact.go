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
}

// DedupeKey identifies a person within a campaign: the external id when
// there is one, else the normalised e-mail, else the phone number. Two rows
// with the same key are the same person and the later one is a duplicate.
func (c *Contact) DedupeKey() string {
	switch {
	case c.ExternalID != "":
		return "x:" + c.ExternalID
	case c.Email != "":
		return "e:" + strings.ToLower(c.Email)
	case c.Phone != "":
		return "p:" + c.Phone
	}
	return ""
}

// Address returns the contact's address on channel k ("" when none).
// The file channel is a stand-in for e-mail and uses the e-mail address,
// falling back to the contact id so a dry run writes every notice.
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
	}
	return ""
}
