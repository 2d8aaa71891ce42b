package main

import (
	"fmt"
	"strings"
	"time"
)

// Messages that are not failures: complaints, auto-replies, success
// notices, and mail that is none of these.

// arf renders an RFC 5965 feedback report. style picks the reporter's
// habits.
func (g *gen) arf(n notice, style string) sample {
	b := g.boundary("")
	ftype := g.pick("abuse", "abuse", "abuse", "fraud", "other", "virus")
	var ua, reporter string
	rcptField := fmt.Sprintf("Original-Rcpt-To: %s\n", n.to)
	orig := part{header: "Content-Type: message/rfc822\nContent-Disposition: inline", body: n.full(g, true)}
	switch style {
	case "yahoo":
		ua, reporter = "Yahoo!-Mail-Feedback/2.0", "feedback@arf.mail.yahoo.com"
	case "aol":
		ua, reporter = "AOL SComp", "scomp@aol.net"
		rcptField = ""
		orig = part{header: "Content-Type: text/rfc822-headers", body: n.headers(g, true)}
	case "microsoft":
		ua, reporter = "Microsoft JMRP", "staff@hotmail.com"
		orig = part{header: "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", body: b64(n.full(g, true))}
	case "mailru":
		ua, reporter = "Mail.Ru FBL", "fbl@corp.mail.ru"
		rcptField = ""
	case "dmarc":
		ftype = "auth-failure"
		ua, reporter = "dmarc-forensics/1.0", "noreply-dmarc@"+domainOf(n.to)
	default:
		ua, reporter = "SomeGenerator/1.0", "abuse@"+domainOf(n.to)
	}
	human := fmt.Sprintf("This is an email abuse report for an email message received from IP %s on %s.\nFor more information about this format please see http://tools.ietf.org/html/rfc5965.\n", g.ip(), rfc2822(n.date))
	report := fmt.Sprintf("Feedback-Type: %s\nUser-Agent: %s\nVersion: 1\nOriginal-Mail-From: <%s>\n%sArrival-Date: %s\nSource-IP: %s\nReported-Domain: %s\n", ftype, ua, n.verp, rcptField, rfc2822(n.date), g.ip(), n.s.domain)
	if ftype == "auth-failure" {
		report += "Auth-Failure: dkim\nDelivery-Result: reject\n"
	}
	parts := []part{{header: "Content-Type: text/plain; charset=\"US-ASCII\"\nContent-Transfer-Encoding: 7bit", body: human}, {header: "Content-Type: message/feedback-report", body: report}, orig}
	hdr := fmt.Sprintf("Return-Path: <%s>\nFrom: <%s>\nDate: %s\nSubject: %s\nTo: <%s>\nMIME-Version: 1.0\nMessage-ID: <%s@%s>\nContent-Type: multipart/report; report-type=feedback-report;\n\tboundary=\"%s\"\n", reporter, reporter, g.bounceDate(n, 48*time.Hour), g.pick("FW: "+n.subject, "Abuse Report", "Email Feedback Report for IP "+g.ip(), "Complaint about message from "+g.ip()), "fbl@"+n.s.domain, g.hex(20), domainOf(reporter), b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a multi-part message in MIME format.", parts...), Labels: []label{{"arf", n.to, ""}}}
}

var autoTexts = map[string][2]string{
	"no": {"Automatisk svar: ", "Hei,\n\nJeg er på ferie til 14. august og har begrenset tilgang til e-post.\nVed hastesaker, kontakt sentralbordet.\n\nHilsen\n"},
	"en": {"Automatic reply: ", "Thank you for your message. I am out of the office until Monday\nwith limited access to e-mail. For urgent matters please contact\nthe front desk.\n"},
	"de": {"Abwesenheitsnotiz: ", "Vielen Dank für Ihre Nachricht. Ich bin bis zum 3. Juni nicht im Büro.\nIn dringenden Fällen wenden Sie sich bitte an meine Kollegin.\n"},
	"nl": {"Automatisch antwoord: ", "Bedankt voor uw bericht. Ik ben afwezig tot en met vrijdag.\n"},
	"fr": {"Réponse automatique : ", "Bonjour,\n\nJe suis absent du bureau jusqu'au 2 septembre.\n"},
	"es": {"Respuesta automática: ", "Gracias por su mensaje. Estoy fuera de la oficina hasta el lunes.\n"},
}

// autoreply renders an RFC 3834 automatic reply in one of the ways
// systems write them.
func (g *gen) autoreply(n notice, style string) sample {
	t := autoTexts[n.lang]
	if t[0] == "" {
		t = autoTexts["en"]
	}
	person := fmt.Sprintf("%s <%s>", qword(n.toName), n.to)
	var hdr, body string
	date := g.bounceDate(n, 3*time.Minute)
	mid := fmt.Sprintf("<%s@%s>", g.hex(24), domainOf(n.to))
	switch style {
	case "exchange":
		hdr = fmt.Sprintf("From: %s\nTo: %s <%s>\nSubject: %s\nDate: %s\nMessage-ID: %s\nIn-Reply-To: %s\nReferences: %s\nAuto-Submitted: auto-generated\nX-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: %s\nX-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\nContent-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\nMIME-Version: 1.0\n",
			person, qword(n.s.name), n.s.addr, subj(t[0]+n.subject), date, mid, n.msgID, n.msgID, n.to)
		body = b64(t[1])
	case "gmail":
		hdr = fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\nIn-Reply-To: %s\nReferences: %s\nAuto-Submitted: auto-replied\nPrecedence: bulk\nX-Autoreply: yes\nContent-Type: text/plain; charset=\"UTF-8\"\nMIME-Version: 1.0\n",
			person, n.s.addr, subj("Re: "+n.subject), date, mid, n.msgID, n.msgID)
		body = t[1]
	case "sieve":
		hdr = fmt.Sprintf("From: %s\nTo: <%s>\nSubject: Auto: %s\nDate: %s\nMessage-ID: %s\nIn-Reply-To: %s\nAuto-Submitted: auto-replied (vacation)\nPrecedence: bulk\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
			person, n.verp, subj(n.subject), date, mid, n.msgID)
		body = t[1]
	case "vacation":
		hdr = fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-Id: %s\nPrecedence: junk\nX-Mailer: vacation 1.2.7\nX-Autorespond: yes\n",
			n.to, n.s.addr, subj("Out of office: "+n.subject), date, mid)
		body = t[1]
	case "ticket":
		hdr = fmt.Sprintf("From: Support <support@%s>\nTo: %s\nSubject: [Ticket #%d] We received your request\nDate: %s\nMessage-ID: %s\nIn-Reply-To: %s\nAuto-Submitted: auto-replied\nPrecedence: auto_reply\nX-Autoreply: true\nContent-Type: text/plain; charset=utf-8\n",
			domainOf(n.to), n.s.addr, 10000+g.intn(90000), date, mid, n.msgID)
		body = "Thank you for contacting us. Your request has been received and\nwill be reviewed by our support staff.\n"
	case "leftjob":
		// The person has left, and the auto-reply says so: still an
		// auto-reply, not a bounce.
		hdr = fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\nIn-Reply-To: %s\nAuto-Submitted: auto-replied\nX-Autoreply: yes\nContent-Type: text/plain; charset=utf-8\n",
			person, n.s.addr, subj(t[0]+n.subject), date, mid, n.msgID)
		body = "I no longer work at this company and this mailbox is no longer\nmonitored. This address does not exist anymore after 31 March.\nPlease contact post@" + domainOf(n.to) + " instead.\n"
	default: // zimbra / generic with only Auto-Submitted
		hdr = fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\nIn-Reply-To: %s\nAuto-Submitted: auto-replied\nContent-Type: text/plain; charset=utf-8\n",
			person, n.s.addr, subj(t[0]+n.subject), date, mid, n.msgID)
		body = t[1]
	}
	hdr = fmt.Sprintf("Return-Path: <>\nDelivered-To: %s\n", n.verp) + hdr
	return sample{Data: hdr + "\n" + body, Labels: []label{{"autoreply", "", ""}}}
}

