package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/demodata"
)

func sqliteEnv(t *testing.T) env {
	t.Helper()
	return env{"HERALD_DATABASE_URL": filepath.Join(t.TempDir(), "herald.db"), "HERALD_ACTOR": "test"}
}

func createDemoLikeCampaign(t *testing.T, e env, name string) {
	t.Helper()
	mustHerald(t, e, "campaign", "create", "--name", name, "--locale", "nb", "--templates", "demotemplates",
		"--from", "hr@clinic.example", "--sms-from", "Klinikk")
}

func report(t *testing.T, e env, name string) reportJSON {
	t.Helper()
	var r reportJSON
	if err := json.Unmarshal([]byte(mustHerald(t, e, "report", name, "--format", "json")), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDemo runs `herald demo` as a newcomer would, in an empty folder, and
// checks that its summary adds up and matches `herald report demo`.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes seconds")
	}
	t.Chdir(t.TempDir())
	e := env{}
	out := mustHerald(t, e, "demo", "--timeout", "90s")
	if _, err := os.Stat("herald.db"); err != nil {
		t.Fatalf("the demo's ledger is not ./herald.db: %v", err)
	}
	want := demodata.Expect()
	r := report(t, e, "demo")
	if r.Status != "completed" || r.Contacts != int64(want.Accepted) || r.InProgress != 0 ||
		r.ReachedBy["email"] != int64(want.ReachedByEmail) || r.ReachedBy["sms"] != int64(want.ReachedBySMS) ||
		r.Fallback != int64(want.FellBack) || r.Unreachable != int64(want.Unreachable) || r.RejectedRows != int64(want.Rejected) {
		t.Errorf("report %+v %+v\nwant %+v", r, r.Report, want)
	}
	if r.Reached+r.Unreachable != r.Contacts {
		t.Errorf("reached %d + unreachable %d ≠ contacts %d", r.Reached, r.Unreachable, r.Contacts)
	}
	// The summary printed by the demo shows the same numbers.
	for label, n := range map[string]int64{
		"contacts": r.Contacts, "reached by e-mail": r.ReachedBy["email"], "reached by SMS": r.ReachedBy["sms"],
		"unreachable (substitute notice)": r.Unreachable, "rejected rows (not imported)": r.RejectedRows,
	} {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s+(\d+)`)
		m := re.FindStringSubmatch(out)
		if m == nil || m[1] != itoa(n) {
			t.Errorf("demo summary line %q = %v, want %d\n%s", label, m, n, out)
		}
	}
	checkUnreachableCSV(t, e, "demo", r.Unreachable) // the substitute-notice list opens cleanly in a spreadsheet
	// A second run replaces the first campaign rather than failing.
	mustHerald(t, e, "demo", "--timeout", "90s")
	if r2 := report(t, e, "demo"); r2.Contacts != r.Contacts {
		t.Errorf("second demo: %d contacts, want %d", r2.Contacts, r.Contacts)
	}
}

func itoa(n int64) string { return strings.TrimSpace(strings.Repeat(" ", 0) + jsonNumber(n)) }

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestImportTwice: importing the demo list again, or its Windows-1252
// twin, changes nothing in the ledger.
func TestImportTwice(t *testing.T) {
	e := sqliteEnv(t)
	createDemoLikeCampaign(t, e, "twice")
	utf8 := filepath.Join("..", "..", "testdata", "demo-contacts.csv")
	cp1252 := filepath.Join("..", "..", "testdata", "demo-contacts-cp1252.csv")
	rejects := filepath.Join(t.TempDir(), "r.csv")
	first := mustHerald(t, e, "import", "--campaign", "twice", "--rejects", rejects, utf8)
	before := report(t, e, "twice")
	want := demodata.Expect()
	if before.Contacts != int64(want.Accepted) || before.RejectedRows != int64(want.Rejected) {
		t.Fatalf("first import: %s → %+v", first, before.Report)
	}
	for _, f := range []string{utf8, cp1252} {
		out := mustHerald(t, e, "import", "--campaign", "twice", "--rejects", rejects, f)
		if !strings.Contains(out, "accepted 0,") {
			t.Errorf("re-import of %s: %s", f, out)
		}
		after := report(t, e, "twice")
		a, _ := json.Marshal(after)
		b, _ := json.Marshal(before)
		if string(a) != string(b) {
			t.Errorf("re-import of %s changed the report:\n%s\n%s", f, b, a)
		}
	}
}

// TestImportBadRowInMiddle: every good row is imported and the bad one is
// reported by its row number.
func TestImportBadRowInMiddle(t *testing.T) {
	e := sqliteEnv(t)
	createDemoLikeCampaign(t, e, "bad")
	dir := t.TempDir()
	csv := filepath.Join(dir, "list.csv")
	data := "navn,e-post,mobil,land\n" +
		"Kari Nordmann,kari@example.no,+4791234567,NO\n" +
		"Ola Uten Adresse,ikke-en-adresse,12,NO\n" +
		"Per Hansen,per@example.no,,NO\n"
	if err := os.WriteFile(csv, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	rejects := filepath.Join(dir, "rejects.csv")
	out := mustHerald(t, e, "import", "--campaign", "bad", "--rejects", rejects, csv)
	if !strings.Contains(out, "read 3, accepted 2, rejected 1") {
		t.Errorf("summary: %s", out)
	}
	rep, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^3,`).Match(rep) {
		t.Errorf("reject report does not name row 3:\n%s", rep)
	}
	if r := report(t, e, "bad"); r.Contacts != 2 || r.RejectedRows != 1 {
		t.Errorf("report %+v", r.Report)
	}
}

