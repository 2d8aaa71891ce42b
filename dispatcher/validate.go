package dispatcher

import (
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
)

// The Normalize functions check one value from an import file (or from the
// command line) and return it in the form the ledger stores. Their errors
// are *Error with code EINVALID and a message that says what is wrong and
// how to fix it, without repeating the value: the importer puts the value in
// its own column of the reject report, and the message never ends up in a
// log carrying personal data.

// maxEmailLen is the longest address SMTP can carry in a path (RFC 5321
// 4.5.3.1.3: 256 octets including the angle brackets).
const maxEmailLen = 254

// NormalizeEmail checks that s is one usable e-mail address and returns it
// trimmed, with its domain in lower case (the local part keeps its case:
// some servers treat it as significant). A "Name <addr>" value, as exported
// by address books, gives its address.
//
// Beyond net/mail's syntax check, the domain must look deliverable: at least
// one dot, labels of letters, digits and inner hyphens (international
// letters are allowed), an alphabetic top-level domain of two or more
// letters, and no IP literal. Quoted local parts are refused: they are
// legal but nearly always a data-entry error, and many providers refuse them.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", emailError("is empty")
	}
	if !utf8.ValidString(s) {
		return "", emailError("contains bytes that are not text: check the file's encoding (--encoding)")
	}
	if !strings.ContainsRune(s, '@') {
		return "", emailError("has no @: an e-mail address looks like name@example.no")
	}
	if strings.Count(s, "@") > 1 && !strings.ContainsAny(s, "<\"") {
		if strings.ContainsAny(s, ",; ") {
			return "", emailError("holds more than one address: keep one address per cell")
		}
		return "", emailError("has more than one @: keep one address per cell and check for typing errors")
	}
	if !strings.Contains(s, "<") {
		if strings.ContainsAny(s, ",;") {
			return "", emailError("contains a comma or semicolon: keep one address per cell")
		}
		if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
			return "", emailError("contains a space: remove it (an address has no spaces)")
		}
	}
	if !strings.Contains(s, "<") {
		// Check the parts first: net/mail's errors do not say what to fix.
		at := strings.LastIndexByte(s, '@')
		if at == 0 || at == len(s)-1 {
			return "", emailError("has nothing before or after the @: an e-mail address looks like name@example.no")
		}
		if !strings.HasPrefix(s, "\"") {
			if err := checkEmailLocal(s[:at]); err != nil {
				return "", err
			}
		}
		if err := checkEmailDomain(strings.ToLower(s[at+1:])); err != nil {
			return "", err
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", emailError("is not a valid e-mail address (" + strings.TrimPrefix(err.Error(), "mail: ") + "): correct it or leave the cell empty")
	}
	addr := a.Address
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", emailError("has nothing before or after the @: an e-mail address looks like name@example.no")
	}
	local, domain := addr[:at], addr[at+1:]
	if err := checkEmailLocal(local); err != nil {
		return "", err
	}
	domain = strings.ToLower(domain)
	if err := checkEmailDomain(domain); err != nil {
		return "", err
	}
	out := local + "@" + domain
	if len(out) > maxEmailLen {
		return "", emailError("is longer than 254 characters: no mail server accepts it")
	}
	return out, nil
}

func emailError(problem string) *Error {
	return Errorf(EINVALID, "e-mail address %s", problem)
}

// checkEmailLocal accepts an RFC 5322 dot-atom (with UTF-8 letters, as
// SMTPUTF8 allows): the only local parts that can be written unquoted.
func checkEmailLocal(local string) error {
	if len(local) > 64 {
		return emailError("has more than 64 characters before the @: check it was not pasted twice")
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return emailError("has a dot at the start or end of the name part, or two dots in a row: remove the extra dot")
	}
	for _, r := range local {
		if r == '.' || r > unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
			continue
		}
		if r > ' ' && r < unicode.MaxASCII && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)) {
			continue
		}
		return emailError("has a character that is not allowed before the @ (such as a space, quote or bracket): correct it")
	}
	return nil
}

