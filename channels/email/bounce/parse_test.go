package bounce

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// Fixtures are written for these tests (the corpus has the bulk); they
// are kept short, with LF line ends unless a test is about CR LF.

const origHeaders = `Return-Path: <bounces+tok42@bounce.helse.example>
Date: Mon, 2 Mar 2026 10:00:00 +0100
From: Helse Vest <varsel@helse.example>
To: Kari Nordmann <kari@example.no>
Subject: Viktig informasjon
Message-ID: <herald.42.abcdefghijklmnopqrstuvwxyz@notify.helse.example>
X-Herald-Delivery: 42
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
`

const postfixDSN = `Return-Path: <>
X-Original-To: bounces+tok42@bounce.helse.example
Delivered-To: bounces+tok42@bounce.helse.example
Date: Mon, 2 Mar 2026 10:00:05 +0100
From: MAILER-DAEMON@mta1.helse.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounces+tok42@bounce.helse.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B1"

This is a MIME-encapsulated message.

--B1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mta1.helse.example.

<kari@example.no>: host mx.example.no[192.0.2.10] said: 550 5.1.1
    <kari@example.no>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mta1.helse.example
X-Postfix-Queue-ID: 3F2A1C0042
X-Postfix-Sender: rfc822; bounces+tok42@bounce.helse.example

Final-Recipient: rfc822; kari@example.no
Original-Recipient: rfc822;kari@example.no
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.no
Diagnostic-Code: smtp; 550 5.1.1 <kari@example.no>: Recipient address
    rejected: User unknown in virtual mailbox table

--B1
Content-Type: message/rfc822

` + origHeaders + `
Hei Kari

--B1--
`

const eximText = `Return-path: <>
Envelope-to: bounces+tok7@bounce.helse.example
X-Failed-Recipients: ola@example.org
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mail.helse.example>
To: bounces+tok7@bounce.helse.example
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ola@example.org
    host mx.example.org [192.0.2.20]
    SMTP error from remote mail server after RCPT TO:<ola@example.org>:
    550 5.1.1 <ola@example.org>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

From: Helse Vest <varsel@helse.example>
To: ola@example.org
Subject: Viktig informasjon
Message-ID: <herald.7.zzzzzzzzzzzzzzzzzzzzzzzzzz@notify.helse.example>

Hei
`

const qmailLocal = `Return-Path: <>
Date: 2 Mar 2026 09:00:00 -0000
From: MAILER-DAEMON@isp.example
To: bounces+tok77@bounce.helse.example
Subject: failure notice

Hi. This is the qmail-send program at isp.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<per@isp.example>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <bounces+tok77@bounce.helse.example>
From: varsel@helse.example
To: per@isp.example
Subject: Viktig
X-Herald-Delivery: 77

Hei
`

const sendmailMulti = `From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example>
To: <bounces+t@b.example>
Subject: Returned mail: see transcript for details
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="S"

--S

   ----- The following addresses had permanent fatal errors -----
<a@example.com>
    (reason: 550 5.1.1 <a@example.com>... User unknown)
<b@example.com>
    (reason: 552 5.2.2 <b@example.com>... Mailbox full)

--S
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example

Final-Recipient: RFC822; a@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: SMTP; 550 5.1.1 <a@example.com>... User unknown

Final-Recipient: RFC822; b@example.com
Action: failed
Status: 5.2.2
Diagnostic-Code: SMTP; 552 5.2.2 <b@example.com>... Mailbox full

--S--
`

const exchangeHTMLOnly = `From: Microsoft Exchange <postmaster@firma.example>
To: <bounces+t@b.example>
Subject: Undeliverable: Viktig
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="X"

--X
Content-Type: text/html; charset="utf-8"

<html><body><p><b>Delivery has failed to these recipients or groups:</b></p>
<p><a href="mailto:nils@firma.example">nils@firma.example</a><br>
The e-mail address you entered couldn't be found.</p>
<p><b>Diagnostic information for administrators:</b></p>
<p>Generating server: EX01.firma.example</p>
<p>nils@firma.example<br>Remote Server returned '550 5.1.1 &lt;nils@firma.example&gt;: Recipient address rejected: User unknown'</p>
</body></html>

--X
Content-Type: text/rfc822-headers

` + "From: varsel@helse.example\nTo: nils@firma.example\nMessage-ID: <herald.9001.aaaaaaaaaaaaaaaaaaaaaaaaaa@notify.helse.example>\n" + `
--X--
`

