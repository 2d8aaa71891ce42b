// Package demodata generates herald's demo contact list: the people affected
// by a (fictional) breach at a Norwegian clinic chain — employees, former
// employees and customers, mostly Norwegian, some Dutch, British, Swedish
// and American.
//
// The list is written as Norwegian Excel writes CSV (semicolons, a
// Norwegian header) and is built to exercise everything the importer and
// the senders must get right: names with æøå, Dutch infixes and accents;
// phone numbers in many national and international forms; people with only
// an e-mail address or only a mobile number; malformed addresses and
// numbers; rows that cannot be used at all; duplicates; mailboxes the demo
// SMTP server rejects (DeadMailboxes) and numbers the SMS double rejects
// (InvalidNumbers), most of them with a working fallback so that the demo
// shows fallback and a few without so that it shows unreachable people.
//
// Generation is deterministic (a fixed seed and a self-contained random
// generator), so the committed files testdata/demo-contacts.csv and
// testdata/demo-contacts-cp1252.csv can be checked byte for byte. Every
// domain is an example domain and no message is ever meant to reach a real
// person.
package demodata

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// Header is the demo list's header row, in Norwegian. rolle is not a
// contact field: the importer keeps it as the template variable "rolle".
var Header = []string{"ansattnr", "navn", "e-post", "mobil", "land", "språk", "rolle"}

// Roles, the values of the rolle column.
const (
	RoleEmployee       = "ansatt"
	RoleFormerEmployee = "tidligere ansatt"
	RoleCustomer       = "kunde"
)

// Twilio error codes the SMS double answers with for InvalidNumbers.
const (
	TwilioInvalidNumber = "21211" // invalid 'To' phone number
	TwilioNotMobile     = "21614" // 'To' number is not a valid mobile number
)

// Summary says what importing the demo list gives, and what a campaign
// with the policy email,sms ends with when the demo doubles reject exactly
// DeadMailboxes and InvalidNumbers and accept everything else.
type Summary struct {
	Rows       int // data rows in the file (the header not counted)
	Accepted   int // contacts stored
	Rejected   int // rows with neither a usable e-mail address nor a usable number
	Duplicates int // rows repeating an earlier ansattnr
	Warnings   int // rows imported with a malformed field left out

	NoEmail        int // contacts without a usable e-mail address (SMS only)
	NoPhone        int // contacts without a usable mobile number (e-mail only)
	DeadMailboxes  int // contacts whose mailbox the demo SMTP server rejects (550 5.1.1)
	InvalidNumbers int // contacts whose number the SMS double rejects

	ReachedByEmail int
	ReachedBySMS   int // including people whose mailbox bounced first
	FellBack       int // reached by SMS after their e-mail bounced
	Unreachable    int
}