func checkEmailDomain(domain string) error {
	if strings.HasPrefix(domain, "[") {
		return emailError("uses an IP address instead of a domain name: use the person's real address")
	}
	if !strings.Contains(domain, ".") {
		return emailError("has no dot in the domain (e.g. example.no): the domain is incomplete")
	}
	if len(domain) > 253 {
		return emailError("has a domain longer than 253 characters")
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if l == "" {
			return emailError("has an empty part in the domain (two dots in a row, or a dot at the start or end): remove the extra dot")
		}
		if len(l) > 63 {
			return emailError("has a domain part longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return emailError("has a domain part that starts or ends with a hyphen: check the spelling")
		}
		for _, r := range l {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
				return emailError("has a character that is not allowed in the domain (only letters, digits, hyphens and dots): check the spelling")
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(tld, "xn--") && len(tld) > 4 {
		return nil // punycode top-level domain
	}
	if utf8.RuneCountInString(tld) < 2 {
		return emailError("ends in a one-letter top-level domain: check the ending (e.g. .no, .com)")
	}
	for _, r := range tld {
		if !unicode.IsLetter(r) && !unicode.IsMark(r) {
			return emailError("ends in a top-level domain that is not all letters (e.g. .c0m): check the ending (e.g. .no, .com)")
		}
	}
	return nil
}

// ErrNoRegion is wrapped by NormalizePhone's error when a number is written
// in national form and there is no country to read it in. Callers branch on
// it to suggest a country column or a default region.
var ErrNoRegion = errors.New("national number without a country")

// noRegionError carries ErrNoRegion under an EINVALID *Error.
type noRegionError struct{ err *Error }

func (e noRegionError) Error() string   { return e.err.Message }
func (e noRegionError) Unwrap() []error { return []error{e.err, ErrNoRegion} }

// excelNumber matches what a spreadsheet makes of a long number stored as a
// number: 4.79123E+09.
var excelNumber = regexp.MustCompile(`^\+?\d+([.,]\d+)?[eE]\+?\d+$`)

// NormalizePhone parses s as a phone number and returns it in E.164
// (+4791234567). A number with a leading + or 00 is read as international;
// any other is read as a national number of region (ISO 3166 alpha-2, e.g.
// the row's country or the --region default). The number must be valid for
// its country (libphonenumber's IsValidNumber), which catches wrong lengths
// and unallocated ranges; whether it can receive SMS is the provider's call.
func NormalizePhone(s, region string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", phoneError("is empty")
	}
	if excelNumber.MatchString(s) {
		return "", phoneError("was turned into scientific notation by a spreadsheet: format the column as text and export the file again")
	}
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:"))
	region = strings.ToUpper(strings.TrimSpace(region))
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits < 5 {
		return "", phoneError("has too few digits: give the whole number, e.g. +47 912 34 567")
	}
	if digits > 17 {
		return "", phoneError("has too many digits: keep one number per cell")
	}
	intl := strings.HasPrefix(s, "+") || strings.HasPrefix(s, "00")
	if !intl && region == "" {
		return "", noRegionError{err: Errorf(EINVALID, "phone number is in national form and the row has no country: add a country column (e.g. land with NO) or pass --region NO, or write the number with its country code (+47 ...)")}
	}
	try := func(x string) (*phonenumbers.PhoneNumber, bool) {
		n, err := phonenumbers.Parse(x, region)
		if err != nil {
			return n, false
		}
		return n, phonenumbers.IsValidNumber(n)
	}
	n, ok := try(s)
	if !ok && strings.HasPrefix(s, "00") {
		// 00 is the international prefix almost everywhere, but not in the
		// region given (e.g. 011 in the US), or no region was given.
		if n2, ok2 := try("+" + s[2:]); ok2 || n == nil {
			n, ok = n2, ok2
		}
	}
	if n == nil {
		return "", phoneError("is not a phone number (it has letters or stray characters): write digits only, e.g. +47 912 34 567")
	}
	if !ok {
		where := phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode()))
		if where == "" || where == "ZZ" {
			return "", phoneError("has a country code that does not exist: check the digits after the +")
		}
		return "", phoneError("is not a valid number in " + where + ": check the number of digits and the country (one number per cell)")
	}
	out := phonenumbers.Format(n, phonenumbers.E164)
	if len(out) > 16 {
		// Valid by a country's plan (German numbers may be long) but beyond
		// E.164's 15 digits, which no SMS provider accepts.
		return "", phoneError("has more than the 15 digits an international number can have: check the digits")
	}
	return out, nil
}

func phoneError(problem string) *Error { return Errorf(EINVALID, "phone number %s", problem) }

