package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// The suppression list holds addresses and numbers that must not be used
// again, across campaigns: found invalid (a hard bounce, a returned
// letter), complained about, opted out, or added by an operator. Workers
// check it before every send and the postal channel before every print
// batch; a suppressed channel is skipped and the next one tried.

// Suppression reasons.
const (
	ReasonInvalid   = "invalid"   // the address does not work (hard bounce, returned letter)
	ReasonComplaint = "complaint" // the person marked a notice as spam
	ReasonOptedOut  = "opted_out" // the person asked not to be contacted this way
	ReasonManual    = "manual"    // an operator's decision
)

// SuppressionReasons lists the reasons, for help texts and validation.
var SuppressionReasons = []string{ReasonInvalid, ReasonComplaint, ReasonOptedOut, ReasonManual}

// ParseSuppressionReason reads a reason as an operator or an export from
// another tool writes it; empty means manual.
func ParseSuppressionReason(s string) (string, error) {
	switch strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_") {
	case "", ReasonManual:
		return ReasonManual, nil
	case ReasonInvalid, "bounce", "bounced", "hard_bounce", "hardbounce", "returned":
		return ReasonInvalid, nil
	case ReasonComplaint, "spam", "abuse":
		return ReasonComplaint, nil
	case ReasonOptedOut, "optout", "opt_out", "unsubscribed", "unsubscribe", "stop":
		return ReasonOptedOut, nil
	}
	return "", Errorf(EINVALID, "unknown suppression reason %q: use %s", s, strings.Join(SuppressionReasons, ", "))
}

// NormalizeSuppression checks an address an operator wants on (or off) the
// suppression list and returns the channel and the address in the form the
// ledger compares: an e-mail address in lower case, a phone number in
// E.164 (region reads a number written without +country code), a postal
// address as one line with its spacing tidied (write it as herald shows
// it: "Storgata 1, 0155 Oslo, NO").
func NormalizeSuppression(channel, address, region string) (ChannelKind, string, error) {
	k, err := ParseChannelKind(channel)
	if err != nil {
		return "", "", err
	}
	switch k {
	case Email:
		a, err := NormalizeEmail(address)
		if err != nil {
			return "", "", err
		}
		return k, strings.ToLower(a), nil
	case SMS:
		a, err := NormalizePhone(address, region)
		if err != nil {
			return "", "", err
		}
		return k, a, nil
	case Postal:
		a := suppressionKey(Postal, address)
		if a == "" {
			return "", "", Errorf(EINVALID, "postal address is empty")
		}
		return k, a, nil
	}
	return "", "", Errorf(EINVALID, "the %s channel is a dry run and has no suppression list: suppress the e-mail address instead", k)
}

// suppressionKey is how the list compares addresses: lower case, spacing
// tidied. For e-mail and SMS the Normalize functions have done the rest.
func suppressionKey(_ ChannelKind, a string) string {
	return strings.ToLower(strings.Join(strings.Fields(a), " "))
}

// maxSuppressionErrors is how many bad rows ReadSuppressions names before
// it stops listing them.
const maxSuppressionErrors = 10

// ReadSuppressions reads a suppression list to import: CSV (any delimiter
// and encoding the contact importer reads) with a header naming the
// columns channel, address and, optionally, reason, source, first_seen and
// last_seen (the columns `herald suppressions list --format csv` writes,
// so a list moves between installations). region reads phone numbers
// written without +country code; source is recorded for rows without a
// source of their own, with the row number.
//
// It is all or nothing: when any row is wrong, the error names each bad
// row (up to ten) and what to fix, and no entry is returned.
func ReadSuppressions(r io.Reader, region, source string) ([]Suppression, error) {
	text, err := openCSVText(r, "")
	if err != nil {
		return nil, err
	}
	delim, err := csvSniffDelimiter(text.r)
	if err != nil {
		return nil, err
	}
	rec := newCSVRecordReader(text.r, delim)
	var header csvRecord
	for {
		header, err = rec.Next()
		if errors.Is(err, io.EOF) {
			return nil, Errorf(EINVALID, "the file is empty: expected a header row channel,address,reason")
		}
		if err != nil {
			return nil, err
		}
		if header.Err != nil {
			return nil, Errorf(EINVALID, "header row %d cannot be read: %s", header.Row, header.Err.Reason)
		}
		if !header.Blank {
			break
		}
	}
	col := map[string]int{}
	for i, h := range header.Fields {
		key := importHeaderKey(h)
		switch key {
		case "channel", "kanal", "type":
			key = "channel"
		case "address", "adresse", "adres", "adress", "value", "recipient":
			key = "address"
		case "reason", "grunn", "årsak", "reden", "grund":
			key = "reason"
		case "source", "kilde":
			key = "source"
		case "firstseen":
			key = "first_seen"
		case "lastseen":
			key = "last_seen"
		default:
			continue
		}
		if _, dup := col[key]; !dup {
			col[key] = i
		}
	}
	if _, ok := col["channel"]; !ok {
		return nil, Errorf(EINVALID, "no channel column among the headers %s: the file needs the columns channel,address,reason", importQuoteList(header.Fields))
	}
	if _, ok := col["address"]; !ok {
		return nil, Errorf(EINVALID, "no address column among the headers %s: the file needs the columns channel,address,reason", importQuoteList(header.Fields))
	}
	rec.fields = len(header.Fields)
	var out []Suppression
	var bad []string
	nbad := 0
	fail := func(row int, format string, args ...any) {
		nbad++
		if len(bad) < maxSuppressionErrors {
			bad = append(bad, fmt.Sprintf("row %d: %s", row, fmt.Sprintf(format, args...)))
		}
	}
	for {
		rc, err := rec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if rc.Blank {
			continue
		}
		if rc.Err != nil {
			fail(rc.Row, "%s", rc.Err.Reason)
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rc.Fields) {
				return unneutralise(strings.TrimSpace(rc.Fields[i]))
			}
			return ""
		}
		k, addr, err := NormalizeSuppression(get("channel"), get("address"), region)
		if err != nil {
			fail(rc.Row, "%s", importReason(err))
			continue
		}
		reason, err := ParseSuppressionReason(get("reason"))
		if err != nil {
			fail(rc.Row, "%s", importReason(err))
			continue
		}
		s := Suppression{Channel: k, Address: addr, Reason: reason, Source: get("source")}
		if s.Source == "" {
			s.Source = fmt.Sprintf("%s row %d", source, rc.Row)
		}
		for _, f := range []struct {
			name string
			t    *time.Time
		}{{"first_seen", &s.FirstSeen}, {"last_seen", &s.LastSeen}} {
			v := get(f.name)
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fail(rc.Row, "%s %q is not a time such as 2026-03-14T09:26:53Z", f.name, v)
				continue
			}
			*f.t = t
		}
		if !s.FirstSeen.IsZero() && s.LastSeen.Before(s.FirstSeen) {
			s.LastSeen = s.FirstSeen
		}
		out = append(out, s)
	}
	if nbad > 0 {
		more := ""
		if nbad > len(bad) {
			more = fmt.Sprintf("; and %d more rows", nbad-len(bad))
		}
		return nil, Errorf(EINVALID, "%d rows cannot be imported, so nothing was: %s%s", nbad, strings.Join(bad, "; "), more)
	}
	return out, nil
}

