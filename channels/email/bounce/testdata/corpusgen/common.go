package main

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"time"
)

// label is one row of labels.csv.
type label struct {
	Type, Address, Class string
}

// sample is one generated message.
type sample struct {
	Name   string
	Data   string
	Labels []label
}

// gen carries the random source; every sample draws from it in a fixed
// order, so the corpus is the same on every run.
type gen struct {
	r   *rand.Rand
	seq int
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g *gen) intn(n int) int           { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool    { return g.r.Float64() < p }

func (g *gen) hex(n int) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *gen) alnum(n int) string {
	const digits = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(len(digits))]
	}
	return string(b)
}

func (g *gen) base32(n int) string {
	const digits = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(len(digits))]
	}
	return string(b)
}

func (g *gen) ip() string {
	// Documentation ranges only.
	switch g.r.IntN(3) {
	case 0:
		return fmt.Sprintf("192.0.2.%d", 1+g.r.IntN(254))
	case 1:
		return fmt.Sprintf("198.51.100.%d", 1+g.r.IntN(254))
	}
	return fmt.Sprintf("203.0.113.%d", 1+g.r.IntN(254))
}

var firstNames = []string{"kari", "ola", "ingrid", "lars", "silje", "henrik", "marit", "jonas", "eva", "thomas", "anne", "pieter", "sanne", "jeroen", "lotte", "klaus", "sabine", "jurgen", "marie", "pierre", "camille", "luc", "carmen", "javier", "lucia", "john", "mary", "robert", "linda", "ahmed", "fatima", "olga", "dmitri", "yuki", "wei"}
var lastNames = []string{"nordmann", "hansen", "johansen", "olsen", "larsen", "berg", "haugen", "devries", "jansen", "bakker", "visser", "mueller", "schmidt", "schneider", "fischer", "martin", "bernard", "dubois", "garcia", "lopez", "martinez", "smith", "johnson", "brown", "khan", "ivanova", "petrov", "tanaka", "zhang"}

func (g *gen) localPart() string {
	f, l := g.pick(firstNames...), g.pick(lastNames...)
	switch g.r.IntN(6) {
	case 0:
		return f + "." + l
	case 1:
		return f + l
	case 2:
		return f[:1] + l
	case 3:
		return f + "_" + l + fmt.Sprint(g.r.IntN(99))
	case 4:
		return f + "." + l + fmt.Sprint(1950+g.r.IntN(55))
	}
	return l + "." + f
}

// sender is the organisation that sends the notice.
type sender struct {
	name, addr, domain, bounceDomain string
}

var senders = []sender{
	{"Helse Vest IKT", "varsel@helse-vest.example", "helse-vest.example", "bounce.helse-vest.example"},
	{"Bergen kommune", "personvern@bergen-kommune.example", "bergen-kommune.example", "b.bergen-kommune.example"},
	{"Acme Health Partners", "privacy-notice@acmehealth.example", "acmehealth.example", "bounces.acmehealth.example"},
	{"Stadtwerke Nord", "datenschutz@stadtwerke-nord.example", "stadtwerke-nord.example", "bounce.stadtwerke-nord.example"},
	{"Gemeente Zuidstad", "privacy@zuidstad.example", "zuidstad.example", "retour.zuidstad.example"},
	{"Mutuelle Atlantique", "notification@mutuelle-atlantique.example", "mutuelle-atlantique.example", "rebond.mutuelle-atlantique.example"},
	{"Clínica del Norte", "avisos@clinicanorte.example", "clinicanorte.example", "rebote.clinicanorte.example"},
	{"Northwind Retail", "security@northwind.example", "northwind.example", "bounce.northwind.example"},
}

// notice is herald's original message.
type notice struct {
	id      int64
	msgID   string // with angle brackets
	s       sender
	to      string
	toName  string
	subject string
	date    time.Time
	verp    string
	lang    string
	// noHerald leaves out X-Herald-Delivery (a relay that strips X-
	// headers); the Message-ID still carries the delivery ID.
	noHerald bool
}

var subjects = map[string]string{
	"no": "Viktig informasjon om et datainnbrudd som gjelder deg",
	"en": "Important information about a data breach affecting you",
	"de": "Wichtige Information zu einem Datenschutzvorfall",
	"nl": "Belangrijke informatie over een datalek",
	"fr": "Information importante concernant une violation de données",
	"es": "Información importante sobre una brecha de datos",
}

var bodies = map[string]string{
	"no": "Hei,\n\nVi skriver for å informere deg om et sikkerhetsbrudd hos oss.\nLes mer i vedlagte brev.\n\nMed vennlig hilsen\n",
	"en": "Dear customer,\n\nWe are writing to let you know about a security incident that may\naffect your personal information. Please read the enclosed notice.\n\nSincerely,\n",
	"de": "Guten Tag,\n\nwir informieren Sie über einen Datenschutzvorfall.\n\nMit freundlichen Grüßen\n",
	"nl": "Beste klant,\n\nWij informeren u over een datalek bij onze organisatie.\n\nMet vriendelijke groet,\n",
	"fr": "Madame, Monsieur,\n\nNous vous informons d'un incident de sécurité.\n\nCordialement,\n",
	"es": "Estimado cliente:\n\nLe informamos de un incidente de seguridad.\n\nAtentamente,\n",
}

