package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/csvsafe"
)

// suppressionsCommand is `herald suppressions`: the cross-campaign list of
// addresses and numbers that are never used again.
func (a *app) suppressionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suppressions",
		Short: "List, add, remove and import addresses that must not be used again",
		Long: `The suppression list holds e-mail addresses, phone numbers and postal
addresses found invalid, complained about or opted out, across campaigns;
workers skip a suppressed channel and try the next one. Listing and removing
entries is audited: the list is itself personal data.`,
	}
	cmd.AddCommand(a.suppressionsListCommand(), a.suppressionsAddCommand(), a.suppressionsRemoveCommand(), a.suppressionsImportCommand())
	return cmd
}

func (a *app) suppressionsListCommand() *cobra.Command {
	var channel, reason, format string
	cmd := &cobra.Command{
		Use:   "list [--channel email] [--reason invalid] [--format text|csv|json]",
		Short: "Print the suppression list (audited)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			q := dispatcher.SuppressionQuery{Limit: 5000}
			if channel != "" {
				k, err := dispatcher.ParseChannelKind(channel)
				if err != nil {
					return err
				}
				q.Channel = k
			}
			if reason != "" {
				r, err := dispatcher.ParseSuppressionReason(reason)
				if err != nil {
					return err
				}
				q.Reason = r
			}
			var w suppressionWriter
			switch format {
			case "text", "":
				w = newSuppressionText(a.stdout)
			case "csv":
				w = newSuppressionCSV(a.stdout)
			case "json":
				w = &suppressionJSON{w: a.stdout}
			default:
				return usageError{fmt.Errorf("--format %q: use text, csv or json", format)}
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			if err := st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "suppression.list",
				Subject: strings.TrimSpace(string(q.Channel) + " " + q.Reason), Detail: format}); err != nil {
				return err
			}
			n := 0
			for {
				page, err := st.Suppressions(ctx, q)
				if err != nil {
					return err
				}
				for _, s := range page {
					if err := w.write(s); err != nil {
						return err
					}
				}
				n += len(page)
				if len(page) < q.Limit {
					break
				}
				last := page[len(page)-1]
				q.AfterChannel, q.AfterAddress = last.Channel, last.Address
			}
			return w.close(n)
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "", "only this channel: email, sms or postal")
	cmd.Flags().StringVar(&reason, "reason", "", "only this reason: "+strings.Join(dispatcher.SuppressionReasons, ", "))
	cmd.Flags().StringVar(&format, "format", "text", "text, csv (cells safe to open in a spreadsheet; `suppressions import` reads it back) or json")
	return cmd
}

// suppressionWriter prints entries of the list one at a time.
type suppressionWriter interface {
	write(s dispatcher.Suppression) error
	close(n int) error
}

// suppressionColumns are the CSV columns of the list, which ReadSuppressions
// reads back.
var suppressionColumns = []string{"channel", "address", "reason", "source", "first_seen", "last_seen"}

type suppressionText struct {
	tw  *tabwriter.Writer
	out io.Writer
}

func newSuppressionText(w io.Writer) *suppressionText {
	t := &suppressionText{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0), out: w}
	fmt.Fprintln(t.tw, "CHANNEL\tADDRESS\tREASON\tFIRST SEEN\tLAST SEEN\tSOURCE")
	return t
}

func (t *suppressionText) write(s dispatcher.Suppression) error {
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Channel, oneLine(s.Address), s.Reason,
		s.FirstSeen.Local().Format("2006-01-02 15:04"), s.LastSeen.Local().Format("2006-01-02 15:04"), oneLine(s.Source))
	return err
}

func (t *suppressionText) close(n int) error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(t.out, "%d entries\n", n)
	return err
}

type suppressionCSV struct{ cw *csv.Writer }

func newSuppressionCSV(w io.Writer) *suppressionCSV {
	c := &suppressionCSV{cw: csv.NewWriter(w)}
	_ = c.cw.Write(suppressionColumns)
	return c
}

func (c *suppressionCSV) write(s dispatcher.Suppression) error {
	return c.cw.Write(csvsafe.Cells([]string{string(s.Channel), s.Address, s.Reason, s.Source,
		s.FirstSeen.UTC().Format(time.RFC3339), s.LastSeen.UTC().Format(time.RFC3339)}))
}

