// Package web is herald's HTTP face: one server (Server) with the JSON API
// under /api/v1 (described by /api/openapi.json), the operator console
// (server-rendered pages, assets embedded), Prometheus metrics, health and
// readiness probes, the asynq queue monitor for admins, and the mount
// point for provider webhooks.
//
// Every route declares who may use it (Access); one layer authenticates
// (session cookie or API token), authorizes, and checks CSRF tokens before
// any handler runs. Users, sessions and tokens live in the ledger
// (dispatcher.UserStore); every lookup of a person is written to the audit
// log, and nothing personal is ever logged.
package web

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// Pinger is anything whose reachability readiness depends on: the ledger
// database, Redis.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Healthz answers 200 while the process runs: a liveness probe that never
// touches a backend, so a slow database does not get the pod killed.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// Readyz answers 200 when every dependency answers a ping within timeout,
// else 503; the JSON body names each dependency and its error, so an
// operator sees which one is down. Errors are the drivers' words, which
// carry no personal data.
func Readyz(deps map[string]Pinger, timeout time.Duration) http.Handler {
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		status := http.StatusOK
		body := map[string]string{}
		for _, n := range names {
			if err := deps[n].Ping(ctx); err != nil {
				status = http.StatusServiceUnavailable
				body[n] = err.Error()
				continue
			}
			body[n] = "ok"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
}
