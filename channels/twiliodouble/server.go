// Package twiliodouble is a stand-in for Twilio's Programmable Messaging
// REST API on a local HTTP server.
//
// herald's demo, its tests and its benchmarks send SMS through the real
// twilio-go client pointed at this double, so everything from the HTTP
// request to error classification and status callbacks runs as in
// production, without a Twilio account and without texting anyone.
//
// The double speaks Twilio's real shapes: form-encoded
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP Basic
// authentication, the v2010 Message resource as JSON, Twilio's JSON error
// bodies and error codes, and status callbacks signed with
// X-Twilio-Signature exactly as Twilio signs them. Per-number behaviour
// (rejections, undelivered and failed outcomes) and whole-request faults
// (429 rate limiting, 500/503) are configurable, so each branch of a
// client's error handling can be driven on purpose.
//
// Callbacks are delivered by a fixed pool of workers from an in-memory
// queue; Close stops accepting requests, lets the workers finish what is
// queued for a bounded time, and then abandons the rest.
package twiliodouble

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Default credentials, in the shape of real ones, used when Options leave
// them empty.
const (
	DefaultAccountSID = "AC0123456789abcdef0123456789abcdef"
	DefaultAuthToken  = "0123456789abcdef0123456789abcdef"
	// DefaultPoolNumber is the sender a Messaging Service "chooses" from
	// its pool for messages sent without From.
	DefaultPoolNumber = "+15017122661"
)

// ErrCallbacksAbandoned is returned (wrapped) by Close when status
// callbacks were still pending when its time ran out.
var ErrCallbacksAbandoned = errors.New("status callbacks abandoned")

// Options configure a Server. The zero value is usable.
type Options struct {
	// AccountSID and AuthToken are the credentials the API accepts, and
	// AuthToken signs the status callbacks. Defaults: DefaultAccountSID,
	// DefaultAuthToken.
	AccountSID string
	AuthToken  string
	// APIKeys are extra accepted credentials, API key SID (SK…) to secret,
	// as Twilio accepts API keys in place of the Account SID and token.
	APIKeys map[string]string
	// Senders, when not empty, are the From numbers the account owns;
	// any other From is refused with 21606. Services likewise lists the
	// account's Messaging Service SIDs (others get 21701). Empty means
	// any well-formed value is accepted.
	Senders  []string
	Services []string
	// PoolNumber is the sender used for messages sent through a Messaging
	// Service without From. Default DefaultPoolNumber.
	PoolNumber string

	// Numbers sets per-number behaviour from the start; SetBehavior
	// changes it later. Behavior, when set, decides for numbers not in
	// Numbers (e.g. "every number ending in 13 is undeliverable").
	Numbers  map[string]Behavior
	Behavior func(to string) Behavior

	// CallbackDelay is waited before each status change (sent, delivered,
	// ...), to make a demo look like a carrier. Default 0: immediately.
	CallbackDelay time.Duration
	// CallbackRetries is how many more times a status callback is tried
	// after a network error or a 5xx answer, CallbackRetryDelay apart,
	// with the same idempotency token. Default 1 retry, 100ms apart; set
	// a negative value for no retries.
	CallbackRetries    int
	CallbackRetryDelay time.Duration
	// CallbackTimeout bounds one callback request. Default 5s.
	CallbackTimeout time.Duration
	// CallbackWorkers is how many callbacks are delivered concurrently.
	// Default 8.
	CallbackWorkers int
	// CallbackClient sends the callbacks. Default: a client of the double's
	// own, closed by Close.
	CallbackClient *http.Client

	// CloseTimeout bounds how long Close waits for the server's requests
	// and queued callbacks to finish. Default 5s.
	CloseTimeout time.Duration

	// Logger receives debug records of requests and callbacks (SIDs, codes
	// and statuses, never numbers or bodies). Nil discards.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.AccountSID == "" {
		o.AccountSID = DefaultAccountSID
	}
	if o.AuthToken == "" {
		o.AuthToken = DefaultAuthToken
	}
	if o.PoolNumber == "" {
		o.PoolNumber = DefaultPoolNumber
	}
	if o.CallbackRetries == 0 {
		o.CallbackRetries = 1
	} else if o.CallbackRetries < 0 {
		o.CallbackRetries = 0
	}
	if o.CallbackRetryDelay <= 0 {
		o.CallbackRetryDelay = 100 * time.Millisecond
	}
	if o.CallbackTimeout <= 0 {
		o.CallbackTimeout = 5 * time.Second
	}
	if o.CallbackWorkers <= 0 {
		o.CallbackWorkers = 8
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is a running Twilio double. Its methods are safe for concurrent
// use.
type Server struct {
	opts      Options
	log       *slog.Logger
	url       string
	srv       *http.Server
	serveDone chan struct{}
	client    *http.Client
	ownClient bool

	queue  *workQueue
	ctx    context.Context // cancelled when Close gives up on callbacks
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	mu         sync.Mutex
	msgs       []*message
	bySID      map[string]*message
	numbers    map[string]Behavior
	rateLeft   int
	retryAfter time.Duration
	failLeft   int
	failStatus int
	pending    int // messages whose status changes are not all done
	callbacks  []Callback
	conns      int
	changed    chan struct{} // closed and replaced on every change
}

// Start starts a double on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	opts.setDefaults()
	for number, b := range opts.Numbers {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("twiliodouble: number %s: %w", number, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("twiliodouble: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		url:       "http://" + ln.Addr().String(),
		serveDone: make(chan struct{}),
		client:    opts.CallbackClient,
		queue:     newWorkQueue(),
		ctx:       ctx,
		cancel:    cancel,
		bySID:     map[string]*message{},
		numbers:   map[string]Behavior{},
		changed:   make(chan struct{}),
	}
	for number, b := range opts.Numbers {
		s.numbers[number] = b
	}
	if s.client == nil {
		s.ownClient = true
		s.client = &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // callbacks go where they say, never through a proxy
				MaxIdleConns:        opts.CallbackWorkers * 2,
				MaxIdleConnsPerHost: opts.CallbackWorkers,
				IdleConnTimeout:     30 * time.Second,
			},
			Timeout: opts.CallbackTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{account}/Messages.json", s.handleCreate)
	mux.HandleFunc("GET /2010-04-01/Accounts/{account}/Messages/{file}", s.handleFetch)
	mux.HandleFunc("/", s.handleNotFound)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				s.mu.Lock()
				s.conns++
				s.mu.Unlock()
			}
		},
	}
	for range opts.CallbackWorkers {
		s.wg.Add(1)
		go s.worker()
	}
	go func() {
		defer close(s.serveDone)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("twilio double stopped serving", "err", err)
		}
	}()
	return s, nil
}

