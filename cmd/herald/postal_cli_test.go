package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store"
)

// letterTemplates writes a templates folder with e-mail, SMS and letter
// templates in English.
func letterTemplates(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "templates")
	files := map[string]string{
		"en/email.subject": "Notice of a data breach",
		"en/email.txt":     "Dear {{.Name}}, your records were exposed.",
		"en/sms.txt":       "Hi {{.FirstName}}, we wrote to you about a data breach.",
		"en/letter.txt":    "{{.Name}}\n{{.Postal.Line1}}\n{{.Postal.PostalCode}} {{.Postal.City}} {{.Postal.Region}}\n\nDear {{.Name}},\nyour records were exposed in a breach at our clinic.\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// auditActions reads the audit log of the ledger in e, oldest first.
func auditActions(t *testing.T, e env, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, e["HERALD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.AuditLog(ctx, dispatcher.AuditQuery{Action: prefix})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i].Action)
	}
	return out
}

// TestPostalCLI runs a consent-required US campaign with letters: the
// operator sees the letters waiting, hands them to print, records a
// returned letter and the mailing, and reads the unreachable report with
// its substitute-notice headline.
func TestPostalCLI(t *testing.T) {
	e := sqliteEnv(t)
	mustHerald(t, e, "campaign", "create", "--name", "hipaa", "--locale", "en", "--templates", letterTemplates(t),
		"--channels", "email,postal", "--from", "privacy@clinic.example", "--consent-required", "--substitute-threshold", "2")
	if out := mustHerald(t, e, "campaign", "show", "hipaa"); !strings.Contains(out, "consent required true, all channels false, substitute-notice threshold 2") {
		t.Errorf("campaign show: %s", out)
	}
	list := writeFile(t, "patients.csv", "patient_id,name,email,email_consent,address,zip,city,state,country\n"+
		"MRN-1,Ann Lee,ann@example.com,yes,1 Main St,90210,Beverly Hills,CA,US\n"+ // e-mail
		"MRN-2,Bob Ray,bob@example.com,no,2 Main St,90210,Beverly Hills,CA,US\n"+ // letter: no consent
		"MRN-3,Cy Roe,,,3 Oak Ave,10001,New York,NY,US\n"+ // letter: no e-mail
		"MRN-4,=HYPERLINK(\"http://evil\"),dee@example.com,,,,,NY,US\n"+ // no consent, no address: unreachable
		"MRN-5,Eve Poe,,,5 Elm Rd,02139,Cambridge,MA,US\n") // letter, returned later
	mustHerald(t, e, "import", "--campaign", "hipaa", "--rejects", filepath.Join(t.TempDir(), "r.csv"), list)
	mustHerald(t, e, "campaign", "launch", "hipaa")

	status := mustHerald(t, e, "campaign", "status", "hipaa")
	if !strings.Contains(status, "3 letters waiting for a print batch: herald postal batch hipaa --out FILE.csv") {
		t.Errorf("status does not tell about the waiting letters:\n%s", status)
	}
	if out := mustHerald(t, e, "campaign", "status", "hipaa", "--format", "json"); !strings.Contains(out, `"letters_waiting":3`) {
		t.Errorf("status JSON does not count the waiting letters: %s", out)
	}
	if out := mustHerald(t, e, "report", "hipaa"); !strings.Contains(out, "letters waiting for a print batch  3") {
		t.Errorf("report does not count the waiting letters:\n%s", out)
	}

	if out := mustHerald(t, e, "campaign", "preview", "hipaa", "--contact", "MRN-3", "--channel", "postal"); !strings.Contains(out, "to       Cy Roe <3 Oak Ave, 10001 New York, NY, US>") || !strings.Contains(out, "Dear Cy Roe,") {
		t.Errorf("letter preview:\n%s", out)
	}
	if out := mustHerald(t, e, "campaign", "check", "hipaa"); !strings.Contains(out, "postal notices rendered: 4") || !strings.Contains(out, "email notices rendered: 1") {
		t.Errorf("campaign check:\n%s", out)
	}

	dir := t.TempDir()
	batchPath := filepath.Join(dir, "batch.csv")
	code, out, errOut := herald(t, e, "postal", "batch", "hipaa", "--out", batchPath)
	if code != 0 || !strings.Contains(errOut, "batch 1 (print-batch-1): 3 letters handed to print") || !strings.Contains(errOut, "herald postal mailed 1") || out != "" {
		t.Fatalf("postal batch: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	info, err := os.Stat(batchPath)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("batch file %v, %v: want it readable by the owner only", info, err)
	}
	data, _ := os.ReadFile(batchPath)
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("batch file (%v):\n%s", err, data)
	}
	byName := map[string][]string{}
	for _, r := range rows[1:] {
		byName[r[2]] = r
	}
	if bob := byName["Bob Ray"]; bob == nil || bob[3] != "2 Main St" || bob[7] != "CA" || !strings.HasPrefix(bob[10], "Bob Ray\n2 Main St\n90210 Beverly Hills CA\n\nDear Bob Ray,") {
		t.Errorf("Bob's letter row = %q", bob)
	}
	if byName["Ann Lee"] != nil {
		t.Error("Ann, who consented to e-mail, is in the print batch")
	}

	// Nothing left: no file, exit 0. An existing file is not overwritten.
	empty := filepath.Join(dir, "empty.csv")
	if code, _, errOut := herald(t, e, "postal", "batch", "hipaa", "--out", empty); code != 0 || !strings.Contains(errOut, "no letters are waiting") {
		t.Errorf("empty batch: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("an empty batch created %s", empty)
	}
	if code, _, errOut := herald(t, e, "postal", "batch", "hipaa", "--out", batchPath); code != exitConflict || !strings.Contains(errOut, "exists") {
		t.Errorf("batch onto an existing file: exit %d %q", code, errOut)
	}
	if code, _, errOut := herald(t, e, "postal", "batch", "hipaa"); code != exitInvalid || !strings.Contains(errOut, "--out") {
		t.Errorf("batch without --out: exit %d %q", code, errOut)
	}

	// The file can be written again, identically.
	again := filepath.Join(dir, "again.csv")
	mustHerald(t, e, "postal", "export", "print-batch-1", "--out", again)
	if b, _ := os.ReadFile(again); !bytes.Equal(b, data) {
		t.Errorf("export differs from the batch file:\n%s\n---\n%s", b, data)
	}
	if out := mustHerald(t, e, "postal", "list"); !strings.Contains(out, "1      hipaa     handed_to_print  3") {
		t.Errorf("postal list:\n%s", out)
	}

	// Eve's letter comes back; then the batch is mailed.
	out = mustHerald(t, e, "postal", "returned", "1", "--contact", "MRN-5", "--note", "moved away")
	if !strings.Contains(out, "recorded as returned") {
		t.Errorf("returned: %s", out)
	}
	if out := mustHerald(t, e, "status", "MRN-5"); !strings.Contains(out, "bounced_hard") || !strings.Contains(out, "returned: invalid postal address: moved away") {
		t.Errorf("support lookup after the return:\n%s", out)
	}
	if out := mustHerald(t, e, "suppressions", "list", "--channel", "postal"); !strings.Contains(out, "5 elm rd, 02139 cambridge, ma, us") {
		t.Errorf("returned address not suppressed:\n%s", out)
	}
	if code, _, errOut := herald(t, e, "postal", "returned", "1", "--contact", "MRN-1"); code != exitNotFound || !strings.Contains(errOut, "no letter") {
		t.Errorf("returned for a contact without a letter: exit %d %q", code, errOut)
	}
	if code, _, errOut := herald(t, e, "postal", "returned", "1"); code != exitInvalid {
		t.Errorf("returned without --delivery or --contact: exit %d %q", code, errOut)
	}
	if code, _, _ := herald(t, e, "postal", "returned", "9", "--delivery", "1"); code != exitNotFound {
		t.Errorf("returned for a missing batch: exit %d", code)
	}
	if out := mustHerald(t, e, "postal", "mailed", "1"); !strings.Contains(out, "batch 1 mailed: 2 letters sent (1 recorded as returned before)") {
		t.Errorf("mailed: %s", out)
	}
	if code, _, errOut := herald(t, e, "postal", "mailed", "1"); code != exitConflict || !strings.Contains(errOut, "already") {
		t.Errorf("mailed twice: exit %d %q", code, errOut)
	}

	// The unreachable report: the formula name neutralised, addresses at
	// the end, the headline on standard error.
	code, out, errOut = herald(t, e, "report", "hipaa", "--unreachable")
	if code != 0 {
		t.Fatalf("report --unreachable: exit %d %s", code, errOut)
	}
	rows, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("unreachable CSV (%v):\n%s", err, out)
	}
	wantHeader := "external_id,name,email,phone,country,locale,source_row,email_reason,postal_reason,region,address_line1,address_line2,postal_code,city"
	if got := strings.Join(rows[0], ","); got != wantHeader {
		t.Errorf("header %s\nwant   %s", got, wantHeader)
	}
	for _, r := range rows[1:] {
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("cell %q would be a formula in a spreadsheet", cell)
			}
		}
		switch r[0] {
		case "MRN-4":
			if r[1] != `'=HYPERLINK("http://evil")` || r[7] != "skipped: "+dispatcher.ReasonNoConsent || r[8] != "skipped: no valid postal address on record" || r[9] != "NY" {
				t.Errorf("MRN-4 row = %q", r)
			}
		case "MRN-5":
			if !strings.HasPrefix(r[8], "bounced_hard: returned: "+dispatcher.ReasonReturned) || r[10] != "5 Elm Rd" || r[12] != "02139" || r[13] != "Cambridge" {
				t.Errorf("MRN-5 row = %q", r)
			}
		default:
			t.Errorf("unexpected unreachable row %q", r)
		}
	}
	if !strings.Contains(errOut, "2 people could not be reached directly; that reaches the substitute-notice threshold of 2") ||
		!strings.Contains(errOut, "(1 contact is still in progress") || !regexpMatch(`(?m)^\s+US\s+MA\s+1$`, errOut) {
		t.Errorf("headline on stderr:\n%s", errOut)
	}
	code, out, errOut = herald(t, e, "report", "hipaa", "--unreachable", "--format", "json")
	var jrows []unreachableRow
	if code != 0 || json.Unmarshal([]byte(out), &jrows) != nil || len(jrows) != 2 || jrows[1].Postal == nil || jrows[1].Postal.City != "Cambridge" || jrows[0].Region != "NY" {
		t.Errorf("unreachable JSON: exit %d %s\n%s", code, out, errOut)
	}

	var sum struct {
		Campaign string `json:"campaign"`
		dispatcher.SubstituteNotice
	}
	if err := json.Unmarshal([]byte(mustHerald(t, e, "report", "hipaa", "--summary", "--format", "json", "--substitute-threshold", "10")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Campaign != "hipaa" || sum.Unreachable != 2 || sum.Threshold != 10 || sum.Due || len(sum.ByArea) != 2 || !strings.Contains(sum.Headline, "below the substitute-notice threshold of 10") {
		t.Errorf("summary with an override = %+v", sum)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(mustHerald(t, e, "report", "hipaa", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.SubstituteNotice == nil || !rep.SubstituteNotice.Due || rep.ReachedBy["postal"] != 2 || rep.ReachedBy["email"] != 0 || rep.InProgress != 1 {
		t.Errorf("report JSON = %+v %+v", rep.Report, rep.SubstituteNotice)
	}
	if got := auditActions(t, e, "postal."); strings.Join(got, ",") != "postal.batch,postal.export,postal.returned,postal.mailed" {
		t.Errorf("postal audit = %v", got)
	}
}

// TestSuppressionsCLI adds, lists, imports and removes entries, and shows
// that a list exported as CSV imports back.
func TestSuppressionsCLI(t *testing.T) {
	e := sqliteEnv(t)
	mustHerald(t, e, "suppressions", "add", "--channel", "email", "Ola.Nordmann@Example.no", "--note", "asked by phone")
	mustHerald(t, e, "suppressions", "add", "--channel", "sms", "912 34 567", "--region", "NO", "--reason", "opt-out")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"suppressions", "add", "a@example.no"}, exitInvalid, "give --channel"},
		{[]string{"suppressions", "add", "--channel", "fax", "1"}, exitInvalid, `unknown channel "fax"`},
		{[]string{"suppressions", "add", "--channel", "email", "nope"}, exitInvalid, "no @"},
		{[]string{"suppressions", "add", "--channel", "email", "a@example.no", "--reason", "because"}, exitInvalid, "unknown suppression reason"},
		{[]string{"suppressions", "remove", "--channel", "email", "nobody@example.no"}, exitNotFound, "is not on the email suppression list"},
		{[]string{"suppressions", "list", "--format", "xml"}, exitInvalid, "use text, csv or json"},
	} {
		code, _, errOut := herald(t, e, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("herald %v: exit %d %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}

	bad := writeFile(t, "bad.csv", "channel;address;reason\nemail;kari@example.no;invalid\nfax;123;manual\nsms;+4791234568;because\n")
	code, _, errOut := herald(t, e, "suppressions", "import", bad)
	if code != exitInvalid || !strings.Contains(errOut, `row 3: unknown channel "fax"`) || !strings.Contains(errOut, "row 4: unknown suppression reason") || !strings.Contains(errOut, "nothing was") {
		t.Errorf("import of a bad file: exit %d %q", code, errOut)
	}
	good := writeFile(t, "good.csv", "channel,address,reason\nemail,kari@example.no,invalid\nemail,OLA.NORDMANN@example.no,complaint\npostal,\"1 Main St, 90210 LA, US\",returned\n")
	if out := mustHerald(t, e, "suppressions", "import", good); !strings.Contains(out, "3 entries, 2 new, 1 already listed") {
		t.Errorf("import: %s", out)
	}

	out := mustHerald(t, e, "suppressions", "list", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != "channel,address,reason,source,first_seen,last_seen" {
		t.Fatalf("list as CSV (%v):\n%s", err, out)
	}
	var smsRow []string
	for _, r := range rows {
		if r[0] == "sms" {
			smsRow = r
		}
	}
	if smsRow == nil || smsRow[1] != "'+4791234567" || smsRow[2] != "opted_out" {
		t.Errorf("sms row = %q: the number must be kept from becoming a formula", smsRow)
	}
	// The export imports back: nothing new.
	exported := writeFile(t, "export.csv", out)
	if out := mustHerald(t, e, "suppressions", "import", exported); !strings.Contains(out, "4 entries, 0 new") {
		t.Errorf("re-import of the export: %s", out)
	}

	var list []dispatcher.Suppression
	if err := json.Unmarshal([]byte(mustHerald(t, e, "suppressions", "list", "--format", "json", "--channel", "email", "--reason", "complaint")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Address != "ola.nordmann@example.no" || list[0].FirstSeen.IsZero() {
		t.Errorf("filtered JSON list = %+v", list)
	}
	if out := mustHerald(t, e, "suppressions", "list", "--format", "json", "--channel", "postal", "--reason", "manual"); strings.TrimSpace(out) != "[]" {
		t.Errorf("empty JSON list = %q", out)
	}
	if out := mustHerald(t, e, "suppressions", "list"); !strings.Contains(out, "4 entries") || !strings.Contains(out, "kari@example.no") {
		t.Errorf("text list:\n%s", out)
	}

	mustHerald(t, e, "suppressions", "remove", "--channel", "sms", "+47 912 34 567")
	if out := mustHerald(t, e, "suppressions", "list", "--channel", "sms"); !strings.Contains(out, "0 entries") {
		t.Errorf("after remove:\n%s", out)
	}
	want := "suppression.add,suppression.add,suppression.import,suppression.list,suppression.import,suppression.list,suppression.list,suppression.list,suppression.remove,suppression.list"
	if got := strings.Join(auditActions(t, e, "suppression."), ","); got != want {
		t.Errorf("audit:\n got %s\nwant %s", got, want)
	}
}

// checkUnreachableCSV reads `herald report NAME --unreachable` as a
// spreadsheet would: one row per unreachable contact, every row as wide
// as the header, no cell a formula, and the headline on standard error.
func checkUnreachableCSV(t *testing.T, e env, name string, unreachable int64) {
	t.Helper()
	code, out, errOut := herald(t, e, "report", name, "--unreachable")
	if code != 0 {
		t.Fatalf("report --unreachable: exit %d %s", code, errOut)
	}
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = 0 // every record as wide as the header
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the unreachable CSV does not read cleanly: %v\n%s", err, out)
	}
	if int64(len(rows)-1) != unreachable {
		t.Errorf("%d unreachable rows, report says %d", len(rows)-1, unreachable)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q would be read as a formula", cell)
			}
		}
	}
	if !strings.Contains(errOut, "could not be reached directly") && unreachable > 0 {
		t.Errorf("no substitute-notice headline on stderr: %q", errOut)
	}
}
