package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/queue"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxUpload   = 512 << 20 // a CSV of several million people
	DefaultSessionTTL  = 12 * time.Hour
	DefaultSessionIdle = 2 * time.Hour
	maxFormBody        = 1 << 20 // every request that is not an upload
	multipartMemory    = 8 << 20 // larger uploads spill to a temporary file
	touchEvery         = time.Minute
)

// Config is what the server needs. Store and Users are required; the rest
// is optional.
type Config struct {
	// Store is the ledger; Users keeps users, sessions and tokens (the
	// same *store.DB implements both).
	Store dispatcher.Store
	Users dispatcher.UserStore
	// Backend, when set, gives queue depth to the dashboard and /metrics
	// and mounts the asynq queue monitor at /admin/queues/ for admins.
	Backend *queue.Backend
	// Redis holds what the replicas of the server share: the counts of
	// failed sign-ins and campaign progress samples (the dashboard's rate
	// chart and ETA). Keys start with RedisPrefix. Both default to the
	// Backend's Redis and queue namespace; with neither, each process
	// keeps its own, in memory.
	Redis       redis.UniversalClient
	RedisPrefix string
	// Webhooks, when set, is mounted at /webhooks/ without sign-in:
	// provider callbacks authenticate with their own signatures.
	Webhooks http.Handler
	// Ready lists the dependencies /readyz pings.
	Ready map[string]Pinger
	// Logger gets user names, route names and IDs, never a looked-up
	// e-mail address or phone number; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CookieSecure sets the Secure flag on cookies (and the __Host-
	// cookie name). Turn it off only for plain HTTP on loopback.
	CookieSecure bool
	// Region is the default country for phone numbers typed without a
	// country code in the support lookup, e.g. NO.
	Region string
	// MaxUpload bounds a contact list upload in bytes (DefaultMaxUpload).
	MaxUpload int64
	// SessionTTL is a session's absolute lifetime, SessionIdle how long
	// it survives without a request.
	SessionTTL, SessionIdle time.Duration
}

// Server is herald's HTTP server: the JSON API, the console, probes,
// metrics, the queue monitor and the webhook mount point, behind one
// authorization layer.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	routes   []*route
	pages    *pages
	limiter  loginLimits
	progress progressSamples
	reports  reportStore
	flight   singleflight.Group // report computations, by campaign

	checks checkStore
	// bg is the context of the server's background work (campaign
	// checks); Close cancels it and waits for checkWG.
	bg        context.Context
	stopBG    context.CancelFunc
	checkWG   sync.WaitGroup
	checkSlot chan struct{} // one campaign check at a time
	checkWait time.Duration // how long a request waits for a check (checkWait; tests shorten it)
	checkMu   sync.Mutex
	checkDone map[string]chan struct{} // closed when this server's run of that ID ends
	// checkHook, when set (tests), is called when a campaign check
	// starts rendering and after each page of contacts it renders.
	checkHook func(ctx context.Context)

	redisWarn warnLimiter
	rejects   *rejectCache
	metrics   *metrics
	monitor   *asynqmon.HTTPHandler

	// onAuthorized, when set (tests), is called with a route's name after
	// the request passed authorization, before its handler runs.
	onAuthorized func(name string)
}

