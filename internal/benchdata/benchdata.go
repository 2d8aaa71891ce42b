// Package benchdata generates the synthetic contact lists that `herald
// bench` imports: any number of affected people, from a 300-person clinic to
// a 5.8-million-patient hospital group, written as a CSV file the real
// importer reads.
//
// The list is international on purpose, because the importer's cost is in
// validation: names in Norwegian, Dutch, German, Swedish, Polish, Turkish,
// Vietnamese, Spanish, French, Chinese, Arabic and Portuguese spelling; e-mail
// addresses at example domains; mobile numbers of fifteen countries, mostly
// in E.164 and some written with spaces. About 2 % of the rows are bad in a
// way the importer must notice: a malformed e-mail address (imported without
// it, so the person is sent an SMS), a malformed number (imported without
// it), or both (rejected). Some people have only a number, some only an
// address.
//
// Generation is deterministic and row-independent: row i depends on i and
// nothing else, so Write streams a list of any length in constant memory
// and two runs of the same size produce the same bytes. Which rows are bad
// follows from the row number alone, so Expect gives the exact counts an
// import and a campaign must end with, without reading the file.
//
// Every domain is an example domain and every message goes to a local sink;
// no generated address or number belongs to a person.
package benchdata

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Header is the list's header row. "rolle" is not a contact field: the
// importer keeps it as a template variable, which herald's demo templates
// (reused by the bench) print.
var Header = []string{"patient_id", "name", "email", "mobile", "country", "language", "rolle"}

// Row categories, chosen by row number so that their counts are exact. The
// residues do not overlap, so each row is in at most one category.
const (
	rejectMod, rejectRes     = 200, 83 // malformed e-mail and number: rejected (0.5 %)
	badEmailMod, badEmailRes = 100, 17 // malformed e-mail, good number: imported, sent by SMS (1 %)
	badPhoneMod, badPhoneRes = 200, 41 // good e-mail, malformed number: imported, sent by e-mail (0.5 %)
	noEmailMod, noEmailRes   = 50, 7   // number only: sent by SMS (2 %)
	noPhoneMod, noPhoneRes   = 10, 4   // address only: sent by e-mail (10 %)
)

// Summary is what importing a generated list gives, and what a campaign
// with the policy email,sms ends with when every message is accepted.
type Summary struct {
	Rows     int // data rows (the header not counted)
	Accepted int // contacts stored
	Rejected int // rows with neither a usable address nor a usable number
	Warnings int // rows imported with a malformed field left out
	// ByEmail and BySMS count the accepted contacts whose first delivery
	// is on that channel: with an accepting sink, the messages sent on it.
	ByEmail int
	BySMS   int
}

// Expect returns the Summary of a list of n rows.
func Expect(n int) Summary {
	rejected := count(n, rejectMod, rejectRes)
	badEmail := count(n, badEmailMod, badEmailRes)
	badPhone := count(n, badPhoneMod, badPhoneRes)
	noEmail := count(n, noEmailMod, noEmailRes)
	s := Summary{Rows: n, Rejected: rejected, Accepted: n - rejected, Warnings: badEmail + badPhone}
	s.BySMS = badEmail + noEmail
	s.ByEmail = s.Accepted - s.BySMS
	return s
}

// count is how many i in [1, n] have i % m == r.
func count(n, m, r int) int {
	if n < r || n <= 0 {
		return 0
	}
	if r == 0 {
		return n / m
	}
	return (n-r)/m + 1
}

// Write writes a list of n people to w as UTF-8 CSV with a header row and
// returns its Summary. It buffers its own output, checks ctx every few
// thousand rows, and holds one row in memory at a time.
func Write(ctx context.Context, w io.Writer, n int) (Summary, error) {
	if n < 0 {
		return Summary{}, fmt.Errorf("benchdata: negative row count %d", n)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write(Header); err != nil {
		return Summary{}, fmt.Errorf("benchdata: write header: %w", err)
	}
	rec := make([]string, len(Header))
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return Summary{}, fmt.Errorf("benchdata: stopped at row %d: %w", i, err)
			}
		}
		row(i, rec, &sb)
		if err := cw.Write(rec); err != nil {
			return Summary{}, fmt.Errorf("benchdata: write row %d: %w", i, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return Summary{}, fmt.Errorf("benchdata: write rows: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return Summary{}, fmt.Errorf("benchdata: flush: %w", err)
	}
	return Expect(n), nil
}

// Row returns the fields of row i (from 1), in Header order: what Write
// writes for it.
func Row(i int) []string {
	rec := make([]string, len(Header))
	var sb strings.Builder
	row(i, rec, &sb)
	return rec
}

// row fills rec with row i. sb is scratch space reused across rows.
func row(i int, rec []string, sb *strings.Builder) {
	h := mix(uint64(i))
	n := pickNation(h)
	first := n.first[int(h>>8)%len(n.first)]
	last := n.last[int(h>>16)%len(n.last)]

	rec[0] = "P" + strconv.Itoa(1_000_000+i)
	if n.familyFirst {
		rec[1] = last[0] + " " + first[0]
	} else {
		rec[1] = first[0] + " " + last[0]
	}

	sb.Reset()
	sb.WriteString(first[1])
	sb.WriteByte('.')
	sb.WriteString(last[1])
	sb.WriteByte('.')
	sb.WriteString(strconv.Itoa(i))
	local := sb.String()
	if (h>>24)&7 == 0 { // one in eight written with capitals, as address books do
		local = strings.ToUpper(local[:1]) + local[1:]
	}
	email := local + "@" + n.domain
	phone := n.phone(h >> 28)

	switch {
	case i%rejectMod == rejectRes:
		email = strings.Replace(email, "@", " at ", 1)
		phone = badPhone(h)
	case i%badEmailMod == badEmailRes:
		email = badEmail(local, n.domain, h)
	case i%badPhoneMod == badPhoneRes:
		phone = badPhone(h)
	case i%noEmailMod == noEmailRes:
		email = ""
	case i%noPhoneMod == noPhoneRes:
		phone = ""
	}
	rec[2] = email
	rec[3] = phone
	rec[4] = n.country
	rec[5] = n.locale
	rec[6] = roles[int(h>>40)%len(roles)]
}

var roles = []string{"patient", "tidligere pasient", "pårørende", "ansatt"}

// badEmail returns one of the malformed addresses people type.
func badEmail(local, domain string, h uint64) string {
	switch (h >> 44) % 4 {
	case 0:
		return local + "." + domain // no @
	case 1:
		return local + "@@" + domain
	case 2:
		host, _, _ := strings.Cut(domain, ".")
		return local + "@" + host // no top-level domain
	}
	return local + "@" + domain + ";" + local + "@" + domain // two in one cell
}

// badPhone returns one of the malformed numbers people type.
func badPhone(h uint64) string {
	switch (h >> 48) % 3 {
	case 0:
		return "+47 12" // too few digits
	case 1:
		return "+999 1234 5678" // no such country code
	}
	return "1.2345E+10" // a spreadsheet's scientific notation
}

// mix is SplitMix64's finaliser: a good 64-bit hash of the row number.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