// TestControls walks a campaign through launch, pause, resume and cancel
// and checks the illegal moves are refused with the conflict exit code.
func TestControls(t *testing.T) {
	e := sqliteEnv(t)
	createDemoLikeCampaign(t, e, "ctl")
	mustHerald(t, e, "import", "--campaign", "ctl", "--rejects", filepath.Join(t.TempDir(), "r.csv"), filepath.Join("..", "..", "testdata", "demo-contacts.csv"))
	if code, _, _ := herald(t, e, "campaign", "resume", "ctl"); code != exitConflict {
		t.Errorf("resume of a draft: exit %d, want %d", code, exitConflict)
	}
	mustHerald(t, e, "campaign", "launch", "ctl")
	mustHerald(t, e, "campaign", "pause", "ctl")
	mustHerald(t, e, "campaign", "resume", "ctl")
	out := mustHerald(t, e, "campaign", "cancel", "ctl")
	r := report(t, e, "ctl")
	// No worker ran: every pending delivery is cancelled.
	var pending int64
	for _, s := range r.States {
		if s.State == "cancelled" {
			pending += s.N
		}
	}
	if !strings.Contains(out, itoa(pending)+" unsent deliveries cancelled") || pending == 0 {
		t.Errorf("cancel said %q; ledger has %d cancelled", out, pending)
	}
	if r.Status != "cancelled" || r.InProgress != 0 {
		t.Errorf("after cancel: %+v", r)
	}
	if code, _, errOut := herald(t, e, "campaign", "launch", "ctl"); code != exitConflict || !strings.Contains(errOut, "it is cancelled") {
		t.Errorf("launch of a cancelled campaign: exit %d %q", code, errOut)
	}
	// Support can still see what happened to a person.
	out = mustHerald(t, e, "status", "K40007")
	if !strings.Contains(out, "cancelled") || !strings.Contains(out, "Bjørn Håkon Ødegård") {
		t.Errorf("status: %s", out)
	}
	// The same person by phone, written as a caller reads it out.
	for _, q := range [][]string{{"status", "+47 962 62 050"}, {"status", "962 62 050", "--region", "NO"}, {"status", "BJORN.ODEGAARD@example.no"}} {
		if out := mustHerald(t, e, q...); !strings.Contains(out, "Bjørn Håkon Ødegård") {
			t.Errorf("%v: %s", q, out)
		}
	}
	// And by name, as a caller says it: no accents, any order.
	for _, q := range [][]string{{"status", "bjorn odegard"}, {"status", "Ødegård, Bjørn Håkon"}, {"status", "Odegaard", "--format", "json"}} {
		if out := mustHerald(t, e, q...); !strings.Contains(out, "Bjørn Håkon Ødegård") {
			t.Errorf("%v: %s", q, out)
		}
	}
	out = mustHerald(t, e, "status", "Odegaard", "--limit", "1")
	if !regexpMatch(`\d+ people match "Odegaard"; the best 1 follow`, out) || strings.Count(out, "— campaign ctl") != 1 {
		t.Errorf("status Odegaard --limit 1: %s", out)
	}
}

// TestErrors: one clear line and a distinct exit code.
func TestErrors(t *testing.T) {
	e := sqliteEnv(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report", "nosuch"}, exitNotFound, `no campaign named "nosuch"`},
		{[]string{"report"}, exitInvalid, "give the campaign name"},
		{[]string{"campaign", "create", "--name", "x", "--from", "a@example.no", "--sms-from", "X"}, exitInvalid, "give --templates"},
		{[]string{"campaign", "create", "--name", "x y", "--templates", "demotemplates"}, exitInvalid, "contains spaces"},
		{[]string{"campaign", "create", "--name", "x", "--channels", "fax", "--templates", "demotemplates"}, exitInvalid, `unknown channel "fax"`},
		{[]string{"import", "--campaign", "nosuch", "x.csv"}, exitNotFound, "no campaign"},
		{[]string{"status", "nobody@example.no"}, exitNotFound, "no contact matches"},
		{[]string{"status", "Zzyzx Qwerty"}, exitNotFound, `no one named "Zzyzx Qwerty"`},
		{[]string{"status", "Q"}, exitInvalid, "at least two letters"},
		{[]string{"report", "x", "--nope"}, exitInvalid, "unknown flag"},
	}
	for _, tt := range tests {
		code, _, errOut := herald(t, e, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("herald %v: exit %d, stderr %q; want exit %d and one line containing %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
	createDemoLikeCampaign(t, e, "dup")
	if code, _, errOut := herald(t, e, "campaign", "create", "--name", "dup", "--locale", "nb", "--templates", "demotemplates", "--from", "a@example.no", "--sms-from", "X"); code != exitConflict || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate campaign: exit %d %q", code, errOut)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