// success renders a DSN for NOTIFY=SUCCESS: delivered or relayed.
func (g *gen) success(n notice) sample {
	host := g.relayHost(n)
	b := g.boundary("postfix")
	action, status := g.pick("delivered", "relayed"), "2.0.0"
	text := fmt.Sprintf("This is the mail system at host %s.\n\nYour message was successfully delivered to the destination(s)\nlisted below. If the message was delivered to mailbox you will\nreceive no further notifications. Otherwise you may still receive\nnotifications of mail delivery errors from other systems.\n\n                   The mail system\n\n<%s>: delivery via %s[%s]:25: 250 2.0.0 Ok: queued as %s\n", host, n.to, mxFor(g, domainOf(n.to)), g.ip(), g.hex(10))
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nX-Postfix-Queue-ID: %s\nArrival-Date: %s\n\nFinal-Recipient: rfc822; %s\nOriginal-Recipient: rfc822;%s\nAction: %s\nStatus: %s\nRemote-MTA: dns; %s\nDiagnostic-Code: smtp; 250 2.0.0 Ok: queued as %s\n", host, g.hex(10), rfc2822(n.date), n.to, n.to, action, status, mxFor(g, domainOf(n.to)), g.hex(10))
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\nSubject: Successful Mail Delivery Report\nTo: %s\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\n", g.bounceDate(n, time.Minute), host, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-encapsulated message.", part{header: "Content-Type: text/plain; charset=us-ascii", body: text}, part{header: "Content-Type: message/delivery-status", body: dsn}, part{header: "Content-Type: text/rfc822-headers", body: n.headers(g, true)}), Labels: []label{{"dsn", n.to, ""}}}
}

