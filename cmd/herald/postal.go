package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
)

// postalCommand is `herald postal`: print batches for a mail house, and
// what the mail house reports back.
func (a *app) postalCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "postal",
		Short: "Letters: print batches for a mail house, mailed and returned letters",
		Long: `Contacts routed to the postal channel wait as "letters waiting for a print
batch" (see ` + "`herald campaign status`" + `). ` + "`herald postal batch`" + ` collects them into a
CSV file for a mail house (name, address as imported, the rendered letter,
the delivery id) and records each letter as handed to print; ` + "`herald postal\nmailed`" + ` records that the mail house posted the batch, and ` + "`herald postal\nreturned`" + ` a letter that came back (its address is suppressed and the next
channel, if any, is tried). The batch file holds personal data: keep it as
you keep the contact list.`,
	}
	cmd.AddCommand(a.postalBatchCommand(), a.postalExportCommand(), a.postalListCommand(), a.postalMailedCommand(), a.postalReturnedCommand())
	return cmd
}

func (a *app) mailroom(ctx context.Context) (*dispatcher.Mailroom, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	return &dispatcher.Mailroom{Store: st, Logger: a.logger, Actor: a.actor()}, nil
}

func (a *app) postalBatchCommand() *cobra.Command {
	var (
		out        string
		maxLetters int
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "batch CAMPAIGN --out FILE.csv [--max N]",
		Short: "Hand the waiting letters of a campaign to print: write the batch file for the mail house",
		Args:  exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return usageError{fmt.Errorf("give --out FILE.csv for the batch file (or --out - for standard output)")}
			}
			w, done, err := a.batchFile(out, force)
			if err != nil {
				return err
			}
			room, err := a.mailroom(ctx)
			if err != nil {
				return err
			}
			b, err := room.Batch(ctx, c, w, dispatcher.BatchOptions{Max: maxLetters})
			if errors.Is(err, dispatcher.ErrNoLetters) {
				fmt.Fprintf(a.stderr, "no letters are waiting for a print batch in campaign %s; nothing written\n", c.Name)
				return done(false)
			}
			if err != nil {
				_ = done(false) // a half-written file must not reach the mail house; the error says how to write it again
				return err
			}
			if err := done(true); err != nil {
				return fmt.Errorf("batch %d is recorded (%d letters handed to print) but its file could not be written: %w; write it again with `herald postal export %d --out FILE`", b.ID, b.Count, err, b.ID)
			}
			fmt.Fprintf(a.stderr, "batch %d (%s): %d letters handed to print, written to %s\n"+
				"send the file to the mail house; once they have posted it: herald postal mailed %d\n",
				b.ID, b.Ref(), b.Count, out, b.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the batch to (- for standard output); an existing file is not overwritten without --force")
	cmd.Flags().IntVar(&maxLetters, "max", 0, "at most this many letters in the batch (0: all waiting)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite --out if it exists")
	return cmd
}

// batchFile returns the writer for a batch file and a function that
// closes it: done(false) removes a file that was never written. The file
// is created only when the first byte arrives (no letters, no file), with
// owner-only permissions; an existing file is refused unless force, since
// it may be an earlier batch the mail house has not printed yet.
func (a *app) batchFile(path string, force bool) (io.Writer, func(kept bool) error, error) {
	if path == "-" {
		return a.stdout, func(bool) error { return nil }, nil
	}
	if _, err := os.Stat(path); err == nil && !force {
		return nil, nil, dispatcher.Errorf(dispatcher.ECONFLICT, "%s exists (an earlier batch?): choose another --out, or --force to overwrite it", path)
	}
	lf := &lazyFile{path: path}
	return lf, lf.done, nil
}

// lazyFile creates its file on the first write.
type lazyFile struct {
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(p)
}

func (l *lazyFile) done(kept bool) error {
	if l.f == nil {
		return l.err
	}
	err := l.f.Close()
	if !kept {
		_ = os.Remove(l.path)
	}
	return err
}

func (a *app) postalExportCommand() *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "export BATCH --out FILE.csv",
		Short: "Write a batch file again from the ledger (audited)",
		Args:  exactArgs(1, "give the batch number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := batchID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return usageError{fmt.Errorf("give --out FILE.csv (or --out - for standard output)")}
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			b, err := st.PostalBatch(ctx, id)
			if errors.Is(err, dispatcher.ErrNotFound) {
				return dispatcher.Errorf(dispatcher.ENOTFOUND, "no print batch %d (see `herald postal list`)", id)
			}
			if err != nil {
				return err
			}
			c, err := st.Campaign(ctx, b.CampaignID)
			if err != nil {
				return err
			}
			w, done, err := a.batchFile(out, force)
			if err != nil {
				return err
			}
			if err := st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "postal.export", Subject: c.Name, Detail: fmt.Sprintf("batch %d", id)}); err != nil {
				return err
			}
			room, err := a.mailroom(ctx)
			if err != nil {
				return err
			}
			if err := room.WriteBatch(ctx, c, b, w); err != nil {
				_ = done(false)
				return err
			}
			if err := done(true); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "batch %d (%d letters) written to %s\n", id, b.Count, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the batch to (- for standard output)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite --out if it exists")
	return cmd
}

