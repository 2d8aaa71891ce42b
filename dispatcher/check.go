package dispatcher

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Problem kinds found by Check.
const (
	ProblemNoTemplate      = "no-template"      // no template for the channel in any locale of the contact's chain
	ProblemMissingVariable = "missing-variable" // a template uses a variable this contact does not have
	ProblemRender          = "render-error"     // any other template error
	ProblemEmpty           = "empty"            // the rendered notice (or subject) is empty
	ProblemNoTextPart      = "no-text-part"     // HTML without a text part: many clients and filters need one
	ProblemSMSTooLong      = "sms-too-long"     // more SMS segments than the campaign allows
	ProblemPlaceholder     = "placeholder"      // a «placeholder» of a starter template not filled in
)

// CheckProblem is one kind of problem, counted over every contact it hits,
// with the first few import rows as examples.
type CheckProblem struct {
	Kind    string      `json:"kind"`
	Channel ChannelKind `json:"channel"`
	Locale  string      `json:"locale,omitempty"`
	Detail  string      `json:"detail"` // the variable, or the error
	Count   int         `json:"count"`
	Rows    []int       `json:"rows"` // import rows (spreadsheet numbering) of the first contacts hit
}

// CheckReport is what Check found.
type CheckReport struct {
	Contacts int `json:"contacts"`
	// Notices counts the notices rendered per channel (each contact's
	// notice on every channel of the policy it has an address for, since
	// any of them may be used after a fallback).
	Notices map[ChannelKind]int `json:"notices"`
	// SMS cost estimate: segments over every SMS notice, and how many of
	// them need UCS-2 (which halves the characters per segment).
	SMSSegments int            `json:"sms_segments"`
	SMSUCS2     int            `json:"sms_ucs2"`
	Problems    []CheckProblem `json:"problems"`
	// LastContactID is the highest contact ID checked. Contacts are only
	// ever added, with higher IDs, so a contact above it is one the check
	// has not seen: whoever keeps a report to launch by later asks the
	// ledger for one (Store.Contacts after LastContactID).
	LastContactID int64 `json:"-"`
}

// OK reports whether the campaign may be launched.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// summaryProblems bounds the problems Summary names.
const summaryProblems = 5

