package main

import (
	"fmt"
	"strings"
	"time"
)

// mime part helpers.

type part struct {
	header string // header lines without the final blank line
	body   string
}

func multipart(boundary string, preamble string, parts ...part) string {
	var b strings.Builder
	if preamble != "" {
		b.WriteString(preamble + "\n")
	}
	for _, p := range parts {
		b.WriteString("\n--" + boundary + "\n")
		if p.header != "" {
			b.WriteString(strings.TrimRight(p.header, "\n") + "\n")
		}
		b.WriteString("\n")
		b.WriteString(p.body)
		if !strings.HasSuffix(p.body, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n--" + boundary + "--\n")
	return b.String()
}

// crlf converts line ends to CR LF, as messages fetched over IMAP or
// stored by Windows servers have them.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// generic recipient domains by provider family.
var (
	genericDomains = []string{"online.no", "hotmail.no", "telenor.no", "lyse.net", "ziggo.nl", "kpnmail.nl", "xs4all.nl", "gmx.de", "web.de", "t-online.de", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "telefonica.net", "gmail.com", "outlook.com", "yahoo.com", "comcast.net", "icloud.com", "btinternet.com", "firma-as.no", "example-corp.com", "stadt.example.de", "bedrijf.nl", "empresa.es"}
)

// domainFor picks a recipient domain that fits who gave the response.
func (g *gen) domainFor(r response) string {
	t := strings.ToLower(r.text)
	switch {
	case strings.Contains(t, "gsmtp") || strings.Contains(t, "gmail"):
		return g.pick("gmail.com", "gmail.com", "googlemail.com", "firma-as.no")
	case strings.Contains(t, "yahoo") || strings.Contains(t, "[tss") || strings.Contains(t, "[ipts"):
		return g.pick("yahoo.com", "yahoo.no", "ymail.com", "aol.com")
	case strings.Contains(t, "outlook.com") || strings.Contains(t, "live.com") || strings.Contains(t, "s3150") || strings.Contains(t, "(s20"):
		return g.pick("hotmail.com", "outlook.com", "live.no", "hotmail.fr", "msn.com")
	case strings.Contains(t, "ofr"):
		return g.pick("orange.fr", "wanadoo.fr")
	case strings.Contains(t, "comcast") || strings.Contains(t, "not our customer"):
		return "comcast.net"
	case strings.Contains(t, "apple") || strings.Contains(t, "[cs01]"):
		return g.pick("icloud.com", "me.com", "mac.com")
	case strings.Contains(t, "no such user!"):
		return g.pick("yandex.ru", "ya.ru")
	case strings.Contains(t, "local mailbox"):
		return g.pick("mail.ru", "bk.ru", "inbox.ru", "list.ru")
	case strings.Contains(t, "ukjent") || strings.Contains(t, "finnes") || strings.Contains(t, "postkassen") || strings.Contains(t, "innboksen"):
		return g.pick("online.no", "lyse.net", "altibox.no", "kommune-x.no")
	case strings.Contains(t, "unbekannt") || strings.Contains(t, "existiert") || strings.Contains(t, "postfach") || strings.Contains(t, "empfaenger"):
		return g.pick("gmx.de", "web.de", "t-online.de", "freenet.de")
	case strings.Contains(t, "onbekend") || strings.Contains(t, "bestaat") || strings.Contains(t, "postvak"):
		return g.pick("ziggo.nl", "kpnmail.nl", "xs4all.nl", "home.nl")
	case strings.Contains(t, "inconnu") || strings.Contains(t, "n'existe") || strings.Contains(t, "pleine") || strings.Contains(t, "dépassé"):
		return g.pick("free.fr", "laposte.net", "sfr.fr", "orange.fr")
	case strings.Contains(t, "desconocido") || strings.Contains(t, "buzón") || strings.Contains(t, "no existe"):
		return g.pick("telefonica.net", "ono.com", "empresa.es")
	}
	return g.pick(genericDomains...)
}

// langFor picks the notice's language for a recipient domain.
func langFor(domain string) string {
	switch {
	case strings.HasSuffix(domain, ".no"), domain == "lyse.net":
		return "no"
	case strings.HasSuffix(domain, ".de"):
		return "de"
	case strings.HasSuffix(domain, ".nl"):
		return "nl"
	case strings.HasSuffix(domain, ".fr"):
		return "fr"
	case strings.HasSuffix(domain, ".es"), domain == "telefonica.net", domain == "ono.com":
		return "es"
	}
	return "en"
}

func (g *gen) contact(domain string) string {
	return g.localPart() + "@" + domain
}

// mxFor names the receiving server for a domain.
func mxFor(g *gen, domain string) string {
	switch domain {
	case "gmail.com", "googlemail.com":
		return g.pick("gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com")
	case "yahoo.com", "yahoo.no", "ymail.com", "aol.com":
		return fmt.Sprintf("mta%d.am0.yahoodns.net", 5+g.intn(3))
	case "hotmail.com", "outlook.com", "live.no", "hotmail.fr", "msn.com":
		return "hotmail-com.olc.protection.outlook.com"
	case "comcast.net":
		return "mx1.comcast.net"
	case "icloud.com", "me.com", "mac.com":
		return fmt.Sprintf("mx0%d.mail.icloud.com", 1+g.intn(6))
	case "mail.ru", "bk.ru", "inbox.ru", "list.ru":
		return "mxs.mail.ru"
	case "yandex.ru", "ya.ru":
		return "mx.yandex.ru"
	case "orange.fr", "wanadoo.fr":
		return "smtp-in.orange.fr"
	case "gmx.de", "web.de":
		return "mx00." + domain
	}
	return g.pick("mx.", "mx1.", "mail.", "smtp.", "mx01.") + domain
}

// relay is the MTA that sent herald's message and now reports.
func (g *gen) relayHost(n notice) string {
	return fmt.Sprintf("%s%d.%s", g.pick("mta", "smtp", "out", "relay"), 1+g.intn(6), n.s.domain)
}

func (g *gen) bounceDate(n notice, after time.Duration) string {
	return rfc2822(n.date.Add(after + time.Duration(g.intn(600))*time.Second))
}

func dsnOK(n notice, cls string) []label {
	return []label{{"dsn", n.to, cls}}
}

// fold folds a DSN field value the way MTAs do, at about 76 columns.
func fold(name, value string) string {
	return name + ": " + wrap(value, 76, "    ")
}