// Write writes the demo list as UTF-8 (without a byte order mark) with
// LF line ends.
func Write(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	if err := cw.Write(Header); err != nil {
		return fmt.Errorf("write demo header: %w", err)
	}
	for _, r := range build().rows {
		if err := cw.Write(r.fields()); err != nil {
			return fmt.Errorf("write demo row %s: %w", r.id, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write demo list: %w", err)
	}
	return nil
}

// WriteWindows1252 writes the same list encoded in Windows-1252, the way
// Excel saves "CSV (semikolondelt)" on a Norwegian Windows machine.
func WriteWindows1252(w io.Writer) error {
	tw := transform.NewWriter(w, charmap.Windows1252.NewEncoder())
	if err := Write(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("encode demo list as windows-1252: %w", err)
	}
	return nil
}

// DeadMailboxes returns the e-mail addresses (as the importer stores them)
// the demo SMTP server should reject with 550 5.1.1, sorted.
func DeadMailboxes() []string {
	var out []string
	for _, r := range build().rows {
		if r.dead {
			out = append(out, r.emailNorm)
		}
	}
	slices.Sort(out)
	return out
}

// InvalidNumbers returns the E.164 numbers the SMS double should reject,
// each with the Twilio error code to answer: TwilioInvalidNumber or
// TwilioNotMobile. Two of them are Twilio's own test numbers (+15005550001
// and +15005550009), which Twilio's test credentials reject the same way.
func InvalidNumbers() map[string]string {
	out := map[string]string{}
	for _, r := range build().rows {
		if r.badNumberCode != "" {
			out[r.phoneNorm] = r.badNumberCode
		}
	}
	return out
}

// Expect returns what importing and sending the demo list gives.
func Expect() Summary {
	var s Summary
	for _, r := range build().rows {
		s.Rows++
		switch {
		case r.rejected:
			s.Rejected++
			continue
		case r.duplicate:
			s.Duplicates++
			continue
		}
		s.Accepted++
		if r.warning {
			s.Warnings++
		}
		emailOK := r.emailNorm != ""
		phoneOK := r.phoneNorm != ""
		if !emailOK {
			s.NoEmail++
		}
		if !phoneOK {
			s.NoPhone++
		}
		if r.dead {
			s.DeadMailboxes++
		}
		if r.badNumberCode != "" {
			s.InvalidNumbers++
		}
		switch {
		case emailOK && !r.dead:
			s.ReachedByEmail++
		case phoneOK && r.badNumberCode == "":
			s.ReachedBySMS++
			if r.dead {
				s.FellBack++
			}
		default:
			s.Unreachable++
		}
	}
	return s
}

// row is one data row and what it is meant to exercise.
type row struct {
	id, name, email, phone, land, lang, role string

	emailNorm     string // the stored address, "" when none or malformed
	phoneNorm     string // the stored E.164 number, "" when none or malformed
	dead          bool   // the demo SMTP server rejects the mailbox
	badNumberCode string // the SMS double rejects the number with this code
	warning       bool   // a malformed field is dropped on import
	rejected      bool   // the row has no usable channel
	duplicate     bool   // repeats an earlier ansattnr
	seq           int    // position among the generated people
}

func (r *row) fields() []string {
	return []string{r.id, r.name, r.email, r.phone, r.land, r.lang, r.role}
}

// rng is splitmix64: tiny, and unlike math/rand its sequence is fixed
// forever, which the golden files rely on.
type rng struct{ s uint64 }

func (g *rng) next() uint64 {
	g.s += 0x9e3779b97f4a7c15
	z := g.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (g *rng) intn(n int) int { return int(g.next() % uint64(n)) }

func pick[T any](g *rng, xs []T) T { return xs[g.intn(len(xs))] }

func (g *rng) digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + g.intn(10)))
	}
	return b.String()
}

func (g *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, g.intn(i+1))
	}
}

