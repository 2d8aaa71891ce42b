// Command herald notifies the people affected by a data breach, by e-mail
// and SMS, records who was told when and how, and reports who could not be
// reached. Run `herald demo` for a whole campaign on embedded defaults.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes, so scripts can branch without parsing messages.
const (
	exitOK       = 0
	exitError    = 1
	exitInvalid  = 2
	exitNotFound = 3
	exitConflict = 4
)

// run is main without the process: tests call it with their own output
// and environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// One clear line, no stack, no usage dump.
	fmt.Fprintln(stderr, "herald: "+strings.TrimSpace(err.Error()))
	var usage usageError
	switch {
	case errors.As(err, &usage):
		return exitInvalid
	case dispatcher.ErrorCode(err) == dispatcher.EINVALID:
		return exitInvalid
	case dispatcher.ErrorCode(err) == dispatcher.ENOTFOUND:
		return exitNotFound
	case dispatcher.ErrorCode(err) == dispatcher.ECONFLICT:
		return exitConflict
	}
	return exitError
}

// usageError marks a wrong command line (cobra's own errors included).
type usageError struct{ error }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Notify the people affected by a data breach, and prove who was told",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.init()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&a.flagDB, "database", "", "ledger database URL (overrides HERALD_DATABASE_URL; default ./herald.db)")
	root.PersistentFlags().StringVar(&a.flagRedis, "redis", "", "Redis URL (overrides HERALD_REDIS_URL; default in-process)")
	root.PersistentFlags().StringVar(&a.flagActor, "as", "", "who is acting, for the audit log (default $USER)")
	root.AddCommand(
		a.campaignCommand(),
		a.importCommand(),
		a.workerCommand(),
		a.reconcileCommand(),
		a.statusCommand(),
		a.reportCommand(),
		a.suppressionsCommand(),
		a.postalCommand(),
		a.demoCommand(),
		a.configCommand(),
		a.bouncesCommand(),
		a.bounceReceiverCommand(),
		a.templatesCommand(),
		a.serveCommand(),
		a.userCommand(),
		a.benchCommand(),
	)
	return root
}

func (a *app) configCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print the configuration herald would use, secrets hidden",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, kv := range a.cfg.Redacted() {
				fmt.Fprintf(a.stdout, "%-32s %s\n", kv[0], kv[1])
			}
			return nil
		},
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("HERALD_LOG_LEVEL=%q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("HERALD_LOG_FORMAT=%q: use text or json", format)
}
