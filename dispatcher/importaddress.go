package dispatcher

import "strings"

// eligibility reads a row's eligibility columns (consent to e-mail,
// do-not-e-mail) and postal address into ct and returns warnings for
// values it could not use. An unreadable value is taken the safe way: no
// consent, and do not e-mail, since e-mailing a compromised mailbox tells
// whoever holds it, while the person still gets the next channel.
func (cr *ContactReader) eligibility(rec csvRecord, get func(string) (string, string), ct *Contact) []Reject {
	var warnings []Reject
	if v, col := get(importFieldConsent); v != "" {
		switch yes, ok := ParseYesNo(v); {
		case !ok:
			warnings = append(warnings, cr.reject(rec, col, v, SeverityWarning,
				"consent to e-mail is not yes or no; imported without consent, so a campaign that requires it does not e-mail this person"))
		case yes:
			ct.EmailConsent = ConsentYes
		default:
			ct.EmailConsent = ConsentNo
		}
	}
	if v, col := get(importFieldDoNotEmail); v != "" {
		yes, ok := ParseYesNo(v)
		if !ok {
			yes = true
			warnings = append(warnings, cr.reject(rec, col, v, SeverityWarning,
				"do-not-e-mail is not yes or no; imported as do not e-mail, to be safe"))
		}
		ct.DoNotEmail = yes
	}
	tidy := func(field string) (string, string) {
		v, col := get(field)
		return strings.Join(strings.Fields(v), " "), col
	}
	var col1 string
	ct.Postal.Line1, col1 = tidy(importFieldLine1)
	ct.Postal.Line2, _ = tidy(importFieldLine2)
	ct.Postal.PostalCode, _ = tidy(importFieldPostcode)
	ct.Postal.City, _ = tidy(importFieldCity)
	ct.Postal.Region, _ = tidy(importFieldRegion)
	if !ct.Postal.IsZero() && !ct.Postal.Complete() {
		reason := "the postal address has no postal code or city; imported, but no letter can be sent to it"
		if ct.Postal.Line1 == "" {
			reason = "the postal address has no street line; imported, but no letter can be sent to it"
		}
		warnings = append(warnings, cr.reject(rec, col1, ct.Postal.Line1, SeverityWarning, reason))
	}
	return warnings
}
