package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/csvsafe"
)

// reportJSON is the machine-readable report: the Report's numbers with the
// campaign's name and status.
type reportJSON struct {
	Campaign string `json:"campaign"`
	Status   string `json:"status"`
	*dispatcher.Report
}

func (a *app) reportCommand() *cobra.Command {
	var (
		unreachable bool
		format      string
	)
	cmd := &cobra.Command{
		Use:   "report CAMPAIGN",
		Short: "Counts per state and channel; --unreachable lists who could not be reached",
		Long: `Report a campaign's outcome. Every contact is reached, unreachable or still in
progress. With --unreachable, list every contact no channel reached, with the
reason per channel, for substitute notice (CSV cells are safe to open in a
spreadsheet).`,
		Args: exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			st, _ := a.store(ctx)
			if unreachable {
				switch format {
				case "csv", "json":
				case "text", "":
					format = "csv"
				default:
					return usageError{fmt.Errorf("--format %q: use csv or json with --unreachable", format)}
				}
				_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "report.unreachable", Subject: c.Name, Detail: format})
				return writeUnreachable(ctx, a.stdout, st, c, format)
			}
			r, err := st.Report(ctx, c.ID)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(reportJSON{Campaign: c.Name, Status: string(c.Status), Report: r})
			case "text", "":
				return writeReportText(a.stdout, c, r)
			}
			return usageError{fmt.Errorf("--format %q: use text or json", format)}
		},
	}
	cmd.Flags().BoolVar(&unreachable, "unreachable", false, "list the contacts no channel reached")
	cmd.Flags().StringVar(&format, "format", "text", "text or json; csv or json with --unreachable")
	return cmd
}

func writeReportText(w io.Writer, c *dispatcher.Campaign, r *dispatcher.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign\t%s (%s)\n", c.Name, c.Status)
	fmt.Fprintf(tw, "contacts\t%d\n", r.Contacts)
	fmt.Fprintf(tw, "reached\t%d\n", r.Reached)
	for _, k := range c.Policy {
		fmt.Fprintf(tw, "  by %s\t%d\n", k, r.ReachedBy[k])
	}
	fmt.Fprintf(tw, "  after fallback\t%d\n", r.Fallback)
	fmt.Fprintf(tw, "unreachable\t%d\n", r.Unreachable)
	fmt.Fprintf(tw, "in progress\t%d\n", r.InProgress)
	fmt.Fprintf(tw, "invalid addresses\t%d\n", r.Invalid)
	fmt.Fprintf(tw, "rejected rows\t%d\n", r.RejectedRows)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.States) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return writeStateTable(w, c, r)
}

// writeStateTable prints deliveries: one row per state, one column per
// channel.
func writeStateTable(w io.Writer, c *dispatcher.Campaign, r *dispatcher.Report) error {
	counts := map[dispatcher.State]map[dispatcher.ChannelKind]int64{}
	for _, s := range r.States {
		if counts[s.State] == nil {
			counts[s.State] = map[dispatcher.ChannelKind]int64{}
		}
		counts[s.State][s.Channel] += s.N
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "deliveries\t")
	for _, k := range c.Policy {
		fmt.Fprintf(tw, "%s\t", k)
	}
	fmt.Fprintln(tw)
	for _, s := range dispatcher.AllStates {
		if counts[s] == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t", s)
		for _, k := range c.Policy {
			fmt.Fprintf(tw, "%d\t", counts[s][k])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// unreachableRow is one person for substitute notice.
type unreachableRow struct {
	ExternalID string            `json:"external_id,omitempty"`
	Name       string            `json:"name"`
	Email      string            `json:"email,omitempty"`
	Phone      string            `json:"phone,omitempty"`
	Country    string            `json:"country,omitempty"`
	Locale     string            `json:"locale,omitempty"`
	SourceRow  int               `json:"source_row,omitempty"`
	Reasons    map[string]string `json:"reasons"` // channel → why it did not reach the person
}

func reasonOf(d dispatcher.Delivery) string {
	parts := []string{string(d.State)}
	if d.Code != "" {
		parts = append(parts, d.Code)
	}
	if d.Diagnostic != "" {
		parts = append(parts, d.Diagnostic)
	}
	return strings.Join(parts, ": ")
}

func writeUnreachable(ctx context.Context, w io.Writer, st dispatcher.Store, c *dispatcher.Campaign, format string) error {
	var cw *csv.Writer
	var enc *json.Encoder
	if format == "csv" {
		cw = csv.NewWriter(w)
		header := []string{"external_id", "name", "email", "phone", "country", "locale", "source_row"}
		for _, k := range c.Policy {
			header = append(header, string(k)+"_reason")
		}
		if err := cw.Write(header); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(w, "[")
		enc = json.NewEncoder(w)
	}
	first := true
	var after int64
	for {
		page, err := st.Unreachable(ctx, c.ID, after, 1000)
		if err != nil {
			return err
		}
		for _, cd := range page {
			ct := cd.Contact
			row := unreachableRow{ExternalID: ct.ExternalID, Name: ct.Name, Email: ct.Email, Phone: ct.Phone, Country: ct.Country, Locale: ct.Locale, SourceRow: ct.SourceRow, Reasons: map[string]string{}}
			for _, d := range cd.Deliveries {
				row.Reasons[string(d.Channel)] = reasonOf(d)
			}
			for _, k := range c.Policy {
				if _, ok := row.Reasons[string(k)]; !ok {
					row.Reasons[string(k)] = "not attempted"
				}
			}
			if cw != nil {
				rec := []string{ct.ExternalID, ct.Name, ct.Email, ct.Phone, ct.Country, ct.Locale, fmt.Sprint(ct.SourceRow)}
				for _, k := range c.Policy {
					rec = append(rec, row.Reasons[string(k)])
				}
				if err := cw.Write(safeCells(rec)); err != nil {
					return err
				}
			} else {
				if !first {
					fmt.Fprint(w, ",")
				}
				if err := enc.Encode(row); err != nil {
					return err
				}
			}
			first = false
			after = ct.ID
		}
		if len(page) < 1000 {
			break
		}
	}
	if cw != nil {
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintln(w, "]")
	return nil
}

// safeCells neutralises spreadsheet formulas in a CSV record (see package
// csvsafe: the console's downloads use the same rule).
func safeCells(rec []string) []string { return csvsafe.Cells(rec) }
