package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/starter"
)

// starterLocales are the languages herald ships starter notices in.
var starterLocales = strings.Join(starter.Locales, ",")

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
				files, err := starter.Files(loc)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(filepath.Join(dir, loc), 0o755); err != nil {
					return err
				}
				names := make([]string, 0, len(files))
				for name := range files {
					names = append(names, name)
				}
				sort.Strings(names)
				for _, name := range names {
					if err := writeNew(filepath.Join(dir, loc, name), files[name], force); err != nil {
						return err
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
