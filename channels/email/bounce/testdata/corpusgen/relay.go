package main

import (
	"fmt"
	"strings"
	"time"
)

// Bounces written by the relay herald sends through: it quotes what the
// receiving server said.

// original returns the returned-message part in one of the ways MTAs
// attach it.
func (g *gen) original(n notice, style string) part {
	switch style {
	case "headers":
		return part{header: "Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers", body: n.headers(g, true)}
	case "b64":
		return part{header: "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", body: b64(n.full(g, true))}
	case "none":
		return part{}
	}
	return part{header: "Content-Description: Undelivered Message\nContent-Type: message/rfc822", body: n.full(g, true)}
}

func withOriginal(parts []part, p part) []part {
	if p.header == "" {
		return parts
	}
	return append(parts, p)
}

type postfixStyle struct {
	preface  string // text before the per-recipient lines
	subject  string
	from     string
	origKind string
}

var postfixPrefaces = map[string]string{
	"en":     "This is the mail system at host %s.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\nFor further assistance, please send mail to postmaster.\n\nIf you do so, please include this problem report. You can\ndelete your own text from the attached returned message.\n\n                   The mail system\n",
	"yandex": "              **********\n\nЭто письмо отправлено почтовым сервером yandex.ru.\n\nК сожалению, мы вынуждены сообщить Вам о том, что Ваше письмо не может\nбыть отправлено одному или нескольким адресатам. Причины указаны ниже.\n\nПожалуйста, не отвечайте на это сообщение.\n\n              **********\n\nThis is the mail system at host %s.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\nPlease, do not reply to this message.\n\n",
	"no":     "Dette er e-postsystemet på %s.\n\nVi beklager, men meldingen din kunne ikke leveres til en eller flere\nmottakere. Den opprinnelige meldingen er vedlagt.\n\nTa kontakt med postmaster hvis du trenger hjelp, og legg ved denne\nrapporten.\n\n                   E-postsystemet\n",
	"fr":     "Ceci est le système de messagerie de %s.\n\nNous avons le regret de vous informer que votre message n'a pas pu\nêtre remis à un ou plusieurs destinataires. Il est joint ci-dessous.\n\nPour toute assistance, écrivez au postmaster.\n\n                   Le système de messagerie\n",
	"de":     "Dies ist das Mailsystem auf %s.\n\nLeider konnte Ihre Nachricht nicht an einen oder mehrere Empfänger\nzugestellt werden. Sie ist unten angehängt.\n\nBei Fragen wenden Sie sich bitte an postmaster.\n\n                   Das Mailsystem\n",
	"nl":     "Dit is het mailsysteem op %s.\n\nHelaas kon uw bericht niet worden bezorgd bij een of meer\nontvangers. Het bericht is hieronder bijgevoegd.\n\n                   Het mailsysteem\n",
}

// postfix renders Postfix's bounce(8) report. line is the per-recipient
// explanation ("host X said: ..." or a local reason); status and diag are
// the DSN fields.
func (g *gen) postfix(n notice, lang, host, line, status, diagType, diag, action, remote string, origStyle string) string {
	b := g.boundary("postfix")
	queue := g.hex(10)
	subject := "Undelivered Mail Returned to Sender"
	pre := postfixPrefaces[lang]
	if action == "delayed" {
		subject = "Delayed Mail (still being retried)"
		pre = "####################################################################\n# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n####################################################################\n\nThis is the mail system at host %s.\n\nYour message could not be delivered for more than 4 hour(s).\nIt will be retried until it is 5 day(s) old.\n\nFor further assistance, please send mail to postmaster.\n\nIf you do so, please include this problem report. You can\ndelete your own text from the attached returned message.\n\n                   The mail system\n"
		origStyle = "headers"
	}
	if lang == "yandex" {
		subject = "=?UTF-8?B?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU=?="
	}
	text := fmt.Sprintf(pre, host) + "\n" + wrap(fmt.Sprintf("<%s>: %s", n.to, line), 72, "    ") + "\n"
	var dsn strings.Builder
	fmt.Fprintf(&dsn, "Reporting-MTA: dns; %s\nX-Postfix-Queue-ID: %s\nX-Postfix-Sender: rfc822; %s\nArrival-Date: %s\n\n", host, queue, n.verp, rfc2822(n.date))
	fmt.Fprintf(&dsn, "Final-Recipient: rfc822; %s\n", n.to)
	if g.chance(0.7) {
		fmt.Fprintf(&dsn, "Original-Recipient: rfc822;%s\n", n.to)
	}
	fmt.Fprintf(&dsn, "Action: %s\nStatus: %s\n", action, status)
	if remote != "" {
		fmt.Fprintf(&dsn, "Remote-MTA: dns; %s\n", remote)
	}
	fmt.Fprintf(&dsn, "%s\n", fold("Diagnostic-Code", diagType+"; "+diag))
	if action == "delayed" {
		fmt.Fprintf(&dsn, "Will-Retry-Until: %s\n", rfc2822(n.date.Add(5*24*time.Hour)))
	}
	parts := []part{
		{header: "Content-Description: Notification\nContent-Type: text/plain; charset=utf-8", body: text},
		{header: "Content-Description: Delivery report\nContent-Type: message/delivery-status", body: dsn.String()},
	}
	parts = withOriginal(parts, g.original(n, origStyle))
	hdr := fmt.Sprintf("Return-Path: <>\nDelivered-To: %s\nX-Original-To: %s\nReceived: by %s (Postfix)\n\tid %s; %s\nDate: %s\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\nSubject: %s\nTo: %s\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nContent-Transfer-Encoding: 8bit\nMessage-Id: <%s.%s@%s>\n",
		n.verp, n.verp, host, queue, g.bounceDate(n, time.Minute), g.bounceDate(n, time.Minute), host, subject, n.verp, b, g.hex(8), queue, host)
	return hdr + "\n" + multipart(b, "This is a MIME-encapsulated message.", parts...)
}