// New builds a server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Users == nil {
		return nil, errors.New("web: Config.Store and Config.Users are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	if cfg.Redis == nil && cfg.Backend != nil {
		cfg.Redis, cfg.RedisPrefix = cfg.Backend.Redis(), cfg.Backend.Namespace()
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		pages:    p,
		limiter:  newLoginLimiter(cfg.Now),
		progress: newProgressTracker(),
		reports:  &memoryReports{},
		rejects:  newRejectCache(cfg.Now),
		checks:   newMemoryChecks(cfg.Now),

		checkSlot: make(chan struct{}, 1),
		checkWait: checkWait,
		checkDone: map[string]chan struct{}{},
	}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	if cfg.Redis != nil {
		s.limiter = newRedisLoginLimiter(cfg.Redis, cfg.RedisPrefix, cfg.Now, cfg.Logger)
		s.progress = newRedisProgress(cfg.Redis, cfg.RedisPrefix, cfg.Logger)
		s.reports = &redisReports{rdb: cfg.Redis, prefix: cfg.RedisPrefix}
		s.checks = &redisChecks{rdb: cfg.Redis, prefix: cfg.RedisPrefix}
	}
	s.metrics = newMetrics(s)
	if cfg.Backend != nil {
		s.monitor = asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: cfg.Backend.RedisConnOpt()})
	}
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		if rt.Access == "" || rt.Name == "" {
			return nil, fmt.Errorf("web: route %s %s has no name or access", rt.Method, rt.Path)
		}
		s.routes = append(s.routes, rt)
		pattern := rt.Path
		if rt.Method != "" {
			pattern = rt.Method + " " + rt.Path
		}
		mux.Handle(pattern, s.wrap(rt))
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	s.handler = securityHeaders(cop.Handler(mux))
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops the server's background work (a campaign check in progress
// stops and shows as interrupted) and releases what the server opened
// (the queue monitor's Redis connections).
func (s *Server) Close() error {
	s.stopBG()
	s.checkWG.Wait()
	if s.monitor != nil {
		return s.monitor.Close()
	}
	return nil
}

// RouteInfo describes one route, for the authorization test and docs.
type RouteInfo struct {
	Name   string
	Method string // "" for any method (mounted handlers)
	Path   string // a net/http pattern path, e.g. /api/v1/campaigns/{name}
	Access Access
	API    bool // answers JSON under /api/
}

// Routes lists every route the server serves.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.routes))
	for i, rt := range s.routes {
		out[i] = RouteInfo{Name: rt.Name, Method: rt.Method, Path: rt.Path, Access: rt.Access, API: rt.kind == kindAPI}
	}
	return out
}

// ListenAndServe serves on addr until ctx ends, then shuts down
// gracefully, giving requests in flight up to ten seconds. It also sweeps
// expired sessions every hour.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends (see ListenAndServe).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		s.sweepSessions(sweepCtx, time.Hour)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("web server listening", "addr", ln.Addr().String())
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
		<-errc
	}
	stopSweep()
	<-sweepDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sweepSessions deletes expired sessions every interval until ctx ends.
