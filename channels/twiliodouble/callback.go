package twiliodouble

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Callback records one status callback request the double made.
type Callback struct {
	MessageSID string
	Status     string // the MessageStatus reported
	URL        string
	Token      string // I-Twilio-Idempotency-Token; the same on every attempt
	Attempt    int    // 1 for the first try
	StatusCode int    // the receiver's HTTP status; 0 when the request failed
	Err        error  // the transport error, if any
}

// Callbacks returns every status callback attempt so far, in order.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.callbacks)
}

// Sign returns the X-Twilio-Signature Twilio puts on a POST to fullURL with
// the given form parameters: base64(HMAC-SHA1(authToken, fullURL followed by
// every parameter name and value, sorted by name)).
func Sign(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// worker moves queued messages through their statuses until the queue is
// closed and empty, or the server gives up.
func (s *Server) worker() {
	defer s.wg.Done()
	for {
		m, ok := s.queue.pop(s.ctx)
		if !ok {
			return
		}
		if s.progress(m) {
			s.mu.Lock()
			s.pending--
			s.notify()
			s.mu.Unlock()
		}
	}
}

// progress takes m through each status of its behaviour, reporting each to
// its status callback. It returns false when the server gave up first.
func (s *Server) progress(m *message) bool {
	for _, status := range m.behavior.steps() {
		if !sleep(s.ctx, s.opts.CallbackDelay) {
			return false
		}
		params := s.advance(m, status)
		if m.StatusCallback != "" {
			s.deliver(m.SID, status, m.StatusCallback, params)
		}
		if s.ctx.Err() != nil {
			return false
		}
	}
	return true
}

// advance sets m's status and returns the callback parameters for it.
func (s *Server) advance(m *message, status string) url.Values {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Status, m.Updated = status, now
	if m.sender == "" {
		m.sender = s.opts.PoolNumber
	}
	if status == StatusSent {
		m.sent = now
		m.Segments = Segments(m.Body)
	}
	if status == StatusUndelivered || status == StatusFailed {
		m.ErrorCode = m.behavior.errorCode()
	}
	s.notify()

	p := url.Values{
		"AccountSid":    {m.AccountSID},
		"ApiVersion":    {apiVersion},
		"From":          {m.sender},
		"To":            {m.To},
		"MessageSid":    {m.SID},
		"SmsSid":        {m.SID},
		"MessageStatus": {status},
		"SmsStatus":     {status},
	}
	if m.MessagingServiceSID != "" {
		p.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if m.ErrorCode != 0 {
		p.Set("ErrorCode", strconv.Itoa(m.ErrorCode))
	}
	if status == StatusDelivered || status == StatusUndelivered {
		p.Set("RawDlrDoneDate", now.UTC().Format("0601021504"))
	}
	return p
}

// deliver POSTs one signed status callback, retrying a failed attempt with
// the same idempotency token.
func (s *Server) deliver(sid, status, callbackURL string, params url.Values) {
	body := params.Encode()
	signature := Sign(s.opts.AuthToken, callbackURL, params)
	token := newToken()
	for attempt := 1; attempt <= 1+s.opts.CallbackRetries; attempt++ {
		if attempt > 1 && !sleep(s.ctx, s.opts.CallbackRetryDelay) {
			return
		}
		rec := Callback{MessageSID: sid, Status: status, URL: callbackURL, Token: token, Attempt: attempt}
		rec.StatusCode, rec.Err = s.post(callbackURL, body, signature, token)
		s.mu.Lock()
		s.callbacks = append(s.callbacks, rec)
		s.notify()
		s.mu.Unlock()
		s.log.Debug("twilio double status callback", "sid", sid, "status", status, "attempt", attempt, "http_status", rec.StatusCode, "err", rec.Err)
		if rec.Err == nil && rec.StatusCode < 500 {
			return
		}
	}
}

// post makes one callback request as Twilio does.
func (s *Server) post(callbackURL, body, signature, token string) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Twilio-Signature", signature)
	req.Header.Set("I-Twilio-Idempotency-Token", token)
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("Accept", "*/*")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	drain(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// sleep waits d, returning false if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// workQueue is an unbounded FIFO of messages awaiting status changes:
// unbounded so that a benchmark sending faster than callbacks drain never
// blocks the API, as Twilio's API does not wait for callbacks either.
type workQueue struct {
	mu     sync.Mutex
	items  []*message
	closed bool
	wake   chan struct{} // one pending wake-up
	done   chan struct{} // closed by close
}

func newWorkQueue() *workQueue {
	return &workQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *workQueue) push(m *message) {
	q.mu.Lock()
	q.items = append(q.items, m)
	q.mu.Unlock()
	q.signal()
}

func (q *workQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close lets pop return false once the queue is empty.
func (q *workQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}

// pop returns the oldest message, waiting for one; false when the queue is
// closed and empty, or ctx ended.
func (q *workQueue) pop(ctx context.Context) (*message, bool) {
	for {
		if ctx.Err() != nil {
			return nil, false
		}
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.signal() // pass the wake-up on to another worker
			}
			return m, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.wake:
		case <-q.done:
		case <-ctx.Done():
			return nil, false
		}
	}
}
