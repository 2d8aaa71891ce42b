package web

import (
	"regexp"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// This file turns what providers answer (SMTP reply codes, enhanced status
// codes, Twilio error codes) and delivery states into plain words for
// support staff, who must tell a caller why a notice did not reach them
// without knowing RFC 3463.

// smtpDetail maps the subject.detail part of an enhanced status code
// (RFC 3463, "5.1.1" → "1.1") to words. The class digit (4 temporary,
// 5 permanent) is said separately.
var smtpDetail = map[string]string{
	"1.0":  "the address was refused by the receiving server",
	"1.1":  "mailbox does not exist at the receiving server",
	"1.2":  "the e-mail domain does not exist or accepts no mail",
	"1.3":  "the address is not written correctly",
	"1.6":  "the mailbox has moved and has no forwarding address",
	"1.10": "the e-mail domain says it accepts no mail (null MX)",
	"2.0":  "the mailbox cannot take messages",
	"2.1":  "mailbox disabled or not accepting messages",
	"2.2":  "mailbox full",
	"2.3":  "the message is larger than the mailbox accepts",
	"2.4":  "the mailing list could not be expanded",
	"3.0":  "the receiving mail system has a problem",
	"3.1":  "the receiving mail system is out of storage",
	"3.4":  "the message is larger than the receiving system accepts",
	"4.0":  "the receiving server could not be reached",
	"4.1":  "no answer from the receiving server",
	"4.2":  "the connection to the receiving server broke off",
	"4.4":  "the receiving server could not be found (DNS)",
	"4.6":  "the message went round in a mail loop",
	"4.7":  "delivery took too long and was given up",
	"5.0":  "the receiving server did not accept the conversation",
	"6.0":  "the receiving server could not handle the message's format",
	"7.0":  "refused by the receiving server's security policy",
	"7.1":  "refused by the receiving server's policy (sender not allowed, or spam filter)",
	"7.8":  "the sending account's credentials were refused",
	"7.23": "refused because the sender's SPF check failed",
	"7.25": "refused because the sender's DNS records do not match",
	"7.26": "refused because the message failed sender authentication (SPF/DKIM/DMARC)",
	"7.27": "the sender's domain accepts no mail (null MX)",
}

// smtpBasic explains plain three-digit SMTP replies, used when a server
// gives no enhanced code.
var smtpBasic = map[string]string{
	"250": "accepted by the receiving server",
	"251": "accepted by the receiving server, which forwards it",
	"421": "the receiving server was not available; herald retries",
	"450": "the mailbox was temporarily unavailable; herald retries",
	"451": "the receiving server had a local problem; herald retries",
	"452": "the receiving server was out of storage; herald retries",
	"550": "mailbox unavailable: it does not exist or refuses mail",
	"551": "the person is not at this address",
	"552": "mailbox full or message too large",
	"553": "the address is not allowed by the receiving server",
	"554": "the receiving server refused the message",
}

// twilioCodes explains Twilio error codes support staff meet.
var twilioCodes = map[string]string{
	"20003": "the SMS provider refused herald's credentials",
	"20429": "the SMS provider asked herald to slow down; herald retries",
	"21211": "not a valid phone number",
	"21408": "sending SMS to this country is not enabled on the account",
	"21606": "the sender number cannot send SMS",
	"21610": "the person has opted out of SMS (replied STOP)",
	"21612": "the number cannot be reached from this sender",
	"21614": "not a mobile number: it cannot receive SMS",
	"30001": "the SMS provider's queue overflowed; herald retries",
	"30002": "the SMS account is suspended",
	"30003": "the phone is unreachable (switched off or out of coverage)",
	"30004": "the message was blocked by the phone's owner or carrier",
	"30005": "unknown number: it does not exist or is no longer in service",
	"30006": "a landline or a carrier that cannot receive SMS",
	"30007": "the carrier filtered the message as spam",
	"30008": "the carrier reported an unknown error",
	"30034": "the sender number is not registered for business SMS",
}

// stateWords says what a delivery state means.
var stateWords = map[dispatcher.State]string{
	dispatcher.StatePending:       "waiting to be sent",
	dispatcher.StateQueued:        "queued for sending",
	dispatcher.StateSending:       "being sent now",
	dispatcher.StateSent:          "sent: the provider accepted it",
	dispatcher.StateDelivered:     "delivered: the provider confirmed it arrived",
	dispatcher.StateBouncedHard:   "bounced: the address does not work",
	dispatcher.StateBouncedSoft:   "bounced for now: a temporary problem",
	dispatcher.StateFailed:        "failed, for a reason that is not the address's",
	dispatcher.StateSuppressed:    "not sent: the address is on the do-not-contact list",
	dispatcher.StateSkipped:       "not attempted",
	dispatcher.StateCancelled:     "not sent: the campaign was cancelled",
	dispatcher.StateHandedToPrint: "letter handed to the mail house for printing",
}

// StateWords returns the plain-words meaning of a delivery state.
func StateWords(s dispatcher.State) string {
	if w, ok := stateWords[s]; ok {
		return w
	}
	return string(s)
}

// enhancedRE finds an enhanced status code (class.subject.detail) in a
// reply such as "550 5.1.1 <x@y>: Recipient address rejected".
var enhancedRE = regexp.MustCompile(`(?:^|[^0-9.])([245])\.([0-9]{1,3})\.([0-9]{1,3})(?:[^0-9.]|$)`)

// basicRE finds a three-digit SMTP reply code at the start of a reply.
var basicRE = regexp.MustCompile(`^\s*([2-5][0-9][0-9])(?:[\s-]|$)`)

// twilioRE finds a five-digit Twilio error code.
var twilioRE = regexp.MustCompile(`^\s*([0-9]{5})\s*$`)

// ExplainCode turns a provider's code (and, when the code alone says
// little, its diagnostic text) into plain words. It returns "" when it
// knows nothing better than the code itself. Codes come from outside
// (mail servers, Twilio) and may be anything; ExplainCode never fails.
func ExplainCode(channel dispatcher.ChannelKind, code, diagnostic string) string {
	code = strings.TrimSpace(code)
	if code == "" {
		code = strings.TrimSpace(diagnostic)
	}
	if code == "" {
		return ""
	}
	if m := twilioRE.FindStringSubmatch(code); m != nil {
		if w, ok := twilioCodes[m[1]]; ok {
			return w
		}
		if channel == dispatcher.SMS {
			return ""
		}
	}
	for _, text := range []string{code, diagnostic} {
		if m := enhancedRE.FindStringSubmatch(text); m != nil {
			class, key := m[1], m[2]+"."+m[3]
			w, ok := smtpDetail[key]
			if !ok {
				w, ok = smtpDetail[m[2]+".0"]
			}
			switch {
			case class == "2":
				return "accepted by the receiving server"
			case ok && class == "4":
				return w + " (temporary; herald retries)"
			case ok:
				return w
			case class == "4":
				return "a temporary problem at the receiving server; herald retries"
			default:
				return "permanently refused by the receiving server"
			}
		}
	}
	if m := basicRE.FindStringSubmatch(code); m != nil {
		if w, ok := smtpBasic[m[1]]; ok {
			return w
		}
		switch m[1][0] {
		case '4':
			return "a temporary problem at the receiving server; herald retries"
		case '5':
			return "permanently refused by the receiving server"
		}
	}
	return ""
}