// postfixRemote is a Postfix bounce for a remote server's reply.
func (g *gen) postfixRemote(n notice, resp response, lang, origStyle string) sample {
	host := g.relayHost(n)
	mx := mxFor(g, domainOf(n.to))
	said := fill(resp.oneLine(), n, g)
	cmd := "RCPT TO"
	if strings.HasPrefix(resp.kind, "content") || resp.kind == "size" {
		cmd = "end of DATA"
	}
	line := fmt.Sprintf("host %s[%s] said: %s (in reply to %s command)", mx, g.ip(), said, cmd)
	action := "failed"
	status := resp.dsnStatus()
	data := g.postfix(n, lang, host, line, status, "smtp", said, action, mx, origStyle)
	return sample{Data: data, Labels: dsnOK(n, resp.class)}
}

// postfixLocal is a bounce for a local mailbox on the reporting host
// (Zimbra, ISP mail stores).
func (g *gen) postfixLocal(n notice, class string, variant int) sample {
	host := "mail." + domainOf(n.to)
	type local struct{ line, status, diagType, diag string }
	var l local
	switch class {
	case "invalid":
		switch variant % 4 {
		case 0:
			l = local{fmt.Sprintf("unknown user: \"%s\"", localOf(n.to)), "5.1.1", "X-Postfix", fmt.Sprintf("unknown user: \"%s\"", localOf(n.to))}
		case 1:
			d := fmt.Sprintf("550 5.1.1 <%s> User doesn't exist: %s", n.to, n.to)
			l = local{fmt.Sprintf("host 127.0.0.1[private/dovecot-lmtp] said: %s (in reply to RCPT TO command)", d), "5.1.1", "smtp", d}
		case 2:
			l = local{"User unknown in virtual mailbox table", "5.1.1", "X-Postfix", "User unknown in virtual mailbox table"}
		default:
			d := fmt.Sprintf("550 5.1.1 <%s>: Recipient address rejected: %s", n.to, domainOf(n.to))
			l = local{fmt.Sprintf("host %s[%s] said: %s (in reply to RCPT TO command)", "zimbra-mta."+domainOf(n.to), g.ip(), d), "5.1.1", "smtp", d}
		}
	case "soft":
		switch variant % 3 {
		case 0:
			d := fmt.Sprintf("552 5.2.2 <%s> Quota exceeded (mailbox for user is full)", n.to)
			l = local{fmt.Sprintf("host 127.0.0.1[private/dovecot-lmtp] said: %s (in reply to end of DATA command)", d), "5.2.2", "smtp", d}
		case 1:
			d := fmt.Sprintf("cannot update mailbox /var/mail/%s for user %s. error writing message: Disk quota exceeded", localOf(n.to), localOf(n.to))
			l = local{d, "5.2.2", "X-Postfix", d}
		default:
			l = local{"mail for " + domainOf(n.to) + " loops back to myself", "5.4.6", "X-Postfix", "mail for " + domainOf(n.to) + " loops back to myself"}
		}
	default:
		d := "554 5.7.1 Message rejected by local content filter: spam score too high"
		l = local{fmt.Sprintf("host 127.0.0.1[127.0.0.1] said: %s (in reply to end of DATA command)", d), "5.7.1", "smtp", d}
	}
	data := g.postfix(n, "en", host, l.line, l.status, l.diagType, l.diag, "failed", "", g.pick("rfc822", "headers"))
	return sample{Data: data, Labels: dsnOK(n, class)}
}