// URL returns the base URL of the API, e.g. http://127.0.0.1:43567: what a
// client uses in place of https://api.twilio.com.
func (s *Server) URL() string { return s.url }

// AccountSID returns the account the double serves.
func (s *Server) AccountSID() string { return s.opts.AccountSID }

// AuthToken returns the token that authenticates requests and signs
// callbacks.
func (s *Server) AuthToken() string { return s.opts.AuthToken }

// Close stops the API server, waits for requests in flight and queued
// status callbacks to finish, and returns. It waits at most
// Options.CloseTimeout; callbacks still pending then are abandoned and
// Close reports them with ErrCallbacksAbandoned. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout)
	defer cancel()
	var errs []error
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("twiliodouble: shut down API server: %w", err))
		_ = s.srv.Close()
	}
	<-s.serveDone
	// No handler runs any more, so nothing is queued from here on: let the
	// workers drain the queue and stop.
	s.queue.close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
		s.mu.Lock()
		n := s.pending
		s.mu.Unlock()
		errs = append(errs, fmt.Errorf("twiliodouble: close after %s: status changes of %d messages: %w", s.opts.CloseTimeout, n, ErrCallbacksAbandoned))
	}
	s.cancel()
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Messages returns every accepted message in the order received.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.Message
	}
	return out
}

// Message returns the message with the given SID as it is now.
func (s *Server) Message(sid string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.bySID[sid]
	if !ok {
		return Message{}, false
	}
	return m.Message, true
}

// Count returns how many messages were accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Connections returns how many TCP connections clients opened to the API:
// with connection reuse it stays near the client's concurrency however
// many messages are sent.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// WaitFor waits until at least n messages have been accepted or ctx ends.
func (s *Server) WaitFor(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return len(s.msgs) >= n })
}

// WaitSettled waits until every accepted message has reached its final
// status (and its callbacks were delivered or given up on), or ctx ends.
func (s *Server) WaitSettled(ctx context.Context) error {
	return s.wait(ctx, func() bool { return s.pending == 0 })
}

// wait polls cond under s.mu each time something changes.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes waiters. Callers hold s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// authenticate checks HTTP Basic credentials and the account in the path,
// writing Twilio's error and returning false when they do not match.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	valid := ok && equal(user, s.opts.AccountSID) && equal(pass, s.opts.AuthToken)
	if ok && !valid {
		if secret, known := s.opts.APIKeys[user]; known && equal(pass, secret) {
			valid = true
		}
	}
	if !valid {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, http.StatusUnauthorized, CodeAuthenticate, "Authenticate")
		return false
	}
	if r.PathValue("account") != s.opts.AccountSID {
		s.notFound(w, r)
		return false
	}
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) { s.notFound(w, r) }

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
}

