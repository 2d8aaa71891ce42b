// Command corpusgen writes the bounce corpus under testdata/corpus: the
// development set (dev/) the parser is tuned against and the held-out set
// (heldout/) it is only measured on, with labels.csv.
//
// The formats are written from the layouts real MTAs and providers use
// (Postfix, Exim, sendmail, qmail, Exchange 2003-2019 and Exchange Online,
// Gmail, Yahoo, Amazon SES, Zoho, Mail.ru, Yandex, GMX, Domino, Courier,
// OpenSMTPD, Mimecast, Barracuda, MDaemon, hMailServer, Kerio, Haraka,
// Oracle Messaging Server, Openwave ...); addresses, hosts, IDs and codes
// vary from sample to sample. The two sets draw from different pools of
// server replies, and a handful of formats appear only in the held-out
// set. Output is deterministic:
//
//	go run ./channels/email/bounce/testdata/corpusgen -out channels/email/bounce/testdata/corpus
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	out := flag.String("out", "channels/email/bounce/testdata/corpus", "corpus directory")
	flag.Parse()
	sets := map[string][]sample{
		"dev":      buildDev(newGen(20260101)),
		"heldout":  buildHeldout(newGen(20260707)),
		"heldout2": buildHeldout2(newGen(20261122)),
	}
	// README.md stays; the sets and labels are rewritten.
	for _, old := range []string{"dev", "heldout", "heldout2"} {
		if err := os.RemoveAll(filepath.Join(*out, old)); err != nil {
			log.Fatal(err)
		}
	}
	// Rows of sets this program does not write (real bounces added by
	// hand) are kept.
	rows := keptRows(filepath.Join(*out, "labels.csv"), sets)
	names := []string{"dev", "heldout", "heldout2"}
	for _, set := range names {
		dir := filepath.Join(*out, set)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		seen := map[string]int{}
		for _, s := range sets[set] {
			seen[s.Name]++
			name := fmt.Sprintf("%s-%02d.eml", s.Name, seen[s.Name])
			if err := os.WriteFile(filepath.Join(dir, name), []byte(s.Data), 0o644); err != nil {
				log.Fatal(err)
			}
			for _, l := range s.Labels {
				rows = append(rows, []string{set + "/" + name, l.Type, l.Address, l.Class})
			}
		}
		fmt.Printf("%s: %d messages\n", set, len(sets[set]))
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	f, err := os.Create(filepath.Join(*out, "labels.csv"))
	if err != nil {
		log.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"file", "type", "address", "class"})
	w.WriteAll(rows)
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// keptRows returns the rows of labels.csv that belong to sets not in
// generated.
func keptRows(path string, generated map[string][]sample) [][]string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		log.Fatalf("read %s: %v", path, err)
	}
	var kept [][]string
	for i, r := range all {
		if i == 0 || len(r) == 0 {
			continue
		}
		set, _, _ := strings.Cut(r[0], "/")
		if _, ours := generated[set]; !ours {
			kept = append(kept, r)
		}
	}
	return kept
}

// set builds one corpus set from a pool of replies.
type set struct {
	g    *gen
	pool []response
	out  []sample
}

func (s *set) add(name string, smp sample) {
	smp.Name = name
	if s.g.chance(0.08) {
		smp.Data = crlf(smp.Data)
	}
	s.out = append(s.out, smp)
}

// note draws a notice for a reply: a recipient at a domain that fits it.
func (s *set) note(r response) notice {
	d := s.g.domainFor(r)
	n := s.g.notice(s.g.contact(d), langFor(d))
	n.noHerald = s.g.chance(0.15)
	return n
}

func (s *set) noteAt(domain string) notice {
	n := s.g.notice(s.g.contact(domain), langFor(domain))
	n.noHerald = s.g.chance(0.15)
	return n
}

func (s *set) resp() response { return s.g.response(s.pool, s.g.classMix()) }

func (s *set) respOf(class string) response { return s.g.response(s.pool, class) }

