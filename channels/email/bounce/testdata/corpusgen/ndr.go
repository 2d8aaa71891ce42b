package main

import (
	"fmt"
	"strings"
	"time"
)

// Non-delivery reports written by the receiving side or by providers'
// own systems, each in its own layout.

// exchangeTexts are Exchange 2007-2019's NDR sentences by language.
type exchangeTexts struct {
	failed, invalid, full, policy, expired, generic, diag, generating, headers, remote string
	charset                                                                            string
}

var exchangeLangs = map[string]exchangeTexts{
	"en": {
		failed:     "Delivery has failed to these recipients or groups:",
		invalid:    "The e-mail address you entered couldn't be found. Please check the recipient's e-mail address and try to resend the message. If the problem continues, please contact your helpdesk.",
		full:       "The recipient's mailbox is full and can't accept messages now. Please try resending this message later, or contact the recipient directly.",
		policy:     "You do not have permission to send to this recipient. For assistance, contact your system administrator.",
		expired:    "Microsoft Exchange has been trying to deliver this message without success and has given up. Please try sending this message again later, or provide the following diagnostic text to your system administrator.",
		generic:    "A problem occurred during the delivery of this message to this e-mail address. Try sending this message again. If the problem continues, please contact your helpdesk.",
		diag:       "Diagnostic information for administrators:",
		generating: "Generating server:",
		headers:    "Original message headers:",
		remote:     "Remote Server returned",
		charset:    "us-ascii",
	},
	"no": {
		failed:     "Leveringen mislyktes for disse mottakerne eller gruppene:",
		invalid:    "Finner ikke e-postadressen du skrev inn. Kontroller mottakerens e-postadresse, og prøv å sende meldingen på nytt. Kontakt brukerstøtte hvis problemet vedvarer.",
		full:       "Mottakerens postboks er full og kan ikke motta meldinger nå. Prøv å sende meldingen senere, eller kontakt mottakeren direkte.",
		policy:     "Du har ikke tillatelse til å sende til denne mottakeren. Kontakt systemansvarlig for å få hjelp.",
		expired:    "Microsoft Exchange har forsøkt å levere denne meldingen uten hell og har gitt opp. Prøv å sende meldingen på nytt senere.",
		generic:    "Det oppstod et problem under leveringen av meldingen til denne e-postadressen. Prøv å sende meldingen på nytt.",
		diag:       "Diagnostikkinformasjon for administratorer:",
		generating: "Genererende server:",
		headers:    "Opprinnelige meldingshoder:",
		remote:     "Ekstern server returnerte",
		charset:    "iso-8859-1",
	},
	"de": {
		failed:     "Die Nachricht konnte nicht an folgende Empfänger oder Gruppen zugestellt werden:",
		invalid:    "Die eingegebene E-Mail-Adresse wurde nicht gefunden. Überprüfen Sie die E-Mail-Adresse des Empfängers, und versuchen Sie, die Nachricht erneut zu senden. Wenden Sie sich an den Helpdesk, wenn das Problem weiterhin besteht.",
		full:       "Das Postfach des Empfängers ist voll und kann zurzeit keine Nachrichten empfangen. Versuchen Sie später, die Nachricht erneut zu senden, oder wenden Sie sich direkt an den Empfänger.",
		policy:     "Sie haben keine Berechtigung, Nachrichten an diesen Empfänger zu senden. Wenden Sie sich an Ihren Systemadministrator, um Unterstützung zu erhalten.",
		expired:    "Microsoft Exchange hat erfolglos versucht, diese Nachricht zu übermitteln, und den Vorgang abgebrochen.",
		generic:    "Bei der Zustellung der Nachricht an diese E-Mail-Adresse ist ein Problem aufgetreten. Versuchen Sie, die Nachricht erneut zu senden.",
		diag:       "Diagnoseinformationen für Administratoren:",
		generating: "Generierender Server:",
		headers:    "Ursprüngliche Nachrichtenkopfzeilen:",
		remote:     "Remoteserver hat Folgendes zurückgegeben:",
		charset:    "iso-8859-1",
	},
	"nl": {
		failed:     "Bezorging is mislukt voor deze ontvangers of groepen:",
		invalid:    "Het ingevoerde e-mailadres is niet gevonden. Controleer het e-mailadres van de ontvanger en verzend het bericht opnieuw. Neem contact op met de helpdesk als het probleem zich blijft voordoen.",
		full:       "Het postvak van de ontvanger is vol en kan momenteel geen berichten accepteren. Verzend het bericht later opnieuw of neem rechtstreeks contact op met de ontvanger.",
		policy:     "U bent niet gemachtigd om berichten naar deze ontvanger te verzenden. Neem contact op met de systeembeheerder.",
		expired:    "Microsoft Exchange heeft geprobeerd dit bericht te bezorgen, maar dit is niet gelukt en er wordt niet opnieuw geprobeerd.",
		generic:    "Er is een probleem opgetreden bij het bezorgen van dit bericht op dit e-mailadres. Verzend het bericht opnieuw.",
		diag:       "Diagnostische gegevens voor beheerders:",
		generating: "Genererende server:",
		headers:    "Oorspronkelijke berichtkoppen:",
		remote:     "Externe server retourneerde",
		charset:    "utf-8",
	},
	"fr": {
		failed:     "La remise aux destinataires ou groupes suivants a échoué :",
		invalid:    "L'adresse de messagerie que vous avez entrée est introuvable. Vérifiez l'adresse de messagerie du destinataire et essayez de renvoyer le message. Si le problème persiste, contactez le support technique.",
		full:       "La boîte aux lettres du destinataire est pleine et ne peut pas accepter de messages pour l'instant. Renvoyez ce message ultérieurement ou contactez directement le destinataire.",
		policy:     "Vous n'avez pas l'autorisation d'envoyer de messages à ce destinataire. Pour obtenir de l'aide, contactez votre administrateur système.",
		expired:    "Microsoft Exchange a tenté de remettre ce message sans succès et a abandonné.",
		generic:    "Un problème s'est produit lors de la remise de ce message à cette adresse de messagerie. Essayez de renvoyer le message.",
		diag:       "Informations de diagnostic pour les administrateurs :",
		generating: "Serveur de génération :",
		headers:    "En-têtes de message d'origine :",
		remote:     "Le serveur distant a retourné",
		charset:    "iso-8859-1",
	},
	"es": {
		failed:     "No se pudo entregar a estos destinatarios o grupos:",
		invalid:    "No se encontró la dirección de correo electrónico que escribió. Compruebe la dirección de correo electrónico del destinatario e intente volver a enviar el mensaje. Si el problema continúa, póngase en contacto con el departamento de soporte técnico.",
		full:       "El buzón del destinatario está lleno y no puede aceptar mensajes ahora. Intente volver a enviar el mensaje más tarde o póngase en contacto directamente con el destinatario.",
		policy:     "No tiene permiso para enviar a este destinatario. Para obtener ayuda, póngase en contacto con el administrador del sistema.",
		expired:    "Microsoft Exchange ha intentado entregar este mensaje sin éxito y ha abandonado.",
		generic:    "Se produjo un problema al entregar el mensaje a esta dirección de correo electrónico. Intente enviar el mensaje de nuevo.",
		diag:       "Información de diagnóstico para administradores:",
		generating: "Servidor de generación:",
		headers:    "Encabezados originales del mensaje:",
		remote:     "El servidor remoto devolvió",
		charset:    "utf-8",
	},
}

