package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// writeTemplates writes a templates folder from a map of files.
func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckPreviewLaunch(t *testing.T) {
	e := sqliteEnv(t)
	tpl := writeTemplates(t, map[string]string{
		"nb/email.subject": "Datainnbrudd",
		"nb/email.txt":     "Hei {{.FirstName}}, du jobbet i {{index .Attrs \"avdeling\"}}.",
		"nb/sms.txt":       "Hei {{.FirstName}}. Opplysninger om deg kan være lekket: ring oss på 23 96 03 92. Hilsen Memira (æøå).",
	})
	mustHerald(t, e, "campaign", "create", "--name", "chk", "--locale", "nb", "--templates", tpl,
		"--from", "hr@example.no", "--sms-from", "Memira", "--deadline", "72h")
	csv := filepath.Join(t.TempDir(), "list.csv")
	data := "ansattnr;navn;e-post;mobil;land;avdeling\n" +
		"1;Kari Nordmann;kari@example.no;+4791234567;NO;Oslo\n" +
		"2;Ola Nordmann;ola@example.no;+4791234568;NO;\n" +
		"3;Åse Kværnø;;+4791234569;NO;Bergen\n" +
		"4;Per Hansen;per@example.no;;NO;\n"
	if err := os.WriteFile(csv, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	mustHerald(t, e, "import", "--campaign", "chk", "--rejects", filepath.Join(t.TempDir(), "r.csv"), csv)

	code, out, errOut := herald(t, e, "campaign", "check", "chk")
	if code != exitInvalid || !strings.Contains(out, "missing-variable") || !strings.Contains(out, "Attrs.avdeling") ||
		!regexpMatch(`missing-variable\s+email\s+nb\s+2\s+Attrs\.avdeling\s+3, 5`, out) {
		t.Errorf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "SMS estimate: 3 messages, 3 segments (0 need UCS-2)") {
		t.Errorf("check SMS estimate:\n%s", out)
	}
	if code, _, errOut := herald(t, e, "campaign", "launch", "chk"); code != exitInvalid || !strings.Contains(errOut, "--force") {
		t.Errorf("launch of a failing campaign: exit %d %q", code, errOut)
	}

	out = mustHerald(t, e, "campaign", "preview", "chk", "--contact", "kari@example.no", "--channel", "sms")
	for _, want := range []string{"sms      GSM-7", "1 segment", "Hei Kari.", "to       Kari Nordmann <+4791234567>"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	out = mustHerald(t, e, "campaign", "preview", "chk", "--contact", "1")
	if !strings.Contains(out, "subject  Datainnbrudd") || !strings.Contains(out, "du jobbet i Oslo.") {
		t.Errorf("e-mail preview:\n%s", out)
	}

	// Scheduled launch: the campaign stays a draft until a worker's
	// reconciler passes the time.
	out = mustHerald(t, e, "campaign", "launch", "chk", "--force", "--at", time.Now().Add(time.Hour).Format("2006-01-02T15:04"))
	if !strings.Contains(out, "scheduled for") {
		t.Errorf("launch --at: %s", out)
	}
	a := &app{stdout: os.Stdout, stderr: os.Stderr, getenv: e.get}
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	defer a.close()
	st, err := a.store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := &dispatcher.Reconciler{Store: st}
	if res, err := rec.Run(context.Background(), true); err != nil || res.Launched != 0 {
		t.Fatalf("launched early: %+v %v", res, err)
	}
	rec.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if res, err := rec.Run(context.Background(), true); err != nil || res.Launched != 1 {
		t.Fatalf("scheduled launch: %+v %v", res, err)
	}
	out = mustHerald(t, e, "campaign", "status", "chk")
	for _, want := range []string{"campaign chk (running)", "0 of 4 contacts done", "deadline "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// A launch past the check is audited as forced, scheduled (chk,
	// by the scheduler) or not (chk2).
	mustHerald(t, e, "campaign", "create", "--name", "chk2", "--locale", "nb", "--templates", tpl, "--from", "hr@example.no", "--sms-from", "Memira")
	mustHerald(t, e, "import", "--campaign", "chk2", "--rejects", filepath.Join(t.TempDir(), "r2.csv"), csv)
	mustHerald(t, e, "campaign", "launch", "chk2", "--force")
	es, err := st.(dispatcher.UserStore).AuditLog(context.Background(), dispatcher.AuditQuery{Action: "campaign.launch_forced"})
	forced := map[string]string{}
	for _, x := range es {
		forced[x.Subject+" "+x.Actor] = x.Detail
	}
	if err != nil || len(es) != 2 || !strings.Contains(forced["chk2 cli:test"], "--force") || !strings.Contains(forced["chk scheduler"], "--force") {
		t.Errorf("audit of forced launches: %+v %v", es, err)
	}
}
