package main

import (
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
)

func (a *app) campaignCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Create, list, show and control notification campaigns",
	}
	cmd.AddCommand(a.campaignCreateCommand(), a.campaignListCommand(), a.campaignShowCommand())
	cmd.AddCommand(a.campaignOpsCommands()...)
	cmd.AddCommand(a.campaignLaunchCommand())
	for _, c := range []struct {
		use, short string
		do         func(*dispatcher.Operations, *cobra.Command, *dispatcher.Campaign) error
	}{
		{"pause", "Stop sending; queued notices wait", func(o *dispatcher.Operations, cmd *cobra.Command, c *dispatcher.Campaign) error {
			return o.Pause(cmd.Context(), c)
		}},
		{"resume", "Continue a paused campaign", func(o *dispatcher.Operations, cmd *cobra.Command, c *dispatcher.Campaign) error {
			return o.Resume(cmd.Context(), c)
		}},
		{"cancel", "Stop for good; every unsent notice is cancelled", func(o *dispatcher.Operations, cmd *cobra.Command, c *dispatcher.Campaign) error {
			n, err := o.Cancel(cmd.Context(), c)
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%d unsent deliveries cancelled\n", n)
			}
			return err
		}},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   c.use + " CAMPAIGN",
			Short: c.short,
			Args:  exactArgs(1, "give the campaign name"),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx := cmd.Context()
				camp, err := a.campaign(ctx, args[0])
				if err != nil {
					return err
				}
				ops, err := a.operations(ctx)
				if err != nil {
					return err
				}
				if err := c.do(ops, cmd, camp); err != nil {
					return err
				}
				a.printCampaignStatus(camp)
				return nil
			},
		})
	}
	return cmd
}

// printCampaignStatus reports a control's result, with what the operator
// may need to know next.
func (a *app) printCampaignStatus(c *dispatcher.Campaign) {
	fmt.Fprintf(a.stdout, "campaign %s is %s\n", c.Name, c.Status)
	if c.Status == dispatcher.CampaignPaused && c.Settings.PauseReason != "" {
		fmt.Fprintln(a.stdout, c.Settings.PauseReason)
	}
	if a.cfg.RedisURL == "" && c.Status == dispatcher.CampaignRunning {
		fmt.Fprintln(a.stdout, "(embedded mode: `herald worker` sends the queued notices)")
	}
}

