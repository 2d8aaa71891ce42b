package main

import (
	"embed"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
)

//go:embed starter
var starterTemplates embed.FS

// starterLocales are the languages herald ships starter notices in.
const starterLocales = "nb,nn,sv,da,nl,en,de,fr"

func (a *app) templatesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "templates", Short: "Starter notice templates"}
	var locales string
	var force bool
	initCmd := &cobra.Command{
		Use:   "init DIR [--locales nb,en]",
		Short: "Write starter breach-notice templates, ready to fill, for `campaign create --templates`",
		Long: `Write a starter notice (e-mail subject, text and HTML, and SMS) per locale into
DIR/<locale>/. Available: ` + starterLocales + `. The texts follow what breach-notice
rules ask for (what happened, what information, what to do, whom to ask) and
carry placeholders in «guillemets» that ` + "`herald campaign check`" + ` reports until
they are filled in.`,
		Args: exactArgs(1, "give the folder to write"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			var written []string
			for _, loc := range strings.Split(locales, ",") {
				loc = strings.TrimSpace(loc)
				if loc == "" {
					continue
				}
				files, err := fs.ReadDir(starterTemplates, "starter/"+loc)
				if err != nil {
					return dispatcher.Errorf(dispatcher.EINVALID, "no starter templates for locale %q: choose from %s", loc, starterLocales)
				}
				if err := os.MkdirAll(filepath.Join(dir, loc), 0o755); err != nil {
					return err
				}
				for _, f := range files {
					b, err := starterTemplates.ReadFile("starter/" + loc + "/" + f.Name())
					if err != nil {
						return err
					}
					if err := writeNew(filepath.Join(dir, loc, f.Name()), b, force); err != nil {
						return err
					}
					if f.Name() == "email.txt" {
						if err := writeNew(filepath.Join(dir, loc, "email.html"), []byte(textToHTML(loc, string(b))), force); err != nil {
							return err
						}
					}
				}
				written = append(written, loc)
			}
			fmt.Fprintf(a.stdout, "starter templates for %s written to %s; fill in the «placeholders», then: herald campaign create --templates %s ...\n", strings.Join(written, ", "), dir, dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&locales, "locales", starterLocales, "locales to write")
	initCmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	cmd.AddCommand(initCmd)
	return cmd
}

func writeNew(path string, b []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if os.IsExist(err) {
		return dispatcher.Errorf(dispatcher.ECONFLICT, "%s exists: keep your edits, or pass --force to overwrite", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// textToHTML turns a starter text notice into its HTML part: paragraphs,
// with a paragraph's first line as a heading when it stands alone.
func textToHTML(locale, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html>\n<html lang=%q><body style=\"font-family: sans-serif; max-width: 40em\">\n", locale)
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(para, "\n")
		if len(lines) > 1 && !strings.Contains(lines[0], "{{") && len(lines[0]) < 60 {
			fmt.Fprintf(&b, "<h2>%s</h2>\n", html.EscapeString(lines[0]))
			lines = lines[1:]
		}
		escaped := make([]string, len(lines))
		for i, l := range lines {
			escaped[i] = html.EscapeString(l) // template actions have no HTML specials in the starters
		}
		fmt.Fprintf(&b, "<p>%s</p>\n", strings.Join(escaped, "<br>\n"))
	}
	b.WriteString("</body></html>\n")
	return b.String()
}