const courierDSN = `From: postmaster@mail.example.jp
To: bounces+t@b.example
Subject: NOTICE: mail delivery status.
Mime-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="=_courier_0"

--=_courier_0
Content-Type: text/plain; charset=us-ascii

This is a delivery status notification from mail.example.jp,
running the Courier mail server.

<taro@example.jp>:
    mx.example.jp [192.0.2.45]:
>>> RCPT TO:<taro@example.jp>
<<< 550 Unknown user taro@example.jp

--=_courier_0
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.jp

Final-Recipient: rfc822; taro@example.jp
Action: failed
Status: 5.0.0
Remote-MTA: dns; mx.example.jp [192.0.2.45]
Diagnostic-Code: smtp; 550 Unknown user taro@example.jp

--=_courier_0--
`

const sesBase64 = `From: MAILER-DAEMON@amazonses.com
To: bounces+t@b.example
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="SES"

--SES
Content-Type: text/plain; charset=UTF-8

An error occurred while trying to deliver the mail to the following recipients:
lena@example.de

--SES
Content-Type: message/delivery-status
Content-Transfer-Encoding: base64

` + "UmVwb3J0aW5nLU1UQTogZG5zOyBhMS0yLnNtdHAtb3V0LmFtYXpvbnNlcy5jb20KCkFjdGlvbjog\nZmFpbGVkCkZpbmFsLVJlY2lwaWVudDogcmZjODIyOyBsZW5hQGV4YW1wbGUuZGUKRGlhZ25vc3Rp\nYy1Db2RlOiBzbXRwOyA1NTIgNS4yLjIgTWFpbGJveCBxdW90YSBleGNlZWRlZApTdGF0dXM6IDUu\nMi4yCg==\n" + `
--SES--
`

const postfixDelay = `From: MAILER-DAEMON@mta1.helse.example (Mail Delivery System)
To: bounces+t@b.example
Subject: Delayed Mail (still being retried)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="D"

--D
Content-Type: text/plain

# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #

<eva@example.nl>: host mx.example.nl[192.0.2.3] said: 450 4.1.1
    <eva@example.nl>: Recipient address rejected: User unknown in local
    recipient table (in reply to RCPT TO command)

--D
Content-Type: message/delivery-status

Reporting-MTA: dns; mta1.helse.example

Final-Recipient: rfc822; eva@example.nl
Action: delayed
Status: 4.1.1
Diagnostic-Code: smtp; 450 4.1.1 <eva@example.nl>: Recipient address rejected: User unknown in local recipient table

--D--
`

const successDSN = `From: MAILER-DAEMON@mta1.helse.example (Mail Delivery System)
To: bounces+t@b.example
Subject: Successful Mail Delivery Report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="OK"

--OK
Content-Type: message/delivery-status

Reporting-MTA: dns; mta1.helse.example

Final-Recipient: rfc822; jan@example.nl
Action: relayed
Status: 2.0.0
Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 1234

--OK--
`

const arfWithRcpt = `From: <feedback@arf.mail.yahoo.com>
To: <fbl@helse.example>
Subject: FW: Viktig
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A"

--A
Content-Type: text/plain

This is an email abuse report.

--A
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <bounces+t@b.example>
Original-Rcpt-To: <siri@yahoo.example>
Source-IP: 192.0.2.1

--A
Content-Type: message/rfc822

` + origHeaders + `
Hei

--A--
`

const arfNoRcpt = `From: <scomp@aol.net>
To: <fbl@helse.example>
Subject: Complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A"

--A
Content-Type: message/feedback-report

Feedback-Type: Fraud
User-Agent: AOL SComp
Version: 1

--A
Content-Type: text/rfc822-headers

From: varsel@helse.example
To: Arne <arne@aol.example>
Message-ID: <herald.555.bbbbbbbbbbbbbbbbbbbbbbbbbb@notify.helse.example>

--A--
`

