package bounce

import (
	"regexp"
	"strconv"
	"strings"
)

// HeaderDelivery is the header in which herald's notices carry their
// delivery ID (the same name as email.HeaderDelivery; repeated here so the
// package stays free of the channel).
const HeaderDelivery = "X-Herald-Delivery"

var (
	// reHeraldMsgID matches herald's Message-IDs,
	// <herald.<deliveryID>.<random>@domain>.
	reHeraldMsgID = regexp.MustCompile(`(?i)<?(herald\.([0-9]{1,18})\.[a-z0-9]{4,64}@[a-z0-9](?:[a-z0-9.-]{0,250}[a-z0-9])?)>?`)
	// reInlineDelivery and reInlineMsgID find the original's headers
	// quoted in the text of a non-standard bounce.
	reInlineDelivery = regexp.MustCompile(`(?im)^[ \t>]*x-herald-delivery:[ \t]*([0-9]{1,18})[ \t]*\r?$`)
	reInlineMsgID    = regexp.MustCompile(`(?im)^[ \t>]*message-id:[ \t]*(<[^<>\s]{1,250}>)`)
)

// ids is what identifies the original.
type ids struct {
	deliveryID int64
	messageID  string
}

// findIDs looks for herald's identifiers: first in the returned original's
// headers, then in the bounce text (a quoted original), then in the
// bounce's In-Reply-To and References (auto-replies and Exchange NDRs
// refer to the original there). X-Herald-Delivery is preferred to the
// delivery ID inside the Message-ID; a herald Message-ID is preferred to
// any other.
func (c *collected) findIDs() ids {
	var out ids
	var otherID string
	for _, fs := range c.originals {
		if out.deliveryID == 0 {
			out.deliveryID = parseDeliveryID(fs.get(strings.ToLower(HeaderDelivery)))
		}
		mid := strings.TrimSpace(fs.get("message-id"))
		if m := reHeraldMsgID.FindStringSubmatch(mid); m != nil && out.messageID == "" {
			out.messageID = "<" + m[1] + ">"
		} else if otherID == "" && mid != "" {
			otherID = msgID(mid)
		}
	}
	for _, t := range c.allTexts() {
		if out.deliveryID == 0 {
			if m := reInlineDelivery.FindStringSubmatch(t); m != nil {
				out.deliveryID = parseDeliveryID(m[1])
			}
		}
		if out.messageID == "" {
			if m := reHeraldMsgID.FindStringSubmatch(t); m != nil {
				out.messageID = "<" + m[1] + ">"
			}
		}
		if otherID == "" {
			if _, after := cutOriginal(t); after != "" {
				if m := reInlineMsgID.FindStringSubmatch(after); m != nil {
					otherID = m[1]
				}
			}
		}
	}
	if out.messageID == "" {
		for _, name := range []string{"in-reply-to", "references"} {
			if m := reHeraldMsgID.FindStringSubmatch(c.top.get(name)); m != nil {
				out.messageID = "<" + m[1] + ">"
				break
			}
		}
	}
	if out.deliveryID == 0 && out.messageID != "" {
		if m := reHeraldMsgID.FindStringSubmatch(out.messageID); m != nil {
			out.deliveryID = parseDeliveryID(m[2])
		}
	}
	if out.messageID == "" {
		out.messageID = otherID
	}
	return out
}

// parseDeliveryID reads a positive delivery ID; anything else is 0.
func parseDeliveryID(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// msgID normalises a Message-ID header value to "<id>".
func msgID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i : i+j+1]
		}
	}
	if v == "" || strings.ContainsAny(v, " \t") || len(v) > 250 {
		return ""
	}
	return "<" + v + ">"
}

// allTexts is every human-readable text of the bounce, plain first.
func (c *collected) allTexts() []string {
	out := make([]string, 0, len(c.texts)+len(c.htmls))
	out = append(out, c.texts...)
	return append(out, c.htmls...)
}

// envelopeTo lists the addresses the bounce was delivered to, envelope
// headers first, without duplicates.
func (c *collected) envelopeTo() []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range []string{"x-original-to", "delivered-to", "envelope-to", "x-envelope-to", "x-rcpt-to", "to"} {
		for _, v := range c.top.all(name) {
			for _, a := range addresses(v) {
				k := strings.ToLower(a)
				if !seen[k] && len(out) < 20 {
					seen[k] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}