// exchangeSentence picks the NDR sentence Exchange shows for a status.
func exchangeSentence(t exchangeTexts, resp response) string {
	st := resp.dsnStatus()
	switch {
	case resp.kind == "full" || strings.HasPrefix(st[2:], "2.2"):
		return t.full
	case st[2:] == "1.1" || st[2:] == "1.10" || st[2:] == "1.0" || resp.kind == "unknown" && st[2:4] == "1.":
		return t.invalid
	case strings.HasPrefix(st[2:], "7."):
		return t.policy
	case st == "4.4.7" || resp.kind == "expired":
		return t.expired
	}
	return t.generic
}

// exchange renders an Exchange 2007-2019 on-premises NDR. style
// "2010": multipart/alternative text and HTML plus DSN; "2016": HTML only
// plus DSN; "nodsn": text and HTML, no DSN part (a relay stripped it).
func (g *gen) exchange(n notice, resp response, lang, style string) sample {
	t := exchangeLangs[lang]
	genServer := fmt.Sprintf("%s%02d.%s", g.pick("EXCH", "MBX", "ex", "CAS"), 1+g.intn(20), domainOf(n.to))
	said := fill(resp.oneLine(), n, g)
	var diagLine string
	if g.chance(0.5) || strings.Contains(said, "RESOLVER") {
		diagLine = fmt.Sprintf("#%s ##", said)
	} else {
		diagLine = fmt.Sprintf("%s '%s'", t.remote, said)
	}
	sentence := exchangeSentence(t, resp)
	if g.chance(0.3) {
		// Organisations add their own line to NDRs.
		sentence += fmt.Sprintf(" IT Service Desk: servicedesk@%s, +47 55 00 00 00.", domainOf(n.to))
	}
	text := fmt.Sprintf("%s\n\n%s\n%s\n\n\n\n\n\n%s\n\n%s %s\n\n%s\n%s\n\n%s\n\n%s\n", t.failed, n.to, sentence, t.diag, t.generating, genServer, n.to, diagLine, t.headers, n.headers(g, true))
	html := fmt.Sprintf("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=%s\">\n<style>\nbody { font-family:Tahoma; }\n</style>\n</head>\n<body>\n<p><b><font color=\"#000066\" size=\"3\" face=\"Arial\">%s</font></b></p>\n<p><font color=\"#000000\" size=\"2\" face=\"Tahoma\"><a href=\"mailto:%s\">%s</a><br>\n</font><font color=\"#808080\" size=\"2\" face=\"Tahoma\">%s</font></p>\n<br><br><br><br><br><br>\n<font color=\"#808080\" size=\"2\" face=\"Tahoma\"><p><b>%s</b></p>\n<p>%s %s</p>\n<p>%s<br>%s</p>\n<p>%s</p>\n<p><pre>%s</pre></p>\n</font>\n</body>\n</html>\n",
		t.charset, t.failed, n.to, n.to, sentence, t.diag, t.generating, genServer, n.to, strings.ReplaceAll(strings.ReplaceAll(diagLine, "<", "&lt;"), ">", "&gt;"), t.headers, strings.ReplaceAll(strings.ReplaceAll(n.headers(g, true), "<", "&lt;"), ">", "&gt;"))
	enc := func(s string) (string, string) {
		if t.charset == "iso-8859-1" {
			return "Content-Transfer-Encoding: quoted-printable", qp(latin1(s))
		}
		if t.charset == "utf-8" && g.chance(0.5) {
			return "Content-Transfer-Encoding: base64", b64(s)
		}
		return "Content-Transfer-Encoding: quoted-printable", qp(s)
	}
	te, tb := enc(text)
	he, hb := enc(html)
	alt := g.boundary("exchange")
	outer := g.boundary("exchange")
	textPart := part{header: fmt.Sprintf("Content-Type: text/plain; charset=\"%s\"\n%s", t.charset, te), body: tb}
	htmlPart := part{header: fmt.Sprintf("Content-Type: text/html; charset=\"%s\"\n%s", t.charset, he), body: hb}
	var first part
	if style == "2016" {
		first = htmlPart
	} else {
		first = part{header: fmt.Sprintf("Content-Type: multipart/alternative; differences=Content-Type;\n\tboundary=\"%s\"", alt), body: multipart(alt, "", textPart, htmlPart)}
	}
	parts := []part{first}
	if style != "nodsn" {
		dsn := fmt.Sprintf("Reporting-MTA: dns;%s\nReceived-From-MTA: dns;%s\nArrival-Date: %s\n\nFinal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\n%s\n", genServer, mxFor(g, domainOf(n.to)), rfc2822(n.date), n.to, resp.dsnStatus(), fold("Diagnostic-Code", "smtp;"+said))
		if g.chance(0.5) {
			dsn += fmt.Sprintf("X-Display-Name: %s\n", n.toName)
		}
		parts = append(parts, part{header: "Content-Type: message/delivery-status", body: dsn})
	}
	parts = append(parts, g.original(n, g.pick("rfc822", "headers")))
	prefix := map[string]string{"en": "Undeliverable: ", "no": "Kan ikke leveres: ", "de": "Unzustellbar: ", "nl": "Onbestelbaar: ", "fr": "Non remis : ", "es": "No se puede entregar: "}[lang]
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: %s <postmaster@%s>\nTo: <%s>\nDate: %s\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"\nX-MS-Exchange-Message-Is-Ndr:\nContent-Language: %s\nMessage-ID: <%s@%s>\nIn-Reply-To: %s\nReferences: %s\nThread-Topic: %s\nSubject: %s\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n",
		g.pick("Microsoft Exchange", "System Administrator", "postmaster"), domainOf(n.to), n.verp, g.bounceDate(n, 10*time.Second), outer,
		map[string]string{"en": "en-US", "no": "nb-NO", "de": "de-DE", "nl": "nl-NL", "fr": "fr-FR", "es": "es-ES"}[lang],
		strings.ToLower(g.hex(32)), genServer, n.msgID, n.msgID, subj(n.subject), subj(prefix+n.subject))
	return sample{Data: hdr + "\n" + multipart(outer, "", parts...), Labels: dsnOK(n, resp.class)}
}

