package bounce

import (
	"bytes"
	"strconv"
	"strings"
)

// dsnRecipient is one per-recipient block of an RFC 3464 report.
type dsnRecipient struct {
	final, original string
	action          string
	status          string
	diagnostic      string
	remoteMTA       string
}

// parseDSN reads the per-recipient fields of a message/delivery-status
// body. RFC 3464 separates the per-message block and each recipient's
// block with blank lines; some MTAs leave the blank lines out or put
// Action before Final-Recipient, so a block is also split where a second
// Final-Recipient (or Original-Recipient) starts. Fields the report does
// not need (X-Postfix-Sender, Last-Attempt-Date, X-Actual-Recipient ...)
// are ignored.
func parseDSN(b []byte) []dsnRecipient {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	var out []dsnRecipient
	rest := b
	for i := 0; len(rest) > 0 && i < 1000; i++ {
		// Skip blank lines between blocks.
		trimmed := bytes.TrimLeft(rest, " \t\n")
		if len(trimmed) == 0 {
			break
		}
		var fs fields
		fs, rest = readFields(trimmed)
		if len(fs) == 0 {
			// Not a field: skip a line and go on.
			_, rest = cutLine(trimmed)
			continue
		}
		out = append(out, splitRecipients(fs)...)
	}
	return out
}

// splitRecipients turns one block of fields into recipients.
func splitRecipients(fs fields) []dsnRecipient {
	var out []dsnRecipient
	var cur *dsnRecipient
	var pending []field // fields seen before the block's first recipient field
	for _, f := range fs {
		switch f.name {
		case "final-recipient", "original-recipient":
			if cur == nil || (f.name == "final-recipient" && cur.final != "") || (f.name == "original-recipient" && cur.original != "") {
				out = append(out, dsnRecipient{})
				cur = &out[len(out)-1]
				for _, p := range pending {
					cur.set(p)
				}
				pending = nil
			}
			cur.set(f)
		default:
			if cur == nil {
				pending = append(pending, f)
			} else {
				cur.set(f)
			}
		}
	}
	return out
}

func (d *dsnRecipient) set(f field) {
	switch f.name {
	case "final-recipient":
		d.final = recipientAddress(f.value, false)
	case "original-recipient":
		d.original = recipientAddress(f.value, true)
	case "action":
		if d.action == "" {
			a := strings.ToLower(strings.TrimSpace(f.value))
			if i := strings.IndexAny(a, " \t(;"); i >= 0 {
				a = a[:i]
			}
			d.action = a
		}
	case "status":
		if d.status == "" {
			if st := parseStatus(f.value); st.valid {
				d.status = st.String()
			}
		}
	case "diagnostic-code":
		if d.diagnostic == "" {
			d.diagnostic = dropType(f.value)
		}
	case "remote-mta":
		if d.remoteMTA == "" {
			d.remoteMTA = dropType(f.value)
		}
	}
}

// dropType removes the type prefix of a DSN field value ("smtp; 550 ...",
// "dns; mx.example.org", "X-Postfix; ...").
func dropType(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i > 0 && i < 20 && !strings.ContainsAny(v[:i], " \t") {
		return strings.TrimSpace(v[i+1:])
	}
	return v
}

// recipientAddress reads "rfc822; user@example.org". Original-Recipient
// is xtext-encoded (RFC 3461: "+2B" for "+"); Final-Recipient is not.
func recipientAddress(v string, xtext bool) string {
	typ := ""
	if i := strings.IndexByte(v, ';'); i >= 0 {
		typ = strings.ToLower(strings.TrimSpace(v[:i]))
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	if xtext && typ == "rfc822" {
		v = decodeXtext(v)
	}
	if as := findAddresses(v); len(as) > 0 {
		return as[0]
	}
	return strings.Trim(v, "<> \t")
}

// decodeXtext decodes RFC 3461 xtext ("+HH" hex escapes).
func decodeXtext(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]) {
			// Only characters xtext must escape are decoded, so an
			// unencoded "user+ab@" survives.
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil && (n == '+' || n == '=' || n <= ' ') {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isUpperHex(c byte) bool { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') }
