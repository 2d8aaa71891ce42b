package smtpd

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Drop, returned by a hook, makes the server close the connection at once
// without replying, as a crashed or overloaded MTA does. The client sees
// the connection end in the middle of its command.
var Drop = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "connection dropped"}

// Replies with the wording of real MTAs, for hooks and the lists in
// Options. Clients must classify by the codes, but a test that shows the
// exact text an operator will see in the ledger is worth having.

// UserUnknown is Postfix's reply for a mailbox that does not exist in a
// virtual domain: the classic hard bounce.
func UserUnknown(rcpt string) *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message:      fmt.Sprintf("<%s>: Recipient address rejected: User unknown in virtual mailbox table", rcpt),
	}
}

// Greylisted is Postfix's reply when postgrey defers a sender it has not
// seen before; the message is accepted when retried minutes later.
func Greylisted(rcpt string) *smtp.SMTPError {
	domain := rcpt
	if i := strings.LastIndexByte(rcpt, '@'); i >= 0 {
		domain = rcpt[i+1:]
	}
	return &smtp.SMTPError{
		Code:         450,
		EnhancedCode: smtp.EnhancedCode{4, 2, 0},
		Message:      fmt.Sprintf("<%s>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/%s.html", rcpt, domain),
	}
}

// TryAgainLater is the 451 4.7.1 deferral of rspamd's greylisting and of
// many rate limiters.
func TryAgainLater(string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Try again later"}
}

// RelayDenied is Postfix's reply when the client may not send through it
// to that domain: a policy refusal about the sender, not the recipient.
func RelayDenied(rcpt string) *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         554,
		EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message:      fmt.Sprintf("<%s>: Relay access denied", rcpt),
	}
}

var (
	// errAuthRequired answers MAIL FROM before AUTH when a username is set
	// (RFC 4954).
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	// errAuthFailed is Postfix's reply to wrong credentials.
	errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Error: authentication failed: authentication failure"}
)
