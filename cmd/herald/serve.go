package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/web"
)

func (a *app) serveCommand() *cobra.Command {
	var addr, region string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web console, the JSON API and /metrics",
		Long: `Serve herald over HTTP: the console for operators, support staff and admins,
the JSON API under /api/v1 (described at /api/openapi.json), Prometheus
metrics at /metrics, /healthz and /readyz, and the queue monitor at
/admin/queues/ for admins.

Sign-in needs a user: create the first with ` + "`herald user add NAME --role admin`" + `.
Cookies are Secure (HTTPS only) unless the address is loopback; put herald
behind a TLS-terminating proxy, or set HERALD_COOKIE_SECURE=false for plain
HTTP on a trusted network.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.setLogLevel("info"); err != nil {
				return err
			}
			if v := a.getenv("HERALD_WEB_ADDR"); v != "" && !cmd.Flags().Changed("addr") {
				addr = v
			}
			srv, err := a.webServer(ctx, addr, region)
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(a.stdout, "herald: console and API on %s\n", displayURL(addr))
			return srv.ListenAndServe(ctx, addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", ":8080", "address to listen on (HERALD_WEB_ADDR)")
	cmd.Flags().StringVar(&region, "region", "", "country for phone numbers typed without +country code in the support lookup, e.g. NO (HERALD_REGION)")
	return cmd
}

// webServer wires the web server to the ledger and the queue.
func (a *app) webServer(ctx context.Context, addr, region string) (*web.Server, error) {
	if region == "" {
		region = a.getenv("HERALD_REGION")
	}
	secure, err := cookieSecure(a.getenv("HERALD_COOKIE_SECURE"), addr)
	if err != nil {
		return nil, err
	}
	if _, err := a.store(ctx); err != nil {
		return nil, err
	}
	b, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	if !secure {
		a.logger.Info("session cookies are not Secure: use this only on loopback or behind TLS you trust")
	}
	hooks, err := a.webhooks(ctx)
	if err != nil {
		return nil, err
	}
	return web.New(web.Config{
		Store: a.st, Users: a.st, Backend: b,
		// Replicas share failed sign-in counts and progress samples in
		// the queue's Redis.
		Redis: b.Redis(), RedisPrefix: b.Namespace(),
		Ready:        map[string]web.Pinger{"database": a.st, "redis": b},
		Logger:       a.logger,
		CookieSecure: secure,
		Region:       strings.ToUpper(region),
		Webhooks:     hooks,
	})
}

// cookieSecure decides the Secure cookie flag: HERALD_COOKIE_SECURE when
// set, else on unless herald listens on loopback only.
func cookieSecure(env, addr string) (bool, error) {
	if env != "" {
		v, err := strconv.ParseBool(env)
		if err != nil {
			return false, dispatcher.Errorf(dispatcher.EINVALID, "HERALD_COOKIE_SECURE=%q: use true or false", env)
		}
		return v, nil
	}
	return !web.IsLoopback(addr), nil
}

// displayURL turns a listen address into a URL a person can open.
func displayURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// demoAdmin is the one-time admin `herald demo --serve` creates.
const demoAdmin = "demo-admin"

// serveDemo keeps the demo's console open on addr after the campaign ran:
// it creates (or resets) a demo admin with a random password, prints the
// URL and the password, serves until interrupted, and removes the admin
// again so the password is good for this run only.
func (a *app) serveDemo(ctx context.Context, addr string) error {
	srv, err := a.webServer(ctx, addr, "NO")
	if err != nil {
		return err
	}
	defer srv.Close()
	pw := web.GeneratePassword()
	hash, err := web.HashPassword(pw)
	if err != nil {
		return err
	}
	u, err := a.st.UserByName(ctx, demoAdmin)
	switch {
	case err == nil:
		if err := a.st.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if u.Role != dispatcher.RoleAdmin {
			if err := a.st.SetRole(ctx, u.ID, dispatcher.RoleAdmin); err != nil {
				return err
			}
		}
	case errors.Is(err, dispatcher.ErrNotFound):
		u = &dispatcher.User{Name: demoAdmin, Role: dispatcher.RoleAdmin, PasswordHash: hash}
		if err := a.st.CreateUser(ctx, u); err != nil {
			return err
		}
	default:
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.st.DeleteUser(dctx, u.ID)
	}()
	fmt.Fprintf(a.stdout, `
Console: %s
  user      %s
  password  %s   (good until you stop the demo with Ctrl-C)
`, displayURL(addr), demoAdmin, pw)
	return srv.ListenAndServe(ctx, addr)
}
