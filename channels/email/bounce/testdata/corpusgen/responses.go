package main

import (
	"regexp"
	"strings"
)

// response is what a receiving server answered, as a relay quotes it in a
// bounce. text may span lines (multi-line SMTP replies).
type response struct {
	text  string
	class string // invalid | soft | policy: what it means, by the brief's definitions
	kind  string // unknown, domain, disabled, full, grey, temp, expired, block, auth, relay, content, rate, size
	// status overrides the DSN Status a relay would report (e.g. 5.0.0
	// from an MTA that does not copy the remote's enhanced code).
	status string
}

var reEnhanced = regexp.MustCompile(`\b([245]\.\d{1,3}\.\d{1,3})\b`)

// dsnStatus is the Status a relay reports for r.
func (r response) dsnStatus() string {
	if r.status != "" {
		return r.status
	}
	if m := reEnhanced.FindStringSubmatch(r.text); m != nil {
		return m[1]
	}
	if strings.HasPrefix(r.text, "4") {
		return "4.0.0"
	}
	return "5.0.0"
}

// code is the reply code at the start of the response.
func (r response) code() string {
	if len(r.text) >= 3 && r.text[0] >= '2' && r.text[0] <= '5' {
		return r.text[:3]
	}
	return ""
}

// oneLine joins a multi-line reply the way Postfix and Exim quote it.
func (r response) oneLine() string {
	lines := strings.Split(r.text, "\n")
	for i, l := range lines {
		if i > 0 && len(l) > 4 && (l[3] == '-' || l[3] == ' ') {
			lines[i] = strings.TrimSpace(l[4:])
			if m := reEnhanced.FindStringIndex(lines[i]); m != nil && m[0] == 0 {
				lines[i] = strings.TrimSpace(lines[i][m[1]:])
			}
		}
	}
	return strings.Join(lines, " ")
}

