package dispatcher

import (
	"context"
	"strings"
	"unicode"
)

// ContactFinder is the part of Store the support lookup reads.
type ContactFinder interface {
	FindContacts(ctx context.Context, query string) ([]Contact, error)
}

// FindContactsExact finds contacts by exact e-mail, phone or external id,
// as the query is given and, when it reads as a phone number, in E.164
// too: callers read their number out as they write it ("+47 962 62 050",
// or "962 62 050" with region "NO"), not as the ledger stores it. Each
// contact appears once.
func FindContactsExact(ctx context.Context, st ContactFinder, q, region string) ([]Contact, error) {
	found, err := st.FindContacts(ctx, q)
	if err != nil {
		return nil, err
	}
	e164, err := NormalizePhone(q, region)
	if err != nil || e164 == q {
		return found, nil
	}
	more, err := st.FindContacts(ctx, e164)
	if err != nil {
		return nil, err
	}
	seen := make(map[int64]bool, len(found))
	for _, c := range found {
		seen[c.ID] = true
	}
	for _, c := range more {
		if !seen[c.ID] {
			found = append(found, c)
		}
	}
	return found, nil
}

// IsNameQuery reports whether a query that matched no address may be a
// name: it has a letter and is not an e-mail address.
func IsNameQuery(q string) bool {
	return !strings.Contains(q, "@") && strings.IndexFunc(q, unicode.IsLetter) >= 0
}