// unknown renders mail to the bounce address that is none of the
// above.
func (g *gen) unknown(n notice, style string) sample {
	date := g.bounceDate(n, 2*time.Hour)
	var hdr, body string
	switch style {
	case "reply":
		hdr = fmt.Sprintf("From: %s <%s>\nTo: %s\nSubject: Re: %s\nDate: %s\nMessage-ID: <%s@%s>\nIn-Reply-To: %s\nContent-Type: text/plain; charset=utf-8\n", qword(n.toName), n.to, n.verp, subj(n.subject), date, g.hex(20), domainOf(n.to), n.msgID)
		body = "Hello,\n\nIs this message genuine? I never had an account with you. Please\nremove my address from your lists.\n\nRegards\n\n> " + strings.ReplaceAll(bodies[n.lang], "\n", "\n> ") + "\n"
	case "spam":
		hdr = fmt.Sprintf("From: \"Prize Department\" <winner@lottery-%s.example>\nTo: %s\nSubject: You have WON!!!\nDate: %s\nMessage-ID: <%s@lottery.example>\nContent-Type: text/html; charset=utf-8\n", g.alnum(5), n.verp, date, g.hex(16))
		body = "<html><body><h1>Congratulations!</h1><p>Claim your prize now.</p></body></html>\n"
	case "mdn":
		b := g.boundary("")
		hdr = fmt.Sprintf("From: %s <%s>\nTo: %s\nSubject: Read: %s\nDate: %s\nMessage-ID: <%s@%s>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"%s\"\n", qword(n.toName), n.to, n.s.addr, subj(n.subject), date, g.hex(20), domainOf(n.to), b)
		body = multipart(b, "", part{header: "Content-Type: text/plain; charset=utf-8", body: "Your message was read on " + date + ".\n"},
			part{header: "Content-Type: message/disposition-notification", body: fmt.Sprintf("Reporting-UA: %s; Microsoft Outlook 16.0\nFinal-Recipient: rfc822;%s\nOriginal-Message-ID: %s\nDisposition: manual-action/MDN-sent-manually; displayed\n", domainOf(n.to), n.to, n.msgID)})
	case "dmarc":
		b := g.boundary("")
		hdr = fmt.Sprintf("From: noreply-dmarc-support@google.com\nTo: %s\nSubject: Report domain: %s Submitter: google.com Report-ID: %d\nDate: %s\nMessage-ID: <%s@google.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n", n.verp, n.s.domain, g.intn(1<<30), date, g.hex(20), b)
		body = multipart(b, "", part{header: "Content-Type: text/plain", body: "This is an aggregate report from google.com.\n"}, part{header: "Content-Type: application/zip; name=\"google.com!report.zip\"\nContent-Transfer-Encoding: base64", body: b64("PK\x03\x04 not really a zip")})
	default: // newsletter confirmation / challenge
		hdr = fmt.Sprintf("From: Newsletter <news@shop-%s.example>\nTo: %s\nSubject: Please confirm your subscription\nDate: %s\nMessage-ID: <%s@shop.example>\nContent-Type: text/plain\n", g.alnum(4), n.verp, date, g.hex(16))
		body = "Click the link below to confirm your subscription.\nhttps://shop.example/confirm?t=" + g.alnum(20) + "\n"
	}
	return sample{Data: hdr + "\n" + body, Labels: []label{{"unknown", "", ""}}}
}

