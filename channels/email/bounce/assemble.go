package bounce

import (
	"regexp"
	"strconv"
	"strings"
)

// report decides what the collected message is and builds its Report.
func (c *collected) report() *Report {
	rep := &Report{Type: TypeUnknown, Recipients: []Recipient{}, To: c.envelopeTo()}
	id := c.findIDs()
	rep.DeliveryID, rep.MessageID = id.deliveryID, id.messageID

	human := c.humanText()
	report, original := cutOriginal(human)

	if len(c.feedback) > 0 || c.reportType == "feedback-report" {
		rep.Type = TypeARF
		rep.FeedbackType, rep.Recipients = c.arf(original)
		return rep
	}
	if rs := c.dsnRecipients(report); len(rs) > 0 {
		rep.Type = TypeDSN
		rep.Recipients = rs
		return rep
	}

	daemon := c.fromDaemon()
	failedHeader := c.top.get("x-failed-recipients")
	structural := daemon || failedHeader != "" || c.reportType == "delivery-status" || len(c.dsn) > 0
	strongAuto, weakAuto := c.autoreply()
	if strongAuto && !structural {
		rep.Type = TypeAutoreply
		return rep
	}
	subject, body := c.failureEvidence(report)
	if structural || subject || body {
		rs := c.textRecipients(report, original, failedHeader)
		switch {
		case len(rs) > 0:
			rep.Type, rep.Recipients = TypeDSN, rs
			return rep
		case structural && (subject || body || c.reportType == "delivery-status"):
			// Clearly a bounce, but it names nobody we can find.
			rep.Type = TypeDSN
			return rep
		}
	}
	if weakAuto || strongAuto {
		rep.Type = TypeAutoreply
	}
	return rep
}