// Patterns of well-formed parameter values.
var (
	e164Pattern    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortCode      = regexp.MustCompile(`^[0-9]{3,8}$`)
	alphanumeric   = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	hasLetter      = regexp.MustCompile(`[A-Za-z]`)
	serviceSIDForm = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// maxBody is Twilio's limit on Body, in characters.
const maxBody = 1600

// maxForm bounds the request body the double reads.
const maxForm = 1 << 20

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	if !s.authenticate(w, r) {
		return
	}
	if f := s.takeFault(); f != nil {
		writeRetryAfter(w, f.retryAfter)
		writeError(w, f.status, f.code, f.message)
		s.log.Debug("twilio double injected fault", "status", f.status, "code", f.code)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		// Twilio's generic "invalid parameter" answer.
		writeError(w, http.StatusBadRequest, 20001, "Unable to parse request: "+err.Error())
		return
	}
	form := r.PostForm
	to, from := form.Get("To"), form.Get("From")
	service, body := form.Get("MessagingServiceSid"), form.Get("Body")
	callback := form.Get("StatusCallback")

	reject := func(code int) {
		sender := from
		if sender == "" {
			sender = service
		}
		writeError(w, http.StatusBadRequest, code, rejectMessage(code, to, sender))
		s.log.Debug("twilio double rejected message", "code", code)
	}
	switch {
	case to == "":
		reject(CodeToRequired)
		return
	case from == "" && service == "":
		reject(CodeFromRequired)
		return
	case body == "" && form.Get("MediaUrl") == "" && form.Get("ContentSid") == "":
		reject(CodeBodyRequired)
		return
	case !e164Pattern.MatchString(to):
		reject(CodeInvalidTo)
		return
	case from != "" && !validSender(from):
		reject(CodeInvalidFrom)
		return
	case from != "" && len(s.opts.Senders) > 0 && !contains(s.opts.Senders, from):
		reject(CodeFromNotOwned)
		return
	case service != "" && !serviceSIDForm.MatchString(service):
		reject(CodeServiceInvalid)
		return
	case service != "" && len(s.opts.Services) > 0 && !contains(s.opts.Services, service):
		reject(CodeServiceNotFound)
		return
	case utf8.RuneCountInString(body) > maxBody:
		reject(CodeBodyTooLong)
		return
	case callback != "" && !validCallback(callback):
		reject(CodeInvalidCallback)
		return
	}

	now := time.Now()
	m := &message{Message: Message{
		SID:                 newSID("SM"),
		AccountSID:          s.opts.AccountSID,
		To:                  to,
		From:                from,
		MessagingServiceSID: service,
		Body:                body,
		StatusCallback:      callback,
		Status:              StatusQueued,
		Segments:            Segments(body),
		Created:             now,
		Updated:             now,
	}, sender: from}
	if service != "" {
		// A Messaging Service accepts first and picks a sender later; until
		// then Twilio reports no segments.
		m.Status = StatusAccepted
		m.Segments = 0
	}

	b := s.behaviorFor(to)
	if b.Reject != 0 {
		reject(b.Reject)
		return
	}
	m.behavior = b
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.bySID[m.SID] = m
	s.pending++
	res := m.resource()
	s.notify()
	s.mu.Unlock()

	writeJSON(w, http.StatusCreated, res)
	s.queue.push(m)
	s.log.Debug("twilio double accepted message", "sid", m.SID, "status", res.Status)
}

func (s *Server) handleFetch(w http.ResponseWriter, r *http.Request) {
	if !s.authenticate(w, r) {
		return
	}
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	if !ok {
		s.notFound(w, r)
		return
	}
	s.mu.Lock()
	m, found := s.bySID[sid]
	var res resource
	if found {
		res = m.resource()
	}
	s.mu.Unlock()
	if !found {
		s.notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// validSender reports whether from looks like a Twilio sender: an E.164
// number, a short code, or an alphanumeric sender id (up to 11 letters,
// digits and spaces, with at least one letter).
func validSender(from string) bool {
	return e164Pattern.MatchString(from) || shortCode.MatchString(from) ||
		(alphanumeric.MatchString(from) && hasLetter.MatchString(from))
}

// validCallback reports whether u is an absolute http(s) URL.
func validCallback(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// drain reads what is left of a response body so the connection can be
// reused, up to a bound.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10)) }