// multiRecipient renders a sendmail DSN about two recipients of one
// message (herald sends one recipient per message, but relays that
// merge or forward do not).
func (g *gen) multiRecipient(n notice, r1, r2 response, second string) sample {
	host := g.relayHost(n)
	b := g.boundary("sendmail")
	s1, s2 := fill(r1.oneLine(), n, g), strings.ReplaceAll(fill(r2.oneLine(), n, g), n.to, second)
	text := fmt.Sprintf("The original message was received at %s\nfrom %s [%s]\n\n   ----- The following addresses had permanent fatal errors -----\n<%s>\n    (reason: %s)\n<%s>\n    (reason: %s)\n\n   ----- Transcript of session follows -----\n... while talking to %s.:\n>>> RCPT To:<%s>\n<<< %s\n", rfc2822(n.date), n.s.domain, g.ip(), n.to, s1, second, s2, mxFor(g, domainOf(n.to)), n.to, s1)
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nArrival-Date: %s\n\nFinal-Recipient: RFC822; %s\nAction: failed\nStatus: %s\n%s\n\nFinal-Recipient: RFC822; %s\nAction: failed\nStatus: %s\n%s\n", host, rfc2822(n.date), n.to, r1.dsnStatus(), fold("Diagnostic-Code", "SMTP; "+s1), second, r2.dsnStatus(), fold("Diagnostic-Code", "SMTP; "+s2))
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@%s>\nTo: <%s>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nSubject: Returned mail: see transcript for details\n", g.bounceDate(n, time.Minute), host, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-encapsulated message", part{body: text}, part{header: "Content-Type: message/delivery-status", body: dsn}, part{header: "Content-Type: text/rfc822-headers", body: n.headers(g, true)}),
		Labels: []label{{"dsn", n.to, r1.class}, {"dsn", second, r2.class}}}
}