const exchangeOOF = `From: Kari Nordmann <kari@firma.example>
To: Helse Vest <varsel@helse.example>
Subject: =?utf-8?Q?Automatisk_svar:_Viktig_informasjon?=
In-Reply-To: <herald.31337.cccccccccccccccccccccccccc@notify.helse.example>
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset=utf-8

Jeg er på ferie til 14. august.
`

const leftJobAutoreply = `From: ola@firma.example
To: varsel@helse.example
Subject: I have left the company
Auto-Submitted: auto-replied
X-Autoreply: yes

This mailbox no longer exists and is not monitored. User unknown here from 1 April.
`

const humanReply = `From: Ola <ola@example.org>
To: bounces+t@b.example
Subject: Re: Viktig informasjon
In-Reply-To: <herald.8.dddddddddddddddddddddddddd@notify.helse.example>

Is this genuine? Please remove me.
`

// A text-only bounce in ISO-8859-1, quoted-printable, with a Norwegian
// reason.
const latin1Norwegian = "From: MAILER-DAEMON@post.example.no\nTo: bounces+t@b.example\nSubject: =?iso-8859-1?q?Kan_ikke_leveres?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nMeldingen kunne ikke leveres til f=F8lgende mottaker:\n\n  bj=F8rn@example.no\n    550 Brukeren finnes ikke p=E5 denne serveren\n"

// A session transcript quotes the server's successful replies before the
// one that failed.
const transcript = `From: "Mail Delivery System" <MDaemon@mail.helse.example>
To: bounces+t@b.example
Subject: Permanent Delivery Failure

The attached message had PERMANENT fatal delivery errors!

--- Session Transcript ---
 Attempting SMTP connection to [mx.example.fr : 25]
 220 mx.example.fr ESMTP
 EHLO mail.helse.example
 250 mx.example.fr
 MAIL From:<bounces+t@b.example>
 250 2.1.0 Ok
 RCPT To:<lea@example.fr>
 550 5.1.1 <lea@example.fr>: Recipient address rejected: User unknown
--- End Transcript ---
`