// unneutralise undoes package csvsafe's apostrophe before a cell that
// starts with a formula character, so a list exported by herald (where
// "+4791234567" is written '+4791234567) reads back as it was.
func unneutralise(v string) string {
	if len(v) > 1 && v[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(v[1])) {
		return v[1:]
	}
	return v
}

// ManualSuppression is an operator putting an address on the suppression
// list by hand: in the console, the API or the CLI.
type ManualSuppression struct {
	Channel, Address string
	Region           string // reads a phone number written without +country code
	Reason           string // as ParseSuppressionReason reads it; empty is manual
	Note             string // why, for the record; one line, at most MaxSuppressionNote characters
	Via              string // where: "console", "API"; empty reads "added by" Actor
	Actor            string // who, for the entry's source and the audit log
	At               time.Time
}

// MaxSuppressionNote bounds the note of a manual suppression, in characters.
const MaxSuppressionNote = 200

// AddSuppression puts m's address on the suppression list, audited, and
// returns the entry as the ledger holds it (an address listed before keeps
// when it was first seen).
func AddSuppression(ctx context.Context, st Store, m ManualSuppression) (*Suppression, error) {
	k, addr, err := NormalizeSuppression(m.Channel, m.Address, m.Region)
	if err != nil {
		return nil, err
	}
	why, err := ParseSuppressionReason(m.Reason)
	if err != nil {
		return nil, err
	}
	source := "added by " + m.Actor
	if m.Via != "" {
		source = m.Via + " by " + m.Actor
	}
	if n := strings.Join(strings.Fields(m.Note), " "); n != "" {
		if utf8.RuneCountInString(n) > MaxSuppressionNote {
			return nil, Errorf(EINVALID, "the note is longer than %d characters: say briefly why", MaxSuppressionNote)
		}
		source += ": " + n
	}
	if err := st.Suppress(ctx, Suppression{Channel: k, Address: addr, Reason: why, Source: source, FirstSeen: m.At, LastSeen: m.At}); err != nil {
		return nil, err
	}
	if err := st.Audit(ctx, AuditEntry{At: m.At, Actor: m.Actor, Action: "suppression.add", Subject: string(k) + " " + addr, Detail: why}); err != nil {
		return nil, fmt.Errorf("audit suppression.add: %w", err)
	}
	sup, err := st.IsSuppressed(ctx, k, addr)
	if err != nil {
		return nil, err
	}
	if sup == nil { // removed again meanwhile
		return nil, Errorf(ECONFLICT, "%s was taken off the %s suppression list while it was added", addr, k)
	}
	return sup, nil
}

// RemoveSuppression takes an address off the suppression list, audited,
// and returns the channel and the address as the list holds them.
func RemoveSuppression(ctx context.Context, st Store, channel, address, region, actor string, at time.Time) (ChannelKind, string, error) {
	k, addr, err := NormalizeSuppression(channel, address, region)
	if err != nil {
		return "", "", err
	}
	if err := st.Unsuppress(ctx, k, addr); errors.Is(err, ErrNotFound) {
		return "", "", Errorf(ENOTFOUND, "%s is not on the %s suppression list", addr, k)
	} else if err != nil {
		return "", "", err
	}
	if err := st.Audit(ctx, AuditEntry{At: at, Actor: actor, Action: "suppression.remove", Subject: string(k) + " " + addr}); err != nil {
		return "", "", fmt.Errorf("audit suppression.remove: %w", err)
	}
	return k, addr, nil
}