// Name pools. Every character must exist in Windows-1252.
var (
	noFirstM = []string{
		"Bjørn", "Håkon", "Øystein", "Kåre", "Bård", "Jørgen", "Ola", "Nils", "Torbjørn", "Knut", "Åsmund", "Tor",
		"Eirik", "Håvard", "Jørn", "Dag", "Trond", "Geir", "Øyvind", "Stein", "Lars", "Per", "Even", "Vebjørn",
		"Ståle", "Åge", "Terje", "Kjell", "Ørjan", "Sondre", "Ådne", "Mathias", "Jonas",
	}
	noFirstF = []string{
		"Åse", "Sølvi", "Gøril", "Ingrid", "Kari", "Sigrid", "Astrid", "Ragnhild", "Solveig", "Liv", "Synnøve",
		"Frøydis", "Marit", "Hege", "Siv", "Berit", "Grete", "Tone", "Anne", "Kjersti", "Mette", "Ingvild", "Tuva",
		"Nora", "Emma",
	}
	noSecondM = []string{"Håkon", "Kristian", "Johan", "André", "Øyvind", "Magnus"}
	noSecondF = []string{"Lise", "Marie", "Helene", "Sofie", "Kristin", "Margrethe"}
	noLast    = []string{
		"Ødegård", "Kværnø", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
		"Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Jacobsen", "Dahl",
		"Halvorsen", "Lund", "Sæther", "Bakke", "Strøm", "Solberg", "Aasen", "Løken", "Bråten", "Sørensen", "Nygård",
		"Haugland", "Følstad", "Myhre", "Grønli", "Tveit", "Vågen", "Fjærli", "Rønning", "Lie", "Moen", "Skår",
		"Åsheim", "Bøe", "Kvåle", "Sætre", "Ødegaard", "Hæreid", "Ås", "Brække",
	}
	nlFirst = []string{
		"IJsbrand", "Marijke", "Zoë", "Sanne", "Joost", "Pieter", "Femke", "Daan", "Eline", "Bram", "Anouk", "Ruud",
		"Mieke", "Geert", "Thijs", "Lieke", "Wouter", "Jildou", "Sjoerd", "Maarten", "Noëlle", "Chloë", "Ruben", "Floor",
	}
	nlLast = [][2]string{ // infix, surname
		{"van der", "Bijl"}, {"", "Dijkstra"}, {"de", "Vries"}, {"van", "Dijk"}, {"", "IJzerman"}, {"van den", "Berg"},
		{"", "Jansen"}, {"de", "Jong"}, {"", "Bakker"}, {"", "Visser"}, {"", "Smit"}, {"van", "Leeuwen"}, {"", "Mulder"},
		{"", "Kuijpers"}, {"van 't", "Hof"}, {"", "Vermeulen"}, {"ter", "Horst"}, {"", "Hendriks"}, {"van", "Rijn"},
		{"", "Bijlsma"}, {"", "Wijnands"}, {"in 't", "Veld"},
	}
	enFirst = []string{
		"Oliver", "Amelia", "George", "Isla", "Harry", "Emily", "Jack", "Sophie", "James", "Charlotte", "William",
		"Grace", "Thomas", "Chloe", "Daniel", "Megan", "Siobhán", "Rhys",
	}
	enLast = []string{
		"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Johnson", "Roberts", "Walker",
		"Wright", "Robinson", "Thompson", "O'Brien", "Hughes", "MacLeod",
	}
	seFirst = []string{"Märta", "Åsa", "Björn", "Linnéa", "Göran", "Sixten"}
	seLast  = []string{"Åström", "Lindqvist", "Sjöberg", "Öberg", "Ekström", "Nyström"}
	usFirst = []string{"Madison", "Tyler", "Brianna", "Cody", "Jasmine"}
	usLast  = []string{"Miller", "Davis", "Garcia", "Rodriguez", "Martinez"}
)

type nationality int

const (
	natNO nationality = iota
	natNL
	natGB
	natSE
	natUS
)

// dataset is the generated list.
type dataset struct{ rows []*row }