// common adds the formats both sets have, n of each as given.
func (s *set) common(k map[string]int) {
	g := s.g
	for i := 0; i < k["postfix"]; i++ {
		r := s.resp()
		n := s.note(r)
		lang := "en"
		switch {
		case i%9 == 1:
			lang = "no"
		case i%9 == 3:
			lang = "yandex"
		case i%9 == 5:
			lang = g.pick("fr", "de", "nl")
		}
		s.add("postfix-"+lang, g.postfixRemote(n, r, lang, g.pick("rfc822", "rfc822", "headers", "b64", "none")))
	}
	for i := 0; i < k["postfix-local"]; i++ {
		cls := g.classMix()
		s.add("postfix-local", g.postfixLocal(s.noteAt(g.pick(genericDomains...)), cls, i))
	}
	for i := 0; i < k["postfix-dns"]; i++ {
		s.add("postfix-dns", g.postfixDNS(s.noteAt(g.pick("nonexistent-isp.example", "typo-domian.example", "gmial.example", "old-company.example")), i%2 == 0))
	}
	for i := 0; i < k["postfix-timeout"]; i++ {
		s.add("postfix-timeout", g.postfixTimeout(s.noteAt(g.pick(genericDomains...)), i%2 == 1))
	}
	for i := 0; i < k["postfix-delay"]; i++ {
		r := s.respOf(g.pick("soft", "invalid"))
		s.add("postfix-delay", g.postfixDelayedReply(s.note(r), r))
	}
	for i := 0; i < k["exim"]; i++ {
		r := s.resp()
		style := []string{"text", "old", "dsn"}[i%3]
		brand := ""
		if i%4 == 3 {
			brand = "cpanel"
		}
		s.add("exim-"+style, g.exim(s.note(r), r, style, brand))
	}
	for i := 0; i < k["exim-local"]; i++ {
		cls := g.pick("invalid", "invalid", "soft")
		s.add("exim-local", g.eximLocal(s.noteAt(g.pick(genericDomains...)), cls, i))
	}
	for i := 0; i < k["sendmail"]; i++ {
		r := s.resp()
		pp := i%3 == 2
		name := "sendmail"
		if pp {
			name = "proofpoint"
		}
		s.add(name, g.sendmail(s.note(r), r, pp))
	}
	for i := 0; i < k["sendmail-warning"]; i++ {
		s.add("sendmail-warning", g.sendmailWarning(s.noteAt(g.pick(genericDomains...))))
	}
	for i := 0; i < k["ses"]; i++ {
		r := s.resp()
		s.add("amazonses", g.ses(s.note(r), r))
	}
	for i := 0; i < k["gmail"]; i++ {
		r := s.resp()
		delayed := i%7 == 6
		if delayed {
			r = s.respOf("soft")
		}
		s.add("gmail", g.gmail(s.note(r), r, delayed))
	}
	for i := 0; i < k["gmail-old"]; i++ {
		r := s.resp()
		s.add("gmail-old", g.gmailOld(s.note(r), r))
	}
	for i := 0; i < k["relay"]; i++ {
		r := s.resp()
		p := []string{"sendgrid", "mailgun", "postmark", "courier"}[i%4]
		s.add(p, g.genericRelay(s.note(r), r, p))
	}
	for i := 0; i < k["opensmtpd"]; i++ {
		r := s.resp()
		s.add("opensmtpd", g.opensmtpd(s.note(r), r, i%2 == 1))
	}
	for i := 0; i < k["exchange"]; i++ {
		r := s.resp()
		style := []string{"2010", "2016", "nodsn"}[i%3]
		s.add("exchange"+style, g.exchange(s.note(r), r, "en", style))
	}
	for i := 0; i < k["exchange-l10n"]; i++ {
		lang := []string{"no", "de", "nl", "fr", "es"}[i%5]
		r := s.resp()
		dom := map[string]string{"no": "bedrift.no", "de": "firma.de", "nl": "bedrijf.nl", "fr": "entreprise.fr", "es": "empresa.es"}[lang]
		n := s.noteAt(g.pick(dom, "kommune-"+lang+".example", "ministerie."+lang))
		s.add("exchange-"+lang, g.exchange(n, r, lang, []string{"2010", "2016", "nodsn"}[i%3]))
	}
	for i := 0; i < k["o365"]; i++ {
		r := s.resp()
		n := s.noteAt(g.pick("contoso.example", "fabrikam.no", "tailspin.example", "northwindtraders.nl", "woodgrove.de"))
		s.add("office365", g.o365(n, r, i%3 != 2))
	}
	for i := 0; i < k["qmail"]; i++ {
		if i%2 == 0 {
			r := s.resp()
			s.add("qmail-remote", g.qmail(s.note(r), r.class, &r, i/2))
		} else {
			cls := g.pick("invalid", "invalid", "soft", "other")
			s.add("qmail-local", g.qmail(s.noteAt(g.pick("vpop-host.example", "isp-qmail.example")), cls, nil, i))
		}
	}
	for i := 0; i < k["yahoo"]; i++ {
		r := s.resp()
		s.add("yahoo", g.yahoo(s.note(r), r))
	}
	for i := 0; i < k["mailru"]; i++ {
		r := s.resp()
		s.add("mailru", g.mailru(s.note(r), r))
	}
	for i := 0; i < k["gmx"]; i++ {
		r := s.resp()
		s.add("gmx", g.gmx(s.note(r), r, g.pick("gmx.net", "gmx.com", "web.de")))
	}
	for i := 0; i < k["zoho"]; i++ {
		r := s.resp()
		s.add("zoho", g.zoho(s.note(r), r))
	}
	for i := 0; i < k["domino"]; i++ {
		cls := []string{"invalid", "invalid", "soft", "policy"}[i%4]
		s.add("domino", g.domino(s.noteAt(g.pick("konsern.no", "industrie.de", "corp-notes.example")), cls, i%2 == 0))
	}
	for i := 0; i < k["mimecast"]; i++ {
		r := s.resp()
		s.add("mimecast", g.mimecast(s.noteAt(g.pick("lawfirm.example", "bank-uk.example", "council.example")), r))
	}
	for i := 0; i < k["barracuda"]; i++ {
		r := s.resp()
		s.add("barracuda", g.barracuda(s.noteAt(g.pick("school.example", "clinic.example")), r))
	}
	for i := 0; i < k["aol"]; i++ {
		r := s.resp()
		s.add("aol", g.aol(s.noteAt("aol.com"), r))
	}
	arfStyles := []string{"yahoo", "aol", "microsoft", "mailru", "dmarc", "generic"}
	for i := 0; i < k["arf"]; i++ {
		d := g.pick("yahoo.com", "aol.com", "hotmail.com", "mail.ru", "comcast.net", "online.no")
		s.add("arf-"+arfStyles[i%len(arfStyles)], g.arf(s.noteAt(d), arfStyles[i%len(arfStyles)]))
	}
	autoStyles := []string{"exchange", "gmail", "sieve", "vacation", "ticket", "leftjob", "zimbra"}
	for i := 0; i < k["autoreply"]; i++ {
		d := g.pick(genericDomains...)
		s.add("autoreply-"+autoStyles[i%len(autoStyles)], g.autoreply(s.noteAt(d), autoStyles[i%len(autoStyles)]))
	}
	for i := 0; i < k["success"]; i++ {
		s.add("success", g.success(s.noteAt(g.pick(genericDomains...))))
	}
	unkStyles := []string{"reply", "spam", "mdn", "dmarc", "other"}
	for i := 0; i < k["unknown"]; i++ {
		s.add("unknown-"+unkStyles[i%len(unkStyles)], g.unknown(s.noteAt(g.pick(genericDomains...)), unkStyles[i%len(unkStyles)]))
	}
	for i := 0; i < k["multi"]; i++ {
		r1, r2 := s.resp(), s.resp()
		n := s.note(r1)
		second := g.localPart() + "@" + domainOf(n.to)
		if i%2 == 0 {
			s.add("sendmail-multi", g.multiRecipient(n, r1, r2, second))
		} else {
			s.add("exchange-multi", g.exchangeMulti(n, r1, r2, second))
		}
	}
	for i := 0; i < k["alias"]; i++ {
		r := s.resp()
		s.add("postfix-alias", g.aliasDSN(s.note(r), r))
	}
	for i := 0; i < k["eai"]; i++ {
		r := s.resp()
		local := g.pick("bjørn.ødegård", "jürgen.müller", "françois", "josé.niño", "дмитрий")
		n := s.g.notice(local+"@"+g.pick("eksempel.no", "beispiel.de", "exemple.fr"), "en")
		s.add("postfix-eai", g.eaiDSN(n, r))
	}
}