// exchangeMulti is an Exchange NDR for a distribution group's members.
func (g *gen) exchangeMulti(n notice, r1, r2 response, second string) sample {
	s1, s2 := fill(r1.oneLine(), n, g), strings.ReplaceAll(fill(r2.oneLine(), n, g), n.to, second)
	text := fmt.Sprintf("Delivery has failed to these recipients or groups:\n\n%s\nThe e-mail address you entered couldn't be found.\n\n%s\nA problem occurred during the delivery of this message to this e-mail address.\n\n\nDiagnostic information for administrators:\n\nGenerating server: exch01.%s\n\n%s\n#%s ##\n\n%s\n#%s ##\n\nOriginal message headers:\n\n%s", n.to, second, domainOf(n.to), n.to, s1, second, s2, n.headers(g, true))
	outer := g.boundary("exchange")
	dsn := fmt.Sprintf("Reporting-MTA: dns;exch01.%s\n\nFinal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\n%s\n\nFinal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\n%s\n", domainOf(n.to), n.to, r1.dsnStatus(), fold("Diagnostic-Code", "smtp;"+s1), second, r2.dsnStatus(), fold("Diagnostic-Code", "smtp;"+s2))
	hdr := fmt.Sprintf("From: Microsoft Exchange <postmaster@%s>\nTo: <%s>\nDate: %s\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nSubject: Undeliverable: %s\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n", domainOf(n.to), n.verp, g.bounceDate(n, time.Minute), outer, n.subject)
	return sample{Data: hdr + "\n" + multipart(outer, "", part{header: "Content-Type: text/plain; charset=us-ascii", body: text}, part{header: "Content-Type: message/delivery-status", body: dsn}),
		Labels: []label{{"dsn", n.to, r1.class}, {"dsn", second, r2.class}}}
}

// aliasDSN is a Postfix DSN where the final recipient (after alias
// expansion) differs from the address herald sent to.
func (g *gen) aliasDSN(n notice, resp response) sample {
	host := "mail." + domainOf(n.to)
	final := g.localPart() + "@internal." + domainOf(n.to)
	said := strings.ReplaceAll(fill(resp.oneLine(), n, g), n.to, final)
	b := g.boundary("postfix")
	text := fmt.Sprintf(postfixPrefaces["en"], host) + "\n" + wrap(fmt.Sprintf("<%s> (expanded from <%s>): host backend.%s[%s] said: %s (in reply to RCPT TO command)", final, n.to, domainOf(n.to), g.ip(), said), 72, "    ") + "\n"
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\nArrival-Date: %s\n\nFinal-Recipient: rfc822; %s\nOriginal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\nRemote-MTA: dns; backend.%s\n%s\n", host, rfc2822(n.date), final, n.to, resp.dsnStatus(), domainOf(n.to), fold("Diagnostic-Code", "smtp; "+said))
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\nSubject: Undelivered Mail Returned to Sender\nTo: %s\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\n", g.bounceDate(n, time.Minute), host, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "This is a MIME-encapsulated message.", part{header: "Content-Type: text/plain; charset=us-ascii", body: text}, part{header: "Content-Type: message/delivery-status", body: dsn}, part{header: "Content-Type: message/rfc822", body: n.full(g, true)}), Labels: dsnOK(n, resp.class)}
}

// eaiDSN is a message/global-delivery-status report (RFC 6533) for an
// internationalised address.
func (g *gen) eaiDSN(n notice, resp response) sample {
	host := g.relayHost(n)
	b := g.boundary("postfix")
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf(postfixPrefaces["en"], host) + "\n" + wrap(fmt.Sprintf("<%s>: host %s[%s] said: %s (in reply to RCPT TO command)", n.to, mxFor(g, domainOf(n.to)), g.ip(), said), 72, "    ") + "\n"
	dsn := fmt.Sprintf("Reporting-MTA: dns; %s\n\nFinal-Recipient: utf-8; %s\nAction: failed\nStatus: %s\n%s\n", host, n.to, resp.dsnStatus(), fold("Diagnostic-Code", "smtp; "+said))
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\nSubject: Undelivered Mail Returned to Sender\nTo: %s\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=global-delivery-status;\n\tboundary=\"%s\"\n", g.bounceDate(n, time.Minute), host, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "", part{header: "Content-Type: text/plain; charset=utf-8", body: text}, part{header: "Content-Type: message/global-delivery-status", body: dsn}, part{header: "Content-Type: message/global-headers", body: n.headers(g, true)}), Labels: dsnOK(n, resp.class)}
}