// exchange2003 renders the Exchange 2000/2003 NDR.
func (g *gen) exchange2003(n notice, resp response, withDSN bool) sample {
	said := fill(resp.oneLine(), n, g)
	st := resp.dsnStatus()
	var reason string
	switch {
	case resp.class == "invalid":
		reason = "The e-mail address could not be found.  Perhaps the recipient moved to a different e-mail organization, or there was a mistake in the address.  Check the address and try again."
	case resp.kind == "full":
		reason = "The recipient's mailbox is full.  Ask the recipient to delete some messages and try again."
	case resp.class == "policy":
		reason = "The message could not be delivered because you do not have permission to send to this recipient."
	default:
		reason = "The message could not be delivered because the recipient's e-mail system is temporarily unavailable.  Try sending the message again later."
	}
	mx := mxFor(g, domainOf(n.to))
	text := fmt.Sprintf("Your message\n\n  To:      %s\n  Subject: %s\n  Sent:    %s\n\ndid not reach the following recipient(s):\n\n%s on %s\n    %s\n    <%s #%s smtp;%s>\n", n.toName, n.subject, n.date.Format("1/2/2006 3:04 PM"), n.to, n.date.Add(time.Hour).Format("1/2/2006 3:04 PM"), wrap(reason, 70, "    "), mx, st, said)
	outer := g.boundary("exchange")
	parts := []part{{header: "Content-Type: text/plain;\n\tcharset=\"iso-8859-1\"\nContent-Transfer-Encoding: quoted-printable", body: qp(latin1(text))}}
	if withDSN {
		dsn := fmt.Sprintf("Reporting-MTA: dns;%s\nReceived-From-MTA: dns;%s\nArrival-Date: %s\n\nFinal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\n%s\n", "exch01."+domainOf(n.to), mx, rfc2822(n.date), n.to, st, fold("X-Display-Name", n.toName))
		parts = append(parts, part{header: "Content-Type: message/delivery-status", body: dsn})
	}
	parts = append(parts, part{header: "Content-Type: message/rfc822", body: n.full(g, true)})
	hdr := fmt.Sprintf("Return-Path: <>\nContent-class: urn:content-classes:dsn\nSubject: Undeliverable: %s\nDate: %s\nMIME-Version: 1.0\nContent-Type: multipart/report;\n\treport-type=delivery-status;\n\tboundary=\"%s\"\nX-MimeOLE: Produced By Microsoft Exchange V6.5\nMessage-ID: <%s@exch01.%s>\nX-MS-Has-Attach: yes\nX-MS-TNEF-Correlator:\nThread-Topic: %s\nFrom: \"System Administrator\" <postmaster@%s>\nTo: <%s>\n",
		n.subject, g.bounceDate(n, time.Minute), outer, g.hex(12), domainOf(n.to), n.subject, domainOf(n.to), n.verp)
	return sample{Data: hdr + "\n" + multipart(outer, "This is a multi-part message in MIME format.", parts...), Labels: dsnOK(n, resp.class)}
}