func buildDev(g *gen) []sample {
	s := &set{g: g, pool: devResponses}
	s.common(map[string]int{
		"postfix": 45, "postfix-local": 8, "postfix-dns": 4, "postfix-timeout": 4, "postfix-delay": 3,
		"exim": 18, "exim-local": 6, "sendmail": 12, "sendmail-warning": 2, "ses": 8,
		"gmail": 14, "gmail-old": 5, "relay": 12, "opensmtpd": 5,
		"exchange": 12, "exchange-l10n": 10, "o365": 10, "qmail": 8, "yahoo": 5, "mailru": 4, "gmx": 5, "zoho": 4,
		"domino": 4, "mimecast": 4, "barracuda": 3, "aol": 3,
		"arf": 8, "autoreply": 12, "success": 3, "unknown": 6, "multi": 3, "alias": 2, "eai": 1,
	})
	return s.out
}

func buildHeldout(g *gen) []sample {
	s := &set{g: g, pool: heldoutResponses}
	s.common(map[string]int{
		"postfix": 40, "postfix-local": 6, "postfix-dns": 4, "postfix-timeout": 4, "postfix-delay": 3,
		"exim": 15, "exim-local": 6, "sendmail": 10, "sendmail-warning": 2, "ses": 6,
		"gmail": 12, "gmail-old": 4, "relay": 10, "opensmtpd": 4,
		"exchange": 10, "exchange-l10n": 10, "o365": 9, "qmail": 8, "yahoo": 4, "mailru": 4, "gmx": 4, "zoho": 4,
		"domino": 4, "mimecast": 4, "barracuda": 3, "aol": 2,
		"arf": 8, "autoreply": 12, "success": 2, "unknown": 6, "multi": 3, "alias": 2, "eai": 2,
	})
	// Formats that appear only in the held-out set.
	for i := 0; i < 8; i++ {
		r := s.resp()
		s.add("exchange2003", g.exchange2003(s.noteAt(g.pick("firm-2003.example", "legacy.no", "altbetrieb.de")), r, i%2 == 0))
	}
	for i := 0; i < 6; i++ {
		r := s.resp()
		s.add("hmailserver", g.hmailserver(s.note(r), r))
	}
	for i := 0; i < 6; i++ {
		r := s.resp()
		s.add("mdaemon", g.mdaemon(s.note(r), r))
	}
	for i := 0; i < 6; i++ {
		r := s.resp()
		s.add("openwave", g.openwave(s.note(r), r))
	}
	for i := 0; i < 6; i++ {
		r := s.resp()
		s.add("messagingserver", g.messagingServer(s.note(r), r))
	}
	for i := 0; i < 4; i++ {
		r := s.resp()
		s.add("sendmail-v5", g.sendmailV5(s.note(r), r))
	}
	for i := 0; i < 5; i++ {
		r := s.resp()
		s.add("haraka", g.genericRelay(s.note(r), r, "haraka"))
	}
	for i := 0; i < 5; i++ {
		r := s.resp()
		s.add("kerio", g.genericRelay(s.note(r), r, "kerio"))
	}
	return s.out
}
