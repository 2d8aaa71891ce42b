package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
)

// campaignOpsCommands are the operator's pre-launch and in-flight tools:
// check, preview and status.
func (a *app) campaignOpsCommands() []*cobra.Command {
	return []*cobra.Command{a.campaignCheckCommand(), a.campaignPreviewCommand(), a.campaignStatusCommand()}
}

func (a *app) campaignCheckCommand() *cobra.Command {
	var (
		format string
		opt    dispatcher.CheckOptions
	)
	cmd := &cobra.Command{
		Use:   "check CAMPAIGN",
		Short: "Render every contact's notice and report what would go wrong",
		Long: `Render every contact's notice on every channel of the policy, as the workers
would, and report missing variables, empty notices, SMS over the segment limit
and HTML without a text part, with counts and example import rows. Also
estimates the SMS volume. Launch refuses a campaign that fails the check
unless --force is given.`,
		Args: exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			st, _ := a.store(ctx)
			rep, err := dispatcher.Check(ctx, st, c, opt)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				writeCheck(a.stdout, c, rep)
			}
			if !rep.OK() {
				return dispatcher.Errorf(dispatcher.EINVALID, "campaign %s: %d kinds of problem in %d notices; fix the templates or the contact data and check again", c.Name, len(rep.Problems), problemCount(rep))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.Flags().IntVar(&opt.MaxSMSSegments, "max-sms-segments", 4, "an SMS longer than this many segments is a problem")
	cmd.Flags().IntVar(&opt.Workers, "workers", 4, "notices rendered in parallel")
	return cmd
}

func problemCount(r *dispatcher.CheckReport) int {
	n := 0
	for _, p := range r.Problems {
		n += p.Count
	}
	return n
}

func writeCheck(w io.Writer, c *dispatcher.Campaign, r *dispatcher.CheckReport) {
	fmt.Fprintf(w, "campaign %s: %d contacts\n", c.Name, r.Contacts)
	for _, k := range c.Policy {
		fmt.Fprintf(w, "  %s notices rendered: %d\n", k, r.Notices[k])
	}
	if r.Notices[dispatcher.SMS] > 0 {
		fmt.Fprintf(w, "  SMS estimate: %d messages, %d segments (%d need UCS-2)\n", r.Notices[dispatcher.SMS], r.SMSSegments, r.SMSUCS2)
	}
	if r.OK() {
		fmt.Fprintln(w, "no problems: every notice renders")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROBLEM\tCHANNEL\tLOCALE\tCONTACTS\tDETAIL\tEXAMPLE ROWS")
	for _, p := range r.Problems {
		rows := make([]string, len(p.Rows))
		for i, n := range p.Rows {
			rows[i] = fmt.Sprint(n)
		}
		more := ""
		if p.Count > len(p.Rows) {
			more = ", …"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s%s\n", p.Kind, p.Channel, dash(p.Locale), p.Count, p.Detail, strings.Join(rows, ", "), more)
	}
	_ = tw.Flush()
}

func (a *app) campaignPreviewCommand() *cobra.Command {
	var (
		contact, channel string
		html             bool
	)
	cmd := &cobra.Command{
		Use:   "preview CAMPAIGN --contact ID|EMAIL|PHONE [--channel sms]",
		Short: "Show exactly the notice one person gets",
		Args:  exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			if contact == "" {
				return usageError{fmt.Errorf("give --contact with an external id, e-mail or phone number")}
			}
			st, _ := a.store(ctx)
			found, err := dispatcher.FindContactsExact(ctx, st, contact, "")
			if err != nil {
				return err
			}
			var ct *dispatcher.Contact
			for i := range found {
				if found[i].CampaignID == c.ID {
					ct = &found[i]
					break
				}
			}
			_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "contact.preview", Subject: contact, Detail: "campaign " + c.Name})
			if ct == nil {
				return dispatcher.Errorf(dispatcher.ENOTFOUND, "no contact %q in campaign %s", contact, c.Name)
			}
			k := c.Policy[0]
			if channel != "" {
				if k, err = dispatcher.ParseChannelKind(channel); err != nil {
					return err
				}
			}
			ts, err := st.Templates(ctx, c.ID)
			if err != nil {
				return err
			}
			n, err := dispatcher.CompileTemplates(c.DefaultLocale, ts)
			if err != nil {
				return err
			}
			m, err := n.Render(c, ct, k)
			if err != nil {
				return err
			}
			writePreview(a.stdout, c, ct, m, html)
			return nil
		},
	}
	cmd.Flags().StringVar(&contact, "contact", "", "the person: external id, e-mail or phone")
	cmd.Flags().StringVar(&channel, "channel", "", "email, sms or postal (default: the first channel of the policy)")
	cmd.Flags().BoolVar(&html, "html", false, "print the HTML part too")
	return cmd
}