// o365 renders Exchange Online's NDR (2017 onwards), with or without the
// DSN part.
func (g *gen) o365(n notice, resp response, withDSN bool) sample {
	said := fill(resp.oneLine(), n, g)
	st := resp.dsnStatus()
	code := resp.code()
	var headline, action, fix string
	switch {
	case resp.class == "invalid" && resp.kind == "domain":
		headline = fmt.Sprintf("Your message couldn't be delivered. The Domain Name System (DNS) reported that the recipient's domain does not exist.")
		action, fix = "Contact the recipient by some other means (by phone, for example) and ask them to tell their email admin that it appears that their domain isn't properly registered at their domain registrar.", ""
	case resp.class == "invalid":
		headline = fmt.Sprintf("%s wasn't found at %s.", localOf(n.to), domainOf(n.to))
		action, fix = "Unknown To address", "The address may be misspelled or may not exist. Try one or more of the following:\n\n  - Retype the recipient's address, then resend the message.\n  - Contact the recipient by some other means (by phone, for example) to confirm you're using the right address."
	case resp.kind == "full":
		headline = fmt.Sprintf("%s's mailbox is full.", localOf(n.to))
		action, fix = "Mailbox full", "Try resending the message later."
	case resp.class == "policy":
		headline = "Your message couldn't be delivered because the recipient's email provider rejected it."
		action, fix = "Message rejected", "The recipient's email provider rejected the message. Ask your email admin for help."
	default:
		headline = "Your message couldn't be delivered. Despite repeated attempts to deliver your message, the recipient's email system refused to take it."
		action, fix = "Try again later", "Try to resend the message later."
	}
	dsnBy := fmt.Sprintf("%s%04dMB%04d.%s.prod.outlook.com", g.pick("AM", "DB", "VI", "HE", "BN"), g.intn(9999), g.intn(9999), g.pick("eurprd04", "eurprd05", "namprd11"))
	if g.chance(0.3) {
		fix += fmt.Sprintf("\n\nQuestions? Write to helpdesk@%s.", n.s.domain)
	}
	text := fmt.Sprintf("\n\n\nYour message to %s couldn't be delivered.\n\n%s\n\n%s\nAction Required\n\n\n%s\n\nHow to Fix It\n%s\n\n\n\nMore Info for Email Admins\nStatus code: %s %s\n\nRemote Server returned '%s'\n\nOriginal Message Details\nCreated Date:   %s\nSender Address: %s\nRecipient Address:      %s\nSubject:        %s\n\nError Details\nReported error: %s\nDSN generated by:       %s\n",
		n.to, headline, localOf(n.s.addr), action, fix, code, st, said, n.date.UTC().Format("1/2/2006 3:04:05 PM"), n.s.addr, n.to, n.subject, said, dsnBy)
	html := "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><table><tr><td>" +
		strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(text, "<", "&lt;"), ">", "&gt;"), "\n", "<br>\n") + "</td></tr></table></body></html>\n"
	outer, alt := g.boundary("exchange"), g.boundary("exchange")
	first := part{header: fmt.Sprintf("Content-Type: multipart/alternative; differences=Content-Type;\n\tboundary=\"%s\"", alt),
		body: multipart(alt, "", part{header: "Content-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: quoted-printable", body: qp(text)},
			part{header: "Content-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: quoted-printable", body: qp(html)})}
	parts := []part{first}
	ctype := fmt.Sprintf("multipart/report; report-type=delivery-status;\n\tboundary=\"%s\"", outer)
	if withDSN {
		dsn := fmt.Sprintf("Reporting-MTA: dns;%s\nReceived-From-MTA: dns;%s\nArrival-Date: %s\n\nFinal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\n%s\n", dsnBy, "EUR05-AM6-obe.outbound.protection.outlook.com", rfc2822(n.date), n.to, st, fold("Diagnostic-Code", "smtp;"+said))
		parts = append(parts, part{header: "Content-Type: message/delivery-status", body: dsn})
	} else {
		ctype = fmt.Sprintf("multipart/mixed;\n\tboundary=\"%s\"", outer)
	}
	parts = append(parts, g.original(n, g.pick("rfc822", "headers")))
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: Microsoft Outlook <postmaster@%s>\nTo: <%s>\nDate: %s\nContent-Type: %s\nX-MS-Exchange-Message-Is-Ndr:\nContent-Language: en-US\nMessage-ID: <%s@%s>\nIn-Reply-To: %s\nReferences: %s\nSubject: Undeliverable: %s\nAuto-Submitted: auto-replied\nX-MS-PublicTrafficType: Email\nMIME-Version: 1.0\n",
		g.pick(n.s.domain, "outlook.com", domainOf(n.to)), n.verp, g.bounceDate(n, 5*time.Second), ctype, strings.ToLower(g.hex(8))+"-"+strings.ToLower(g.hex(4))+"-"+strings.ToLower(g.hex(4)), dsnBy, n.msgID, n.msgID, n.subject)
	return sample{Data: hdr + "\n" + multipart(outer, "", parts...), Labels: dsnOK(n, resp.class)}
}