func (a *app) campaignCreateCommand() *cobra.Command {
	var (
		c         dispatcher.Campaign
		channels  string
		templates string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --templates DIR [flags]",
		Short: "Create a draft campaign with its notice templates",
		Long: `Create a draft campaign. Templates come from a folder with one subfolder per
locale: nb/email.subject, nb/email.txt, nb/email.html (optional), nb/sms.txt,
nb/letter.txt (the postal channel's letter).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := dispatcher.ParsePolicy(channels)
			if err != nil {
				return err
			}
			c.Policy = p
			c.Status = dispatcher.CampaignDraft
			if err := c.Validate(); err != nil {
				return err
			}
			var ts []dispatcher.Template
			if templates == "" {
				return dispatcher.Errorf(dispatcher.EINVALID, "no templates: give --templates DIR (see `herald campaign create --help`)")
			}
			ts, err = dispatcher.LoadTemplates(os.DirFS(templates))
			if err != nil {
				return err
			}
			if err := c.TemplatesCover(ts); err != nil {
				return err
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			if err := st.CreateCampaign(ctx, &c, ts); err != nil {
				return err
			}
			_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "campaign.create", Subject: c.Name})
			fmt.Fprintf(a.stdout, "campaign %s created (draft, %d templates, channels %s)\n", c.Name, len(ts), c.Policy)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Name, "name", "", "campaign name (letters, digits, - and _)")
	f.StringVar(&c.IncidentRef, "incident", "", "the organisation's reference for the breach")
	f.StringVar(&c.DefaultLocale, "locale", "en", "default locale, used when a contact's language has no template")
	f.StringVar(&channels, "channels", "email,sms", "ordered channel policy (email, sms, postal, file): the next is tried when one fails")
	f.StringVar(&templates, "templates", "", "folder of templates (locale/email.subject, locale/email.txt, locale/email.html, locale/sms.txt)")
	f.StringVar(&c.Sender.FromEmail, "from", "", "sender e-mail address")
	f.StringVar(&c.Sender.FromName, "from-name", "", "sender display name")
	f.StringVar(&c.Sender.ReplyTo, "reply-to", "", "where replies go")
	f.StringVar(&c.Sender.SMSFrom, "sms-from", "", "SMS sender: E.164 number or alphanumeric id")
	f.StringVar(&c.Sender.SMSService, "sms-service", "", "Twilio Messaging Service SID (MG...)")
	f.StringVar(&c.Settings.QuietHours, "quiet-hours", "", `SMS sending window in the recipient's local time (default 08:00-21:00; "off" for none)`)
	f.Var(&percentFlag{&c.Settings.Guard.HardBounce}, "guard-hard-bounce", "pause the campaign when more than this share of recent e-mails hard-bounce (default 5%)")
	f.Var(&percentFlag{&c.Settings.Guard.Complaint}, "guard-complaint", "pause the campaign when more than this share of recent e-mails draw spam complaints (default 0.1%)")
	f.BoolVar(&c.Settings.Guard.Off, "no-guard", false, "never pause the campaign for bounce or complaint rates")
	f.BoolVar(&c.Settings.ConsentRequired, "consent-required", false, "e-mail only contacts who consented to electronic notice (US HIPAA); the others get the next channel")
	f.BoolVar(&c.Settings.AllChannels, "all-channels", false, "send on every channel of the policy at once instead of falling back")
	f.IntVar(&c.Settings.SubstituteThreshold, "substitute-threshold", 0, "unreachable people at which a substitute notice is due (e.g. 10 under US HIPAA); the report says when it is reached")
	f.Var(&deadlineFlag{&c.Settings.Deadline}, "deadline", "when every notice must be out: a duration from now (72h, 60d) or a time (2026-12-01T12:00)")
	return cmd
}

func (a *app) campaignLaunchCommand() *cobra.Command {
	var (
		force bool
		at    string
	)
	cmd := &cobra.Command{
		Use:   "launch CAMPAIGN [--at TIME] [--force]",
		Short: "Start sending a draft campaign, now or at a time",
		Long: `Launch a draft campaign. The campaign check runs first (every notice is
rendered) and a campaign with problems is refused unless --force is given.
With --at the campaign is scheduled: a worker launches it at that time.`,
		Args: exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			if c.Status != dispatcher.CampaignDraft {
				return dispatcher.Errorf(dispatcher.ECONFLICT, "cannot launch campaign %s: it is %s", c.Name, c.Status)
			}
			var when time.Time
			if at != "" {
				if when, err = parseWhen(at, time.Now()); err != nil {
					return err
				}
			}
			summary, err := a.launchChecked(ctx, c, force)
			if err != nil {
				return err
			}
			st, _ := a.store(ctx)
			if at != "" {
				// On the campaign as it is now: the check may have taken
				// minutes, and an operator may have saved settings meanwhile.
				_, err := dispatcher.ChangeCampaign(ctx, st, c.ID, func(cur *dispatcher.Campaign) error {
					if cur.Status != dispatcher.CampaignDraft {
						return dispatcher.Errorf(dispatcher.ECONFLICT, "cannot schedule campaign %s: it is %s", cur.Name, cur.Status)
					}
					cur.Settings.ScheduledAt, cur.Settings.ScheduleForced = when, force
					return nil
				})
				if err != nil {
					return err
				}
				_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "campaign.schedule", Subject: c.Name, Detail: when.Format(time.RFC3339)})
				fmt.Fprintf(a.stdout, "campaign %s scheduled for %s; a running worker launches it then\n", c.Name, when.Local().Format("2006-01-02 15:04 MST"))
				return nil
			}
			ops, err := a.operations(ctx)
			if err != nil {
				return err
			}
			if force {
				err = ops.LaunchForced(ctx, c, "--force given on the command line: the campaign check was not run")
			} else {
				err = ops.LaunchChecked(ctx, c, summary)
			}
			if err != nil {
				return err
			}
			a.printCampaignStatus(c)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "launch even if the campaign check finds problems")
	cmd.Flags().StringVar(&at, "at", "", "launch at this time instead of now (2026-11-23T08:00, local time unless a zone is given)")
	return cmd
}