func (a *app) postalListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list [CAMPAIGN]",
		Short: "List print batches, and the letters still waiting for one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			var only *dispatcher.Campaign
			if len(args) == 1 {
				if only, err = a.campaign(ctx, args[0]); err != nil {
					return err
				}
			}
			var id int64
			if only != nil {
				id = only.ID
			}
			bs, err := st.PostalBatches(ctx, id)
			if err != nil {
				return err
			}
			names := map[int64]string{}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BATCH\tCAMPAIGN\tSTATUS\tLETTERS\tCREATED\tMAILED")
			for _, b := range bs {
				if _, ok := names[b.CampaignID]; !ok {
					c, err := st.Campaign(ctx, b.CampaignID)
					if err != nil {
						return err
					}
					names[b.CampaignID] = c.Name
				}
				mailed := "-"
				if !b.MailedAt.IsZero() {
					mailed = b.MailedAt.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", b.ID, names[b.CampaignID], b.Status, b.Count, b.CreatedAt.Local().Format("2006-01-02 15:04"), mailed)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			camps := []*dispatcher.Campaign{only}
			if only == nil {
				if camps, err = st.Campaigns(ctx); err != nil {
					return err
				}
			}
			for _, c := range camps {
				if c.Policy.Index(dispatcher.Postal) < 0 {
					continue
				}
				r, err := st.Report(ctx, c.ID)
				if err != nil {
					return err
				}
				if n := dispatcher.LettersWaiting(r); n > 0 {
					fmt.Fprintf(a.stdout, "%s: %d letters waiting for a print batch (herald postal batch %s --out FILE.csv)\n", c.Name, n, c.Name)
				}
			}
			return nil
		},
	}
}

func (a *app) postalMailedCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mailed BATCH",
		Short: "Record that the mail house posted a batch: its letters become sent",
		Args:  exactArgs(1, "give the batch number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := batchID(args[0])
			if err != nil {
				return err
			}
			room, err := a.mailroom(ctx)
			if err != nil {
				return err
			}
			b, n, err := room.Mailed(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "batch %d mailed: %d letters sent", b.ID, n)
			if returned := b.Count - n; returned > 0 {
				fmt.Fprintf(a.stdout, " (%d recorded as returned before)", returned)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
}

func (a *app) postalReturnedCommand() *cobra.Command {
	var (
		delivery int64
		contact  string
		note     string
	)
	cmd := &cobra.Command{
		Use:   "returned BATCH (--delivery ID | --contact ID|EMAIL|PHONE) [--note TEXT]",
		Short: "Record a letter that came back: its address is suppressed and the next channel tried",
		Args:  exactArgs(1, "give the batch number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := batchID(args[0])
			if err != nil {
				return err
			}
			if (delivery == 0) == (contact == "") {
				return usageError{fmt.Errorf("give either --delivery ID (the delivery_id column of the batch file) or --contact")}
			}
			room, err := a.mailroom(ctx)
			if err != nil {
				return err
			}
			if contact != "" {
				if delivery, err = a.letterOf(ctx, id, contact); err != nil {
					return err
				}
			}
			d, err := room.Returned(ctx, id, delivery, note)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "letter of delivery %d recorded as returned; its address is suppressed\n", d.ID)
			st, _ := a.store(ctx)
			ds, err := st.DeliveriesOf(ctx, d.ContactID)
			if err != nil {
				return err
			}
			for _, x := range ds {
				if x.Seq > d.Seq {
					fmt.Fprintf(a.stdout, "next: %s %s\n", x.Channel, x.State)
				}
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&delivery, "delivery", 0, "the letter's delivery id (delivery_id in the batch file)")
	cmd.Flags().StringVar(&contact, "contact", "", "the person: external id, e-mail or phone")
	cmd.Flags().StringVar(&note, "note", "", `what the mail house said, e.g. "moved, no forwarding address"`)
	return cmd
}

// letterOf finds the delivery of contact q's letter in batch id.
func (a *app) letterOf(ctx context.Context, id int64, q string) (int64, error) {
	st, err := a.store(ctx)
	if err != nil {
		return 0, err
	}
	b, err := st.PostalBatch(ctx, id)
	if errors.Is(err, dispatcher.ErrNotFound) {
		return 0, dispatcher.Errorf(dispatcher.ENOTFOUND, "no print batch %d (see `herald postal list`)", id)
	}
	if err != nil {
		return 0, err
	}
	found, err := dispatcher.FindContactsExact(ctx, st, strings.TrimSpace(q), "")
	if err != nil {
		return 0, err
	}
	var ids []int64
	for _, c := range found {
		if c.CampaignID != b.CampaignID {
			continue
		}
		ds, err := st.DeliveriesOf(ctx, c.ID)
		if err != nil {
			return 0, err
		}
		for _, d := range ds {
			if d.Channel == dispatcher.Postal && d.ProviderID == b.Ref() {
				ids = append(ids, d.ID)
			}
		}
	}
	switch len(ids) {
	case 0:
		return 0, dispatcher.Errorf(dispatcher.ENOTFOUND, "no letter to %q in batch %d: give --delivery ID from the batch file", q, id)
	case 1:
		return ids[0], nil
	}
	return 0, dispatcher.Errorf(dispatcher.EINVALID, "%d letters in batch %d match %q: give --delivery ID from the batch file", len(ids), id, q)
}

// batchID reads a batch number as printed ("7") or as its reference
// ("print-batch-7").
func batchID(s string) (int64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "print-batch-")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, dispatcher.Errorf(dispatcher.EINVALID, "batch %q: give the batch number, e.g. 7 (see `herald postal list`)", s)
	}
	return id, nil
}