func (g *gen) notice(to, lang string) notice {
	s := senders[g.r.IntN(len(senders))]
	id := int64(1000 + g.r.IntN(9_000_000))
	if g.chance(0.1) {
		id = int64(10_000_000_000 + g.r.IntN(1_000_000_000))
	}
	d := time.Date(2026, time.Month(1+g.r.IntN(11)), 1+g.r.IntN(28), 6+g.r.IntN(14), g.r.IntN(60), g.r.IntN(60), 0, time.FixedZone("", []int{0, 3600, 7200, -18000, -28800}[g.r.IntN(5)]))
	name := title(strings.ReplaceAll(strings.Split(to, "@")[0], ".", " "))
	return notice{
		id:      id,
		msgID:   fmt.Sprintf("<herald.%d.%s@%s>", id, g.base32(26), "notify."+s.domain),
		s:       s,
		to:      to,
		toName:  name,
		subject: subjects[lang],
		date:    d,
		verp:    fmt.Sprintf("bounces+%s@%s", g.alnum(22), s.bounceDomain),
		lang:    lang,
	}
}

func rfc2822(t time.Time) string { return t.Format("Mon, 2 Jan 2006 15:04:05 -0700") }

// headers is the header block of the notice as the receiving side saw it.
func (n notice) headers(g *gen, received bool) string {
	var b strings.Builder
	if received {
		fmt.Fprintf(&b, "Return-Path: <%s>\n", n.verp)
		fmt.Fprintf(&b, "Received: from mta%d.%s (mta%d.%s [%s])\n\tby mx.%s with ESMTPS id %s\n\tfor <%s>; %s\n",
			1+g.intn(8), n.s.domain, 1+g.intn(8), n.s.domain, g.ip(), domainOf(n.to), g.hex(12), n.to, rfc2822(n.date.Add(2*time.Second)))
	}
	fmt.Fprintf(&b, "Date: %s\n", rfc2822(n.date))
	fmt.Fprintf(&b, "From: %s <%s>\n", qword(n.s.name), n.s.addr)
	fmt.Fprintf(&b, "To: %s <%s>\n", qword(n.toName), n.to)
	fmt.Fprintf(&b, "Subject: %s\n", subj(n.subject))
	fmt.Fprintf(&b, "Message-ID: %s\n", n.msgID)
	if !n.noHerald {
		fmt.Fprintf(&b, "X-Herald-Delivery: %d\n", n.id)
	}
	b.WriteString("Auto-Submitted: auto-generated\n")
	b.WriteString("MIME-Version: 1.0\n")
	b.WriteString("Content-Type: text/plain; charset=UTF-8\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\n")
	return b.String()
}

// full is the notice with its body.
func (n notice) full(g *gen, received bool) string {
	return n.headers(g, received) + "\n" + qp(bodies[n.lang]+n.s.name+"\n")
}

// qword encodes a header phrase as an RFC 2047 word when it is not ASCII.
func qword(s string) string {
	for _, r := range s {
		if r > 127 {
			return "=?UTF-8?Q?" + strings.ReplaceAll(qpHeader(s), " ", "_") + "?="
		}
	}
	if strings.ContainsAny(s, ",.;:") {
		return `"` + s + `"`
	}
	return s
}

func qpHeader(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c > 127 || c == '=' || c == '?' || c == '_' {
			fmt.Fprintf(&b, "=%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func qp(s string) string {
	var b strings.Builder
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

func b64(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

// latin1 encodes s as ISO-8859-1 (s must be representable).
func latin1(s string) string {
	var b []byte
	for _, r := range s {
		if r < 256 {
			b = append(b, byte(r))
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }
func localOf(addr string) string  { return addr[:strings.LastIndexByte(addr, '@')] }

func (g *gen) boundary(style string) string {
	switch style {
	case "postfix":
		return fmt.Sprintf("%s.%d/%s", g.hex(10), 1700000000+g.intn(90000000), "mail")
	case "exchange":
		return fmt.Sprintf("%s-%s-%s-%s-%s", strings.ToLower(g.hex(8)), strings.ToLower(g.hex(4)), strings.ToLower(g.hex(4)), strings.ToLower(g.hex(4)), strings.ToLower(g.hex(12)))
	case "google":
		return "000000000000" + strings.ToLower(g.hex(16))
	case "sendmail":
		return fmt.Sprintf("%s.%d/mx%d.example", g.alnum(14), 1700000000+g.intn(90000000), g.intn(9))
	}
	return "----=_Part_" + fmt.Sprint(g.intn(99999)) + "_" + fmt.Sprint(g.intn(999999999)) + "." + fmt.Sprint(1700000000000+int64(g.intn(999999999)))
}

// fill replaces the placeholders of a response template.
func fill(tmpl string, n notice, g *gen) string {
	ip := g.ip()
	return strings.NewReplacer(
		"{rcpt}", n.to,
		"{local}", localOf(n.to),
		"{domain}", domainOf(n.to),
		"{ip}", ip,
		"{ourdomain}", n.s.domain,
		"{from}", n.s.addr,
		"{id}", g.alnum(10),
		"{ID}", g.hex(12),
	).Replace(tmpl)
}

// wrap folds s at about width columns with the given indent, as MTAs
// fold long diagnostics.
func wrap(s string, width int, indent string) string {
	words := strings.Fields(s)
	var b strings.Builder
	col := 0
	for i, w := range words {
		if i > 0 && col+1+len(w) > width {
			b.WriteString("\n" + indent)
			col = len(indent)
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

func title(s string) string {
	ws := strings.Fields(s)
	for i, w := range ws {
		ws[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(ws, " ")
}

// subj encodes a Subject: an RFC 2047 word when it is not ASCII.
func subj(s string) string {
	for _, r := range s {
		if r > 127 {
			return "=?UTF-8?Q?" + strings.ReplaceAll(qpHeader(s), " ", "_") + "?="
		}
	}
	return s
}
