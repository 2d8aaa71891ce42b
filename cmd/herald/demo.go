package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/sms"
	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/demodata"
)

//go:embed demotemplates
var demoTemplates embed.FS

// demoCampaign is the demo's campaign name; `herald report demo` reads it.
const demoCampaign = "demo"

// demoFile is the demo list, read from the working directory when herald
// runs in its repository, else generated (the same content).
const demoFile = "testdata/demo-contacts.csv"

func (a *app) demoCommand() *cobra.Command {
	var (
		workers   int
		timeout   time.Duration
		serve     bool
		serveAddr string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole campaign on embedded defaults against a local SMTP server and Twilio double",
		Long: `Run the demo campaign "demo": a Norwegian clinic chain notifies employees,
former employees and customers of a breach at its IT supplier. It imports
testdata/demo-contacts.csv (bad rows, duplicates, dead mailboxes included),
sends by e-mail through an in-process SMTP server that rejects unknown
mailboxes as Postfix does, falls back to SMS through a Twilio API double, and
prints a summary. The ledger is ./herald.db (or HERALD_DATABASE_URL); running
the demo again replaces the previous demo campaign.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.runDemo(cmd.Context(), workers, timeout); err != nil || !serve {
				return err
			}
			return a.serveDemo(cmd.Context(), serveAddr)
		},
	}
	cmd.Flags().BoolVar(&serve, "serve", false, "then keep the console open (Ctrl-C to stop), with a one-time admin password")
	cmd.Flags().StringVar(&serveAddr, "addr", "127.0.0.1:8080", "where the console listens with --serve")
	cmd.Flags().IntVar(&workers, "workers", 4, "worker processes to simulate")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up if the campaign has not finished by then")
	return cmd
}

func (a *app) runDemo(ctx context.Context, workers int, timeout time.Duration) error {
	start := time.Now()
	out := a.stdout
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	b, err := a.connect(ctx)
	if err != nil {
		return err
	}

	// The world outside: an MTA and Twilio.
	dead := demodata.DeadMailboxes()
	greylisted := map[string]int{}
	for _, m := range demoGreylisted() {
		greylisted[m] = 1
	}
	mta, err := smtpd.Start(smtpd.Options{UnknownUsers: dead, Greylist: greylisted, Hostname: "mx.demo.example"})
	if err != nil {
		return fmt.Errorf("start demo SMTP server: %w", err)
	}
	defer mta.Close()
	numbers := map[string]twiliodouble.Behavior{}
	for n, code := range demodata.InvalidNumbers() {
		c, _ := strconv.Atoi(code)
		numbers[n] = twiliodouble.Behavior{Reject: c}
	}
	twilio, err := twiliodouble.Start(twiliodouble.Options{Numbers: numbers})
	if err != nil {
		return fmt.Errorf("start Twilio double: %w", err)
	}
	defer twilio.Close()

	// The campaign, fresh each run.
	if old, err := st.CampaignByName(ctx, demoCampaign); err == nil {
		if err := st.DeleteCampaign(ctx, old.ID); err != nil {
			return fmt.Errorf("remove the previous demo campaign: %w", err)
		}
	} else if dispatcher.ErrorCode(err) != dispatcher.ENOTFOUND {
		return err
	}
	sub, _ := fs.Sub(demoTemplates, "demotemplates")
	ts, err := dispatcher.LoadTemplates(sub)
	if err != nil {
		return err
	}
	camp := &dispatcher.Campaign{
		Name: demoCampaign, IncidentRef: "MEM-2026-36", DefaultLocale: "nb",
		Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}, Status: dispatcher.CampaignDraft,
		// A former-employee list is known to be stale (about 12 % dead
		// mailboxes here, 18 % in its first hundred): the operator raises
		// the reputation guard's hard-bounce limit from 5 % to 20 %, judged
		// over 200 e-mails rather than 50 so a dense stretch does not
		// pause it.
		// The demo runs at any hour; a real campaign keeps SMS to
		// 08:00-21:00 in the recipient's time zone.
		Settings: dispatcher.Settings{Guard: dispatcher.GuardSettings{HardBounce: 0.20, Minimum: 200}, QuietHours: "off"},
		Sender:   dispatcher.Sender{FromName: "Memira Norge HR", FromEmail: "hr@memira.example", ReplyTo: "personvern@memira.example", SMSFrom: "Memira"},
	}
	if err := st.CreateCampaign(ctx, camp, ts); err != nil {
		return err
	}
	fmt.Fprintf(out, "herald demo: campaign %q (%s), channels %s, %d templates, hard-bounce guard at 20%%\n", camp.Name, camp.IncidentRef, camp.Policy, len(ts))

	// Import.
	src, cleanup, err := demoSource()
	if err != nil {
		return err
	}
	defer cleanup()
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	im := &dispatcher.Importer{Store: st, Logger: a.logger}
	run, err := im.Import(ctx, camp, f, dispatcher.ImportOptions{Source: filepath.Base(src), Rejects: io.Discard})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %s: read %d rows, accepted %d, rejected %d, duplicates %d, warnings %d\n", src, run.Read, run.Accepted, run.Rejected, run.Duplicates, run.Warnings)

	// Check every notice, launch, and send with several workers.
	check, err := dispatcher.Check(ctx, st, camp, dispatcher.CheckOptions{})
	if err != nil {
		return err
	}
	if !check.OK() {
		writeCheck(out, camp, check)
		return fmt.Errorf("demo campaign %s fails its check: %s", camp.Name, check.Summary())
	}
	fmt.Fprintf(out, "checked: every notice renders (%d e-mails, %d SMS)\n", check.Notices[dispatcher.Email], check.Notices[dispatcher.SMS])
	ops := &dispatcher.Operations{Store: st, Actor: "demo"}
	if err := ops.LaunchChecked(ctx, camp, check.Summary()); err != nil {
		return err
	}
	emailCh, err := email.New(email.Config{Host: mta.Host(), Port: mta.Port(), TLS: email.TLSNone, PoolSize: 2 * workers}, email.WithLogger(a.logger))
	if err != nil {
		return err
	}
	defer emailCh.Close()
	smsCh, err := sms.New(sms.Config{AccountSID: twilio.AccountSID(), AuthToken: twilio.AuthToken(), BaseURL: twilio.URL()}, sms.WithLogger(a.logger))
	if err != nil {
		return err
	}
	defer smsCh.Close()
	chans := map[dispatcher.ChannelKind]dispatcher.Channel{dispatcher.Email: emailCh, dispatcher.SMS: smsCh}

	a.pollInterval, a.retryBase = 100*time.Millisecond, 300*time.Millisecond
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		werr = runWorkers(wctx, a, st, b, chans, workers, 8, 500*time.Millisecond)
	}()
	fmt.Fprintf(out, "launched; %d workers sending\n", workers)
	err = waitCompleted(ctx, st, camp.ID, timeout)
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}

	r, err := st.Report(ctx, camp.ID)
	if err != nil {
		return err
	}
	if r.Reached+r.Unreachable+r.InProgress != r.Contacts {
		return fmt.Errorf("demo summary does not add up: %d contacts ≠ %d reached + %d unreachable + %d in progress", r.Contacts, r.Reached, r.Unreachable, r.InProgress)
	}
	fmt.Fprintf(out, "completed in %s; the SMTP server received %d messages, the Twilio double %d\n\n", time.Since(start).Round(10*time.Millisecond), mta.Count(), len(twilio.Messages()))
	writeDemoSummary(out, r, run)
	fmt.Fprint(out, `
Next: herald report demo                         counts per state and channel
      herald report demo --unreachable           who needs substitute notice (CSV)
      herald status `+demoLookupExample(st, ctx, camp.ID)+`   what support sees for one person
`)
	return nil
}

func writeDemoSummary(w io.Writer, r *dispatcher.Report, run *dispatcher.ImportRun) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(label string, n int64) { fmt.Fprintf(tw, "%s\t%d\t\n", label, n) }
	row("contacts", r.Contacts)
	row("reached by e-mail", r.ReachedBy[dispatcher.Email])
	row("reached by SMS", r.ReachedBy[dispatcher.SMS])
	row("  of which after e-mail failed (fallback)", r.Fallback)
	row("invalid addresses found (hard bounces)", r.Invalid)
	row("unreachable (substitute notice)", r.Unreachable)
	row("in progress", r.InProgress)
	row("rejected rows (not imported)", r.RejectedRows)
	row("duplicate rows (skipped)", int64(run.Duplicates))
	_ = tw.Flush()
}

// waitCompleted polls the ledger until the reconciler marks the campaign
// completed, printing progress on the way.
func waitCompleted(ctx context.Context, st dispatcher.Store, id int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		c, err := st.Campaign(ctx, id)
		if err != nil {
			return err
		}
		if c.Status == dispatcher.CampaignCompleted {
			return nil
		}
		if time.Now().After(deadline) {
			left, _ := st.CountUnfinished(ctx, id)
			return fmt.Errorf("demo campaign not finished after %s: %d deliveries unfinished", timeout, left)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), errors.New("demo interrupted; the ledger keeps what was done"))
		case <-t.C:
		}
	}
}

// demoSource returns the demo list's path: the repository's file when
// present, else a generated copy in a temporary folder.
func demoSource() (string, func(), error) {
	if _, err := os.Stat(demoFile); err == nil {
		return demoFile, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "herald-demo-")
	if err != nil {
		return "", nil, err
	}
	p := filepath.Join(dir, "demo-contacts.csv")
	f, err := os.Create(p)
	if err != nil {
		return "", nil, err
	}
	if err := demodata.Write(f); err != nil {
		f.Close()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		return "", nil, err
	}
	return p, func() { os.RemoveAll(dir) }, nil
}

// demoGreylisted are mailboxes the demo MTA defers once, so the demo shows
// a retry after a temporary failure.
func demoGreylisted() []string {
	return []string{"aase.kvaerno@example.no", "marijke.dijkstra@example.nl", "mieke.dijkstra@example.nl"}
}

// demoLookupExample picks a reached contact's e-mail for the hint line.
func demoLookupExample(st dispatcher.Store, ctx context.Context, campaignID int64) string {
	ds, err := st.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: campaignID, States: []dispatcher.State{dispatcher.StateSent}, Limit: 1})
	if err != nil || len(ds) == 0 || ds[0].Address == "" {
		return "EMAIL"
	}
	return ds[0].Address
}
