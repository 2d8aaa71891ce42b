package file

import (
	"fmt"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// Render returns the readable form of a notice that Send writes: a header
// block (who it goes to, who it is from, the subject and the IDs that find
// it in the ledger), then the text part, then the HTML part if there is
// one. Header values are kept to one line each, so a subject cannot forge
// further headers.
func Render(m *dispatcher.Message) []byte {
	var b strings.Builder
	header := func(name, value string) {
		if value == "" {
			return
		}
		fmt.Fprintf(&b, "%-12s %s\n", name+":", oneLine(value))
	}
	header("To", address(m.ToName, m.To))
	header("From", address(m.Sender.FromName, m.Sender.FromEmail))
	header("Reply-To", m.Sender.ReplyTo)
	header("SMS-From", m.Sender.SMSFrom)
	header("SMS-Service", m.Sender.SMSService)
	header("Subject", m.Subject)
	header("Locale", m.Locale)
	header("Channel", string(m.Channel))
	header("Campaign", fmt.Sprint(m.CampaignID))
	header("Delivery", fmt.Sprint(m.DeliveryID))

	b.WriteString("\n----- text -----\n")
	b.WriteString(m.Text)
	if !strings.HasSuffix(m.Text, "\n") {
		b.WriteString("\n")
	}
	if m.HTML != "" {
		b.WriteString("\n----- html -----\n")
		b.WriteString(m.HTML)
		if !strings.HasSuffix(m.HTML, "\n") {
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}

// address formats "Name <addr>", or just addr without a name.
func address(name, addr string) string {
	if addr == "" {
		return ""
	}
	if name == "" {
		return addr
	}
	return name + " <" + addr + ">"
}

// oneLine folds line breaks into spaces.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}