func (c *suppressionCSV) close(int) error {
	c.cw.Flush()
	return c.cw.Error()
}

type suppressionJSON struct {
	w     io.Writer
	count int
}

func (j *suppressionJSON) write(s dispatcher.Suppression) error {
	sep := ",\n  "
	if j.count == 0 {
		sep = "[\n  "
	}
	j.count++
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(j.w, "%s%s", sep, b)
	return err
}

func (j *suppressionJSON) close(int) error {
	if j.count == 0 {
		_, err := fmt.Fprintln(j.w, "[]")
		return err
	}
	_, err := fmt.Fprintln(j.w, "\n]")
	return err
}

// oneLine keeps a table cell on one line whatever it holds.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) suppressionsAddCommand() *cobra.Command {
	var channel, reason, region, note string
	cmd := &cobra.Command{
		Use:   "add --channel email|sms|postal ADDRESS [--reason manual]",
		Short: "Put an address or number on the suppression list",
		Long: `Put an address on the suppression list: no later notice uses it, and the
person gets the next channel of a campaign's policy instead. Write a postal
address as herald shows it, on one line: "Storgata 1, 0155 Oslo, NO".`,
		Args: exactArgs(1, "give the address or number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if channel == "" {
				return usageError{fmt.Errorf("give --channel email, sms or postal")}
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			sup, err := dispatcher.AddSuppression(ctx, st, dispatcher.ManualSuppression{Channel: channel, Address: args[0], Region: region,
				Reason: reason, Note: note, Actor: a.actor(), At: time.Now()})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s suppressed (%s)\n", sup.Channel, sup.Address, sup.Reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "", "email, sms or postal (required)")
	cmd.Flags().StringVar(&reason, "reason", dispatcher.ReasonManual, strings.Join(dispatcher.SuppressionReasons, ", "))
	cmd.Flags().StringVar(&region, "region", "", "country (e.g. NO) for a phone number without +country code")
	cmd.Flags().StringVar(&note, "note", "", "why, for the record (kept as the entry's source)")
	return cmd
}

func (a *app) suppressionsRemoveCommand() *cobra.Command {
	var channel, region string
	cmd := &cobra.Command{
		Use:   "remove --channel email|sms|postal ADDRESS",
		Short: "Take an address off the suppression list (audited)",
		Args:  exactArgs(1, "give the address or number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if channel == "" {
				return usageError{fmt.Errorf("give --channel email, sms or postal")}
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			k, addr, err := dispatcher.RemoveSuppression(ctx, st, channel, args[0], region, a.actor(), time.Now())
			if dispatcher.ErrorCode(err) == dispatcher.ENOTFOUND {
				return fmt.Errorf("%w (see `herald suppressions list --channel %s`)", err, channel)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s removed from the suppression list\n", k, addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&channel, "channel", "", "email, sms or postal (required)")
	cmd.Flags().StringVar(&region, "region", "", "country (e.g. NO) for a phone number without +country code")
	return cmd
}

func (a *app) suppressionsImportCommand() *cobra.Command {
	var region string
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Add every entry of a CSV file (columns channel,address,reason) to the suppression list",
		Long: `Import a suppression list: CSV with a header naming the columns channel,
address and, optionally, reason (default manual), source, first_seen and
last_seen, as ` + "`herald suppressions list --format csv`" + ` writes them. The
import is all or nothing: a file with a bad row imports nothing, and the
error names every bad row and what to fix.`,
		Args: exactArgs(1, "give the CSV file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := os.Open(args[0])
			if err != nil {
				return dispatcher.Errorf(dispatcher.EINVALID, "open %s: %v", args[0], err)
			}
			defer f.Close()
			name := filepath.Base(args[0])
			entries, err := dispatcher.ReadSuppressions(f, region, "import "+name)
			if err != nil {
				return fmt.Errorf("import %s: %w", name, err)
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			added, err := st.SuppressMany(ctx, entries)
			if err != nil {
				return fmt.Errorf("import %s: %w", name, err)
			}
			if err := st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "suppression.import", Subject: name,
				Detail: fmt.Sprintf("%d entries, %d new", len(entries), added)}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "imported %s: %d entries, %d new, %d already listed (refreshed)\n", name, len(entries), added, len(entries)-added)
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "country (e.g. NO) for phone numbers without +country code")
	return cmd
}