// devResponses are tuned against.
var devResponses = []response{
	// invalid
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table", class: "invalid", kind: "unknown"},
	{text: "550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550-5.1.1 unnecessary spaces. Learn more at\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si2345678wrb.123 - gsmtp", class: "invalid", kind: "unknown"},
	{text: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", class: "invalid", kind: "unknown"},
	{text: "554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) [0] - mta7012.mail.gq1.yahoo.com", class: "invalid", kind: "unknown"},
	{text: "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DB5EUR03FT041.eop-EUR03.prod.protection.outlook.com]", class: "invalid", kind: "unknown"},
	{text: "550 5.7.1 No such user!", class: "invalid", kind: "unknown"},
	{text: "550 Message was not accepted -- invalid mailbox.  Local mailbox {rcpt} is unavailable: user not found", class: "invalid", kind: "unknown"},
	{text: "550 No Such User Here", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>... User unknown", class: "invalid", kind: "unknown"},
	{text: "550 Requested action not taken: mailbox unavailable", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]", class: "invalid", kind: "unknown"},
	{text: "552 1 Requested mail action aborted, mailbox not found", class: "invalid", kind: "unknown"},
	{text: "550-5.2.1 The email account that you tried to reach is disabled. Learn more at\n550 5.2.1  https://support.google.com/mail/?p=DisabledUser x12si3456789ejb.56 - gsmtp", class: "invalid", kind: "disabled"},
	{text: "554 30 Sorry, your message to {rcpt} cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.ne1.yahoo.com", class: "invalid", kind: "disabled"},
	{text: "550 5.1.1 Not our Customer", class: "invalid", kind: "unknown"},
	{text: "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [Xyz123AbCdEfGh.uk12]", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: {domain}", class: "invalid", kind: "unknown"},
	{text: "550 #5.1.0 Address rejected.", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: user does not exist", class: "invalid", kind: "unknown"},
	{text: "556 5.1.10 <{rcpt}>: Recipient address rejected: Domain {domain} does not accept mail (nullMX)", class: "invalid", kind: "domain"},
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: ukjent mottaker", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Empfaenger unbekannt / Recipient unknown", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 Gebruiker onbekend", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Destinataire inconnu", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 Usuario desconocido", class: "invalid", kind: "unknown"},
	{text: "550 5.0.0 <{rcpt}>... User unknown", class: "invalid", kind: "unknown"},
	{text: "550 5.1.2 <{rcpt}>: Recipient address rejected: Domain not found", class: "invalid", kind: "domain"},
	// soft
	{text: "452-4.2.2 The email account that you tried to reach is over quota. Please direct\n452-4.2.2 the recipient to\n452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a2si123456wrb.7 - gsmtp", class: "soft", kind: "full"},
	{text: "552 5.2.2 <{rcpt}>: Recipient address rejected: Mailbox full", class: "soft", kind: "full"},
	{text: "552 5.2.2 Mailbox quota exceeded", class: "soft", kind: "full"},
	{text: "450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{domain}.html", class: "soft", kind: "grey"},
	{text: "451 4.7.1 Greylisting in action, please come back later", class: "soft", kind: "grey"},
	{text: "554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.0 Unable to lookup DNS for {domain}>", class: "soft", kind: "expired"},
	{text: "552 5.2.2 Postkassen er full", class: "soft", kind: "full"},
	{text: "452 4.2.2 Mailbox is full / Postfach voll", class: "soft", kind: "full"},
	{text: "550 5.2.1 <{rcpt}>: Mailbox unavailable, account suspended", class: "soft", kind: "temp"},
	{text: "451 4.3.0 Temporary local problem - please try later", class: "soft", kind: "temp"},
	{text: "450 4.1.1 <{rcpt}>: Recipient address rejected: unverified address: connect to mx.{domain}[{ip}]:25: Connection timed out", class: "soft", kind: "temp"},
	{text: "452 4.2.2 Quota exceeded (mailbox for user is full)", class: "soft", kind: "full"},
	{text: "552 5.2.2 Boite aux lettres pleine / mailbox full", class: "soft", kind: "full"},
	{text: "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\n450-4.2.1 prevents additional messages from being delivered. Please resend your\n450 4.2.1 message at a later point. x5si987654qkb.1 - gsmtp", class: "soft", kind: "temp"},
	// policy
	{text: "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}", class: "policy", kind: "block"},
	{text: "550-5.7.1 [{ip}] Our system has detected that this message is likely\n550-5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, this\n550-5.7.1 message has been blocked. For more information, go to\n550 5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError y4si1234567ejb.99 - gsmtp", class: "policy", kind: "block"},
	{text: "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\n550 5.7.26  Authentication results: DKIM = did not pass SPF [{ourdomain}] with ip: [{ip}] = did not pass - gsmtp", class: "policy", kind: "auth"},
	{text: "553 5.7.2 [TSS09] All messages from {ip} will be permanently deferred; Retrying will NOT succeed. See https://senders.yahooinc.com/error-codes", class: "policy", kind: "block"},
	{text: "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://senders.yahooinc.com/error-codes", class: "policy", kind: "rate"},
	{text: "554 5.7.1 <{rcpt}>: Relay access denied", class: "policy", kind: "relay"},
	{text: "550 5.7.1 Unable to relay for {rcpt}", class: "policy", kind: "relay"},
	{text: "550 5.7.509 Access denied, sending domain {ourdomain} does not pass DMARC verification and has a DMARC policy of reject.", class: "policy", kind: "auth"},
	{text: "550 5.7.606 Access denied, banned sending IP [{ip}]. To request removal from this list please visit https://sender.office.com/ and follow the directions.", class: "policy", kind: "block"},
	{text: "550 SC-001 (BAY004-MC1F20) Unfortunately, messages from {ip} weren't sent. Please contact your Internet service provider since part of their network is on our block list. You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.", class: "policy", kind: "block"},
	{text: "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", class: "policy", kind: "content"},
	{text: "554 resimta-po-28v.sys.comcast.net comcast {ip} found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000001", class: "policy", kind: "block"},
	{text: "550 5.7.1 Service refuse. Veuillez essayer plus tard. Service refused, please try later. OFR006_104 [104]", class: "policy", kind: "block"},
	{text: "550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEf123.eu123]", class: "policy", kind: "block"},
	{text: "554 5.7.1 Message rejected as spam by Content Filtering.", class: "policy", kind: "content"},
	{text: "552 5.3.4 Message size exceeds fixed limit", class: "policy", kind: "size"},
	{text: "550 5.7.1 <{rcpt}>: Recipient address rejected: Access denied", class: "policy", kind: "relay"},
	{text: "550 5.7.1 Mailbox unavailable. Your IP address {ip} is blacklisted", class: "policy", kind: "block"},
	{text: "554 5.7.1 Service unavailable; Client host [{ip}] blocked using Barracuda Reputation, http://www.barracudanetworks.com/reputation/?r=1&ip={ip}", class: "policy", kind: "block"},
	{text: "421 RP-001 (BN1NAM02FT012) Unfortunately, some messages from {ip} weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day. You can also refer to http://mail.live.com/mail/troubleshooting.aspx#errors.", class: "policy", kind: "rate"},
	{text: "451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)", class: "policy", kind: "rate"},
	{text: "550 5.7.1 Message rejected: virus found in message (Eicar-Test-Signature)", class: "policy", kind: "content"},
	{text: "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", class: "policy", kind: "relay"},
	{text: "550 5.4.310 DNS domain {domain} does not exist [Message=InfoDomainNonexistent] [LastAttemptedServerName={domain}]", class: "invalid", kind: "domain"},
	{text: "550 4.4.7 QUEUE.Expired; message expired", class: "soft", kind: "expired"},
	{text: "452 4.5.3 Too many recipients", class: "policy", kind: "rate"},
	{text: "550 5.7.1 Recipient not authorized, your IP has been found on a block list", class: "policy", kind: "block"},
	{text: "550 <{rcpt}>: invalid address", class: "invalid", kind: "unknown"},
	{text: "550 5.2.1 Mailbox cannot be accessed", class: "soft", kind: "temp"},
	{text: "550 High probability of spam", class: "policy", kind: "content"},
}

// heldoutResponses are not tuned against: written from what these servers
// say, and run through the classifier only by the held-out test.
var heldoutResponses = []response{
	// invalid
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in relay recipient table", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: undeliverable address: host mail.{domain}[{ip}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual alias table (in reply to RCPT TO command)", class: "invalid", kind: "unknown"},
	{text: "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM6PR0502MB3814.eurprd05.prod.outlook.com]", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Mailbox does not exist", class: "invalid", kind: "unknown"},
	{text: "551 5.1.6 User has moved; please try <{local}@newjob.example>", class: "invalid", kind: "unknown"},
	{text: "550 5.1.2 Host unknown (Name server: {domain}: host not found)", class: "invalid", kind: "domain"},
	{text: "553 5.1.3 <{rcpt}>... Bad recipient address syntax", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 User Unknown", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}> Recipient not found. <https://aka.ms/EXOSmtpErrors>", class: "invalid", kind: "unknown"},
	{text: "550 User {rcpt} does not exist on this server", class: "invalid", kind: "unknown"},
	{text: "550 5.0.0 <{rcpt}>: user unknown", class: "invalid", kind: "unknown"},
	{text: "550 unknown user account", class: "invalid", kind: "unknown"},
	{text: "550 Mailbox not found.", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Brukeren finnes ikke", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 Die E-Mail-Adresse existiert nicht", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Dit e-mailadres bestaat niet", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 L'adresse {rcpt} n'existe pas", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 El buzón {rcpt} no existe", class: "invalid", kind: "unknown"},
	{text: "550 5.2.1 <{rcpt}>: Recipient address rejected: Account disabled", class: "invalid", kind: "disabled"},
	{text: "554 This account has been disabled or discontinued [#102].", class: "invalid", kind: "disabled"},
	{text: "450 4.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table", class: "invalid", kind: "unknown"},
	{text: "554 5.1.1 {rcpt}: Recipient address rejected: no mailbox here by that name", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", class: "invalid", kind: "unknown"},
	{text: "550 Address unknown", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 Unknown recipient <{rcpt}>", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 {rcpt} unknown or illegal alias", class: "invalid", kind: "unknown"},
	{text: "511 sorry, no mailbox here by that name (#5.1.1 - chkuser)", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 <{rcpt}>: Recipient address rejected: Mailbox inactive", class: "invalid", kind: "disabled"},
	// soft
	{text: "552 5.2.2 <{rcpt}>: Recipient address rejected: Over quota", class: "soft", kind: "full"},
	{text: "452 4.2.2 <{rcpt}>: mailbox over quota; cannot receive new mail", class: "soft", kind: "full"},
	{text: "450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted for 5 minutes", class: "soft", kind: "grey"},
	{text: "451 4.7.1 Please try again later", class: "soft", kind: "grey"},
	{text: "421 4.3.2 Service not available, closing transmission channel", class: "soft", kind: "temp"},
	{text: "552 5.2.2 Postfach des Empfaengers ist voll", class: "soft", kind: "full"},
	{text: "552 5.2.2 Innboksen er full", class: "soft", kind: "full"},
	{text: "452 4.2.2 Het postvak van de ontvanger is vol", class: "soft", kind: "full"},
	{text: "552 5.2.2 Quota dépassé pour ce destinataire", class: "soft", kind: "full"},
	{text: "550 5.2.2 Buzón lleno", class: "soft", kind: "full"},
	{text: "450 4.7.0 {rcpt} is temporarily unavailable, try again later", class: "soft", kind: "temp"},
	{text: "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded", class: "soft", kind: "full"},
	{text: "451 4.3.0 <{rcpt}>: Temporary lookup failure", class: "soft", kind: "temp"},
	{text: "452 4.3.1 Insufficient system storage", class: "soft", kind: "temp"},
	{text: "421 4.4.2 mx.{domain} Error: timeout exceeded", class: "soft", kind: "temp"},
	// policy
	{text: "550 5.7.1 Client host rejected: cannot find your reverse hostname, [{ip}]", class: "policy", kind: "block"},
	{text: "554 5.7.1 <unknown[{ip}]>: Client host rejected: Access denied", class: "policy", kind: "block"},
	{text: "550 5.7.23 The message was rejected because of Sender Policy Framework violation", class: "policy", kind: "auth"},
	{text: "550 5.7.1 Email rejected per DMARC policy for {ourdomain}", class: "policy", kind: "auth"},
	{text: "550 5.7.1 Message rejected because it was identified as spam", class: "policy", kind: "content"},
	{text: "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation. If you believe that this failure is in error, please contact the intended recipient via alternate means.", class: "policy", kind: "block"},
	{text: "554 rejected: listed on b.barracudacentral.org", class: "policy", kind: "block"},
	{text: "421 4.7.0 [IPTS04] Messages from {ip} temporarily deferred due to user complaints", class: "policy", kind: "rate"},
	{text: "451 4.7.500 Access denied, please try again later. (AS761)", class: "policy", kind: "rate"},
	{text: "550 5.7.1 Delivery not authorized, message refused", class: "policy", kind: "block"},
	{text: "554 5.7.1 The message from (<{from}>) with the subject of (Important information) matches a profile the Internet community may consider spam. Please revise your message before resending.", class: "policy", kind: "content"},
	{text: "554 5.7.1 Message blocked due to spam content in the message.", class: "policy", kind: "content"},
	{text: "552 5.2.3 Message exceeds maximum fixed size", class: "policy", kind: "size"},
	{text: "554 5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes", class: "policy", kind: "content"},
	{text: "550 5.7.1 You are not allowed to send to this recipient", class: "policy", kind: "relay"},
	{text: "550 5.1.8 Access denied, bad outbound sender", class: "policy", kind: "block"},
	{text: "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized", class: "policy", kind: "relay"},
	{text: "554 5.7.1 Mailbox unavailable - rejected by anti-spam filter", class: "policy", kind: "content"},
	{text: "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", class: "policy", kind: "block"},
	{text: "550 5.7.0 Local Policy Violation", class: "policy", kind: "content"},
	{text: "421 4.7.0 Too many concurrent SMTP connections; please try again later.", class: "policy", kind: "rate"},
	{text: "550 5.7.1 Reject for policy reason RCPT: #cloudmark", class: "policy", kind: "content"},
	{text: "553 5.7.1 <{rcpt}>... Relaying denied. IP name lookup failed [{ip}]", class: "policy", kind: "relay"},
	{text: "554 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", class: "invalid", kind: "domain"},
	{text: "451 4.4.0 DNS query failed. The error was: DNS query failed with error: ErrorRetry", class: "soft", kind: "temp"},
	{text: "554 5.4.14 Hop count exceeded - possible mail loop ATTR34", class: "soft", kind: "temp"},
	{text: "550 Requested action not taken: mailbox unavailable or not local", class: "invalid", kind: "unknown"},
	{text: "550 RCPT TO:<{rcpt}> User unknown", class: "invalid", kind: "unknown"},
	{text: "554 5.7.1 This message has been blocked because it contains a banned attachment", class: "policy", kind: "content"},
	{text: "550 5.7.515 Access denied, sending domain {ourdomain} doesn't meet the required authentication level.", class: "policy", kind: "auth"},
	{text: "501 5.1.3 Invalid address", class: "invalid", kind: "unknown"},
	{text: "550 5.1.1 Mailbox does not exist or is disabled", class: "invalid", kind: "unknown"},
	{text: "552 5.2.2 This message is larger than the current system limit or the recipient's mailbox is full.", class: "soft", kind: "full"},
	{text: "550 5.1.0 <{from}> sender rejected : invalid sender", class: "policy", kind: "block"},
}

// pick returns a response of the given class from pool.
func (g *gen) response(pool []response, class string) response {
	var cands []response
	for _, r := range pool {
		if class == "" || r.class == class {
			cands = append(cands, r)
		}
	}
	return cands[g.intn(len(cands))]
}

// classMix draws a class with the proportions of real bounce traffic seen
// by a notification sender: mostly non-existent mailboxes.
func (g *gen) classMix() string {
	switch x := g.intn(100); {
	case x < 55:
		return "invalid"
	case x < 78:
		return "soft"
	}
	return "policy"
}