// qmail renders qmail-send's bounce (QSBMF) for a remote reply or a
// local failure.
func (g *gen) qmail(n notice, class string, resp *response, variant int) sample {
	host := "mail." + domainOf(n.to)
	var detail string
	if resp != nil {
		ip := g.ip()
		said := fill(resp.oneLine(), n, g)
		switch variant % 3 {
		case 0:
			detail = fmt.Sprintf("%s does not like recipient.\nRemote host said: %s\nGiving up on %s.", ip, said, ip)
		case 1:
			detail = fmt.Sprintf("Connected to %s but sender was rejected.\nRemote host said: %s", ip, said)
			if resp.class != "policy" {
				detail = fmt.Sprintf("%s does not like recipient.\nRemote host said: %s\nGiving up on %s.", ip, said, ip)
			}
		default:
			detail = fmt.Sprintf("Remote host said: %s", said)
		}
		host = g.relayHost(n)
	} else {
		switch class {
		case "invalid":
			detail = g.pick("Sorry, no mailbox here by that name. (#5.1.1)", "Sorry, no mailbox here by that name. vpopmail (#5.1.1)", fmt.Sprintf("Sorry, I couldn't find any host named %s. (#5.1.2)", domainOf(n.to)), "This address no longer accepts mail. (#5.1.1)")
		case "soft":
			detail = g.pick("The users mailfolder is over the allowed quota (size). (#5.2.2)", "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long.", fmt.Sprintf("Sorry, I couldn't find any host by that name. (#4.1.2)\nI'm not going to try again; this message has been in the queue too long."))
		default:
			detail = "This message is looping: it already has my Delivered-To line. (#5.4.6)"
			class = "soft"
		}
	}
	text := fmt.Sprintf("Hi. This is the qmail-send program at %s.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n<%s>:\n%s\n\n--- Below this line is a copy of the message.\n\n%s", host, n.to, detail, n.full(g, true))
	hdr := fmt.Sprintf("Return-Path: <>\nReceived: (qmail %d invoked for bounce); %s\nDate: %s\nFrom: MAILER-DAEMON@%s\nTo: %s\nSubject: failure notice\n", g.intn(99999), g.bounceDate(n, time.Minute), g.bounceDate(n, time.Minute), host, n.verp)
	if resp != nil {
		class = resp.class
	}
	return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, class)}
}

// yahoo renders Yahoo's qmail-derived bounce.
func (g *gen) yahoo(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf("Sorry, we were unable to deliver your message to the following address.\n\n<%s>:\nRemote host said: %s [RCPT_TO]\n\n--- Below this line is a copy of the message.\n\n%s", n.to, said, n.full(g, true))
	b := g.boundary("")
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: MAILER-DAEMON@yahoo.com\nTo: %s\nSubject: Failure Notice\nDate: %s\nMessage-ID: <%s.%d@yahoo.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n", n.verp, g.bounceDate(n, time.Minute), g.hex(10), g.intn(99999), b)
	if g.chance(0.5) {
		hdr = fmt.Sprintf("Return-Path: <>\nFrom: MAILER-DAEMON@yahoo.com\nTo: %s\nSubject: Failure Notice\nDate: %s\nMessage-ID: <%s.%d@yahoo.com>\n", n.verp, g.bounceDate(n, time.Minute), g.hex(10), g.intn(99999))
		return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, resp.class)}
	}
	return sample{Data: hdr + "\n" + multipart(b, "", part{header: "Content-Type: text/plain; charset=UTF-8", body: text}), Labels: dsnOK(n, resp.class)}
}

// mailru renders Mail.Ru's bilingual Exim bounce.
func (g *gen) mailru(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	mx := mxFor(g, domainOf(n.to))
	block := fmt.Sprintf("  %s\n    SMTP error from remote mail server after RCPT TO:<%s>:\n    host %s [%s]: %s", n.to, n.to, mx, g.ip(), said)
	text := fmt.Sprintf("Это письмо создано автоматически сервером Mail.Ru, отвечать на него не нужно.\n\nК сожалению, Ваше письмо не может быть доставлено одному или нескольким получателям:\n\n%s\n\nРекомендуем Вам проверить корректность указания адресов получателей.\n\n**********************\n\n\nThis message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n%s\n\n------ This is a copy of the message, including all the headers. ------\n\n%s", block, block, n.full(g, true))
	id := fmt.Sprintf("1%s-%s-%s", g.alnum(5), g.alnum(4), g.alnum(2))
	hdr := fmt.Sprintf("Return-path: <>\nReceived: from mail by smtp%d.mail.ru with local id %s\n\tfor %s; %s\nX-Failed-Recipients: %s\nAuto-Submitted: auto-replied\nFrom: mailer-daemon@corp.mail.ru\nTo: %s\nContent-Transfer-Encoding: 8bit\nContent-Type: text/plain; charset=utf-8\nSubject: =?UTF-8?B?0JLQsNGI0LUg0YHQvtC+0LHRidC10L3QuNC1INC90LUg0LTQvtGB0YLQsNCy0LvQtdC90L4=?=. Mail failure.\nMessage-Id: <E%s@smtp%d.mail.ru>\nDate: %s\n",
		g.intn(60), id, n.verp, g.bounceDate(n, time.Minute), n.to, n.verp, id, g.intn(60), g.bounceDate(n, time.Minute))
	return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, resp.class)}
}

// gmx renders GMX's and WEB.DE's text bounce.
func (g *gen) gmx(n notice, resp response, brand string) sample {
	said := fill(resp.oneLine(), n, g)
	mx := mxFor(g, domainOf(n.to))
	var detail string
	if g.chance(0.5) {
		detail = fmt.Sprintf("\"%s\":\nSMTP error from remote server for RCPT TO command, host: %s (%s) reason: %s", n.to, mx, g.ip(), said)
	} else {
		detail = fmt.Sprintf("\"%s\":\nSMTP error from remote server after RCPT command:\nhost: %s\n%s", n.to, mx, said)
	}
	text := fmt.Sprintf("This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of\nits recipients. This is a permanent error. The following address\nfailed:\n\n%s\n\n\n--- The header of the original message is following. ---\n\n%s", detail, n.headers(g, false))
	hdr := fmt.Sprintf("Return-Path: \nReceived: from mout-bounce.%s ([%s]) by mx-ha.%s (mxgmx%03d) with ESMTPS (Nemesis) id %s for <%s>; %s\nDate: %s\nFrom: MAILER-DAEMON@mail.%s\nTo: %s\nSubject: Mail delivery failed: returning message to sender\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nEnvelope-To: <%s>\nX-UI-Out-Filterresults: unknown:0;\n",
		brand, g.ip(), brand, g.intn(200), g.alnum(20), n.verp, g.bounceDate(n, time.Minute), g.bounceDate(n, time.Minute), brand, n.verp, n.verp)
	return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, resp.class)}
}