func TestParseFormats(t *testing.T) {
	type rcpt struct {
		addr, action, status, code, class string
	}
	tests := []struct {
		name       string
		msg        string
		typ        string
		rcpts      []rcpt
		deliveryID int64
		messageID  string
		to         []string
		feedback   string
		diag       string // a substring of the first recipient's Diagnostic
	}{
		{
			name: "postfix RFC 3464", msg: postfixDSN, typ: TypeDSN,
			rcpts:      []rcpt{{"kari@example.no", "failed", "5.1.1", "550", ClassInvalid}},
			deliveryID: 42, messageID: "<herald.42.abcdefghijklmnopqrstuvwxyz@notify.helse.example>",
			to:   []string{"bounces+tok42@bounce.helse.example"},
			diag: "User unknown in virtual mailbox table",
		},
		{
			name: "exim text with X-Failed-Recipients", msg: eximText, typ: TypeDSN,
			rcpts:      []rcpt{{"ola@example.org", "failed", "5.1.1", "550", ClassInvalid}},
			deliveryID: 7, messageID: "<herald.7.zzzzzzzzzzzzzzzzzzzzzzzzzz@notify.helse.example>",
			to:   []string{"bounces+tok7@bounce.helse.example"},
			diag: "550 5.1.1 <ola@example.org>: Recipient address rejected: User unknown",
		},
		{
			name: "qmail local, delivery ID quoted inline", msg: qmailLocal, typ: TypeDSN,
			rcpts:      []rcpt{{"per@isp.example", "failed", "5.1.1", "", ClassInvalid}},
			deliveryID: 77, diag: "no mailbox here by that name",
		},
		{
			name: "sendmail, two recipients", msg: sendmailMulti, typ: TypeDSN,
			rcpts: []rcpt{{"a@example.com", "failed", "5.1.1", "550", ClassInvalid}, {"b@example.com", "failed", "5.2.2", "552", ClassSoft}},
		},
		{
			name: "exchange HTML only, no DSN part", msg: exchangeHTMLOnly, typ: TypeDSN,
			rcpts:      []rcpt{{"nils@firma.example", "failed", "5.1.1", "550", ClassInvalid}},
			deliveryID: 9001, messageID: "<herald.9001.aaaaaaaaaaaaaaaaaaaaaaaaaa@notify.helse.example>",
			diag: "Recipient address rejected: User unknown",
		},
		{
			name: "courier 5.0.0 with words", msg: courierDSN, typ: TypeDSN,
			rcpts: []rcpt{{"taro@example.jp", "failed", "5.0.0", "550", ClassInvalid}},
			diag:  "Unknown user",
		},
		{
			name: "SES, base64 DSN, Action first", msg: sesBase64, typ: TypeDSN,
			rcpts: []rcpt{{"lena@example.de", "failed", "5.2.2", "552", ClassSoft}},
		},
		{
			name: "delay is soft even when it says user unknown", msg: postfixDelay, typ: TypeDSN,
			rcpts: []rcpt{{"eva@example.nl", "delayed", "4.1.1", "450", ClassSoft}},
		},
		{
			name: "success DSN has no class", msg: successDSN, typ: TypeDSN,
			rcpts: []rcpt{{"jan@example.nl", "relayed", "2.0.0", "250", ""}},
		},
		{
			name: "ARF with Original-Rcpt-To", msg: arfWithRcpt, typ: TypeARF,
			rcpts:      []rcpt{{"siri@yahoo.example", "", "", "", ""}},
			deliveryID: 42, feedback: "abuse",
		},
		{
			name: "ARF without Original-Rcpt-To uses the original's To", msg: arfNoRcpt, typ: TypeARF,
			rcpts:      []rcpt{{"arne@aol.example", "", "", "", ""}},
			deliveryID: 555, feedback: "fraud",
		},
		{
			name: "exchange out of office", msg: exchangeOOF, typ: TypeAutoreply,
			deliveryID: 31337, messageID: "<herald.31337.cccccccccccccccccccccccccc@notify.helse.example>",
		},
		{name: "auto-reply that says the mailbox is gone is still an auto-reply", msg: leftJobAutoreply, typ: TypeAutoreply},
		{name: "a person's reply", msg: humanReply, typ: TypeUnknown, deliveryID: 8},
		{
			name: "transcript: success replies are skipped", msg: transcript, typ: TypeDSN,
			rcpts: []rcpt{{"lea@example.fr", "failed", "5.1.1", "550", ClassInvalid}},
			diag:  "550 5.1.1 <lea@example.fr>: Recipient address rejected",
		},
		{
			name: "reply at the very start of a paragraph", typ: TypeDSN,
			msg:   "From: MAILER-DAEMON@x.example\nSubject: failure notice\nX-Failed-Recipients: ann@example.org\n\n550 5.1.1 <ann@example.org> No such user\n",
			rcpts: []rcpt{{"ann@example.org", "failed", "5.1.1", "550", ClassInvalid}},
		},
		{
			name: "our sender address quoted in a reply is not a recipient", typ: TypeDSN,
			msg:   "From: POSTMASTER@relay.example\nSubject: Message Delivery Failure\n\nMessage could not be delivered to some recipients.\n\n\tRecipient: [SMTP:ann@example.org]\n\tReason: Remote SMTP Server Returned: 554 5.7.1 <varsel@helse.example>: Sender address rejected: Access denied\n\nHeaders:\nFrom: Helse Vest <varsel@helse.example>\nTo: ann@example.org\n",
			rcpts: []rcpt{{"ann@example.org", "failed", "5.7.1", "554", ClassPolicy}},
		},
		{
			name: "latin-1 quoted-printable Norwegian text", msg: latin1Norwegian, typ: TypeDSN,
			rcpts: []rcpt{{"bjørn@example.no", "failed", "", "550", ClassInvalid}},
			diag:  "finnes ikke på denne serveren",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tt.msg))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if rep.Type != tt.typ {
				t.Errorf("Type = %q, want %q", rep.Type, tt.typ)
			}
			var got []rcpt
			for _, r := range rep.Recipients {
				got = append(got, rcpt{r.Address, r.Action, r.Status, r.ReplyCode, r.Class})
				if r.Hard != (r.Class == ClassInvalid) {
					t.Errorf("%s: Hard = %v with Class %q", r.Address, r.Hard, r.Class)
				}
			}
			if !reflect.DeepEqual(got, tt.rcpts) {
				t.Errorf("recipients:\n got  %+v\n want %+v", got, tt.rcpts)
			}
			if rep.DeliveryID != tt.deliveryID {
				t.Errorf("DeliveryID = %d, want %d", rep.DeliveryID, tt.deliveryID)
			}
			if tt.messageID != "" && rep.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", rep.MessageID, tt.messageID)
			}
			if tt.to != nil && !reflect.DeepEqual(rep.To, tt.to) {
				t.Errorf("To = %q, want %q", rep.To, tt.to)
			}
			if rep.FeedbackType != tt.feedback {
				t.Errorf("FeedbackType = %q, want %q", rep.FeedbackType, tt.feedback)
			}
			if tt.diag != "" && (len(rep.Recipients) == 0 || !strings.Contains(rep.Recipients[0].Diagnostic, tt.diag)) {
				t.Errorf("Diagnostic does not contain %q: %+v", tt.diag, rep.Recipients)
			}
		})
	}
}