// countryNames maps the country names people type into country columns (in
// the languages herald's users write) to ISO codes. Two- and three-letter
// codes are looked up in CLDR instead.
var countryNames = map[string]string{
	"norge": "NO", "noreg": "NO", "norway": "NO", "norwegen": "NO", "noorwegen": "NO",
	"nederland": "NL", "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "niederlande": "NL", "nederländerna": "NL", "nederlandene": "NL",
	"sverige": "SE", "sweden": "SE", "schweden": "SE", "zweden": "SE",
	"danmark": "DK", "denmark": "DK", "dänemark": "DK", "denemarken": "DK",
	"suomi": "FI", "finland": "FI", "finnland": "FI",
	"island": "IS", "iceland": "IS", "ísland": "IS",
	"deutschland": "DE", "germany": "DE", "tyskland": "DE", "duitsland": "DE",
	"belgië": "BE", "belgie": "BE", "belgium": "BE", "belgia": "BE", "belgique": "BE", "belgien": "BE",
	"uk": "GB", "united kingdom": "GB", "great britain": "GB", "storbritannia": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "verenigd koninkrijk": "GB",
	"usa": "US", "united states": "US", "united states of america": "US", "amerika": "US", "verenigde staten": "US",
	"france": "FR", "frankrike": "FR", "frankrijk": "FR", "frankreich": "FR",
	"spain": "ES", "spania": "ES", "españa": "ES", "spanje": "ES", "spanien": "ES",
	"poland": "PL", "polen": "PL", "polska": "PL",
}

// NormalizeCountry returns the ISO 3166-1 alpha-2 code (upper case) for s:
// a two- or three-letter ISO code in any case, or a common country name in
// English, Norwegian, Swedish, Danish, Dutch or German. "UK" gives GB.
func NormalizeCountry(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", countryError()
	}
	key := strings.ToLower(strings.Join(strings.Fields(s), " "))
	if code, ok := countryNames[key]; ok && code != "" {
		return code, nil
	}
	if n := len(key); n == 2 || n == 3 {
		for i := 0; i < n; i++ {
			if key[i] < 'a' || key[i] > 'z' {
				return "", countryError()
			}
		}
		r, err := language.ParseRegion(key)
		if err == nil && r.IsCountry() && r.String() != "UK" {
			return r.String(), nil
		}
	}
	return "", countryError()
}

func countryError() *Error {
	return Errorf(EINVALID, "country is not an ISO 3166 country code: use two letters such as NO, NL, SE or GB")
}

// languageNames maps language names people type into language columns to
// tags.
var languageNames = map[string]string{
	"norsk": "nb", "bokmål": "nb", "bokmal": "nb", "norwegian": "nb", "nynorsk": "nn",
	"english": "en", "engelsk": "en", "engels": "en", "englisch": "en",
	"nederlands": "nl", "dutch": "nl", "nederlandsk": "nl", "niederländisch": "nl",
	"svenska": "sv", "svensk": "sv", "swedish": "sv", "zweeds": "sv",
	"dansk": "da", "danish": "da", "deens": "da",
	"deutsch": "de", "german": "de", "tysk": "de", "duits": "de",
}

// NormalizeLocale returns s as a lower-case language tag with hyphens
// (nb_NO → nb-no), the form template locales are looked up in. Common
// language names (norsk, Nederlands, English...) give their tag. The tag
// must be well formed and name a known language.
func NormalizeLocale(s string) (string, error) {
	key := strings.ToLower(strings.TrimSpace(s))
	if tag, ok := languageNames[key]; ok {
		return tag, nil
	}
	key = strings.ReplaceAll(key, "_", "-")
	if key == "" {
		return "", localeError()
	}
	// A list holds a handful of distinct languages in millions of rows:
	// parse each once.
	if v, ok := parsedLocales.Load(key); ok {
		if v == "" {
			return "", localeError()
		}
		return v.(string), nil
	}
	tag := ""
	if t, err := language.Parse(key); err == nil {
		tag = strings.ToLower(t.String())
	}
	if len(key) <= 35 && parsedCount.Add(1) <= 1000 { // bounded: a file of garbage must not grow it
		parsedLocales.Store(key, tag)
	}
	if tag == "" {
		return "", localeError()
	}
	return tag, nil
}

// parsedLocales caches NormalizeLocale's parses ("" for a bad tag), at
// most a thousand.
var (
	parsedLocales sync.Map
	parsedCount   atomic.Int64
)

func localeError() *Error {
	return Errorf(EINVALID, "language is not a language tag: use a code such as nb, nn, nl, en or en-GB, or leave it empty for the campaign's default")
}