// zoho renders Zoho Mail's bounce.
func (g *gen) zoho(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	var line string
	switch resp.class {
	case "invalid":
		line = fmt.Sprintf("%s Invalid Address, ERROR_CODE :%s, ERROR_CODE :%s", n.to, resp.code(), strings.TrimSpace(strings.TrimPrefix(said, resp.code())))
	default:
		line = fmt.Sprintf("%s, ERROR CODE :%s - %s", n.to, resp.code(), strings.TrimSpace(strings.TrimPrefix(said, resp.code())))
	}
	b := g.boundary("")
	text := fmt.Sprintf("This message was created automatically by mail delivery software.\nA message that you sent could not be delivered to one or more of its recipients. This is a permanent error. \n\n%s\n\n\n%s", line, strings.ReplaceAll(n.headers(g, false), ": ", ":"))
	hdr := fmt.Sprintf("Delivered-To: %s\nDate: %s\nFrom: mailer-daemon@mail.zoho.com\nTo: %s\nMessage-ID: <%s.%s@zohomail.com>\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/mixed; \n    boundary=\"%s\"\nUser-Agent: Zoho Mail\nX-Mailer: Zoho Mail\n", n.verp, g.bounceDate(n, time.Minute), n.verp, strings.ToLower(g.hex(11)), g.hex(8), b)
	return sample{Data: hdr + "\n" + multipart(b, "", part{header: "Content-Type: text/plain; charset=\"UTF-8\"\nContent-Transfer-Encoding: 7bit", body: text}), Labels: dsnOK(n, resp.class)}
}

// domino renders Lotus/HCL Domino's bounce: with a DSN, or the old
// text-only "Failure Reasons" layout.
func (g *gen) domino(n notice, class string, withDSN bool) sample {
	var reason, status string
	switch class {
	case "invalid":
		reason = g.pick(fmt.Sprintf("User %s (%s) not listed in Domino Directory", n.toName, n.to), "User not listed in public Name & Address Book", fmt.Sprintf("%s is not a known user", n.to))
		status = "5.0.0"
	case "soft":
		reason = g.pick("Router: Unable to deliver message - the recipient's mail file is full", "Router: Delivery time expired")
		status = "5.0.0"
	default:
		reason = "Router: Relaying denied by policy"
		status = "5.7.1"
	}
	host := "notes." + domainOf(n.to)
	if !withDSN {
		text := fmt.Sprintf("------- Failure Reasons  --------\n\n%s\n%s\n\n------- Returned Message --------\n%s", reason, n.to, n.full(g, true))
		hdr := fmt.Sprintf("Return-Path: <>\nFrom: postmaster@%s\nTo: %s\nDate: %s\nSubject: Undeliverable message\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-8859-1\nMessage-Id: <%s.%s@%s>\n", host, n.verp, g.bounceDate(n, time.Minute), g.hex(12), g.hex(8), host)
		return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, class)}
	}
	b := "==IFJRGLKFGIR" + g.hex(10)
	text := fmt.Sprintf("Your message\n\n  Subject: %s\n\nwas not delivered to:\n\n  %s\n\nbecause:\n\n  %s\n", n.subject, n.to, reason)
	dsn := fmt.Sprintf("Reporting-MTA: dns;%s\n\nFinal-Recipient: rfc822;%s\nAction: failed\nStatus: %s\n%s\n", host, n.to, status, fold("Diagnostic-Code", "X-Notes; "+reason))
	parts := []part{{header: "Content-Type: text/plain; charset=ISO-8859-1", body: text}, {header: "Content-Type: message/delivery-status", body: dsn}, {header: "Content-Type: message/rfc822", body: n.full(g, true)}}
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: Postmaster@%s\nTo: %s\nSubject: DELIVERY FAILURE: %s\nDate: %s\nMIME-Version: 1.0\nMessage-ID: <OF%s.%s-ON%s@%s>\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\n", domainOf(n.to), n.verp, reason, g.bounceDate(n, time.Minute), g.hex(8), g.hex(8), g.hex(8), host, b)
	return sample{Data: hdr + "\n" + multipart(b, "", parts...), Labels: dsnOK(n, class)}
}