func writePreview(w io.Writer, c *dispatcher.Campaign, ct *dispatcher.Contact, m *dispatcher.Message, html bool) {
	fmt.Fprintf(w, "channel  %s\nlocale   %s (contact %q, chain %s)\n", m.Channel, m.Locale, ct.Locale, strings.Join(dispatcher.LocaleChain(ct.Locale, c.DefaultLocale), " → "))
	if m.To == "" {
		fmt.Fprintf(w, "to       (none: this contact has no %s address, so this channel would be skipped)\n", m.Channel)
	} else {
		fmt.Fprintf(w, "to       %s <%s>\n", m.ToName, m.To)
	}
	if m.Channel == dispatcher.Postal {
		fmt.Fprintf(w, "letter   printed by the mail house from the batch file (herald postal batch)\n\n%s\n", m.Text)
		return
	}
	if m.Channel == dispatcher.SMS {
		enc, segs, units := dispatcher.SMSSegments(m.Text)
		fmt.Fprintf(w, "from     %s%s\nsms      %s, %d characters, %d segment(s)\n\n%s\n", m.Sender.SMSFrom, m.Sender.SMSService, enc, units, segs, m.Text)
		return
	}
	fmt.Fprintf(w, "from     %s <%s>\n", m.Sender.FromName, m.Sender.FromEmail)
	if m.Sender.ReplyTo != "" {
		fmt.Fprintf(w, "reply-to %s\n", m.Sender.ReplyTo)
	}
	fmt.Fprintf(w, "subject  %s\n\n%s\n", m.Subject, m.Text)
	switch {
	case m.HTML != "" && html:
		fmt.Fprintf(w, "\n--- HTML part ---\n%s\n", m.HTML)
	case m.HTML != "":
		fmt.Fprintf(w, "\n(plus an HTML part of %d bytes: --html shows it)\n", len(m.HTML))
	}
}