// build generates the list. It is cheap, so it is simply rebuilt on each
// call rather than cached.
func build() *dataset {
	g := &rng{s: 20250304}
	b := &builder{g: g, emails: map[string]bool{}, phones: map[string]bool{}, ids: map[string]bool{}}

	// The people, in file order.
	var nats []nationality
	for n, count := range map[nationality]int{natNO: 382, natNL: 92, natGB: 44, natSE: 6, natUS: 6} {
		for range count {
			nats = append(nats, n)
		}
	}
	slices.Sort(nats) // map order is random; the shuffle below is not
	g.shuffle(len(nats), func(i, j int) { nats[i], nats[j] = nats[j], nats[i] })

	fixed := []struct {
		nat  nationality
		name string
	}{
		{natNO, "Bjørn Håkon Ødegård"}, {natNO, "Åse Kværnø"}, {natNL, "IJsbrand van der Bijl"},
		{natNL, "Marijke Dijkstra"}, {natNL, "Zoë de Vries"}, {natNO, "Sigurd \"Sigge\" Haugen"},
		{natNO, "Šárka Nováková"}, {natGB, "Siobhán O'Brien"},
	}
	var people []*row
	for i, n := range nats {
		name := ""
		if i < len(fixed) {
			n, name = fixed[i].nat, fixed[i].name
		}
		p := b.person(n, name)
		p.seq = i
		people = append(people, p)
	}

	// Give the special cases to people chosen at random, each person at
	// most one special role (so every count in Expect is exact).
	order := make([]int, len(people))
	for i := range order {
		order[i] = i
	}
	g.shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	order = slices.DeleteFunc(order, func(i int) bool { return i < len(fixed) }) // keep the named people plain
	take := func(n int, ok func(*row) bool) []*row {
		var out []*row
		for k := 0; k < len(order) && len(out) < n; k++ {
			if r := people[order[k]]; ok(r) {
				out = append(out, r)
				order = slices.Delete(order, k, k+1)
				k--
			}
		}
		return out
	}
	anyone := func(*row) bool { return true }
	isNat := func(p ...string) func(*row) bool {
		return func(r *row) bool { return slices.Contains(p, r.land) || slices.Contains(p, r.natCode()) }
	}

	// Numbers the SMS double rejects.
	us := take(2, isNat("US"))
	b.setPhone(us[0], "+1 500 555 0001", "+15005550001", TwilioInvalidNumber) // Twilio's own "invalid number"
	us[0].email, us[0].emailNorm = "", ""                                     // SMS only: unreachable
	b.setPhone(us[1], "+1 500 555 0009", "+15005550009", TwilioNotMobile)     // Twilio's own "not a mobile"
	us[1].dead = true                                                         // bounced mailbox too: unreachable
	no := take(3, isNat("NO"))
	b.setPhone(no[0], "22 "+g.digits(2)+" "+g.digits(2)+" "+g.digits(2), "", TwilioNotMobile) // Oslo landline, SMS only: unreachable
	no[0].email, no[0].emailNorm = "", ""
	b.setPhone(no[1], "+47 23 "+g.digits(2)+" "+g.digits(2)+" "+g.digits(2), "", TwilioNotMobile) // landline, but reached by e-mail
	b.setPhone(no[2], "+47 9"+g.digits(7), "", TwilioInvalidNumber)                               // dead mailbox, then a bad number: unreachable
	no[2].dead = true
	nl := take(1, isNat("NL"))
	b.setPhone(nl[0], "+31 6 5"+g.digits(7), "", TwilioInvalidNumber) // reached by e-mail first

	// Malformed e-mail addresses next to a good number: imported without
	// the address (a warning), so SMS is used.
	badEmails := []func(local string) string{
		func(l string) string { return l + "@example" },
		func(l string) string { return l + "@@example.no" },
		func(l string) string { return l + ".example.no" },
		func(l string) string { return l + "@example..no" },
		func(l string) string { return l + "@example.c0m" },
		func(l string) string { return l + " @example.no" },
		func(l string) string { return l + "@example.no, " + l + "2@example.no" },
		func(l string) string { return l + "@" },
	}
	for i, r := range take(len(badEmails), func(r *row) bool { return r.phoneNorm != "" }) {
		r.email = badEmails[i](localPart(r.name))
		r.emailNorm = ""
		r.warning = true
	}
	// Malformed numbers next to a good address: imported without the
	// number (a warning).
	badPhones := []struct{ nat, phone string }{
		{"NO", "12345"}, {"NO", "+47 123"}, {"NO", "9123 456"}, {"GB", "07700 900123"}, // Ofcom's drama range is not a real mobile range
		{"NL", "06-1234567"}, {"NO", "4,79123E+09"}, {"NO", "+47 912 34 567 / 22 33 44 55"},
	}
	for _, bp := range badPhones {
		r := take(1, func(r *row) bool { return r.emailNorm != "" && r.natCode() == bp.nat })[0]
		b.setPhone(r, bp.phone, "", "")
		r.phoneNorm = ""
		r.warning = true
	}
	// A country nobody can read: imported without it (a warning); the
	// number has its country code, so it still works.
	for _, r := range take(1, func(r *row) bool { return r.phoneNorm != "" && r.natCode() == "NO" }) {
		r.land = "Atlantis"
		r.phone = "+47 " + strings.TrimPrefix(r.phoneNorm, "+47")
		r.warning = true
	}

	// SMS only: no e-mail at all.
	for _, r := range take(30, anyone) {
		r.email, r.emailNorm = "", ""
	}
	// E-mail only: no mobile number.
	for _, r := range take(40, anyone) {
		r.phone, r.phoneNorm = "", ""
	}
	// Dead mailboxes: most can fall back to SMS...
	for _, r := range take(49, anyone) {
		r.dead = true
	}
	// ...a few cannot: they end unreachable.
	for _, r := range take(5, anyone) {
		r.dead = true
		r.phone, r.phoneNorm = "", ""
	}
	// Rows with neither a usable address nor a usable number: rejected.
	rejects := []struct{ name, email, phone, land string }{
		{"Hilde Aune", "", "", "NO"},
		{"Ruud Kok", "ruud.kok@example", "", "NL"},
		{"Jens Bakken", "", "123", "NO"},
		{"Tove Rød", "tove.rod(at)example.no", "ukjent", "NO"},
		{"Peter Lund", "", "+47 000", ""},
	}
	var rejected []*row
	for _, x := range rejects {
		r := &row{id: b.newID(RoleFormerEmployee), name: x.name, email: x.email, phone: x.phone, land: x.land, lang: "nb", role: RoleFormerEmployee, rejected: true}
		rejected = append(rejected, r)
	}

	// Duplicates: later rows repeating an earlier ansattnr, some with a
	// newer address; the first row wins.
	var dups []*row
	firstHalf := func(r *row) bool { return r.seq < len(people)/2 }
	for i, r := range take(10, func(r *row) bool { return firstHalf(r) && !r.dead && r.badNumberCode == "" && !r.warning }) {
		d := *r
		d.duplicate, d.dead, d.badNumberCode = true, false, ""
		switch i % 3 {
		case 1:
			d.email = "ny." + localPart(d.name) + "@example.org"
		case 2:
			d.name = strings.ToUpper(d.name)
		}
		dups = append(dups, &d)
	}

	// Interleave: rejects and duplicates land in the second half, after
	// every row they repeat.
	rows := slices.Clone(people)
	for i, r := range append(rejected, dups...) {
		pos := len(people)/2 + (i*37)%(len(people)/2)
		rows = slices.Insert(rows, pos+i, r)
	}
	return &dataset{rows: rows}
}