// TestParseDSNFields covers the corners of RFC 3464 field syntax.
func TestParseDSNFields(t *testing.T) {
	dsn := func(fields string) string {
		return "From: MAILER-DAEMON@x.example\nTo: b@b.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"Q\"\n\n--Q\nContent-Type: message/delivery-status\n\n" + fields + "\n--Q--\n"
	}
	tests := []struct {
		name, fields string
		addr, status string
	}{
		{"xtext original recipient", "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; kari+news@example.no\nOriginal-Recipient: rfc822;kari+2Bnews@example.no\nAction: failed\nStatus: 5.1.1\n", "kari+news@example.no", "5.1.1"},
		{"unencoded plus survives", "Final-Recipient: rfc822; ab+cd@example.no\nOriginal-Recipient: rfc822;ab+cd@example.no\nAction: failed\nStatus: 5.1.1\n", "ab+cd@example.no", "5.1.1"},
		{"original preferred to final (alias expansion)", "Final-Recipient: rfc822; k.nordmann@internal.example.no\nOriginal-Recipient: rfc822;kari@example.no\nAction: failed\nStatus: 5.1.1\n", "kari@example.no", "5.1.1"},
		{"angle brackets and comment", "Final-Recipient: RFC822; <kari@example.no> (Kari)\nAction: failed\nStatus: 5.1.1 (bad destination mailbox address)\n", "kari@example.no", "5.1.1"},
		{"no blank line after per-message fields", "Reporting-MTA: dns; x\nArrival-Date: today\nFinal-Recipient: rfc822; kari@example.no\nAction: failed\nStatus: 5.1.1\n", "kari@example.no", "5.1.1"},
		{"lower-case field names", "reporting-mta: dns; x\n\nfinal-recipient: rfc822; kari@example.no\naction: failed\nstatus: 5.1.1\n", "kari@example.no", "5.1.1"},
		{"status missing, taken from the diagnostic", "Final-Recipient: rfc822; kari@example.no\nAction: failed\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n", "kari@example.no", "5.1.1"},
		{"utf-8 address", "Final-Recipient: utf-8; bjørn@eksempel.no\nAction: failed\nStatus: 5.1.1\n", "bjørn@eksempel.no", "5.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(dsn(tt.fields)))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Recipients) != 1 {
				t.Fatalf("recipients = %+v, want one", rep.Recipients)
			}
			r := rep.Recipients[0]
			if r.Address != tt.addr || r.Status != tt.status || r.Action != ActionFailed || r.Class != ClassInvalid {
				t.Errorf("got %+v, want %s %s failed invalid", r, tt.addr, tt.status)
			}
		})
	}
}