// mimecast renders Mimecast's own NDR.
func (g *gen) mimecast(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	b := g.boundary("")
	text := fmt.Sprintf("Delivery Failure Notification\n\nYour message could not be delivered to one or more recipients.\n\nRecipient Address: %s\nReason: Rejected by the recipient's mail server\nDiagnostic: %s\n\nIf you need further assistance, please contact your IT administrator.\n", n.to, said)
	html := "<html><body><h2>Delivery Failure Notification</h2><p>Your message could not be delivered to one or more recipients.</p><table><tr><td>Recipient Address:</td><td>" + n.to + "</td></tr><tr><td>Reason:</td><td>Rejected by the recipient's mail server</td></tr><tr><td>Diagnostic:</td><td>" + strings.ReplaceAll(strings.ReplaceAll(said, "<", "&lt;"), ">", "&gt;") + "</td></tr></table></body></html>"
	alt := b + "a"
	parts := []part{{header: fmt.Sprintf("Content-Type: multipart/alternative; boundary=\"%s\"", alt), body: multipart(alt, "", part{header: "Content-Type: text/plain; charset=utf-8", body: text}, part{header: "Content-Type: text/html; charset=utf-8", body: html})},
		{header: "Content-Type: text/rfc822-headers", body: n.headers(g, true)}}
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: Mimecast Postmaster <postmaster@%s.mimecast.com>\nTo: %s\nSubject: Mimecast Delivery Failure: %s\nDate: %s\nMessage-ID: <%s@%s.mimecast.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\nX-Failed-Recipients: %s\n", g.pick("eu", "us", "uk"), n.verp, n.subject, g.bounceDate(n, time.Minute), g.hex(24), g.pick("eu", "us"), b, n.to)
	return sample{Data: hdr + "\n" + multipart(b, "", parts...), Labels: dsnOK(n, resp.class)}
}

// barracuda renders a Barracuda gateway's bounce.
func (g *gen) barracuda(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf("Your message could not be delivered to one or more recipients.\n\nThe following recipient(s) could not be reached:\n\n%s\n\nReason: 550 permanent failure for one or more recipients (%s:%s)\n\n--- Below this line is a copy of the message.\n\n%s", n.to, n.to, said, n.full(g, true))
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: Barracuda Email Security <postmaster@barracuda.%s>\nTo: %s\nSubject: Undelivered Mail Returned to Sender\nDate: %s\nMessage-ID: <%s@barracuda.%s>\n", domainOf(n.to), n.verp, g.bounceDate(n, time.Minute), g.hex(16), domainOf(n.to))
	return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, resp.class)}
}

// mdaemon renders MDaemon's bounce.
func (g *gen) mdaemon(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	mx := mxFor(g, domainOf(n.to))
	text := fmt.Sprintf("The attached message had PERMANENT fatal delivery errors!\n\nAfter one or more unsuccessful delivery attempts the attached message has\nbeen removed from the mail queue on this server.  The number and frequency\nof delivery attempts are determined by local configuration parameters.\n\nYOU DO NOT NEED TO RESEND THE MESSAGE.  THIS IS ONLY A NOTIFICATION.\n\n--- Session Transcript ---\n %s Session %d; child 1\n Attempting SMTP connection to [%s : 25]\n Waiting for socket connection...\n Socket connection established\n Waiting for protocol to start...\n 220 %s ESMTP\n EHLO mail.%s\n 250 %s\n MAIL From:<%s>\n 250 2.1.0 Ok\n RCPT To:<%s>\n %s\n--- End Transcript ---\n\n: Message contains [1] file attachments\n", n.date.Format("Mon 2006-01-02 15:04:05"), g.intn(9999), mx, mx, n.s.domain, mx, n.verp, n.to, said)
	b := g.boundary("")
	parts := []part{{header: "Content-Type: text/plain; charset=US-ASCII", body: text}, {header: "Content-Type: message/rfc822; name=\"md50000001234.msg\"\nContent-Disposition: attachment; filename=\"md50000001234.msg\"", body: n.full(g, true)}}
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: \"Mail Delivery System\" <MDaemon@mail.%s>\nTo: %s\nSubject: Permanent Delivery Failure\nDate: %s\nMessage-ID: <MDAEMON%s@mail.%s>\nX-MDaemon-Deliver-To: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n", n.s.domain, n.verp, g.bounceDate(n, time.Hour), g.hex(20), n.s.domain, n.verp, b)
	return sample{Data: hdr + "\n" + multipart(b, "", parts...), Labels: dsnOK(n, resp.class)}
}

// hmailserver renders hMailServer's bounce.
func (g *gen) hmailserver(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	ip := g.ip()
	text := fmt.Sprintf("Your message did not reach some or all of the intended recipients.\n\n   Sent: %s\n   Subject: %s\n\nThe following recipient(s) could not be reached:\n\n%s\n   Error Type: SMTP\n   Remote server (%s) issued an error.\n   hMailServer sent: RCPT TO:<%s>\n   Remote server replied: %s\n\nhMailServer\n\n", n.date.Format("Mon, 02 Jan 2006 15:04:05 -0700"), n.subject, n.to, ip, n.to, said)
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: mailer-daemon@%s\nTo: %s\nSubject: Message undeliverable: %s\nDate: %s\nMessage-ID: <%s@%s>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=\"utf-8\"\n", n.s.domain, n.verp, n.subject, g.bounceDate(n, time.Minute), g.hex(16), n.s.domain)
	return sample{Data: hdr + "\n" + text + "Original message headers:\n" + n.headers(g, true), Labels: dsnOK(n, resp.class)}
}