// builder hands out unique ids, addresses and numbers.
type builder struct {
	g       *rng
	emails  map[string]bool
	phones  map[string]bool
	ids     map[string]bool
	nextEmp int
	nextCus int
}

// natCode returns the row's nationality as a country code, from the
// number it was generated with.
func (r *row) natCode() string {
	switch {
	case strings.HasPrefix(r.phoneNorm, "+47"), r.land == "NO", r.land == "Norge", r.land == "Norway":
		return "NO"
	case strings.HasPrefix(r.phoneNorm, "+31"), r.land == "NL", r.land == "Nederland":
		return "NL"
	case strings.HasPrefix(r.phoneNorm, "+44"), r.land == "GB", r.land == "UK":
		return "GB"
	case strings.HasPrefix(r.phoneNorm, "+46"), r.land == "Sverige":
		return "SE"
	case strings.HasPrefix(r.phoneNorm, "+1"), r.land == "US":
		return "US"
	}
	return ""
}

func (b *builder) newID(role string) string {
	if role == RoleCustomer {
		b.nextCus++
		return fmt.Sprintf("K%05d", 40000+b.nextCus*7)
	}
	b.nextEmp++
	return fmt.Sprintf("%d", 1000+b.nextEmp*3)
}

func (b *builder) person(n nationality, name string) *row {
	g := b.g
	r := &row{}
	switch x := g.intn(100); {
	case x < 45:
		r.role = RoleEmployee
	case x < 65:
		r.role = RoleFormerEmployee
	default:
		r.role = RoleCustomer
	}
	r.id = b.newID(r.role)
	if name == "" {
		name = b.name(n)
	}
	r.name = name

	local := localPart(name)
	var domains []string
	switch n {
	case natNO:
		domains = []string{"example.no", "example.no", "example.com", "example.net", "example.org"}
		r.land = pick(g, []string{"NO", "NO", "NO", "NO", "Norge", "Norge", "Norway", "", ""})
		r.lang = pick(g, []string{"nb", "nb", "nb", "nb", "nb", "nn", "nb_NO", "", "no"})
	case natNL:
		domains = []string{"example.nl", "example.nl", "example.com"}
		r.land = pick(g, []string{"NL", "NL", "Nederland"})
		r.lang = pick(g, []string{"nl", "nl", "nl_NL", "en"})
	case natGB:
		domains = []string{"example.com", "example.org", "example.net"}
		r.land = pick(g, []string{"GB", "GB", "UK"})
		r.lang = pick(g, []string{"en", "en-GB", "en"})
	case natSE:
		domains = []string{"example.com", "example.se"}
		r.land = pick(g, []string{"Sverige", "SE"})
		r.lang = pick(g, []string{"sv", "nb"})
	case natUS:
		domains = []string{"example.com", "example.net"}
		r.land = "US"
		r.lang = "en-US"
	}
	email := local + "@" + pick(g, domains)
	for i := 2; b.emails[email]; i++ {
		email = fmt.Sprintf("%s%d@%s", local, i, pick(g, domains))
	}
	b.emails[email] = true
	r.emailNorm = email
	switch g.intn(25) {
	case 0: // written with capitals; the domain is stored in lower case
		at := strings.IndexByte(email, '@')
		r.email = titleDots(email[:at]) + "@" + strings.ToUpper(email[at+1:at+2]) + email[at+2:]
		r.emailNorm = titleDots(email[:at]) + email[at:]
	case 1: // as an address book exports it
		r.email = r.name + " <" + email + ">"
		if strings.ContainsAny(r.name, "\"',") {
			r.email = "<" + email + ">"
		}
	default:
		r.email = email
	}
	b.mobile(r, n)
	return r
}

