package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/sms"
	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/queue"
)

// chromiumPath finds Debian's chromium, or skips (fails when services are
// required: CI installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HERALD_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if testenv.Required() {
		t.Fatalf("chromium not found but %s=1: apt-get install chromium", testenv.RequireVar)
	}
	t.Skip("chromium not installed; skipping the browser tests")
	return ""
}

// screenshotDir is where the browser tests leave their screenshots:
// $HERALD_ARTIFACTS/screenshots when CI sets it, else
// web/testdata/screenshots (ignored by git). Screenshots of an earlier run
// are removed first, so that the directory shows this run's pages only.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "screenshots")
	if a := os.Getenv("HERALD_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// browser starts a headless Chromium with the flags this machine needs.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelB()
		cancelA()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser on a context without a timeout
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// into runs a and stores its value in dst.
func into[T any](a chromedp.Action[T], dst *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := a(ctx, t)
		*dst = v
		return err
	})
}

// void runs a for its effect.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := a(ctx, t)
		return err
	})
}

// browserList is the contact list the browser test uploads: Norwegian
// names, a few rows that must be rejected, dead mailboxes that fall back
// to SMS, and one person nothing can reach.
type browserList struct {
	csv      string
	rejected int
	accepted int
	dead     []string
	badPhone string
}

func makeBrowserList() browserList {
	var b strings.Builder
	l := browserList{}
	b.WriteString("ansattnr;navn;e-post;mobil;språk;rolle\n")
	for i := 1; i <= 40; i++ {
		mail := fmt.Sprintf("ase.odegard%d@example.no", i)
		phone := fmt.Sprintf("+47 41 00 %02d %02d", i/100, i%100)
		locale := "nb"
		if i%5 == 0 {
			locale = "en"
		}
		if i%8 == 0 {
			l.dead = append(l.dead, mail)
		}
		if i == 16 {
			l.badPhone = strings.ReplaceAll(phone, " ", "")
		}
		fmt.Fprintf(&b, "E%04d;Åse Ødegård %d;%s;%s;%s;tidligere ansatt\n", i, i, mail, phone, locale)
		l.accepted++
	}
	// Rejected: no way to reach the person at all, and an e-mail address
	// that is broken with no phone to fall back on (strict import).
	b.WriteString("E9001;Bjørn Uten Adresse;;;nb;vikar\n")
	b.WriteString("E9002;Kjærsti Feilskrevet;kjaersti@@example;;nb;vikar\n")
	l.rejected = 2
	l.csv = b.String()
	return l
}