// postfixDNS is Postfix failing to find the recipient's domain: for good
// (NXDOMAIN, 5.4.4) or for now (4.4.3, "try again").
func (g *gen) postfixDNS(n notice, permanent bool) sample {
	host := g.relayHost(n)
	typ := g.pick("MX", "A", "AAAA")
	if permanent {
		d := fmt.Sprintf("Host or domain name not found. Name service error for name=%s type=%s: Host not found", domainOf(n.to), typ)
		return sample{Data: g.postfix(n, "en", host, d, "5.4.4", "X-Postfix", d, "failed", "", "rfc822"), Labels: dsnOK(n, "invalid")}
	}
	d := fmt.Sprintf("Host or domain name not found. Name service error for name=%s type=%s: Host not found, try again", domainOf(n.to), typ)
	return sample{Data: g.postfix(n, "en", host, d, "4.4.3", "X-Postfix", d, g.pick("failed", "delayed"), "", "rfc822"), Labels: dsnOK(n, "soft")}
}

// postfixTimeout is Postfix giving up (or warning) after connection
// failures.
func (g *gen) postfixTimeout(n notice, delayed bool) sample {
	host := g.relayHost(n)
	mx := mxFor(g, domainOf(n.to))
	d := g.pick(
		fmt.Sprintf("connect to %s[%s]:25: Connection timed out", mx, g.ip()),
		fmt.Sprintf("connect to %s[%s]:25: Connection refused", mx, g.ip()),
		fmt.Sprintf("lost connection with %s[%s] while receiving the initial server greeting", mx, g.ip()),
		fmt.Sprintf("conversation with %s[%s] timed out while receiving the initial server greeting", mx, g.ip()),
	)
	action, status := "failed", "4.4.1"
	if strings.Contains(d, "lost") || strings.Contains(d, "conversation") {
		status = "4.4.2"
	}
	if delayed {
		action = "delayed"
	}
	return sample{Data: g.postfix(n, "en", host, d, status, "X-Postfix", d, action, mx, "rfc822"), Labels: dsnOK(n, "soft")}
}

// postfixDelayedReply is a warning quoting a 4xx reply.
func (g *gen) postfixDelayedReply(n notice, resp response) sample {
	host := g.relayHost(n)
	mx := mxFor(g, domainOf(n.to))
	said := fill(resp.oneLine(), n, g)
	line := fmt.Sprintf("host %s[%s] said: %s (in reply to RCPT TO command)", mx, g.ip(), said)
	st := resp.dsnStatus()
	if st[0] == '5' {
		st = "4" + st[1:]
	}
	return sample{Data: g.postfix(n, "en", host, line, st, "smtp", said, "delayed", mx, "headers"), Labels: dsnOK(n, "soft")}
}

// exim renders Exim's bounce. style: "text" (classic, no MIME), "old"
// (the host on the reply line), "dsn" (4.9x multipart/report).
func (g *gen) exim(n notice, resp response, style, brand string) sample {
	host := g.relayHost(n)
	if brand == "cpanel" {
		host = fmt.Sprintf("server%d.webhost.example", 10+g.intn(80))
	}
	mx := mxFor(g, domainOf(n.to))
	ip := g.ip()
	said := fill(resp.oneLine(), n, g)
	var detail string
	switch style {
	case "old":
		detail = fmt.Sprintf("    SMTP error from remote mail server after RCPT TO:<%s>:\n    host %s [%s]: %s", n.to, mx, ip, wrap(said, 70, "    "))
	default:
		detail = fmt.Sprintf("    host %s [%s]\n    SMTP error from remote mail server after RCPT TO:<%s>:\n    %s", mx, ip, n.to, wrap(said, 70, "    "))
	}
	return g.eximBody(n, host, detail, resp.class, style, said, mx)
}

