package bounce

import (
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The corpus under testdata/corpus is written by testdata/corpusgen (see
// its package comment). dev/ is what the rules were tuned against;
// heldout/ was only measured, and TestCorpusHeldout holds the parser to
// the targets on it.

var showMisses = flag.Bool("corpus.misses", false, "log every corpus disagreement")

// Targets from issue 6: hard-bounce precision and recall on held-out data.
const (
	minPrecision = 0.98
	minRecall    = 0.95
)

type corpusLabel struct {
	typ, address, class string
}

func readLabels(t *testing.T) map[string][]corpusLabel {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "corpus", "labels.csv"))
	if err != nil {
		t.Fatalf("open labels: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read labels: %v", err)
	}
	out := map[string][]corpusLabel{}
	for i, r := range rows {
		if i == 0 {
			continue
		}
		if len(r) != 4 {
			t.Fatalf("labels.csv row %d: %d fields", i+1, len(r))
		}
		l := corpusLabel{typ: r[1], address: r[2], class: r[3]}
		out[r[0]] = append(out[r[0]], l)
	}
	return out
}

// corpusScore is what a run over one set measured.
type corpusScore struct {
	files, typeOK                int
	tp, fp, fn                   int // hard (invalid) bounces
	recipients, classOK, missing int
	spurious                     int
	withIDs, identified          int // bounces, complaints and auto-replies; those Parse found herald's delivery ID in
	misses                       []string
}

func (s corpusScore) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

func (s corpusScore) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

func scoreCorpus(t *testing.T, set string) corpusScore {
	t.Helper()
	labels := readLabels(t)
	var files []string
	for f := range labels {
		if strings.HasPrefix(f, set+"/") {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no %s files in labels.csv", set)
	}
	var s corpusScore
	for _, file := range files {
		want := labels[file]
		fh, err := os.Open(filepath.Join("testdata", "corpus", file))
		if err != nil {
			t.Fatalf("open %s: %v", file, err)
		}
		rep, err := Parse(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		s.files++
		if rep.Type == want[0].typ {
			s.typeOK++
		} else {
			s.misses = append(s.misses, file+": type "+rep.Type+", want "+want[0].typ)
		}
		if want[0].typ != TypeUnknown {
			s.withIDs++
			if rep.DeliveryID > 0 {
				s.identified++
			}
		}
		got := map[string]Recipient{}
		for _, r := range rep.Recipients {
			got[strings.ToLower(r.Address)] = r
		}
		expected := map[string]bool{}
		for _, w := range want {
			if w.address == "" {
				continue
			}
			key := strings.ToLower(w.address)
			expected[key] = true
			s.recipients++
			r, ok := got[key]
			if !ok {
				s.missing++
				if w.class == ClassInvalid {
					s.fn++
				}
				s.misses = append(s.misses, file+": missing recipient "+w.address+" ("+w.class+")")
				continue
			}
			if r.Class == w.class {
				s.classOK++
			} else {
				s.misses = append(s.misses, file+": "+w.address+" class "+r.Class+", want "+w.class+" (status "+r.Status+", diag "+abbrev(r.Diagnostic)+")")
			}
			switch {
			case w.class == ClassInvalid && r.Hard:
				s.tp++
			case w.class == ClassInvalid:
				s.fn++
			case r.Hard:
				s.fp++
			}
		}
		for key, r := range got {
			if !expected[key] {
				s.spurious++
				if r.Hard {
					s.fp++
				}
				s.misses = append(s.misses, file+": unexpected recipient "+r.Address+" ("+r.Class+")")
			}
		}
	}
	return s
}

func abbrev(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func logScore(t *testing.T, set string, s corpusScore) {
	t.Helper()
	t.Logf("%s: %d messages, type right %d (%.1f%%); %d labelled recipients, %d missing, %d unexpected, class right %d (%.1f%%)",
		set, s.files, s.typeOK, pct(s.typeOK, s.files), s.recipients, s.missing, s.spurious, s.classOK, pct(s.classOK, s.recipients))
	t.Logf("%s: hard bounces: TP %d, FP %d, FN %d; precision %.4f, recall %.4f", set, s.tp, s.fp, s.fn, s.precision(), s.recall())
	t.Logf("%s: delivery ID found in %d of %d bounces, complaints and auto-replies", set, s.identified, s.withIDs)
	if *showMisses || testing.Verbose() && set == "dev" {
		for _, m := range s.misses {
			t.Log("  " + m)
		}
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// TestCorpusDev measures the development set; the rules were tuned on it,
// so its figures say little about new mail and it checks the same targets
// only as a floor.
func TestCorpusDev(t *testing.T) {
	s := scoreCorpus(t, "dev")
	logScore(t, "dev", s)
	if s.precision() < minPrecision || s.recall() < minRecall {
		t.Errorf("dev: hard precision %.4f (want >= %.2f), recall %.4f (want >= %.2f)", s.precision(), minPrecision, s.recall(), minRecall)
	}
}

// heldoutSets lists the sets in labels.csv other than dev: heldout and
// heldout2 from corpusgen, and any set of real bounces added by hand.
func heldoutSets(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var sets []string
	for file := range readLabels(t) {
		set, _, _ := strings.Cut(file, "/")
		if set != "dev" && !seen[set] {
			seen[set] = true
			sets = append(sets, set)
		}
	}
	sort.Strings(sets)
	return sets
}

// TestCorpusHeldout measures every held-out set against issue 6's
// targets: hard-bounce precision >= 98 % and recall >= 95 % on each.
// heldout/ was measured blind once, before a bug it showed was fixed;
// heldout2/ was written after that fix and measured blind once
// (testdata/corpus/README.md has the figures of both blind runs).
func TestCorpusHeldout(t *testing.T) {
	total := 0
	for _, set := range heldoutSets(t) {
		s := scoreCorpus(t, set)
		logScore(t, set, s)
		total += s.files
		if s.precision() < minPrecision {
			t.Errorf("%s: hard precision %.4f, want >= %.2f", set, s.precision(), minPrecision)
		}
		if s.recall() < minRecall {
			t.Errorf("%s: hard recall %.4f, want >= %.2f", set, s.recall(), minRecall)
		}
	}
	if total < 200 {
		t.Errorf("held-out sets have %d messages, want at least 200", total)
	}
}