func (s *Server) sweepSessions(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.cfg.Users.DeleteExpiredSessions(ctx, s.cfg.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep expired sessions", "err", err)
		} else if n > 0 {
			s.log.Info("expired sessions removed", "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// routeKind says how a route answers errors.
type routeKind int

const (
	kindPage routeKind = iota // HTML: sign-in redirects, error pages
	kindAPI                   // JSON errors, 401 with WWW-Authenticate
	kindRaw                   // plain text errors (metrics, monitor, webhooks, assets)
)

// route is one entry of the route table.
type route struct {
	Name    string
	Method  string
	Path    string
	Access  Access
	kind    routeKind
	maxBody int64 // request body limit; 0 = maxFormBody
	csp     string
	h       http.Handler
}

// Content security policies. The console has no inline script or style;
// the e-mail preview frame shows the notice's own inline styles but runs
// nothing; the queue monitor (asynqmon's prebuilt UI) needs inline script
// and its fonts.
const (
	cspConsole = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	cspPreview = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
	cspMonitor = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com data:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

// securityHeaders sets the headers every answer carries, 404s included.
// Routes may loosen the CSP and framing for their own pages.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", cspConsole)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// wrap puts a route behind authentication, authorization, CSRF checking,
// body limits and metrics.
func (s *Server) wrap(rt *route) http.Handler {
	limit := rt.maxBody
	if limit == 0 {
		limit = maxFormBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() { s.metrics.observeRequest(rt.Name, sw.status, time.Since(start)) }()
		if rt.csp != "" {
			sw.Header().Set("Content-Security-Policy", rt.csp)
			if rt.csp == cspPreview {
				sw.Header().Set("X-Frame-Options", "SAMEORIGIN")
			}
		}
		if rt.kind == kindRaw && rt.Path == "/static/" {
			sw.Header().Set("Cache-Control", "public, max-age=300")
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, limit)
		}
		var p *principal
		if rt.Access != Public {
			var err error
			p, err = s.authenticate(sw, r)
			if err != nil {
				s.fail(sw, r, rt, err)
				return
			}
			if p != nil {
				// error pages show who is signed in (and how to sign out)
				r = r.WithContext(withPrincipal(r.Context(), p))
			}
			if !rt.Access.Allows(p.role()) {
				if p == nil {
					s.unauthenticated(sw, r, rt)
					return
				}
				s.log.Warn("access denied", "user", p.name(), "role", p.role(), "route", rt.Name)
				s.failStatus(sw, r, rt, http.StatusForbidden, "Your role ("+string(p.role())+") may not do this.")
				return
			}
			if p.session != nil && unsafeMethod(r.Method) {
				if err := s.checkCSRF(r, p.session); err != nil {
					s.log.Warn("CSRF check failed", "user", p.name(), "route", rt.Name)
					s.failStatus(sw, r, rt, http.StatusForbidden, "The form expired or did not come from this console. Go back, reload the page and try again.")
					return
				}
			}
		}
		if s.onAuthorized != nil {
			s.onAuthorized(rt.Name)
		}
		rt.h.ServeHTTP(sw, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// unauthenticated answers a request that needs a user and has none: the
// console sends the browser to the sign-in page, everything else gets 401.
func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request, rt *route) {
	if rt.kind == kindPage && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	s.failStatus(w, r, rt, http.StatusUnauthorized, "Sign in first, or send an API token as Authorization: Bearer.")
}

// fail answers err in the route's format: dispatcher error codes become
// statuses, and internal errors are logged and shown without detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	status, msg := statusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "route", rt.Name, "user", principalOf(r.Context()).name(), "err", err)
	} else if status == http.StatusRequestEntityTooLarge {
		msg = "The upload is too large."
	}
	var fe dispatcher.FieldErrors
	if rt.kind == kindAPI && errors.As(err, &fe) {
		writeJSON(w, status, apiError{Error: http.StatusText(status), Message: msg, Fields: fe})
		return
	}
	s.failStatus(w, r, rt, status, msg)
}

func statusOf(err error) (int, string) {
	if errors.Is(err, errUnauthorized) {
		return http.StatusUnauthorized, "Unknown or revoked API token: send Authorization: Bearer hrld_…"
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "request body too large"
	}
	switch dispatcher.ErrorCode(err) {
	case dispatcher.EINVALID:
		return http.StatusBadRequest, userMessage(err)
	case dispatcher.ENOTFOUND:
		return http.StatusNotFound, userMessage(err)
	case dispatcher.ECONFLICT:
		return http.StatusConflict, userMessage(err)
	}
	return http.StatusInternalServerError, "Something went wrong on our side; it has been logged."
}

// userMessage is the message of the first *dispatcher.Error in err's
// chain: written for an operator, without the store's wrapping.
func userMessage(err error) string {
	var e *dispatcher.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func (s *Server) failStatus(w http.ResponseWriter, r *http.Request, rt *route, status int, msg string) {
	switch rt.kind {
	case kindAPI:
		writeJSON(w, status, apiError{Error: http.StatusText(status), Message: msg})
	case kindPage:
		s.renderError(w, r, status, msg)
	default:
		http.Error(w, msg, status)
	}
}

// statusWriter records the status for metrics and keeps the writer's
// optional interfaces reachable through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientIP is the request's remote address without the port, for login
// rate limiting. herald does not trust X-Forwarded-For: behind a proxy the
// per-account limit still holds.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// IsLoopback reports whether addr (host:port or :port) listens only on
// the loopback interface, where plain-HTTP cookies are acceptable.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