func TestParseIdentifiers(t *testing.T) {
	withOriginal := func(hdrs string) string {
		return "From: MAILER-DAEMON@x.example\nTo: bounces+t@b.example\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"Q\"\n\n--Q\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; kari@example.no\nAction: failed\nStatus: 5.1.1\n\n--Q\nContent-Type: message/rfc822\n\n" + hdrs + "\nbody\n--Q--\n"
	}
	tests := []struct {
		name       string
		msg        string
		deliveryID int64
		messageID  string
	}{
		{"header and Message-ID agree", withOriginal("X-Herald-Delivery: 12\nMessage-ID: <herald.12.abcdefghijklmnopqrstuvwxyz@n.example>\n"), 12, "<herald.12.abcdefghijklmnopqrstuvwxyz@n.example>"},
		{"X-Herald-Delivery wins over the Message-ID", withOriginal("X-Herald-Delivery: 5\nMessage-ID: <herald.6.abcdefghijklmnopqrstuvwxyz@n.example>\n"), 5, "<herald.6.abcdefghijklmnopqrstuvwxyz@n.example>"},
		{"Message-ID only", withOriginal("Message-ID: <herald.9876543210.abcdefghijklmnopqrstuvwxyz@n.example>\n"), 9876543210, "<herald.9876543210.abcdefghijklmnopqrstuvwxyz@n.example>"},
		{"header only, foreign Message-ID", withOriginal("X-Herald-Delivery: 77\nMessage-ID: <0102018f-aaaa@eu-west-1.amazonses.com>\n"), 77, "<0102018f-aaaa@eu-west-1.amazonses.com>"},
		{"neither", withOriginal("Message-ID: <CAF=abc@mail.gmail.com>\n"), 0, "<CAF=abc@mail.gmail.com>"},
		{"overflowing ID is ignored", withOriginal("X-Herald-Delivery: 99999999999999999999\n"), 0, ""},
		{"negative and junk IDs are ignored", withOriginal("X-Herald-Delivery: -4\nMessage-ID: <herald.0.abcdefghijklmnopqrstuvwxyz@n.example>\n"), 0, "<herald.0.abcdefghijklmnopqrstuvwxyz@n.example>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if rep.DeliveryID != tt.deliveryID || rep.MessageID != tt.messageID {
				t.Errorf("DeliveryID, MessageID = %d, %q; want %d, %q", rep.DeliveryID, rep.MessageID, tt.deliveryID, tt.messageID)
			}
		})
	}
}