// openwave renders the Openwave / InterMail layout some ISPs use.
func (g *gen) openwave(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf("This Message was undeliverable due to the following reason:\n\nEach of the following recipients was rejected by a remote mail server.\nThe reasons given by the server are included to help you determine why\neach recipient was rejected.\n\n    Recipient: <%s>\n    Reason:    %s\n\nPlease reply to Postmaster@%s\nif you feel this message to be in error.\n\n", n.to, said, n.s.domain)
	b := g.boundary("")
	parts := []part{{header: "Content-Type: text/plain", body: text}, {header: "Content-Type: message/delivery-status", body: fmt.Sprintf("Reporting-MTA: dns; %s\nArrival-Date: %s\n\nFinal-Recipient: RFC822; <%s>\nAction: failed\nStatus: %s\nRemote-MTA: dns; %s\n%s\n", "mta.isp.example", rfc2822(n.date), n.to, resp.dsnStatus(), mxFor(g, domainOf(n.to)), fold("Diagnostic-Code", "smtp; "+said))},
		{header: "Content-Type: message/rfc822", body: n.full(g, true)}}
	if g.chance(0.5) {
		parts = append(parts[:1], parts[2])
	}
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: Mail Administrator <Postmaster@mta.isp.example>\nTo: %s\nSubject: Mail System Error - Returned Mail\nDate: %s\nMessage-ID: <%s.%s.mta.isp.example>\nMIME-Version: 1.0\nContent-Type: multipart/report;\n\treport-type=delivery-status;\n\tBoundary=\"%s\"\n", n.verp, g.bounceDate(n, time.Minute), g.hex(20), g.hex(6), b)
	return sample{Data: hdr + "\n" + multipart(b, "", parts...), Labels: dsnOK(n, resp.class)}
}

// messagingServer renders Oracle (Sun) Communications Messaging Server's
// report, which quotes the original's Message-id in its text.
func (g *gen) messagingServer(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	b := "Boundary_(ID_" + g.alnum(22) + ")"
	text := fmt.Sprintf("This report relates to a message you sent with the following header fields:\n\n  Message-id: %s\n  Date: %s\n  From: %s <%s>\n  To: %s\n  Subject: %s\n\nYour message cannot be delivered to the following recipients:\n\n  Recipient address: %s\n  Reason: Remote SMTP server has rejected address\n  Diagnostic code: smtp;%s\n  Remote system: dns;%s (TCP|%s|%d|%s|25) (%s ESMTP)\n", n.msgID, rfc2822(n.date), n.s.name, n.s.addr, n.to, n.subject, n.to, said, mxFor(g, domainOf(n.to)), g.ip(), 40000+g.intn(20000), g.ip(), mxFor(g, domainOf(n.to)))
	dsn := fmt.Sprintf("Original-envelope-id: %s\nReporting-MTA: dns;ms.%s (tcp_intranet-daemon)\nArrival-date: %s\n\nOriginal-recipient: rfc822;%s\nFinal-recipient: rfc822;%s\nAction: failed\nStatus: %s (Remote SMTP server has rejected address)\nRemote-MTA: dns;%s (TCP|%s|%d|%s|25)\n%s\n", g.hex(16), n.s.domain, rfc2822(n.date), n.to, n.to, resp.dsnStatus(), mxFor(g, domainOf(n.to)), g.ip(), 40000+g.intn(20000), g.ip(), fold("Diagnostic-code", "smtp;"+said))
	parts := []part{{header: "Content-type: text/plain; charset=us-ascii\nContent-language: en-US", body: text}, {header: "Content-type: message/delivery-status", body: dsn}, {header: "Content-type: text/rfc822-headers", body: n.headers(g, true)}}
	hdr := fmt.Sprintf("Return-path: <>\nDate: %s\nFrom: Internet Mail Delivery <postmaster@ms.%s>\nSubject: Delivery Notification: Delivery has failed\nTo: %s\nMessage-id: <0%s@ms.%s>\nMIME-version: 1.0\nContent-type: multipart/report; report-type=delivery-status; boundary=\"%s\"\n", g.bounceDate(n, time.Minute), n.s.domain, n.verp, g.hex(14), n.s.domain, b)
	return sample{Data: hdr + "\n" + multipart(b, "", parts...), Labels: dsnOK(n, resp.class)}
}

// aol renders AOL's old sendmail-style text bounce.
func (g *gen) aol(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf("The original message was received at %s\nfrom %s [%s]\n\n   ----- The following addresses had permanent fatal errors -----\n<%s>\n\n   ----- Transcript of session follows -----\n... while talking to air-xx%02d.mail.aol.com.:\n>>> RCPT To:<%s>\n<<< %s\n%s\n\n--- Original message follows.\n\n%s", rfc2822(n.date), n.s.domain, g.ip(), n.to, g.intn(99), n.to, said, said, n.full(g, true))
	hdr := fmt.Sprintf("Return-Path: <>\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@aol.com>\nTo: %s\nSubject: Returned mail: User unknown\nDate: %s\nMessage-Id: <%s@omr-%s.mx.aol.com>\n", n.verp, g.bounceDate(n, time.Minute), g.hex(14), g.alnum(3))
	if resp.class != "invalid" {
		hdr = strings.Replace(hdr, "Returned mail: User unknown", "Returned mail: see transcript for details", 1)
	}
	return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, resp.class)}
}

// sendmailV5 is an old sendmail bounce without MIME.
func (g *gen) sendmailV5(n notice, resp response) sample {
	said := fill(resp.oneLine(), n, g)
	text := fmt.Sprintf("   ----- Transcript of session follows -----\n%s\n\n   ----- Unsent message follows -----\n%s", said, n.full(g, true))
	hdr := fmt.Sprintf("Return-Path: <>\nDate: %s\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@mail.%s>\nSubject: Returned mail: Host unknown\nMessage-Id: <%s@mail.%s>\nTo: %s\n", g.bounceDate(n, time.Minute), domainOf(n.to), g.hex(12), domainOf(n.to), n.verp)
	if resp.class != "invalid" {
		hdr = strings.Replace(hdr, "Host unknown", "see transcript for details", 1)
	}
	return sample{Data: hdr + "\n" + text, Labels: dsnOK(n, resp.class)}
}
