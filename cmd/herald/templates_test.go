package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

// TestTemplatesInit: the starter notices of every language load, compile
// and render, fit in two SMS segments for a typical name, and the campaign
// check reports their placeholders until they are filled in.
func TestTemplatesInit(t *testing.T) {
	e := sqliteEnv(t)
	dir := filepath.Join(t.TempDir(), "tpl")
	mustHerald(t, e, "templates", "init", dir)
	ts, err := dispatcher.LoadTemplates(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	locales := strings.Split(starterLocales, ",")
	if len(ts) != 2*len(locales) {
		t.Fatalf("%d templates, want e-mail and SMS for %d locales", len(ts), len(locales))
	}
	n, err := dispatcher.CompileTemplates("en", ts)
	if err != nil {
		t.Fatal(err)
	}
	c := &dispatcher.Campaign{Name: "x", IncidentRef: "INC-2026-11", Sender: dispatcher.Sender{FromName: "Memira Norge AS"}}
	for _, loc := range locales {
		ct := &dispatcher.Contact{Name: "Åsmund Kristoffersen", Email: "a@example.no", Phone: "+4791234567", Locale: loc}
		m, err := n.Render(c, ct, dispatcher.SMS)
		if err != nil || m.Locale != loc {
			t.Fatalf("%s SMS: %v (locale %s)", loc, err, m.Locale)
		}
		// Filled in, a placeholder becomes a short web address.
		filled := regexp.MustCompile(`«[^»]*»`).ReplaceAllString(m.Text, "clinic.example/info")
		if enc, segs, _ := dispatcher.SMSSegments(filled); segs > 2 || enc != dispatcher.EncodingGSM7 {
			t.Errorf("%s SMS is %d %s segments: %q", loc, segs, enc, filled)
		}
		m, err = n.Render(c, ct, dispatcher.Email)
		if err != nil || m.HTML == "" || !strings.Contains(m.Text, "Åsmund") || !strings.Contains(m.Subject, "INC-2026-11") {
			t.Errorf("%s e-mail: %v %+v", loc, err, m)
		}
	}
	// A second init refuses to overwrite edits.
	if code, _, errOut := herald(t, e, "templates", "init", dir, "--locales", "nb"); code != exitConflict || !strings.Contains(errOut, "--force") {
		t.Errorf("second init: exit %d %q", code, errOut)
	}
	// The check reports the unfilled placeholders.
	mustHerald(t, e, "campaign", "create", "--name", "st", "--locale", "en", "--templates", dir, "--from", "a@example.no", "--sms-from", "X")
	code, out, _ := herald(t, e, "campaign", "check", "st")
	if code != exitInvalid || !strings.Contains(out, "placeholder") || !strings.Contains(out, "«Describe the incident") {
		t.Errorf("check of unfilled starters: exit %d\n%s", code, out)
	}
}