func (g *gen) eximBody(n notice, host, detail, class, style, diag, mx string) sample {
	text := "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  " + n.to + "\n" + detail + "\n"
	id := fmt.Sprintf("1%s-%s-%s", g.alnum(5), g.alnum(6), g.alnum(2))
	hdr := fmt.Sprintf("Return-path: <>\nEnvelope-to: %s\nDelivery-date: %s\nReceived: from mail by %s with local (Exim 4.%d)\n\tid %s\n\tfor %s; %s\nX-Failed-Recipients: %s\nAuto-Submitted: auto-replied\nFrom: Mail Delivery System <Mailer-Daemon@%s>\nTo: %s\nSubject: Mail delivery failed: returning message to sender\nMessage-Id: <E%s@%s>\nDate: %s\n",
		n.verp, g.bounceDate(n, time.Minute), host, 80+g.intn(18), id, n.verp, g.bounceDate(n, time.Minute), n.to, host, n.verp, id, host, g.bounceDate(n, time.Minute))
	if style == "dsn" {
		b := fmt.Sprintf("%d-eximdsn-%d", 1700000000+g.intn(9000000), g.intn(999999999))
		dsn := fmt.Sprintf("Reporting-MTA: dns; %s\n\nAction: failed\nFinal-Recipient: rfc822;%s\nStatus: 5.0.0\n", host, n.to)
		if mx != "" {
			dsn += fmt.Sprintf("Remote-MTA: dns; %s\n", mx)
		}
		dsn += fold("Diagnostic-Code", "smtp; "+diag) + "\n"
		parts := []part{
			{header: "Content-type: text/plain; charset=us-ascii", body: text},
			{header: "Content-type: message/delivery-status", body: dsn},
		}
		parts = withOriginal(parts, part{header: "Content-type: message/rfc822", body: n.full(g, true)})
		data := hdr + fmt.Sprintf("MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=%s\n\n", b) +
			multipart(b, "--This is a multi-part message in MIME format--", parts...)
		return sample{Data: data, Labels: dsnOK(n, class)}
	}
	data := hdr + "\n" + text + "\n------ This is a copy of the message, including all the headers. ------\n\n" + n.full(g, true)
	return sample{Data: data, Labels: dsnOK(n, class)}
}

// eximLocal is Exim failing on its own: an unroutable domain, an unknown
// local part, a full mailbox, a retry timeout.
func (g *gen) eximLocal(n notice, class string, variant int) sample {
	host := g.relayHost(n)
	var detail, diag string
	switch class {
	case "invalid":
		switch variant % 3 {
		case 0:
			detail, diag = "    Unrouteable address", "Unrouteable address"
		case 1:
			diag = fmt.Sprintf("unknown local-part \"%s\" in domain \"%s\"", localOf(n.to), domainOf(n.to))
			detail = "    " + diag
		default:
			detail, diag = "    all relevant MX records point to non-existent hosts", "all relevant MX records point to non-existent hosts"
		}
	default:
		switch variant % 3 {
		case 0:
			detail, diag = "    retry timeout exceeded", "retry timeout exceeded"
		case 1:
			detail, diag = "    mailbox is full: retry timeout exceeded", "mailbox is full: retry timeout exceeded"
		default:
			detail = fmt.Sprintf("    all hosts for '%s' have been failing for a long time (and retry time not reached)", domainOf(n.to))
			diag = strings.TrimSpace(detail)
		}
	}
	return g.eximBody(n, host, detail, class, g.pick("text", "dsn"), diag, "")
}

// sendmail renders sendmail's DSN; proofpoint uses the names a Proofpoint
// gateway (sendmail inside) gives.
func (g *gen) sendmail(n notice, resp response, proofpoint bool) sample {
	host := g.relayHost(n)
	if proofpoint {
		host = fmt.Sprintf("mx0a-%s.pphosted.com", g.alnum(8))
	}
	mx := mxFor(g, domainOf(n.to))
	said := fill(resp.oneLine(), n, g)
	qid := g.alnum(14)
	b := g.boundary("sendmail")
	cmd := "RCPT To:<" + n.to + ">"
	text := fmt.Sprintf("The original message was received at %s\nfrom %s [%s]\n\n   ----- The following addresses had permanent fatal errors -----\n<%s>\n    (reason: %s)\n\n   ----- Transcript of session follows -----\n... while talking to %s.:\n>>> %s\n<<< %s\n%s\n", rfc2822(n.date), n.s.domain, g.ip(), n.to, said, mx, cmd, said, said)
	if g.chance(0.5) {
		text += "<<< 503 5.0.0 Need RCPT (recipient)\n"
	}
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nReceived-From-MTA: DNS; %s\nArrival-Date: %s\n\nFinal-Recipient: RFC822; %s\nAction: failed\nStatus: %s\nRemote-MTA: DNS; %s\n%s\nLast-Attempt-Date: %s\n",
		host, n.s.domain, rfc2822(n.date), n.to, resp.dsnStatus(), mx, fold("Diagnostic-Code", "SMTP; "+said), g.bounceDate(n, time.Minute))
	parts := []part{{body: text}, {header: "Content-Type: message/delivery-status", body: dsn}}
	parts = withOriginal(parts, g.original(n, g.pick("rfc822", "headers")))
	hdr := fmt.Sprintf("Return-Path: <>\nReceived: from localhost (localhost)\n\tby %s (8.%d.%d/8.%d.%d) id %s;\n\t%s\nDate: %s\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@%s>\nMessage-Id: <%s.%s@%s>\nTo: <%s>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nSubject: Returned mail: see transcript for details\nAuto-Submitted: auto-generated (failure)\n",
		host, 15+g.intn(3), g.intn(3), 15+g.intn(3), g.intn(3), qid, g.bounceDate(n, time.Minute), g.bounceDate(n, time.Minute), host, g.hex(12), qid, host, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-encapsulated message", parts...), Labels: dsnOK(n, resp.class)}
}

