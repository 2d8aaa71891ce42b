package sms

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxRetryAfter caps a provider's requested wait, so a wrong header cannot
// park a delivery for days.
const maxRetryAfter = time.Hour

// response is what call saw of the last HTTP answer.
type response struct {
	status     int           // HTTP status; 0 when no answer came
	retryAfter time.Duration // parsed Retry-After; 0 when absent
}

// call is the http.RoundTripper of one send. twilio-go builds requests
// with context.Background() and a fixed host, and after an HTTP error it
// decodes the body into *client.TwilioRestError and drops the response; call
// puts the send's context on the request, points it at the configured base
// URL, and keeps the status and Retry-After of the answer. It also reads
// error bodies into memory and closes them, because twilio-go does not
// close the body of an error answer, and an unclosed body holds its
// connection.
//
// A call serves one send and is used by one goroutine at a time (the
// client's, inside CreateMessage, then Send's), so it needs no lock.
type call struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper
	now  func() time.Time
	last response
}

// RoundTrip implements http.RoundTripper.
func (c *call) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(c.ctx)
	if c.base != nil {
		rebase(out, c.base)
	}
	resp, err := c.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	c.last = response{status: resp.StatusCode}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		c.last.retryAfter = d
	}
	if resp.StatusCode >= 400 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read HTTP %d answer: %w", resp.StatusCode, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

// rebase points r at base, keeping r's path under base's path and its
// query.
func rebase(r *http.Request, base *url.URL) {
	u := *r.URL
	u.Scheme, u.Host = base.Scheme, base.Host
	u.Path = strings.TrimSuffix(base.Path, "/") + r.URL.Path
	u.RawPath = ""
	r.URL = &u
	r.Host = "" // the Host header follows the new URL
}

// parseRetryAfter parses an HTTP Retry-After value: delay-seconds or an
// HTTP-date, relative to now. The result is within [0, maxRetryAfter]; ok
// is false when v is absent or malformed.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs >= uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}