func (b *builder) name(n nationality) string {
	g := b.g
	switch n {
	case natNO:
		firsts, seconds := noFirstM, noSecondM
		if g.intn(2) == 0 {
			firsts, seconds = noFirstF, noSecondF
		}
		first := pick(g, firsts)
		if g.intn(5) == 0 {
			if second := pick(g, seconds); second != first {
				first += " " + second
			}
		}
		last := pick(g, noLast)
		if g.intn(12) == 0 {
			last = pick(g, noLast) + "-" + last
		}
		return first + " " + last
	case natNL:
		l := pick(g, nlLast)
		if l[0] == "" {
			return pick(g, nlFirst) + " " + l[1]
		}
		return pick(g, nlFirst) + " " + l[0] + " " + l[1]
	case natGB:
		return pick(g, enFirst) + " " + pick(g, enLast)
	case natSE:
		return pick(g, seFirst) + " " + pick(g, seLast)
	}
	return pick(g, usFirst) + " " + pick(g, usLast)
}

// mobile gives r a valid mobile number for its country, written the way
// people write them there.
func (b *builder) mobile(r *row, n nationality) {
	g := b.g
	for {
		var written, e164 string
		switch n {
		case natNO:
			var nat string
			if g.intn(3) == 0 {
				nat = "4" + pick(g, []string{"0", "1", "5", "6", "7", "8"}) + g.digits(6)
			} else {
				nat = "9" + g.digits(7)
			}
			e164 = "+47" + nat
			spaced := nat[:3] + " " + nat[3:5] + " " + nat[5:]
			forms := []string{"+47 " + spaced, "+47" + nat, "0047 " + nat}
			if r.land != "" {
				forms = append(forms, nat, spaced, spaced, nat)
			}
			written = pick(g, forms)
		case natNL:
			nat := "6" + pick(g, []string{"1", "2", "3", "4", "5", "8"}) + g.digits(7)
			e164 = "+31" + nat
			written = pick(g, []string{"0" + nat[:1] + "-" + nat[1:], "+31 6 " + nat[1:], "0" + nat[:1] + " " + nat[1:5] + " " + nat[5:]})
		case natGB:
			// 074xx: all allocated to mobiles. Ofcom's drama range 07700
			// 900xxx is not a real range, so the importer rejects it.
			nat := "74" + g.digits(8)
			e164 = "+44" + nat
			written = pick(g, []string{"0" + nat[:4] + " " + nat[4:], "+44 " + nat[:4] + " " + nat[4:]})
		case natSE:
			nat := pick(g, []string{"70", "72", "73", "76", "79"}) + g.digits(7)
			e164 = "+46" + nat
			written = "0" + nat[:2] + "-" + nat[2:5] + " " + nat[5:7] + " " + nat[7:]
		case natUS:
			nat := "201555" + pick(g, []string{"01", "01"}) + g.digits(2)
			e164 = "+1" + nat
			written = "(" + nat[:3] + ") " + nat[3:6] + "-" + nat[6:]
		}
		if b.phones[e164] {
			continue
		}
		b.phones[e164] = true
		r.phone, r.phoneNorm = written, e164
		return
	}
}

