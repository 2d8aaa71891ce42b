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
// web/testdata/screenshots (ignored by git).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "screenshots")
	if a := os.Getenv("HERALD_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
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
// signs in, uploads a list and sees the rejected rows, launches and watches
// progress reach 100 % while an in-process worker sends through a local
// SMTP server and a Twilio double; support looks a person up and cannot
// reach exports or campaign controls; an admin sees the lookup in the
// audit log. Every page is saved as a screenshot.
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

	// 2. Upload the list; the rejected rows are listed and downloadable.
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
		shot("03-import-result"),
	)
	if rejected != fmt.Sprint(list.rejected) || accepted != fmt.Sprint(list.accepted) {
		t.Errorf("import shows accepted %s, rejected %s; want %d, %d", accepted, rejected, list.accepted, list.rejected)
	}
	for _, want := range []string{"kjaersti@@example", "rejected"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problem table lacks %q:\n%s", want, problems)
		}
	}

	// 3. Preview the notice for the sample person.
	var subject string
	run("templates",
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/templates?channel=email&locale=nb"),
		chromedp.WaitVisible(chromedp.ID("notice-text")),
		into(chromedp.Text(chromedp.ID("subject")), &subject),
		chromedp.Sleep(300*time.Millisecond), // let the preview frame paint for the screenshot
		shot("04-template-preview"),
	)
	if !strings.Contains(subject, "INC-2026-042") {
		t.Errorf("preview subject %q lacks the incident reference", subject)
	}

	// 4. Launch and watch the dashboard reach 100 % on its own.
	var pct string
	run("launch",
		chromedp.Navigate(base+"/campaigns/"+camp.Name),
		chromedp.WaitVisible(chromedp.ID("launch")),
		shot("05-dashboard-draft"),
		void(chromedp.Evaluate[bool](`window.confirm = () => true; true`)), // accept "Launch …?"
		chromedp.Click(chromedp.ID("launch")),
		chromedp.WaitVisible(chromedp.ID("pause")),
	)
	run("progress",
		void(chromedp.Poll[bool](`document.querySelector('#campaign-status') && document.querySelector('#campaign-status').textContent.trim() === 'completed'`,
			chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(75*time.Second))),
		into(chromedp.Text(chromedp.ID("percent-done")), &pct),
		shot("06-dashboard-completed"),
	)
	if pct != "100.0 %" {
		t.Errorf("completed dashboard shows %q done, want 100.0 %%", pct)
	}
	var unreachable string
	run("unreachable",
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/unreachable"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &unreachable),
		shot("07-unreachable"),
		signOut,
	)
	if !strings.Contains(unreachable, "Åse Ødegård 16") || !strings.Contains(unreachable, "not a valid phone number") {
		t.Errorf("unreachable page lacks person 16 and the reason in words:\n%s", unreachable)
	}

	// 5. Support looks up a person whose mailbox was dead.
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
		shot("08-support-lookup"),
	)
	for _, want := range []string{"Åse Ødegård 8", "mailbox does not exist at the receiving server", "550", "SMS to +47", "Notified"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}

	// 6. Support sees progress but no controls, and cannot export.
	var controls, subnav int
	var forbidden string
	run("support-limits",
		chromedp.Navigate(base+"/campaigns/"+camp.Name),
		chromedp.WaitVisible(chromedp.ID("percent-done")),
		into(chromedp.Evaluate[int](`document.querySelectorAll('#controls, #launch, #pause, #resume, #cancel').length`), &controls),
		into(chromedp.Evaluate[int](`document.querySelectorAll('a[href$="/unreachable"], a[href$="/import"]').length`), &subnav),
		shot("09-support-dashboard"),
		chromedp.Navigate(base+"/campaigns/"+camp.Name+"/unreachable.csv"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &forbidden),
		shot("10-support-export-forbidden"),
		signOut,
	)
	if controls != 0 || subnav != 0 {
		t.Errorf("support sees %d campaign controls and %d operator links, want none", controls, subnav)
	}
	if !strings.Contains(forbidden, "403") {
		t.Errorf("support's CSV export was not refused:\n%s", forbidden)
	}

	// 7. The admin sees the lookup in the audit log, and the users.
	var audit string
	run("audit",
		signIn("admin-user"),
		chromedp.Navigate(base+"/admin/audit?action=contact."),
		chromedp.WaitVisible(chromedp.ID("audit")),
		into(chromedp.Text(chromedp.ID("audit")), &audit),
		shot("11-audit-log"),
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`table.grid`)),
		shot("12-users"),
	)
	if !strings.Contains(audit, "support-user") || !strings.Contains(audit, dead) {
		t.Errorf("audit log lacks support's lookup of %s:\n%s", dead, audit)
	}

	// The server's logs never name a looked-up person.
	logs := e.logs.String()
	for _, p := range []string{dead, "Åse Ødegård", "+4741"} {
		if strings.Contains(logs, p) {
			t.Errorf("server logs contain personal data %q", p)
		}
	}
}
