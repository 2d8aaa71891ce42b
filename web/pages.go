package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// assets holds the console's templates and static files, so the binary is
// the whole deployment: no build step, no files to copy.
//
//go:embed templates/*.html static/*
var assets embed.FS

// pages is the console's parsed templates, one set per page (each page
// file defines "content" and the shared layout wraps it).
type pages struct {
	byName map[string]*template.Template
}

func loadPages() (*pages, error) {
	entries, err := fs.ReadDir(assets, "templates")
	if err != nil {
		return nil, fmt.Errorf("web: read templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, e := range entries {
		name := e.Name()
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		p.byName[strings.TrimSuffix(name, ".html")] = t
	}
	return p, nil
}

// pageData is what every page template gets.
type pageData struct {
	Title string
	Nav   string // which top-level section is current
	User  *dispatcher.User
	CSRF  string
	Flash string // a confirmation, shown once
	Error string // a problem with what the user just did
	Data  any
}

// Can reports whether the signed-in user has access a, so pages show only
// the controls the user may use (the router enforces it regardless).
func (d pageData) Can(a Access) bool {
	if d.User == nil {
		return a == Public
	}
	return a.Allows(d.User.Role)
}

// render writes page name with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	t := s.pages.byName[name]
	if t == nil {
		s.log.Error("no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p := principalOf(r.Context()); p != nil {
		d.User = p.user
	}
	d.CSRF = csrfToken(r)
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", pageData{Title: http.StatusText(status), Data: struct {
		Status int
		Text   string
		Msg    string
	}{status, http.StatusText(status), msg}})
}

var funcs = template.FuncMap{
	"stateWords": StateWords,
	"explain":    ExplainCode,
	"time":       fmtTime,
	"num":        fmtNum,
	"int64":      func(n int) int64 { return int64(n) },
	"seen":       suppressionTime,
	"pct":        func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " %" },
	"width":      func(f float64) string { return strconv.FormatFloat(math.Max(0, math.Min(100, f)), 'f', 1, 64) },
	"share": func(n, total int64) string {
		if total <= 0 {
			return "0"
		}
		return strconv.FormatFloat(float64(n)/float64(total)*100, 'f', 1, 64)
	},
	"eta":        fmtETA,
	"rate":       func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) },
	"chart":      chartPoints,
	"chartArea":  chartArea,
	"chartMax":   chartMax,
	"chartFrom":  func(ps []RatePoint) string { return fmtClock(ps, 0) },
	"chartTo":    func(ps []RatePoint) string { return fmtClock(ps, len(ps)-1) },
	"tick":       fmtTick,
	"half":       func(f float64) float64 { return f / 2 },
	"stateClass": stateClass,
	"states":     func() []dispatcher.State { return dispatcher.AllStates },
	"roles":      func() []dispatcher.Role { return dispatcher.Roles },
	"lower":      strings.ToLower,
	"access": func(s string) Access {
		return Access(s)
	},
	"checkState": checkStateWords,
	"lowerFirst": lowerFirst,
	"noticesWord": func(k dispatcher.ChannelKind) string {
		w := channelNoun(k, 2)
		return strings.ToUpper(w[:1]) + w[1:]
	},
	"problemKind": problemKindWords,
}

// checkStateWords is a check run's state as its badge shows it.
func checkStateWords(state string) string {
	switch state {
	case checkQueued:
		return "waiting"
	case checkProblems:
		return "problems found"
	}
	return state
}

// problemKindWords names a kind of check problem in a few words.
func problemKindWords(kind string) string {
	switch kind {
	case dispatcher.ProblemPlaceholder:
		return "Placeholder left"
	case dispatcher.ProblemMissingVariable:
		return "Missing value"
	case dispatcher.ProblemNoTemplate:
		return "No notice"
	case dispatcher.ProblemEmpty:
		return "Empty notice"
	case dispatcher.ProblemNoTextPart:
		return "No text part"
	case dispatcher.ProblemSMSTooLong:
		return "SMS too long"
	case dispatcher.ProblemRender:
		return "Does not render"
	}
	return kind
}

// fmtTime shows a time to the second in the server's zone.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// fmtNum writes whole numbers with thin-space thousands separators, which
// read right in Norwegian and English alike: 5 800 000.
func fmtNum(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune('\u202f')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtETA(secs *float64) string {
	if secs == nil {
		return "—"
	}
	d := time.Duration(*secs) * time.Second
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("about %d min", int(d.Round(time.Minute).Minutes()))
	default:
		return fmt.Sprintf("about %d h %d min", int(d.Hours()), int(d.Round(time.Minute).Minutes())%60)
	}
}

// Chart geometry (the SVG's viewBox): the JavaScript redraws with the same.
const chartW, chartH = 600.0, 160.0

func chartMax(ps []RatePoint) float64 {
	m := 1.0
	for _, p := range ps {
		m = math.Max(m, p.PerMinute)
	}
	return m
}

// chartPoints is an SVG polyline of the rate series, scaled to the chart.
func chartPoints(ps []RatePoint) string {
	if len(ps) == 0 {
		return ""
	}
	m := chartMax(ps)
	if len(ps) == 1 { // one interval so far: a level line
		y := chartH - ps[0].PerMinute/m*(chartH-8)
		return fmt.Sprintf("0,%.1f %.1f,%.1f", y, chartW, y)
	}
	var b strings.Builder
	for i, p := range ps {
		x := chartW
		if len(ps) > 1 {
			x = float64(i) / float64(len(ps)-1) * chartW
		}
		y := chartH - p.PerMinute/m*(chartH-8)
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	return strings.TrimSpace(b.String())
}

// fmtTick writes a value on the chart's axis: whole numbers, or one
// decimal below 10 so that a low scale does not read 1, 0, 0.
func fmtTick(f float64) string {
	if f < 10 {
		return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}

// chartArea is the polygon under the rate line, down to the axis.
func chartArea(ps []RatePoint) string {
	line := chartPoints(ps)
	if line == "" {
		return ""
	}
	return fmt.Sprintf("0,%.1f %s %.1f,%.1f", chartH, line, chartW, chartH)
}

// fmtClock is the time of rate point i, to the second, in the server's
// zone: the chart's time axis.
func fmtClock(ps []RatePoint, i int) string {
	if i < 0 || i >= len(ps) {
		return ""
	}
	return ps[i].At.Local().Format("15:04:05")
}

// stateClass is the CSS class of a state: good, bad, busy or quiet.
func stateClass(s dispatcher.State) string {
	switch s {
	case dispatcher.StateSent, dispatcher.StateDelivered:
		return "good"
	case dispatcher.StateBouncedHard, dispatcher.StateFailed, dispatcher.StateSuppressed:
		return "bad"
	case dispatcher.StateBouncedSoft:
		return "warn"
	case dispatcher.StatePending, dispatcher.StateQueued, dispatcher.StateSending:
		return "busy"
	}
	return "quiet"
}