// setPhone gives r a number the SMS double rejects (or, with code "", a
// malformed one). e164 may be left empty for Norwegian, Dutch and US forms
// it can be worked out from.
func (b *builder) setPhone(r *row, written, e164, code string) {
	if e164 == "" && code != "" {
		digits := strings.Map(func(c rune) rune {
			if c >= '0' && c <= '9' {
				return c
			}
			return -1
		}, written)
		switch {
		case strings.HasPrefix(written, "+"):
			e164 = "+" + digits
		default: // a national Norwegian number
			e164 = "+47" + digits
			if r.land == "" {
				r.land = "NO"
			}
		}
	}
	r.phone, r.phoneNorm, r.badNumberCode = written, e164, code
	if e164 != "" {
		b.phones[e164] = true
	}
}

// localPart makes an e-mail local part from a name: lower-case ASCII,
// the first given name and the surname (with any Dutch infix) joined by a
// dot: Bjørn Håkon Ødegård → bjorn.odegaard, IJsbrand van der Bijl →
// ijsbrand.vanderbijl.
func localPart(name string) string {
	fold := strings.NewReplacer(
		"æ", "ae", "ø", "o", "å", "aa", "ö", "o", "ä", "a", "ë", "e", "é", "e", "è", "e", "ü", "u", "á", "a",
		"š", "s", "ó", "o", "\"", "", "'", "",
	)
	keep := func(s string) string {
		return strings.Map(func(c rune) rune {
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
				return c
			}
			return -1
		}, fold.Replace(strings.ToLower(s)))
	}
	parts := strings.Fields(name)
	if len(parts) == 0 {
		return "person"
	}
	local := keep(parts[0])
	if len(parts) == 1 {
		return local
	}
	var last strings.Builder
	for i, p := range parts[1:] {
		infix := p[0] >= 'a' && p[0] <= 'z' || p[0] == '\''
		if infix || i == len(parts)-2 {
			last.WriteString(keep(p))
		}
	}
	return local + "." + last.String()
}

// titleDots capitalises each dot-separated part: ola.nordmann → Ola.Nordmann.
func titleDots(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}