// parseWhen reads a time as an operator writes it: RFC 3339, or a local
// date and time without zone.
func parseWhen(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		var t time.Time
		var err error
		if layout == time.RFC3339 {
			t, err = time.Parse(layout, s)
		} else {
			t, err = time.ParseInLocation(layout, s, time.Local)
		}
		if err == nil {
			if t.Before(now.Add(-time.Minute)) {
				return time.Time{}, dispatcher.Errorf(dispatcher.EINVALID, "time %q is in the past", s)
			}
			return t, nil
		}
	}
	return time.Time{}, dispatcher.Errorf(dispatcher.EINVALID, "time %q: write it as 2026-11-23T08:00 (local) or 2026-11-23T08:00:00+01:00", s)
}

// percentFlag reads a share as "5%" or "0.05".
type percentFlag struct{ v *float64 }

func (f *percentFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return strconv.FormatFloat(*f.v*100, 'f', -1, 64) + "%"
}

func (f *percentFlag) Type() string { return "percent" }

func (f *percentFlag) Set(s string) error {
	v, err := dispatcher.ParseShare(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("use a share such as 5%% or 0.05")
	}
	*f.v = v
	return nil
}

// deadlineFlag parses --deadline: a duration from now (72h, 60d) or a time.
type deadlineFlag struct{ t *time.Time }

func (f *deadlineFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *deadlineFlag) Type() string { return "deadline" }

func (f *deadlineFlag) Set(s string) error {
	now := time.Now()
	t, err := dispatcher.ParseDeadline(s, now)
	if err != nil || t.IsZero() {
		return fmt.Errorf("use a duration such as 72h or 60d, or a time such as 2026-12-01T12:00")
	}
	if t.Before(now.Add(-time.Minute)) {
		return fmt.Errorf("time %q is in the past", s)
	}
	*f.t = t
	return nil
}

func (a *app) campaignListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List campaigns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			cs, err := st.Campaigns(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tCHANNELS\tLOCALE\tINCIDENT\tCREATED")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Status, c.Policy, c.DefaultLocale, c.IncidentRef, c.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
}

func (a *app) campaignShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show CAMPAIGN",
		Short: "Show a campaign's settings, templates and progress",
		Args:  exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			st, _ := a.store(ctx)
			ts, err := st.Templates(ctx, c.ID)
			if err != nil {
				return err
			}
			r, err := st.Report(ctx, c.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			if c.Settings.PauseReason != "" {
				fmt.Fprintf(a.stdout, "%s\n\n", c.Settings.PauseReason)
			}
			fmt.Fprintf(tw, "name\t%s\nstatus\t%s\nincident\t%s\nchannels\t%s\ndefault locale\t%s\n", c.Name, c.Status, c.IncidentRef, c.Policy, c.DefaultLocale)
			fmt.Fprintf(tw, "from\t%s <%s>\nreply-to\t%s\nsms sender\t%s%s\n", c.Sender.FromName, c.Sender.FromEmail, c.Sender.ReplyTo, c.Sender.SMSFrom, c.Sender.SMSService)
			fmt.Fprintf(tw, "eligibility\tconsent required %t, all channels %t, substitute-notice threshold %d\n", c.Settings.ConsentRequired, c.Settings.AllChannels, c.Settings.SubstituteThreshold)
			fmt.Fprintf(tw, "created\t%s\n", c.CreatedAt.Local().Format(time.RFC3339))
			if !c.LaunchedAt.IsZero() {
				fmt.Fprintf(tw, "launched\t%s\n", c.LaunchedAt.Local().Format(time.RFC3339))
			}
			if !c.FinishedAt.IsZero() {
				fmt.Fprintf(tw, "finished\t%s\n", c.FinishedAt.Local().Format(time.RFC3339))
			}
			for _, t := range ts {
				fmt.Fprintf(tw, "template\t%s/%s\n", t.Channel, t.Locale)
			}
			fmt.Fprintf(tw, "contacts\t%d (reached %d, unreachable %d, in progress %d)\n", r.Contacts, r.Reached, r.Unreachable, r.InProgress)
			return tw.Flush()
		},
	}
}

// exactArgs is cobra.ExactArgs with a message that says what to give.
func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s: %s (see `%s --help`)", cmd.CommandPath(), hint, cmd.CommandPath())}
		}
		return nil
	}
}