// Summary is what the check found in one line, for the audit log: the
// contacts and notices checked and the first few problems. It names no
// person, only counts, templates and variables.
func (r *CheckReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d contacts checked", r.Contacts)
	kinds := make([]string, 0, len(r.Notices))
	for k := range r.Notices {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for i, k := range kinds {
		sep := ", "
		if i == 0 {
			sep = "; notices rendered: "
		}
		fmt.Fprintf(&b, "%s%s %d", sep, k, r.Notices[ChannelKind(k)])
	}
	if r.OK() {
		b.WriteString("; no problems")
		return b.String()
	}
	n := 0
	for _, p := range r.Problems {
		n += p.Count
	}
	plural := "kinds"
	if len(r.Problems) == 1 {
		plural = "kind"
	}
	fmt.Fprintf(&b, "; %d %s of problem, %d in all: ", len(r.Problems), plural, n)
	for i, p := range r.Problems {
		if i == summaryProblems {
			fmt.Fprintf(&b, "; and %d more kinds", len(r.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		where := string(p.Channel)
		if p.Locale != "" {
			where += "/" + p.Locale
		}
		fmt.Fprintf(&b, "%s in %s: %s (%d)", p.Kind, where, p.Detail, p.Count)
	}
	return b.String()
}

// CheckOptions tune Check.
type CheckOptions struct {
	Workers        int // renderers in parallel; default 4
	MaxSMSSegments int // default 4
	ExampleRows    int // rows kept per problem; default 10
	// Progress, when set, is called with the number of contacts checked
	// so far after each page of contacts is rendered. It is called from
	// the renderers, possibly at the same time: it must be safe for
	// concurrent use and quick.
	Progress func(checked int64)
}

// Check renders every contact's notice on every channel of the policy, as
// the workers would, streaming the contacts page by page and rendering in
// parallel, and reports what would go wrong: missing variables, empty
// notices, SMS over the segment limit, HTML without a text part. Launch
// refuses a campaign that fails it unless forced.
func Check(ctx context.Context, st Store, c *Campaign, opt CheckOptions) (*CheckReport, error) {
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.MaxSMSSegments <= 0 {
		opt.MaxSMSSegments = 4
	}
	if opt.ExampleRows <= 0 {
		opt.ExampleRows = 10
	}
	ts, err := st.Templates(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", c.Name, err)
	}
	notices, err := CompileTemplates(c.DefaultLocale, ts)
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Notices: map[ChannelKind]int{}}
	agg := &problemSet{byKey: map[string]*CheckProblem{}, examples: opt.ExampleRows}
	for _, t := range ts {
		for _, ph := range placeholders(t.Subject + "\n" + t.Text + "\n" + t.HTML) {
			agg.add(CheckProblem{Kind: ProblemPlaceholder, Channel: t.Channel, Locale: t.Locale, Detail: "fill in «" + ph + "»"}, 0)
		}
	}

	pages := make(chan []Contact, opt.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var checked atomic.Int64
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := &CheckReport{Notices: map[ChannelKind]int{}}
			for page := range pages {
				for i := range page {
					checkContact(c, notices, &page[i], local, agg, opt.MaxSMSSegments)
				}
				if n := checked.Add(int64(len(page))); opt.Progress != nil {
					opt.Progress(n)
				}
			}
			mu.Lock()
			rep.Contacts += local.Contacts
			rep.SMSSegments += local.SMSSegments
			rep.SMSUCS2 += local.SMSUCS2
			for k, n := range local.Notices {
				rep.Notices[k] += n
			}
			mu.Unlock()
		}()
	}
	var after int64
	var readErr error
	for {
		page, err := st.Contacts(ctx, c.ID, after, 1000)
		if err != nil {
			readErr = fmt.Errorf("check %s: %w", c.Name, err)
			break
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		select {
		case pages <- page:
		case <-ctx.Done():
			readErr = ctx.Err()
		}
		if readErr != nil {
			break
		}
	}
	close(pages)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	rep.Problems = agg.sorted()
	rep.LastContactID = after
	return rep, nil
}

func checkContact(c *Campaign, n *Notices, ct *Contact, rep *CheckReport, agg *problemSet, maxSegments int) {
	rep.Contacts++
	for _, k := range c.Policy {
		if ct.Address(k) == "" || Ineligible(c.Settings, ct, k) != "" {
			continue // never used for this contact
		}
		if !n.Has(k, ct.Locale) {
			agg.add(CheckProblem{Kind: ProblemNoTemplate, Channel: templateChannel(k), Locale: ct.Locale,
				Detail: fmt.Sprintf("no %s template for locale %q nor the default %q", templateChannel(k), ct.Locale, c.DefaultLocale)}, ct.SourceRow)
			continue
		}
		locale, empty := n.emptyVars(k, ct)
		for _, v := range empty {
			agg.add(CheckProblem{Kind: ProblemMissingVariable, Channel: templateChannel(k), Locale: locale, Detail: v}, ct.SourceRow)
		}
		m, err := n.Render(c, ct, k)
		if err != nil {
			kind, detail := ProblemRender, err.Error()
			if v := missingVariable(err); v != "" {
				if slices.Contains(empty, v) {
					continue // already reported
				}
				kind, detail = ProblemMissingVariable, v
			}
			agg.add(CheckProblem{Kind: kind, Channel: templateChannel(k), Locale: locale, Detail: detail}, ct.SourceRow)
			continue
		}
		rep.Notices[k]++
		switch {
		case strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.HTML) != "":
			agg.add(CheckProblem{Kind: ProblemNoTextPart, Channel: templateChannel(k), Locale: m.Locale, Detail: "the HTML part renders but the text part is empty"}, ct.SourceRow)
		case strings.TrimSpace(m.Text) == "":
			agg.add(CheckProblem{Kind: ProblemEmpty, Channel: templateChannel(k), Locale: m.Locale, Detail: "the notice renders empty"}, ct.SourceRow)
		case k != SMS && k != Postal && m.Subject == "":
			agg.add(CheckProblem{Kind: ProblemEmpty, Channel: templateChannel(k), Locale: m.Locale, Detail: "the subject renders empty"}, ct.SourceRow)
		}
		if k == SMS {
			enc, segs, _ := SMSSegments(m.Text)
			rep.SMSSegments += segs
			if enc == EncodingUCS2 {
				rep.SMSUCS2++
			}
			if segs > maxSegments {
				agg.add(CheckProblem{Kind: ProblemSMSTooLong, Channel: SMS, Locale: m.Locale,
					Detail: fmt.Sprintf("more than %d segments (%s)", maxSegments, enc)}, ct.SourceRow)
			}
		}
	}
}

// placeholders returns the «…» markers left in a template.
func placeholders(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "«")
		if i < 0 {
			return out
		}
		rest := s[i+len("«"):]
		j := strings.Index(rest, "»")
		if j < 0 {
			return out
		}
		ph := rest[:j]
		if r := []rune(ph); len(r) > 50 {
			ph = string(r[:50]) + "…"
		}
		out = append(out, ph)
		s = rest[j+len("»"):]
	}
}

// missingVariableRE finds the variable in text/template's errors:
// `... at <index .Attrs "rolle">: error calling index: map has no entry for key "rolle"`
// or `... at <.Attrs.afdeling>: map has no entry for key "afdeling"`.
var missingVariableRE = regexp.MustCompile(`map has no entry for key "([^"]*)"|can't evaluate field (\w+)`)

func missingVariable(err error) string {
	m := missingVariableRE.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	if m[1] != "" {
		return "Attrs." + m[1]
	}
	return m[2]
}

// problemSet aggregates problems by kind, channel, locale and detail.
type problemSet struct {
	mu       sync.Mutex
	byKey    map[string]*CheckProblem
	examples int
}

func (s *problemSet) add(p CheckProblem, row int) {
	key := p.Kind + "\x00" + string(p.Channel) + "\x00" + p.Locale + "\x00" + p.Detail
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.byKey[key]
	if cur == nil {
		cur = &p
		s.byKey[key] = cur
	}
	cur.Count++
	if row <= 0 {
		return // a template-level problem: no rows
	}
	// Keep the lowest row numbers, whatever order the renderers finish in.
	cur.Rows = append(cur.Rows, row)
	if len(cur.Rows) > 2*s.examples {
		sort.Ints(cur.Rows)
		cur.Rows = cur.Rows[:s.examples]
	}
}

func (s *problemSet) sorted() []CheckProblem {
	out := make([]CheckProblem, 0, len(s.byKey))
	for _, p := range s.byKey {
		sort.Ints(p.Rows)
		if len(p.Rows) > s.examples {
			p.Rows = p.Rows[:s.examples]
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind+out[i].Detail < out[j].Kind+out[j].Detail
	})
	return out
}
