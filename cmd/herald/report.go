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
	// SubstituteNotice says whether the unreachable reach the campaign's
	// substitute-notice threshold, with counts by country and region.
	SubstituteNotice *dispatcher.SubstituteNotice `json:"substitute_notice,omitempty"`
}

func (a *app) reportCommand() *cobra.Command {
	var (
		unreachable bool
		summary     bool
		threshold   int
		format      string
	)
	cmd := &cobra.Command{
		Use:   "report CAMPAIGN",
		Short: "Counts per state and channel; --unreachable lists who could not be reached",
		Long: `Report a campaign's outcome. Every contact is reached, unreachable or still in
progress. With --unreachable, list every contact no channel reached, with the
reason per channel, for substitute notice (CSV cells are safe to open in a
spreadsheet); the headline (is the campaign's substitute-notice threshold
reached?) and the counts by country and region go to standard error, or, with
--summary, alone to standard output.`,
		Args: exactArgs(1, "give the campaign name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.campaign(ctx, args[0])
			if err != nil {
				return err
			}
			st, _ := a.store(ctx)
			if threshold < 0 {
				threshold = c.Settings.SubstituteThreshold
			}
			if summary {
				sn, err := substituteNotice(ctx, st, c, threshold)
				if err != nil {
					return err
				}
				_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "report.substitute", Subject: c.Name})
				if format == "json" {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(struct {
						Campaign string `json:"campaign"`
						*dispatcher.SubstituteNotice
					}{c.Name, sn})
				}
				return writeSubstituteNotice(a.stdout, sn)
			}
			if unreachable {
				switch format {
				case "csv", "json":
				case "text", "":
					format = "csv"
				default:
					return usageError{fmt.Errorf("--format %q: use csv or json with --unreachable", format)}
				}
				_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "report.unreachable", Subject: c.Name, Detail: format})
				if err := writeUnreachable(ctx, a.stdout, st, c, format); err != nil {
					return err
				}
				sn, err := substituteNotice(ctx, st, c, threshold)
				if err != nil {
					return err
				}
				return writeSubstituteNotice(a.stderr, sn)
			}
			r, err := st.Report(ctx, c.ID)
			if err != nil {
				return err
			}
			areas, err := st.UnreachableByArea(ctx, c.ID)
			if err != nil {
				return err
			}
			sn := dispatcher.NewSubstituteNotice(r, areas, threshold)
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(reportJSON{Campaign: c.Name, Status: string(c.Status), Report: r, SubstituteNotice: sn})
			case "text", "":
				if err := writeReportText(a.stdout, c, r); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout)
				return writeSubstituteNotice(a.stdout, sn)
			}
			return usageError{fmt.Errorf("--format %q: use text or json", format)}
		},
	}
	cmd.Flags().BoolVar(&unreachable, "unreachable", false, "list the contacts no channel reached")
	cmd.Flags().BoolVar(&summary, "summary", false, "print only the substitute-notice headline and the unreachable counts by country and region")
	cmd.Flags().IntVar(&threshold, "substitute-threshold", -1, "substitute-notice threshold to judge against (default: the campaign's; e.g. 10 under the US HIPAA rule)")
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
	if n := dispatcher.LettersWaiting(r); n > 0 {
		fmt.Fprintf(tw, "letters waiting for a print batch\t%d\n", n)
	}
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
	// Region and Postal are the mailing address as imported, for notice
	// by other written means.
	Region string                    `json:"region,omitempty"`
	Postal *dispatcher.PostalAddress `json:"postal,omitempty"`
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
		header = append(header, unreachableAddressColumns...) // added after the reasons: older readers keep their columns
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
			row := unreachableRow{ExternalID: ct.ExternalID, Name: ct.Name, Email: ct.Email, Phone: ct.Phone, Country: ct.Country, Locale: ct.Locale, SourceRow: ct.SourceRow, Reasons: map[string]string{},
				Region: ct.Postal.Region}
			if !ct.Postal.IsZero() {
				p := ct.Postal
				row.Postal = &p
			}
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
				rec = append(rec, ct.Postal.Region, ct.Postal.Line1, ct.Postal.Line2, ct.Postal.PostalCode, ct.Postal.City)
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

// unreachableAddressColumns end each row of the unreachable CSV.
var unreachableAddressColumns = []string{"region", "address_line1", "address_line2", "postal_code", "city"}

// substituteNotice computes the headline of the unreachable report.
func substituteNotice(ctx context.Context, st dispatcher.Store, c *dispatcher.Campaign, threshold int) (*dispatcher.SubstituteNotice, error) {
	r, err := st.Report(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	areas, err := st.UnreachableByArea(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return dispatcher.NewSubstituteNotice(r, areas, threshold), nil
}

// maxAreaLines caps the by-area table of the text outputs.
const maxAreaLines = 15

// writeSubstituteNotice prints the headline and, when anyone is
// unreachable, where they are: by country, and by region within a country
// when the addresses name one.
func writeSubstituteNotice(w io.Writer, n *dispatcher.SubstituteNotice) error {
	fmt.Fprintln(w, n.Headline)
	if n.Unreachable == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "unreachable by country\tregion\tpeople")
	for i, a := range n.ByArea {
		if i == maxAreaLines {
			fmt.Fprintf(tw, "(%d more areas: --summary --format json lists them all)\t\t\n", len(n.ByArea)-i)
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", dashOr(a.Country, "(no country)"), dash(a.Region), a.N)
	}
	areas := map[string]int{}
	for _, a := range n.ByArea {
		areas[a.Country]++
	}
	for _, a := range n.ByCountry {
		if areas[a.Country] > 1 { // a country split over regions gets its total too
			fmt.Fprintf(tw, "  %s total\t\t%d\n", dashOr(a.Country, "(no country)"), a.N)
		}
	}
	return tw.Flush()
}

func dashOr(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