// sendmailWarning is sendmail's four-hour warning.
func (g *gen) sendmailWarning(n notice) sample {
	host := g.relayHost(n)
	mx := mxFor(g, domainOf(n.to))
	b := g.boundary("sendmail")
	qid := g.alnum(14)
	text := fmt.Sprintf("**********************************************\n**      THIS IS A WARNING MESSAGE ONLY      **\n**  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n**********************************************\n\nThe original message was received at %s\nfrom %s [%s]\n\n   ----- Transcript of session follows -----\n<%s>... Deferred: Connection timed out with %s.\nWarning: message still undelivered after 4 hours\nWill keep trying until message is 5 days old\n", rfc2822(n.date), n.s.domain, g.ip(), n.to, mx)
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nArrival-Date: %s\n\nFinal-Recipient: RFC822; %s\nAction: delayed\nStatus: 4.4.1\nRemote-MTA: DNS; %s\nLast-Attempt-Date: %s\nWill-Retry-Until: %s\n", host, rfc2822(n.date), n.to, mx, g.bounceDate(n, 4*time.Hour), rfc2822(n.date.Add(120*time.Hour)))
	parts := []part{{body: text}, {header: "Content-Type: message/delivery-status", body: dsn}, {header: "Content-Type: text/rfc822-headers", body: n.headers(g, true)}}
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@%s>\nMessage-Id: <%s.%s@%s>\nTo: <%s>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nSubject: Warning: could not send message for past 4 hours\nAuto-Submitted: auto-generated (warning-timeout)\n",
		g.bounceDate(n, 4*time.Hour), host, g.hex(12), qid, host, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-encapsulated message", parts...), Labels: dsnOK(n, "soft")}
}

// ses renders Amazon SES's bounce to the return path.
func (g *gen) ses(n notice, resp response) sample {
	if g.chance(0.5) {
		// SES gives the message its own Message-ID; only
		// X-Herald-Delivery is left to find the delivery by.
		n.msgID = fmt.Sprintf("<0102%s-%s-%s-%s-%s-000000@eu-west-1.amazonses.com>", strings.ToLower(g.hex(12)), strings.ToLower(g.hex(8)), strings.ToLower(g.hex(4)), strings.ToLower(g.hex(4)), strings.ToLower(g.hex(12)))
		n.noHerald = false
	}
	b := g.boundary("")
	said := fill(resp.oneLine(), n, g)
	host := fmt.Sprintf("a%d-%d.smtp-out.%s.amazonses.com", g.intn(99), g.intn(99), g.pick("eu-west-1", "us-east-1", "eu-north-1"))
	text := "An error occurred while trying to deliver the mail to the following recipients:\n" + n.to + "\n"
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\n\nAction: failed\nFinal-Recipient: rfc822; %s\n%s\nStatus: %s\nRemote-MTA: dns; %s\n", host, n.to, fold("Diagnostic-Code", "smtp; "+said), resp.dsnStatus(), mxFor(g, domainOf(n.to)))
	parts := []part{
		{header: "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 7bit", body: text},
		{header: "Content-Type: message/delivery-status", body: dsn},
		{header: "Content-Type: message/rfc822", body: n.full(g, true)},
	}
	hdr := fmt.Sprintf("Return-Path: <>\nReceived: from %s by inbound-smtp.%s with SMTP id %s\n\tfor %s; %s\nFrom: MAILER-DAEMON@%s\nTo: %s\nSubject: Delivery Status Notification (Failure)\nMessage-ID: <%s-%s@email.amazonses.com>\nDate: %s\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nX-Original-To: %s\n",
		host, n.s.bounceDomain, g.alnum(30), n.verp, g.bounceDate(n, 30*time.Second), g.pick("amazonses.com", "email-smtp.amazonaws.com"), n.verp, g.hex(16), g.hex(8), g.bounceDate(n, 30*time.Second), b, n.verp)
	return sample{Data: hdr + "\n" + multipart(b, "", parts...), Labels: dsnOK(n, resp.class)}
}

var gmailHeadlines = map[string][2]string{
	"invalid": {"Address not found", "Your message wasn't delivered to %s because the address couldn't be found, or is unable to receive mail."},
	"full":    {"Recipient inbox full", "Your message couldn't be delivered to %s. Their inbox is full, or it's getting too much mail right now."},
	"policy":  {"Message blocked", "Your message to %s has been blocked. See technical details below for more information."},
	"soft":    {"Message not delivered", "There was a problem delivering your message to %s. See the technical details below."},
	"delay":   {"Delivery incomplete", "There was a temporary problem delivering your message to %s. Gmail will retry for 46 more hours. You'll be notified if the delivery fails permanently."},
}