// humanText is the readable text of the bounce: its plain-text parts, or
// its HTML parts turned into text when it has no plain text worth reading.
func (c *collected) humanText() string {
	var b strings.Builder
	for _, t := range c.texts {
		if reDSNFields.MatchString(t) && !reFailureBody.MatchString(t) {
			// A machine-readable part labelled text/plain.
			continue
		}
		b.WriteString(t)
		b.WriteString("\n\n")
	}
	if strings.TrimSpace(b.String()) == "" || len(strings.TrimSpace(b.String())) < 40 {
		for _, t := range c.htmls {
			b.WriteString(t)
			b.WriteString("\n\n")
		}
	}
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

// dsnRecipients reads the delivery-status parts. report, the human text,
// supplies words when the machine-readable part has none.
func (c *collected) dsnRecipients(report string) []Recipient {
	var out []Recipient
	seen := map[string]bool{}
	lines := strings.Split(report, "\n")
	var all []dsnRecipient
	for _, b := range c.dsn {
		all = append(all, parseDSN(b)...)
	}
	for _, b := range c.dsn {
		for _, d := range parseDSN(b) {
			addr := d.original
			if !strings.Contains(addr, "@") {
				addr = d.final
			}
			if addr == "" {
				continue
			}
			key := strings.ToLower(addr) + "\x00" + d.action + "\x00" + d.status
			if seen[key] || len(out) >= 100 {
				continue
			}
			seen[key] = true
			r := Recipient{
				Address:    addr,
				Action:     d.action,
				Status:     d.status,
				Diagnostic: tidyDiagnostic(d.diagnostic),
				RemoteMTA:  d.remoteMTA,
			}
			if code := leadingCode(r.Diagnostic); code != 0 {
				r.ReplyCode = strconv.Itoa(code)
			}
			if r.Status == "" {
				if st, ok := firstStatus(r.Diagnostic); ok {
					r.Status = st.String()
				}
			}
			if r.Action == "" {
				r.Action = actionFromStatus(r.Status)
			}
			// With one recipient the whole human text is about it; with
			// several, only the lines that follow its name.
			context := ""
			if other := others(all, addr, d.final); len(other) > 0 {
				context = contextFor(lines, other, addr, d.final)
			} else {
				context = report
			}
			if r.Diagnostic == "" && context != "" {
				r.Diagnostic = bestDiagnostic(strings.Split(context, "\n"), addr)
				if r.ReplyCode == "" {
					if code := leadingCode(r.Diagnostic); code != 0 {
						r.ReplyCode = strconv.Itoa(code)
					}
				}
			}
			classifyRecipient(&r, context)
			out = append(out, r)
		}
	}
	return out
}

// others lists the addresses of the report's other recipients.
func others(all []dsnRecipient, addrs ...string) []string {
	var out []string
	for _, d := range all {
		for _, a := range []string{d.final, d.original} {
			if a == "" {
				continue
			}
			mine := false
			for _, m := range addrs {
				mine = mine || strings.EqualFold(a, m)
			}
			if !mine {
				out = append(out, strings.ToLower(a))
			}
		}
	}
	return out
}

// contextFor is the part of a bounce text about one recipient: from the
// first line naming it to the end of that paragraph and the indented
// lines after it, stopping at a line that names another recipient; the
// whole text if no line names it (and there are no other recipients).
func contextFor(lines []string, other []string, addrs ...string) string {
	start := -1
	for i, l := range lines {
		ll := strings.ToLower(l)
		for _, a := range addrs {
			if a != "" && strings.Contains(ll, strings.ToLower(a)) && !reHeaderishLine.MatchString(l) {
				start = i
				break
			}
		}
		if start >= 0 {
			break
		}
	}
	if start < 0 {
		if len(other) > 0 {
			return ""
		}
		return strings.Join(lines, "\n")
	}
	end := start + 1
	blank := 0
	for ; end < len(lines) && end < start+40; end++ {
		t := strings.TrimSpace(lines[end])
		if namesAny(t, other) {
			break
		}
		if t == "" {
			blank++
			if blank > 1 {
				break
			}
			continue
		}
		if blank > 0 && !startsIndented(lines[end]) && !reReplyLine.MatchString(t) && !reSaid.MatchString(t) {
			break
		}
		blank = 0
	}
	return strings.Join(lines[start:end], "\n")
}

func startsIndented(l string) bool {
	return strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")
}

// actionFromStatus guesses a missing Action from the status class.
func actionFromStatus(st string) string {
	switch {
	case strings.HasPrefix(st, "2."):
		return ActionDelivered
	case strings.HasPrefix(st, "4."):
		return ActionDelayed
	}
	return ActionFailed
}

// wordRules are the rules of decide that rest on words; the others rest
// on codes alone, and Parse then also reads the human part of the bounce.
var wordRules = map[string]bool{
	"dbeb": true, "sender": true, "full": true, "nonexistence words": true,
	"policy words beat nonexistence words": true, "policy words": true,
	"weak words behind security status": true, "weak words behind suspension": true, "weak words behind temporary failure": true,
	"weak nonexistence words": true, "temporary words": true,
}

// classifyRecipient sets Class and Hard. A delay is soft whatever it
// says: the MTA is still trying and will send a failure if it gives up.
// Delivered, relayed and expanded recipients have no class.
func classifyRecipient(r *Recipient, context string) {
	switch r.Action {
	case ActionDelivered, ActionRelayed, ActionExpanded:
		r.Class, r.Hard = "", false
		return
	}
	class, rule := decide(r.Status, r.ReplyCode, r.Diagnostic)
	// The human part is read only when the machine-readable part gave no
	// words to go on; an addressing status (5.1.1) is evidence enough and
	// is not second-guessed by boilerplate around it.
	if !wordRules[rule] && rule != "addressing status" && strings.TrimSpace(context) != "" {
		class, _ = decide(r.Status, r.ReplyCode, r.Diagnostic+"\n"+context)
	}
	if class == "" {
		class = ClassSoft
	}
	if r.Action == ActionDelayed {
		class = ClassSoft
	}
	r.Class = class
	r.Hard = class == ClassInvalid
}

// textRecipients reads a bounce that has no delivery-status part from its
// text: the recipients it names (or X-Failed-Recipients, or the returned
// original's To when herald's one-recipient message is all it returns),
// and for each the words that explain the failure.
func (c *collected) textRecipients(report, original, failedHeader string) []Recipient {
	lines := strings.Split(report, "\n")
	exclude := c.senderAddresses(report, original)
	cands := textCandidates(lines, exclude)

	if failedHeader != "" {
		var fromHeader []textRecipient
		for _, a := range addresses(failedHeader) {
			line := 0
			for _, cand := range cands {
				if strings.EqualFold(cand.address, a) {
					line = cand.line
				}
			}
			fromHeader = append(fromHeader, textRecipient{address: a, line: line})
		}
		if len(fromHeader) > 0 {
			cands = fromHeader
		}
	}
	origTo := c.originalRecipients(original)
	if len(cands) > 1 && len(origTo) > 0 {
		var kept []textRecipient
		for _, cand := range cands {
			if origTo[strings.ToLower(cand.address)] {
				kept = append(kept, cand)
			}
		}
		if len(kept) > 0 {
			cands = kept
		}
	}
	if len(cands) == 0 {
		for _, a := range c.originalToList(original) {
			cands = append(cands, textRecipient{address: a, line: -1})
		}
		if len(cands) > 5 {
			cands = cands[:5]
		}
	}

	subject := decodeWords(c.top.get("subject"))
	action := ActionFailed
	if (reWarning.MatchString(report) || reWarning.MatchString(subject) || strings.HasPrefix(strings.ToLower(strings.TrimSpace(subject)), "warning")) &&
		!reFinal.MatchString(subject) && !strings.Contains(strings.ToLower(report), "permanent") {
		action = ActionDelayed
	}

	out := make([]Recipient, 0, len(cands))
	for i, cand := range cands {
		block := lines
		if len(cands) > 1 && cand.line >= 0 {
			next := len(lines)
			for _, other := range cands[i+1:] {
				if other.line > cand.line && other.line < next {
					next = other.line
				}
			}
			block = recipientBlock(lines, cand.line, next)
		}
		r := Recipient{Address: cand.address, Action: action}
		r.Diagnostic = bestDiagnostic(block, cand.address)
		if code := leadingCode(r.Diagnostic); code != 0 {
			r.ReplyCode = strconv.Itoa(code)
		}
		if st, ok := firstStatus(r.Diagnostic); ok {
			r.Status = st.String()
		} else if st, ok := firstStatus(strings.Join(block, "\n")); ok {
			r.Status = st.String()
		}
		context := strings.Join(block, "\n")
		if len(cands) > 1 {
			// The whole text stands behind a recipient's own lines.
			context += "\n" + report
		}
		classifyRecipient(&r, context)
		out = append(out, r)
	}
	return out
}

// senderAddresses are addresses a bounce text mentions that are not
// recipients: the bounce's own sender and recipients (our VERP address),
// and the returned original's sender.
func (c *collected) senderAddresses(report, original string) map[string]bool {
	ex := map[string]bool{}
	add := func(v string) {
		for _, a := range addresses(v) {
			ex[strings.ToLower(a)] = true
		}
	}
	for _, name := range []string{"from", "to", "return-path", "sender", "reply-to", "x-original-to", "delivered-to", "envelope-to", "x-envelope-to"} {
		for _, v := range c.top.all(name) {
			add(v)
		}
	}
	for _, fs := range c.originals {
		for _, name := range []string{"from", "sender", "return-path", "reply-to"} {
			add(fs.get(name))
		}
	}
	if original != "" {
		fs, _ := readFields([]byte(skipMarkerLine(original)))
		for _, name := range []string{"from", "sender", "return-path", "reply-to"} {
			add(fs.get(name))
		}
	}
	// Header lines quoted anywhere in the text (a header summary, an
	// original whose start was not recognised) name the sender too.
	for _, m := range reQuotedSender.FindAllStringSubmatch(report, 20) {
		add(m[1])
	}
	return ex
}

// reQuotedSender finds quoted From, Sender and Return-Path lines.
var reQuotedSender = regexp.MustCompile(`(?im)^[ \t>]*(?:from|sender|return-path|envelope-from|sender address)[ \t]*:[ \t]*(.{1,300})$`)

// originalRecipients is the set of the returned original's To and Cc.
func (c *collected) originalRecipients(original string) map[string]bool {
	set := map[string]bool{}
	for _, a := range c.originalToList(original) {
		set[strings.ToLower(a)] = true
	}
	return set
}

// originalToList lists the returned original's To and Cc addresses, from
// an attached original or one quoted in the text.
func (c *collected) originalToList(original string) []string {
	var out []string
	for _, fs := range c.originals {
		for _, name := range []string{"to", "cc"} {
			for _, v := range fs.all(name) {
				out = append(out, addresses(v)...)
			}
		}
	}
	if len(out) == 0 && original != "" {
		fs, _ := readFields([]byte(skipMarkerLine(original)))
		for _, name := range []string{"to", "cc"} {
			for _, v := range fs.all(name) {
				out = append(out, addresses(v)...)
			}
		}
	}
	return out
}

// skipMarkerLine drops the marker line ("--- Below this line is a copy of
// the message.") and blank lines that start a quoted original.
func skipMarkerLine(s string) string {
	_, rest := cutLine([]byte(s))
	return strings.TrimLeft(string(rest), "\r\n \t")
}

// arf reads a complaint: its Feedback-Type and the recipients it is about
// (Original-Rcpt-To, else the original's To).
func (c *collected) arf(original string) (string, []Recipient) {
	var feedbackType string
	var rcpts []string
	for _, b := range c.feedback {
		fs, _ := readFields(b)
		if feedbackType == "" {
			feedbackType = strings.ToLower(strings.TrimSpace(fs.get("feedback-type")))
		}
		for _, v := range fs.all("original-rcpt-to") {
			rcpts = append(rcpts, addresses(v)...)
		}
	}
	if len(rcpts) == 0 {
		rcpts = c.originalToList(original)
	}
	out := []Recipient{}
	seen := map[string]bool{}
	for _, a := range rcpts {
		k := strings.ToLower(a)
		if seen[k] || !strings.Contains(a, "@") || len(out) >= 100 {
			continue
		}
		seen[k] = true
		out = append(out, Recipient{Address: a})
	}
	return feedbackType, out
}

func namesAny(line string, addrs []string) bool {
	if len(addrs) == 0 || !strings.Contains(line, "@") {
		return false
	}
	l := strings.ToLower(line)
	for _, a := range addrs {
		if strings.Contains(l, a) {
			return true
		}
	}
	return false
}
