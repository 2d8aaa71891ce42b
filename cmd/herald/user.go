package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/web"
)

// passwordInput is where `herald user add|passwd` read a password: the
// terminal (prompted, not echoed) or, when it is not a terminal, the first
// line of standard input, for scripts. Tests replace it.
var passwordInput io.Reader = os.Stdin

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage console and API users: add, passwd, remove, list, token",
		Long: `Manage who may use the console and the API. Roles:
  support   looks people up (every lookup is audited) and sees campaign progress
  operator  also runs campaigns: import, preview, launch, pause, resume, cancel, export lists
  admin     also manages users and tokens, reads the audit log, sees the queue monitor`,
	}
	var role string
	add := &cobra.Command{
		Use:   "add NAME --role admin|operator|support",
		Short: "Add a user; the password is read from the terminal or standard input",
		Args:  exactArgs(1, "give the user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := dispatcher.ParseRole(role)
			if err != nil {
				return err
			}
			if err := dispatcher.ValidateUserName(args[0]); err != nil {
				return err
			}
			hash, err := a.readNewPassword(args[0])
			if err != nil {
				return err
			}
			us, err := a.userStore(ctx)
			if err != nil {
				return err
			}
			u := &dispatcher.User{Name: args[0], Role: r, PasswordHash: hash}
			if err := us.CreateUser(ctx, u); err != nil {
				return err
			}
			a.auditUser(ctx, "user.create", u.Name, "role "+string(r))
			fmt.Fprintf(a.stdout, "user %s added as %s\n", u.Name, u.Role)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "admin, operator or support (required)")
	_ = add.MarkFlagRequired("role")

	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password; their sessions end",
		Args:  exactArgs(1, "give the user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			u, err := a.user(ctx, args[0])
			if err != nil {
				return err
			}
			hash, err := a.readNewPassword(u.Name)
			if err != nil {
				return err
			}
			if err := a.st.SetPassword(ctx, u.ID, hash); err != nil {
				return err
			}
			a.auditUser(ctx, "user.password", u.Name, "set from the command line")
			fmt.Fprintf(a.stdout, "password of %s changed; their sessions have ended\n", u.Name)
			return nil
		},
	}

	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user; their sessions and API tokens stop working at once",
		Args:  exactArgs(1, "give the user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			u, err := a.user(ctx, args[0])
			if err != nil {
				return err
			}
			if err := a.st.DeleteUser(ctx, u.ID); err != nil {
				return err
			}
			a.auditUser(ctx, "user.remove", u.Name, "")
			fmt.Fprintf(a.stdout, "user %s removed\n", u.Name)
			return nil
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List users with their roles and API tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			us, err := a.userStore(ctx)
			if err != nil {
				return err
			}
			users, err := us.Users(ctx)
			if err != nil {
				return err
			}
			toks, err := us.APITokens(ctx, 0)
			if err != nil {
				return err
			}
			count := map[int64]int{}
			for _, t := range toks {
				count[t.UserID]++
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tTOKENS\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", u.Name, u.Role, count[u.ID], u.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}

	var label string
	token := &cobra.Command{
		Use:   "token NAME [--label LABEL]",
		Short: "Create an API token for a user and print it (once)",
		Long: `Create an API token for automation. Send it as "Authorization: Bearer <token>".
It acts with the user's role. herald stores only a hash: copy the token now.
Revoke it in the console (Users) or by removing the user.`,
		Args: exactArgs(1, "give the user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			u, err := a.user(ctx, args[0])
			if err != nil {
				return err
			}
			if label == "" {
				label = "cli " + time.Now().Format("2006-01-02")
			}
			secret, tok, err := web.NewAPIToken(u.ID, label)
			if err != nil {
				return err
			}
			if err := a.st.CreateAPIToken(ctx, tok); err != nil {
				return err
			}
			a.auditUser(ctx, "token.create", u.Name, label)
			fmt.Fprintln(a.stdout, secret)
			return nil
		},
	}
	token.Flags().StringVar(&label, "label", "", "what the token is for, e.g. ci-import")

	cmd.AddCommand(add, passwd, remove, list, token)
	return cmd
}

// userStore opens the ledger's user store.
func (a *app) userStore(ctx context.Context) (dispatcher.UserStore, error) {
	if _, err := a.store(ctx); err != nil {
		return nil, err
	}
	return a.st, nil
}

// user finds a user by name with an error that says what to do.
func (a *app) user(ctx context.Context, name string) (*dispatcher.User, error) {
	us, err := a.userStore(ctx)
	if err != nil {
		return nil, err
	}
	u, err := us.UserByName(ctx, name)
	if errors.Is(err, dispatcher.ErrNotFound) {
		return nil, dispatcher.Errorf(dispatcher.ENOTFOUND, "no user named %q (see `herald user list`)", name)
	}
	return u, err
}

func (a *app) auditUser(ctx context.Context, action, subject, detail string) {
	if err := a.st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: action, Subject: subject, Detail: detail}); err != nil {
		fmt.Fprintf(a.stderr, "herald: warning: audit %s: %v\n", action, err)
	}
}

// readNewPassword reads a new password for name (twice on a terminal) and
// returns its hash.
func (a *app) readNewPassword(name string) (string, error) {
	var pw string
	if f, ok := passwordInput.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(a.stderr, "New password for %s (at least 12 characters): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(a.stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(b) != string(again) {
			return "", dispatcher.Errorf(dispatcher.EINVALID, "the two passwords differ")
		}
		pw = string(b)
	} else {
		line, err := bufio.NewReader(passwordInput).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", dispatcher.Errorf(dispatcher.EINVALID, "no password on standard input: pipe one in, e.g. printf '%%s\\n' \"$PW\" | herald user add %s --role ...", name)
		}
	}
	return web.HashPassword(pw)
}