// gmail renders the bounce Google Workspace (herald's relay) sends, the
// current layout with an HTML alternative and a DSN.
func (g *gen) gmail(n notice, resp response, delayed bool) sample {
	said := fill(resp.text, n, g)
	key := resp.class
	if resp.kind == "full" {
		key = "full"
	}
	if delayed {
		key = "delay"
	}
	hl := gmailHeadlines[key]
	intro := fmt.Sprintf(hl[1], n.to)
	text := fmt.Sprintf("\n** %s **\n\n%s\n\nThe response from the remote server was:\n%s\n", hl[0], intro, said)
	if g.chance(0.3) {
		text = fmt.Sprintf("\n** %s **\n\n%s\n\nLearn more here: https://support.google.com/mail/?p=NoSuchUser\n\nThe response was:\n\n%s\n", hl[0], intro, said)
	}
	htmlBody := fmt.Sprintf("<html><head><style>* { font-family:Roboto, \"Helvetica Neue\", Helvetica, Arial, sans-serif; }</style></head><body><table cellpadding=\"0\" cellspacing=\"0\" class=\"email-wrapper\" style=\"padding-top:32px;background-color:#ffffff;\"><tbody><tr><td><table cellpadding=0 cellspacing=0><tbody><tr><td style=\"max-width:560px;padding:24px 24px 32px;background-color:#fafafa;border:1px solid #e0e0e0;border-radius:2px\"><img style=\"padding:0 24px 16px 0;float:left\" width=72 height=72 alt=\"Error Icon\" src=\"cid:icon.png\"><table style=\"min-width:272px;padding-top:8px\"><tbody><tr><td><h2 style=\"font-size:20px;color:#212121;font-weight:bold;margin:0\">%s</h2></td></tr><tr><td style=\"padding-top:20px;color:#757575;font-size:16px;font-weight:normal;text-align:left\">%s</td></tr></tbody></table></td></tr></tbody></table></td></tr><tr style=\"border:none;background-color:#fff;font-size:12.8px;width:90%%\"><td align=\"left\" style=\"padding:48px 10px\">The response from the remote server was:<br/><p style=\"font-family:monospace\">%s</p></td></tr></tbody></table></body></html>", hl[0], strings.ReplaceAll(intro, n.to, "<a style='color:#212121;text-decoration:none'><b>"+n.to+"</b></a>"), strings.ReplaceAll(strings.ReplaceAll(said, "<", "&lt;"), ">", "&gt;"))
	outer, alt := g.boundary("google"), g.boundary("google")
	action, status := "failed", resp.dsnStatus()
	if delayed {
		action = "delayed"
		if status[0] == '5' {
			status = "4" + status[1:]
		}
	}
	dsn := fmt.Sprintf("Reporting-MTA: dns; googlemail.com\nArrival-Date: %s\n\nFinal-Recipient: rfc822; %s\nAction: %s\nStatus: %s\nRemote-MTA: dns; %s. (%s, the server for the domain %s.)\n%s\nLast-Attempt-Date: %s\n",
		rfc2822(n.date), n.to, action, status, mxFor(g, domainOf(n.to)), g.ip(), domainOf(n.to), fold("Diagnostic-Code", "smtp; "+resp.oneLine()), g.bounceDate(n, 2*time.Second))
	dsn = fill(dsn, n, g)
	alternative := multipart(alt, "", part{header: "Content-Type: text/plain; charset=\"UTF-8\"", body: text}, part{header: "Content-Type: text/html; charset=\"UTF-8\"", body: htmlBody})
	parts := []part{
		{header: fmt.Sprintf("Content-Type: multipart/related; boundary=\"%s\"", alt+"r"), body: multipart(alt+"r", "", part{header: fmt.Sprintf("Content-Type: multipart/alternative; boundary=\"%s\"", alt), body: alternative})},
		{header: "Content-Type: message/delivery-status", body: dsn},
	}
	parts = withOriginal(parts, g.original(n, g.pick("rfc822", "headers")))
	subj := "Delivery Status Notification (Failure)"
	if delayed {
		subj = "Delivery Status Notification (Delay)"
	}
	hdr := fmt.Sprintf("Delivered-To: %s\nReturn-Path: <>\nFrom: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: %s\nAuto-Submitted: auto-replied\nSubject: %s\nReferences: %s\nIn-Reply-To: %s\nX-Failed-Recipients: %s\nMessage-ID: <%s.%s.%s@mx.google.com>\nDate: %s\nMIME-Version: 1.0\nContent-Type: multipart/report; boundary=\"%s\"; report-type=delivery-status\n",
		n.verp, n.verp, subj, n.msgID, n.msgID, n.to, g.alnum(24), g.alnum(8), g.alnum(4), g.bounceDate(n, 5*time.Second), outer)
	if delayed {
		hdr = strings.Replace(hdr, "X-Failed-Recipients: "+n.to+"\n", "", 1)
	}
	cls := resp.class
	if delayed {
		cls = "soft"
	}
	return sample{Data: hdr + "\n" + multipart(outer, "", parts...), Labels: dsnOK(n, cls)}
}

