package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/heraldhq/herald/dispatcher"
)

func (a *app) importCommand() *cobra.Command {
	var (
		campaign  string
		opt       dispatcher.ImportOptions
		delimiter string
		maps      []string
		rejects   string
	)
	cmd := &cobra.Command{
		Use:   "import --campaign C FILE.csv",
		Short: "Import the affected people from a CSV file",
		Long: `Import contacts from a CSV file (UTF-8, or Windows-1252/ISO-8859-1 as older
exports are; comma, semicolon or tab). Headers are recognised in several
languages (e-mail, e-post, mobil, telefon, navn, naam, ...); other columns
become template variables. Rejected rows are listed with row number, column
and reason; importing the same file again adds nothing.`,
		Args: exactArgs(1, "give the CSV file to import"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tuneGC(a.getenv) // an import allocates per row, as a worker does per message
			if campaign == "" {
				return usageError{fmt.Errorf("give --campaign NAME")}
			}
			c, err := a.campaign(ctx, campaign)
			if err != nil {
				return err
			}
			if c.Status.Final() && c.Status == dispatcher.CampaignCancelled {
				return dispatcher.Errorf(dispatcher.ECONFLICT, "campaign %s is cancelled: create a new campaign", c.Name)
			}
			opt.Map = map[string]string{}
			for _, m := range maps {
				col, field, ok := strings.Cut(m, "=")
				if !ok || strings.TrimSpace(col) == "" || strings.TrimSpace(field) == "" {
					return usageError{fmt.Errorf("--map %q: use --map \"column=field\", e.g. --map \"Mail adresse=email\"", m)}
				}
				opt.Map[strings.TrimSpace(col)] = strings.TrimSpace(field)
			}
			switch delimiter {
			case "":
			case "tab", `\t`:
				opt.Delimiter = '\t'
			default:
				if len([]rune(delimiter)) != 1 {
					return usageError{fmt.Errorf("--delimiter %q: give one character, or tab", delimiter)}
				}
				opt.Delimiter = []rune(delimiter)[0]
			}
			f, err := os.Open(args[0])
			if err != nil {
				return dispatcher.Errorf(dispatcher.EINVALID, "open %s: %v", args[0], err)
			}
			defer f.Close()
			opt.Source = args[0]
			if rejects == "" {
				rejects = strings.TrimSuffix(args[0], ".csv") + ".rejects.csv"
			}
			rf, err := os.Create(rejects)
			if err != nil {
				return fmt.Errorf("create reject report: %w", err)
			}
			defer rf.Close()
			opt.Rejects = rf

			if fi, err := f.Stat(); err == nil && isTerminal(a.stderr) {
				bar := progressbar.NewOptions64(fi.Size(),
					progressbar.OptionSetWriter(a.stderr),
					progressbar.OptionSetDescription("importing"),
					progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
				opt.Progress = func(n int64) { _ = bar.Set64(n) }
				defer bar.Finish()
			}

			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			im := &dispatcher.Importer{Store: st, Logger: a.logger}
			run, err := im.Import(ctx, c, f, opt)
			if run != nil {
				fmt.Fprintf(a.stdout, "read %d, accepted %d, rejected %d, duplicates %d, warnings %d\n", run.Read, run.Accepted, run.Rejected, run.Duplicates, run.Warnings)
				if run.Rejected+run.Warnings > 0 {
					fmt.Fprintf(a.stdout, "reject report: %s\n", rejects)
				}
			}
			if err != nil {
				return err
			}
			_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "contacts.import", Subject: c.Name,
				Detail: fmt.Sprintf("%s: read %d accepted %d rejected %d duplicates %d", args[0], run.Read, run.Accepted, run.Rejected, run.Duplicates)})
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&campaign, "campaign", "", "campaign to import into")
	f.StringVar(&opt.Encoding, "encoding", "", "utf-8, windows-1252 or iso-8859-1 (default: detect)")
	f.StringVar(&delimiter, "delimiter", "", "field separator: , ; or tab (default: detect)")
	f.StringVar(&opt.Region, "region", "", "country (ISO code, e.g. NO) for phone numbers written without +country code")
	f.StringArrayVar(&maps, "map", nil, `map a column to a field: --map "Mail adresse=email" (fields: external_id, name, email, phone, locale, country; "-" ignores the column)`)
	f.BoolVar(&opt.Strict, "strict", false, "reject a row with an invalid e-mail or phone instead of importing it without that field")
	f.StringVar(&rejects, "rejects", "", "where to write the reject report (default FILE.rejects.csv)")
	return cmd
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