// TestBrowser drives the console in a real headless Chromium: an operator
// signs in, creates a campaign (seeing a problem at its field first),
// changes a setting and fills in a notice; uploads a list to another
// campaign and sees the rejected rows, launches and watches progress reach
// 100 % while an in-process worker sends through a local SMTP server and a
// Twilio double, and adds to the suppression list; support looks a person
// up by e-mail and by name (typed without accents), checks the suppression
// list, and cannot reach exports, the list or campaign controls; an admin
// sees the lookups in the audit log. Every page is saved as a screenshot.
func TestBrowser(t *testing.T) {
	bctx := browser(t)
	shots := screenshotDir(t)
	list := makeBrowserList()

	// The outside world: an MTA that knows the dead mailboxes, and Twilio.
	mta, err := smtpd.Start(smtpd.Options{UnknownUsers: list.dead})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mta.Close() })
	tw, err := twiliodouble.Start(twiliodouble.Options{Numbers: map[string]twiliodouble.Behavior{list.badPhone: {Reject: twiliodouble.CodeInvalidTo}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Close() })

	var b *queue.Backend
	e := newTestEnv(t, withBackend(t), func(c *Config) { b = c.Backend })
	// A check can be held running, to show its progress; it waits a
	// second for a check before showing the check page.
	g := newGate(e.srv)
	g.on.Store(false)
	e.srv.checkWait = time.Second
	ctx := context.Background()
	camp := &dispatcher.Campaign{Name: "datainnbrudd-2026", IncidentRef: "INC-2026-042", DefaultLocale: "nb",
		Policy:   dispatcher.Policy{dispatcher.Email, dispatcher.SMS},
		Settings: dispatcher.Settings{QuietHours: "off"},
		Sender:   dispatcher.Sender{FromName: "Klinikk Personvern", FromEmail: "personvern@klinikk.example", ReplyTo: "svar@klinikk.example", SMSFrom: "Klinikk"}}
	if err := e.st.CreateCampaign(ctx, camp, demoTemplates()); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(t.TempDir(), "berørte-ansatte.csv")
	if err := os.WriteFile(csvPath, []byte(list.csv), 0o600); err != nil {
		t.Fatal(err)
	}

	// The worker side, as `herald worker` wires it.
	emailCh, err := email.New(email.Config{Host: mta.Host(), Port: mta.Port(), TLS: email.TLSNone, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emailCh.Close() })
	smsCh, err := sms.New(sms.Config{AccountSID: tw.AccountSID(), AuthToken: tw.AuthToken(), BaseURL: tw.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smsCh.Close() })
	q := queue.NewClient(b, queue.ClientConfig{MaxRetry: 3})
	handler := &dispatcher.Worker{Store: e.st, Queue: q, Channels: map[dispatcher.ChannelKind]dispatcher.Channel{dispatcher.Email: emailCh, dispatcher.SMS: smsCh}}
	w := queue.NewWorker(b, handler, queue.WorkerConfig{Concurrency: 8, PollInterval: 50 * time.Millisecond, DelayedCheckInterval: 100 * time.Millisecond, RetryBase: 100 * time.Millisecond})
	rec := &dispatcher.Reconciler{Store: e.st, Queue: q, StaleAfter: time.Minute}
	feeder := &dispatcher.Feeder{Store: e.st, Queue: q}
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { feeder.Loop(wctx, 100*time.Millisecond) })
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := w.Run(wctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := rec.Loop(wctx, 200*time.Millisecond); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("reconciler: %v", err)
		}
	}()
	t.Cleanup(func() {
		stopWorkers()
		wg.Wait()
	})

	base := e.ts.URL
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	signIn := func(user string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), user),
			chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
			chromedp.Submit(chromedp.ID("password")),
			chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Main"]`)),
		)
	}
	signOut := chromedp.Steps(
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			_ = chromedp.Do(bctx, shot("failed-"+step))
			t.Fatalf("%s: %v", step, err)
		}
	}

	// 1. The operator signs in and sees the campaign list.
	run("login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("name")), shot("01-login"))
	run("campaigns", signIn("operator-user"), chromedp.Navigate(base+"/campaigns"), chromedp.WaitVisible(chromedp.CSS(`table.grid`)), shot("02-campaigns"))

	// 2. The operator creates a campaign in the console: a problem is
	// shown at its field; fixed, the campaign is created from the starter
	// notices; a setting is changed; a notice is filled in.
	var fieldErr, created string
	run("new-campaign",
		chromedp.Click(chromedp.ID("new-campaign")),
		chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-name"), "varsel-2026"),
		chromedp.SendKeys(chromedp.ID("f-incident"), "INC-2026-043"),
		chromedp.SetValue(chromedp.ID("f-locale"), "nb"),
		chromedp.SendKeys(chromedp.ID("f-from-name"), "Klinikk Personvern"),
		chromedp.SendKeys(chromedp.ID("f-from-email"), "personvern@"),
		chromedp.SendKeys(chromedp.ID("f-sms-from"), "Klinikk"),
		chromedp.Click(chromedp.CSS(`input[name="starter"][value="nb"]`)),
		shot("03-new-campaign"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(`.field.invalid .field-error`)),
		into(chromedp.Text(chromedp.CSS(`.field.invalid`)), &fieldErr),
		shot("04-new-campaign-problem"),
		chromedp.SetValue(chromedp.ID("f-from-email"), "personvern@klinikk.example"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
		into(chromedp.Text(chromedp.CSS(`p.flash`)), &created),
		shot("05-campaign-created"),
	)
	if !strings.Contains(fieldErr, "From address") || !strings.Contains(fieldErr, "is not an e-mail address") {
		t.Errorf("the form's problem is not shown at the from address:\n%s", fieldErr)
	}
	if !strings.Contains(created, "Campaign created") {
		t.Errorf("no confirmation after creating: %q", created)
	}
	var quiet, sms string
	run("settings",
		chromedp.Click(chromedp.ID("settings-link")),
		chromedp.WaitVisible(chromedp.ID("f-quiet")),
		chromedp.SetValue(chromedp.ID("f-quiet"), "off"),
		chromedp.SetValue(chromedp.ID("f-threshold"), "10"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
		into(chromedp.Value(chromedp.ID("f-quiet")), &quiet),
		shot("06-settings-saved"),
	)
	nc, err := e.st.CampaignByName(ctx, "varsel-2026")
	if err != nil || quiet != "off" || nc.Settings.QuietHours != "off" || nc.Settings.SubstituteThreshold != 10 ||
		nc.Sender.FromEmail != "personvern@klinikk.example" || nc.Status != dispatcher.CampaignDraft {
		t.Fatalf("campaign after the settings form: %+v, %v (form shows %q)", nc, err, quiet)
	}
	// While the operator edits, a launch is scheduled from the command
	// line: the save is refused, the current values are shown with what
	// was not saved, and saving again keeps the schedule.
	var conflict, unsaved string
	scheduled := time.Now().Add(72 * time.Hour).Truncate(time.Minute)
	run("settings-conflict",
		chromedp.SetValue(chromedp.ID("f-threshold"), "25"),
		chromedp.Func(func(context.Context, *chromedp.Target) error {
			_, err := dispatcher.ChangeCampaign(ctx, e.st, nc.ID, func(c *dispatcher.Campaign) error {
				c.Settings.ScheduledAt = scheduled
				return nil
			})
			return err
		}),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("unsaved")),
		into(chromedp.Text(chromedp.CSS(`p.problem`)), &conflict),
		into(chromedp.Text(chromedp.ID("unsaved")), &unsaved),
		shot("06a-settings-changed-meanwhile"),
		chromedp.SetValue(chromedp.ID("f-threshold"), "25"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	if !strings.Contains(conflict, "changed while you were editing") || !strings.Contains(unsaved, "Substitute notice at") || !strings.Contains(unsaved, "25") {
		t.Errorf("settings conflict shows:\n%s\n%s", conflict, unsaved)
	}
	if nc, _ := e.st.Campaign(ctx, nc.ID); nc.Settings.SubstituteThreshold != 25 || !nc.Settings.ScheduledAt.Equal(scheduled) {
		t.Errorf("after saving again: threshold %d, scheduled %v (want %v)", nc.Settings.SubstituteThreshold, nc.Settings.ScheduledAt, scheduled)
	}
	run("template-edit",
		chromedp.Navigate(base+"/campaigns/varsel-2026/templates?channel=sms&locale=nb"),
		chromedp.WaitVisible(chromedp.ID("t-text")),
		chromedp.SetValue(chromedp.ID("t-text"), "Hei {{.FirstName}}. Opplysninger om deg kan være berørt av et datainnbrudd hos Klinikk. Les mer: klinikk.example/varsel. Ref {{.Campaign.IncidentRef}}."),
		chromedp.Click(chromedp.ID("save-template")),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
		into(chromedp.Text(chromedp.ID("notice-text")), &sms),
		shot("07-template-edited"),
	)
	if !strings.Contains(sms, "Hei Kari") || !strings.Contains(sms, "klinikk.example/varsel") || !strings.Contains(sms, "INC-2026-043") {
		t.Errorf("the edited SMS previews as %q", sms)
	}

	// Launching it runs the campaign check: the e-mail still has the
	// starter notice's «placeholders», so it is refused with the
	// findings; launching anyway takes its own confirmation and a reason.
	var refused, findings, unconfirmed, forced string
	run("launch-refused",
		chromedp.Navigate(base+"/campaigns/varsel-2026"),
		chromedp.WaitVisible(chromedp.ID("launch")),
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(chromedp.ID("launch")),
		chromedp.WaitVisible(chromedp.ID("check-problems")),
		into(chromedp.Text(chromedp.ID("launch-refused")), &refused),
		into(chromedp.Text(chromedp.ID("check-problems")), &findings),
		shot("07a-launch-refused-by-check"),
		chromedp.SendKeys(chromedp.ID("anyway-reason"), "Testvarsel til personvernombudet før utsendelse"),
		chromedp.Click(chromedp.ID("launch-anyway")),
		chromedp.WaitVisible(chromedp.CSS(`main > p.problem`)), // the answer's, not the refusal's
		into(chromedp.Text(chromedp.CSS(`main > p.problem`)), &unconfirmed),
		shot("07b-launch-anyway-unconfirmed"),
		chromedp.Click(chromedp.ID("anyway-confirm")),
		chromedp.Click(chromedp.ID("launch-anyway")),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
		into(chromedp.Text(chromedp.CSS(`p.flash`)), &forced),
		shot("07c-launched-anyway"),
	)
	if !strings.Contains(refused, "Not launched") || !strings.Contains(strings.ToLower(findings), "placeholder left") || !strings.Contains(findings, "still has the starter text «") {
		t.Errorf("refused launch shows:\n%s\n%s", refused, findings)
	}
	if !strings.Contains(unconfirmed, "tick the box") {
		t.Errorf("launch anyway without the box ticked: %q", unconfirmed)
	}
	if !strings.Contains(forced, "despite the check's findings") {
		t.Errorf("forced launch flash: %q", forced)
	}
	if es := e.audits("campaign.launch_forced"); len(es) != 1 || !strings.Contains(es[0].Detail, "placeholder in email/nb") || !strings.Contains(es[0].Detail, "Testvarsel til personvernombudet") {
		t.Errorf("audit of the forced launch: %+v", es)
	}

	// 3. Upload the list; the rejected rows are listed and downloadable.
	var rejected, accepted, problems string
	run("import",
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/import"),
		chromedp.WaitVisible(chromedp.ID("file")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{csvPath}),
		chromedp.Click(chromedp.CSS(`input[name="strict"]`)),
		chromedp.Click(chromedp.ID("upload")),
		chromedp.WaitVisible(chromedp.ID("import-result")),
		into(chromedp.Text(chromedp.ID("rejected")), &rejected),
		into(chromedp.Text(chromedp.ID("accepted")), &accepted),
		into(chromedp.Text(chromedp.ID("problems")), &problems),
		chromedp.WaitVisible(chromedp.ID("rejects-download")),
		shot("08-import-result"),
	)
	if rejected != fmt.Sprint(list.rejected) || accepted != fmt.Sprint(list.accepted) {
		t.Errorf("import shows accepted %s, rejected %s; want %d, %d", accepted, rejected, list.accepted, list.rejected)
	}
	for _, want := range []string{"kjaersti@@example", "rejected"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problem table lacks %q:\n%s", want, problems)
		}
	}

	// 4. Preview the notice for the sample person.
	var subject string
	run("templates",
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/templates?channel=email&locale=nb"),
		chromedp.WaitVisible(chromedp.ID("notice-text")),
		into(chromedp.Text(chromedp.ID("subject")), &subject),
		chromedp.Sleep(300*time.Millisecond), // let the preview frame paint for the screenshot
		shot("09-template-preview"),
	)
	if !strings.Contains(subject, "INC-2026-042") {
		t.Errorf("preview subject %q lacks the incident reference", subject)
	}

	// 5. Launch: the check runs first (held here, to see its progress),
	// passes, and the campaign is launched from the check page; then
	// watch the dashboard reach 100 % on its own.
	var pct, checking, passed string
	g.on.Store(true)
	run("launch",
		chromedp.Navigate(base+"/campaigns/"+camp.Name),
		chromedp.WaitVisible(chromedp.ID("launch")),
		shot("10-dashboard-draft"),
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)), // accept "Launch …?"
		chromedp.Click(chromedp.ID("launch")),
		chromedp.WaitVisible(chromedp.ID("check-progress")),
		into(chromedp.Text(chromedp.ID("check")), &checking),
		shot("10a-check-running"),
		chromedp.Func(func(context.Context, *chromedp.Target) error {
			g.on.Store(false)
			close(g.release)
			return nil
		}),
		chromedp.WaitVisible(chromedp.ID("launch-card")), // the page follows the check
		into(chromedp.Text(chromedp.ID("check")), &passed),
		shot("10b-check-passed"),
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)),
		chromedp.Click(chromedp.ID("launch")),
		chromedp.WaitVisible(chromedp.ID("pause")),
	)
	if !strings.Contains(checking, "Not launched yet") || !strings.Contains(checking, "Checking:") {
		t.Errorf("check page while checking:\n%s", checking)
	}
	if !strings.Contains(passed, "Every notice renders: 40 people checked, 40 e-mails and 40 SMS") {
		t.Errorf("check page after the check passed:\n%s", passed)
	}
	run("progress",
		void(chromedp.Poll[bool](`document.querySelector('#campaign-status') && document.querySelector('#campaign-status').textContent.trim() === 'completed'`,
			chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(75*time.Second))),
		into(chromedp.Text(chromedp.ID("percent-done")), &pct),
		shot("11-dashboard-completed"),
	)
	if pct != "100.0 %" {
		t.Errorf("completed dashboard shows %q done, want 100.0 %%", pct)
	}
	var unreachable string
	run("unreachable",
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/unreachable"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &unreachable),
		shot("12-unreachable"),
	)
	if !strings.Contains(unreachable, "Åse Ødegård 16") || !strings.Contains(unreachable, "not a valid phone number") {
		t.Errorf("unreachable page lacks person 16 and the reason in words:\n%s", unreachable)
	}
	// A completed campaign's settings are shown, not editable.
	var saveButtons int
	run("settings-read-only",
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/settings"),
		chromedp.WaitVisible(chromedp.ID("read-only")),
		into(chromedp.Evaluate[int](`document.querySelectorAll('#save, fieldset:not([disabled]) input').length`), &saveButtons),
		shot("13-settings-read-only"),
	)
	if saveButtons != 0 {
		t.Errorf("a completed campaign's settings have %d editable fields or a save button", saveButtons)
	}

	// 6. The suppression list holds the dead mailboxes and the bad number;
	// the operator adds a number the person asked to leave alone.
	var supList, supAdded, supFiltered string
	run("suppressions",
		chromedp.Navigate(base+"/suppressions"),
		chromedp.WaitVisible(chromedp.ID("suppressions")),
		into(chromedp.Text(chromedp.ID("suppressions")), &supList),
		shot("14-suppressions"),
		chromedp.SetValue(chromedp.ID("add-channel"), "sms"),
		chromedp.SendKeys(chromedp.ID("add-address"), "+47 41 00 00 99"),
		chromedp.SetValue(chromedp.ID("add-reason"), "opted_out"),
		chromedp.SendKeys(chromedp.ID("add-note"), "asked by phone, ticket 4711"),
		chromedp.Click(chromedp.ID("add")),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
		into(chromedp.Text(chromedp.ID("suppressions")), &supAdded),
		shot("15-suppression-added"),
		chromedp.SetValue(chromedp.ID("filter-reason"), "opted_out"),
		chromedp.Click(chromedp.ID("filter")),
		chromedp.WaitVisible(chromedp.CSS(`#suppressions[data-reason="opted_out"]`)),
		into(chromedp.Text(chromedp.CSS(`#suppressions[data-reason="opted_out"]`)), &supFiltered),
		signOut,
	)
	if !strings.Contains(supList, list.dead[0]) || !strings.Contains(supList, list.badPhone) || !strings.Contains(supList, "invalid") {
		t.Errorf("suppression list lacks the dead mailbox %s and the bad number %s:\n%s", list.dead[0], list.badPhone, supList)
	}
	if !strings.Contains(supAdded, "+4741000099") || !strings.Contains(supAdded, "ticket 4711") {
		t.Errorf("added number not listed:\n%s", supAdded)
	}
	if !strings.Contains(supFiltered, "+4741000099") || strings.Contains(supFiltered, list.dead[0]) {
		t.Errorf("the opted_out filter shows:\n%s", supFiltered)
	}

	// 7. Support looks up a person whose mailbox was dead.
	var timeline string
	dead := list.dead[0]
	run("lookup",
		signIn("support-user"),
		chromedp.Navigate(base+"/lookup"),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), dead),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.CSS(`article.person`)),
		into(chromedp.Text(chromedp.CSS(`article.person`)), &timeline),
		shot("16-support-lookup"),
	)
	for _, want := range []string{"Åse Ødegård 8", "mailbox does not exist at the receiving server", "550", "SMS to +47", "Notified"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}

	// 8. A caller gives her name, without the Norwegian letters: every
	// Åse Ødegård is listed with how many there are; the full name finds her.
	var matches, byName string
	run("lookup-name",
		chromedp.Navigate(base+"/lookup"),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), "odegard, ase"),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.ID("matches")),
		into(chromedp.Text(chromedp.ID("matches")), &matches),
		shot("17-support-name-list"),
		chromedp.SetValue(chromedp.ID("q"), "Ase Odegard 8"),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.CSS(`article.person`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &byName),
		shot("18-support-name-found"),
	)
	if !strings.Contains(matches, fmt.Sprintf("%d people match", list.accepted)) || !strings.Contains(matches, "Showing the best 20") {
		t.Errorf("name search list:\n%s", matches)
	}
	if !strings.Contains(byName, "Åse Ødegård 8") || strings.Count(byName, "Notified") != 1 || !strings.Contains(byName, "SMS to +47") {
		t.Errorf("name search for one person:\n%s", byName)
	}

	// 9. Support checks whether a mailbox is on the suppression list.
	var supCheck string
	run("suppression-check",
		chromedp.Click(chromedp.CSS(`nav[aria-label="Main"] a[href="/suppressions/check"]`)),
		chromedp.WaitVisible(chromedp.ID("check-address")),
		chromedp.SendKeys(chromedp.ID("check-address"), dead),
		chromedp.Click(chromedp.ID("check")),
		chromedp.WaitVisible(chromedp.ID("check-result")),
		into(chromedp.Text(chromedp.ID("check-result")), &supCheck),
		shot("19-support-suppression-check"),
	)
	if !strings.Contains(supCheck, "is suppressed on email (invalid)") {
		t.Errorf("suppression check: %q", supCheck)
	}

	// 10. Support sees progress but no controls, and cannot export, list
	// suppressions or create or change campaigns.
	var controls, subnav, creation int
	var forbidden, listForbidden string
	run("support-limits",
		chromedp.Navigate(base+"/campaigns/"+camp.Name),
		chromedp.WaitVisible(chromedp.ID("percent-done")),
		into(chromedp.Evaluate[int](`document.querySelectorAll('#controls, #launch, #pause, #resume, #cancel').length`), &controls),
		into(chromedp.Evaluate[int](`document.querySelectorAll('a[href$="/unreachable"], a[href$="/import"]').length`), &subnav),
		shot("20-support-dashboard"),
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/unreachable.csv"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &forbidden),
		shot("21-support-export-forbidden"),
		chromedp.Navigate(base+"/suppressions"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &listForbidden),
		chromedp.Navigate(base+"/campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`table.grid`)),
		into(chromedp.Evaluate[int](`document.querySelectorAll('#new-campaign, a[href$="/settings"], a[href="/campaigns/new"]').length`), &creation),
		signOut,
	)
	if controls != 0 || subnav != 0 {
		t.Errorf("support sees %d campaign controls and %d operator links, want none", controls, subnav)
	}
	if !strings.Contains(forbidden, "403") {
		t.Errorf("support's CSV export was not refused:\n%s", forbidden)
	}
	if !strings.Contains(listForbidden, "403") {
		t.Errorf("support's suppression list was not refused:\n%s", listForbidden)
	}
	if creation != 0 {
		t.Errorf("support sees %d links to create or change campaigns", creation)
	}

	// 11. The admin sees the lookups in the audit log, and the users.
	var audit string
	run("audit",
		signIn("admin-user"),
		chromedp.Navigate(base+"/admin/audit?action=contact."),
		chromedp.WaitVisible(chromedp.ID("audit")),
		into(chromedp.Text(chromedp.ID("audit")), &audit),
		shot("22-audit-log"),
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`table.grid`)),
		shot("23-users"),
	)
	if !strings.Contains(audit, "support-user") || !strings.Contains(audit, dead) || !strings.Contains(audit, "name search, 1 matched") {
		t.Errorf("audit log lacks support's lookups of %s and by name:\n%s", dead, audit)
	}

	// The server's logs never name a looked-up person.
	logs := e.logs.String()
	for _, p := range []string{dead, "Åse Ødegård", "+4741"} {
		if strings.Contains(logs, p) {
			t.Errorf("server logs contain personal data %q", p)
		}
	}
}