// gmailOld is the text-only Gmail bounce of the 2010s.
func (g *gen) gmailOld(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	var text string
	switch g.intn(2) {
	case 0:
		text = fmt.Sprintf("Delivery to the following recipient failed permanently:\n\n     %s\n\nTechnical details of permanent failure:\nGoogle tried to deliver your message, but it was rejected by the server for the recipient domain %s by %s. [%s].\n\nThe error that the other server returned was:\n%s\n", n.to, domainOf(n.to), mxFor(g, domainOf(n.to)), g.ip(), said)
	default:
		text = fmt.Sprintf("This is an automatically generated Delivery Status Notification\n\nDelivery to the following recipient failed permanently:\n\n     %s\n\nTechnical details of permanent failure:\n%s\n", n.to, said)
	}
	hdr := fmt.Sprintf("Delivered-To: %s\nReturn-Path: <>\nMIME-Version: 1.0\nFrom: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: %s\nX-Failed-Recipients: %s\nSubject: Delivery Status Notification (Failure)\nMessage-ID: <%s@google.com>\nDate: %s\nContent-Type: text/plain; charset=UTF-8\n", n.verp, n.verp, n.to, g.hex(28), g.bounceDate(n, 3*time.Second))
	return sample{Data: hdr + "\n" + text + "\n----- Original message -----\n\n" + n.full(g, true), Labels: dsnOK(n, resp.class)}
}

// genericRelay is the minimal RFC 3464 DSN of a sending service or a
// small MTA: short text, DSN, headers of the original.
func (g *gen) genericRelay(n notice, resp response, provider string) sample {
	said := fill(resp.oneLine(), n, g)
	b := g.boundary("")
	var host, text, from, subj string
	switch provider {
	case "sendgrid":
		host = fmt.Sprintf("o%d.ptr%d.sendgrid.net", g.intn(99), g.intn(9999))
		from, subj = "MAILER-DAEMON@sendgrid.net", "Undelivered Mail Returned to Sender"
		text = fmt.Sprintf("This is the mail system at host %s.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n<%s>: %s\n", host, n.to, wrap(said, 72, "    "))
	case "mailgun":
		host = fmt.Sprintf("m%d.mailgun.net", g.intn(99))
		from, subj = "Mailgun Delivery <postmaster@mailgun.net>", "Delivery Status Notification (Failure)"
		text = fmt.Sprintf("Delivery to the following recipient failed permanently:\n\n    %s\n\nTechnical details of permanent failure:\n%s\n", n.to, said)
	case "postmark":
		host = fmt.Sprintf("mta%d.pm.mtasv.net", g.intn(99))
		from, subj = "Postmark Delivery <MAILER-DAEMON@pm.mtasv.net>", "Undeliverable: "+n.subject
		text = fmt.Sprintf("We were unable to deliver your message to %s.\n\nThe receiving server responded:\n%s\n", n.to, said)
	case "haraka":
		host = g.relayHost(n)
		from, subj = fmt.Sprintf("Mail Delivery System <MAILER-DAEMON@%s>", host), "Mail delivery failed: returning message to sender"
		text = fmt.Sprintf("This is the mail system at host %s.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\nPlease, do not reply to this message.\n\n%s\n", host, wrap(fmt.Sprintf("<%s>: %s", n.to, said), 72, "    "))
	case "kerio":
		host = "mail." + domainOf(n.to)
		from, subj = fmt.Sprintf("Mail Delivery Subsystem <MAILER-DAEMON@%s>", host), "Undelivered mail: "+n.subject
		text = fmt.Sprintf("This is a delivery status notification from %s, running Kerio Connect.\n\nYour message could not be delivered to the following recipient(s):\n\n  %s\n  Reason: %s\n", host, n.to, said)
	default: // courier
		host = "mail." + domainOf(n.to)
		from, subj = "postmaster@"+domainOf(n.to), "NOTICE: mail delivery status."
		text = fmt.Sprintf("This is a delivery status notification from %s,\nrunning the Courier mail server, version 1.1.%d.\n\nThe original message was received on %s\nfrom %s ([%s])\n\n---------------------------------------------------------------------------\n\n                           UNDELIVERABLE MAIL\n\nYour message to the following recipients cannot be delivered:\n\n<%s>:\n    %s [%s]:\n>>> RCPT TO:<%s>\n<<< %s\n\n---------------------------------------------------------------------------\n\nIf your message was also sent to additional recipients, their delivery\nstatus is not included in this report.  You may or may not receive\nother delivery status notifications for additional recipients.\n\nThe original message follows as a separate attachment.\n", host, g.intn(9), rfc2822(n.date), n.s.domain, g.ip(), n.to, mxFor(g, domainOf(n.to)), g.ip(), n.to, said)
	}
	st := resp.dsnStatus()
	if provider == "courier" {
		st = "5.0.0"
		if strings.HasPrefix(resp.text, "4") {
			st = "4.0.0"
		}
	}
	diagField := fold("Diagnostic-Code", "smtp; "+said) + "\n"
	if provider != "courier" && g.chance(0.2) {
		// Some relays leave the Diagnostic-Code out; the reason is only
		// in the text.
		diagField = ""
	}
	sep := "\n\n"
	if g.chance(0.15) {
		sep = "\n" // no blank line between the per-message and per-recipient fields
	}
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nArrival-Date: %s%sFinal-Recipient: rfc822; %s\nAction: failed\nStatus: %s\nRemote-MTA: dns; %s\n%s", host, rfc2822(n.date), sep, n.to, st, mxFor(g, domainOf(n.to)), diagField)
	if g.chance(0.15) {
		dsn = strings.ToLower(dsn[:0]) + lowerFieldNames(dsn)
	}
	dsnPart := part{header: "Content-Type: message/delivery-status", body: dsn}
	if g.chance(0.2) {
		dsnPart = part{header: "Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64", body: b64(dsn)}
	}
	parts := []part{{header: "Content-Type: text/plain; charset=us-ascii", body: text}, dsnPart}
	parts = withOriginal(parts, g.original(n, g.pick("rfc822", "headers", "b64")))
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s@%s>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\n",
		g.bounceDate(n, time.Minute), from, n.verp, subj, g.hex(20), host, b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-formatted message.", parts...), Labels: dsnOK(n, resp.class)}
}