func (a *app) campaignStatusCommand() *cobra.Command {
	var (
		watch    bool
		interval time.Duration
		format   string
	)
	cmd := &cobra.Command{
		Use:   "status CAMPAIGN [--watch]",
		Short: "Progress: counts per state and channel, rate, ETA, deadline",
		Args:  exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			st, _ := a.store(ctx)
			var prev *progressSample
			for {
				c, err = st.Campaign(ctx, c.ID)
				if err != nil {
					return err
				}
				r, err := st.Report(ctx, c.ID)
				if err != nil {
					return err
				}
				p := newProgress(c, r, time.Now(), prev)
				if format == "json" {
					if err := json.NewEncoder(a.stdout).Encode(p); err != nil {
						return err
					}
				} else {
					if watch && isTerminal(a.stdout) {
						fmt.Fprint(a.stdout, "\033[H\033[2J")
					}
					writeProgress(a.stdout, c, r, p)
				}
				if !watch || c.Status.Final() {
					return nil
				}
				prev = &progressSample{at: p.At, done: p.Done}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh until the campaign finishes")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "refresh interval with --watch")
	cmd.Flags().StringVar(&format, "format", "text", "text or json (one object per refresh)")
	return cmd
}

// progress is a campaign's progress at one moment; the API shows the same.
type progress struct {
	Campaign  string    `json:"campaign"`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	Contacts  int64     `json:"contacts"`
	Done      int64     `json:"done"` // contacts reached or unreachable
	Percent   float64   `json:"percent"`
	RatePerS  float64   `json:"rate_per_s"` // contacts finished per second
	ETA       time.Time `json:"eta,omitzero"`
	Deadline  time.Time `json:"deadline,omitzero"`
	OnTrack   *bool     `json:"on_track,omitempty"`
	RateBasis string    `json:"rate_basis"` // "since launch" or "last interval"
	// LettersWaiting are postal deliveries waiting for `herald postal
	// batch`: the campaign cannot complete before they are handed over.
	LettersWaiting int64 `json:"letters_waiting,omitempty"`
}

type progressSample struct {
	at   time.Time
	done int64
}

func newProgress(c *dispatcher.Campaign, r *dispatcher.Report, now time.Time, prev *progressSample) progress {
	p := progress{Campaign: c.Name, Status: string(c.Status), At: now, Contacts: r.Contacts, Done: r.Reached + r.Unreachable, Deadline: c.Settings.Deadline}
	p.LettersWaiting = dispatcher.LettersWaiting(r)
	if p.Contacts > 0 {
		p.Percent = 100 * float64(p.Done) / float64(p.Contacts)
	}
	switch {
	case prev != nil && now.Sub(prev.at) > 0:
		p.RatePerS, p.RateBasis = float64(p.Done-prev.done)/now.Sub(prev.at).Seconds(), "last interval"
	case !c.LaunchedAt.IsZero():
		end := now
		if !c.FinishedAt.IsZero() {
			end = c.FinishedAt
		}
		if d := end.Sub(c.LaunchedAt).Seconds(); d > 0 {
			p.RatePerS = float64(p.Done) / d
		}
		p.RateBasis = "since launch"
	}
	left := p.Contacts - p.Done
	if c.Status == dispatcher.CampaignRunning && left > 0 && p.RatePerS > 0 {
		p.ETA = now.Add(time.Duration(float64(left) / p.RatePerS * float64(time.Second)))
		if !p.Deadline.IsZero() {
			ok := !p.ETA.After(p.Deadline)
			p.OnTrack = &ok
		}
	}
	return p
}

func writeProgress(w io.Writer, c *dispatcher.Campaign, r *dispatcher.Report, p progress) {
	fmt.Fprintf(w, "campaign %s (%s)\n", c.Name, c.Status)
	if c.Settings.PauseReason != "" {
		fmt.Fprintf(w, "%s\n", c.Settings.PauseReason)
	}
	fmt.Fprintf(w, "%s %5.1f%%  %d of %d contacts done\n", bar(p.Percent, 30), p.Percent, p.Done, p.Contacts)
	letters := ""
	if c.Policy.Index(dispatcher.Postal) >= 0 {
		letters = fmt.Sprintf(", letter %d", r.ReachedBy[dispatcher.Postal])
	}
	fmt.Fprintf(w, "reached %d (e-mail %d, SMS %d%s, after fallback %d) · unreachable %d · in progress %d\n",
		r.Reached, r.ReachedBy[dispatcher.Email], r.ReachedBy[dispatcher.SMS], letters, r.Fallback, r.Unreachable, r.InProgress)
	if n := dispatcher.LettersWaiting(r); n > 0 {
		fmt.Fprintf(w, "%d letters waiting for a print batch: herald postal batch %s --out FILE.csv\n", n, c.Name)
	}
	if p.RateBasis != "" {
		fmt.Fprintf(w, "rate %.1f contacts/s (%s)", p.RatePerS, p.RateBasis)
		if !p.ETA.IsZero() {
			fmt.Fprintf(w, " · ETA %s (%s)", p.ETA.Local().Format("2006-01-02 15:04"), time.Until(p.ETA).Round(time.Second))
		}
		fmt.Fprintln(w)
	}
	if !p.Deadline.IsZero() {
		verdict := ""
		switch {
		case p.OnTrack != nil && *p.OnTrack:
			verdict = ": on track"
		case p.OnTrack != nil:
			verdict = fmt.Sprintf(": LATE by %s at the current pace", p.ETA.Sub(p.Deadline).Round(time.Minute))
		}
		fmt.Fprintf(w, "deadline %s%s\n", p.Deadline.Local().Format("2006-01-02 15:04"), verdict)
	}
	fmt.Fprintln(w)
	_ = writeStateTable(w, c, r)
}

// bar draws a text progress bar.
func bar(percent float64, width int) string {
	n := int(percent / 100 * float64(width))
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// launchChecked runs the campaign check before a launch unless forced,
// and returns what it found in a line for the audit log.
func (a *app) launchChecked(ctx context.Context, c *dispatcher.Campaign, force bool) (string, error) {
	if force {
		return "", nil
	}
	st, err := a.store(ctx)
	if err != nil {
		return "", err
	}
	rep, err := dispatcher.Check(ctx, st, c, dispatcher.CheckOptions{})
	if err != nil {
		return "", err
	}
	if !rep.OK() {
		writeCheck(a.stderr, c, rep)
		return "", dispatcher.Errorf(dispatcher.EINVALID, "not launched: the check found problems in %d notices; fix them (`herald campaign check %s`) or launch with --force", problemCount(rep), c.Name)
	}
	return rep.Summary(), nil
}