func TestParseEnvelopeTo(t *testing.T) {
	msg := "X-Original-To: bounces+AbC@bounce.example\nDelivered-To: bounces+abc@bounce.example\nTo: \"Bounces\" <bounces+AbC@bounce.example>, other@example.org\nFrom: MAILER-DAEMON@x.example\nSubject: hi\n\nbody\n"
	rep, err := Parse(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bounces+AbC@bounce.example", "other@example.org"}
	if !reflect.DeepEqual(rep.To, want) {
		t.Errorf("To = %q, want %q", rep.To, want)
	}
}

// TestParseMalformed feeds damaged input: Parse must not fail or panic,
// and must read what can be read.
func TestParseMalformed(t *testing.T) {
	crlfFolded := strings.ReplaceAll("From: Mail Delivery System\n <MAILER-DAEMON@x.example>\nTo: b@b.example\nSubject: =?UTF-8?B?VW5kZWxpdmVyZWQgTWFpbCBSZXR1cm5lZCB0byBTZW5kZXI=?=\nContent-Type: multipart/report;\n report-type=delivery-status;\n boundary=\"F\"\n\n--F\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\n kari@example.no\nAction: failed\nStatus: 5.1.1\n\n--F--\n", "\n", "\r\n")
	truncated := postfixDSN[:strings.Index(postfixDSN, "--B1\nContent-Type: message/rfc822")+40]
	tests := []struct {
		name  string
		msg   string
		typ   string
		addrs []string
	}{
		{"CR LF, folded headers, encoded subject", crlfFolded, TypeDSN, []string{"kari@example.no"}},
		{"cut off inside the returned message", truncated, TypeDSN, []string{"kari@example.no"}},
		{"garbage line in the header", "From: MAILER-DAEMON@x.example\nthis is not a header\nTo: b@b.example\nSubject: failure notice\nX-Failed-Recipients: per@example.no\n\n<per@example.no>:\nSorry, no mailbox here by that name. (#5.1.1)\n", TypeDSN, []string{"per@example.no"}},
		{"boundary never appears", "From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"nope\"\n\n<per@example.no>: host mx[192.0.2.1] said: 550 5.1.1 User unknown\n", TypeDSN, []string{"per@example.no"}},
		{"mbox separator line first", "From MAILER-DAEMON Mon Mar  2 10:00:05 2026\n" + postfixDSN, TypeDSN, []string{"kari@example.no"}},
		{"no header at all", "just some words\nand more\n", TypeUnknown, nil},
		{"binary", "\x00\x01\x02\xff\xfe\n\n\x89PNG\r\n\x1a\n", TypeUnknown, nil},
		{"unknown charset and encoding", "From: MAILER-DAEMON@x.example\nSubject: failure notice\nContent-Type: text/plain; charset=x-klingon\nContent-Transfer-Encoding: x-uuencode\n\n<per@example.no>:\nSorry, no mailbox here by that name. (#5.1.1)\n", TypeDSN, []string{"per@example.no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tt.msg))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if rep.Type != tt.typ {
				t.Errorf("Type = %q, want %q", rep.Type, tt.typ)
			}
			var addrs []string
			for _, r := range rep.Recipients {
				addrs = append(addrs, r.Address)
			}
			if !reflect.DeepEqual(addrs, tt.addrs) {
				t.Errorf("recipients = %q, want %q", addrs, tt.addrs)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse(strings.NewReader(" \r\n\t\n")); !errors.Is(err, ErrEmpty) {
		t.Errorf("blank input: err = %v, want ErrEmpty", err)
	}
	boom := errors.New("disk on fire")
	if _, err := Parse(io.MultiReader(strings.NewReader("From: x\n"), errReader{boom})); !errors.Is(err, boom) {
		t.Errorf("failing reader: err = %v, want it wrapped", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// countingReader counts what Parse reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestParseReadsAtMostMaxSize(t *testing.T) {
	// A real bounce followed by a returned attachment far over the cap.
	big := io.MultiReader(strings.NewReader(strings.Replace(postfixDSN, "Hei Kari\n\n--B1--\n", "", 1)), bytes.NewReader(bytes.Repeat([]byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"), (MaxSize/77)+1000)))
	cr := &countingReader{r: big}
	rep, err := Parse(cr)
	if err != nil {
		t.Fatal(err)
	}
	if cr.n > MaxSize+1 {
		t.Errorf("read %d bytes, want at most %d", cr.n, MaxSize+1)
	}
	if !rep.Truncated {
		t.Error("Truncated = false for a message over MaxSize")
	}
	if len(rep.Recipients) != 1 || !rep.Recipients[0].Hard || rep.DeliveryID != 42 {
		t.Errorf("truncated message not read as far as it goes: %+v", rep)
	}
}

// TestReportJSON pins the JSON that `herald bounces parse --json` prints.
func TestReportJSON(t *testing.T) {
	rep, err := Parse(strings.NewReader(postfixDSN))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != "dsn" {
		t.Errorf("type = %v", m["type"])
	}
	rs, ok := m["recipients"].([]any)
	if !ok || len(rs) != 1 {
		t.Fatalf("recipients = %v", m["recipients"])
	}
	r := rs[0].(map[string]any)
	for key, want := range map[string]any{"address": "kari@example.no", "action": "failed", "status": "5.1.1", "reply_code": "550", "class": "invalid", "hard": true} {
		if r[key] != want {
			t.Errorf("recipients[0].%s = %v, want %v", key, r[key], want)
		}
	}
	if _, ok := r["diagnostic"].(string); !ok {
		t.Errorf("recipients[0].diagnostic missing: %s", b)
	}

	// An auto-reply prints an empty list, not null.
	rep, err = Parse(strings.NewReader(exchangeOOF))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(rep)
	if !bytes.Contains(b, []byte(`"type":"autoreply","recipients":[]`)) {
		t.Errorf("auto-reply JSON = %s", b)
	}
}