// opensmtpd renders OpenSMTPD's bounce: the old text layout, or the newer
// one with a DSN.
func (g *gen) opensmtpd(n notice, resp response, withDSN bool) sample {
	host := g.relayHost(n)
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf("Hi!\n\nThis is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\nAn error has occurred while attempting to deliver a message for\nthe following list of recipients:\n\n%s: %s\n\nBelow is a copy of the original message:\n\n", n.to, said)
	hdr := fmt.Sprintf("Return-Path: <>\nReceived: from localhost (localhost [local]);\n\tby %s (OpenSMTPD) with ESMTPA id %s;\n\tfor <%s>;\n\t%s\nSubject: Delivery status notification: error\nFrom: Mailer Daemon <MAILER-DAEMON@%s>\nTo: %s\nDate: %s\nMessage-Id: <%s@%s>\n", host, strings.ToLower(g.hex(8)), n.verp, g.bounceDate(n, time.Minute), host, n.verp, g.bounceDate(n, time.Minute), strings.ToLower(g.hex(16)), host)
	if !withDSN {
		return sample{Data: hdr + "\n" + text + n.full(g, true), Labels: dsnOK(n, resp.class)}
	}
	b := fmt.Sprintf("%d/%s", 1700000000+g.intn(90000000), host)
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nArrival-Date: %s\n\nFinal-Recipient: rfc822; %s\nAction: failed\nStatus: %s\n%s\n", host, rfc2822(n.date), n.to, resp.dsnStatus(), fold("Diagnostic-Code", "smtp; "+said))
	parts := []part{
		{header: "Content-Description: Notification\nContent-Type: text/plain; charset=utf-8", body: strings.Replace(text, "Below is a copy of the original message:\n\n", "", 1)},
		{header: "Content-Description: Delivery Status\nContent-Type: message/delivery-status", body: dsn},
		{header: "Content-Description: Message headers\nContent-Type: text/rfc822-headers", body: n.headers(g, true)},
	}
	hdr += fmt.Sprintf("MIME-Version: 1.0\nContent-Type: multipart/mixed;boundary=\"%s\"\n", b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-encapsulated message.", parts...), Labels: dsnOK(n, resp.class)}
}

// lowerFieldNames writes DSN field names in lower case, as some MTAs do.
func lowerFieldNames(dsn string) string {
	lines := strings.Split(dsn, "\n")
	for i, l := range lines {
		if j := strings.Index(l, ": "); j > 0 && !strings.HasPrefix(l, " ") {
			lines[i] = strings.ToLower(l[:j]) + l[j:]
		}
	}
	return strings.Join(lines, "\n")
}
