package twiliodouble

import (
	"fmt"
	"net/http"
	"time"
)

// Behavior is what the double does with a message to one number. The zero
// Behavior accepts the message and reports it sent, then delivered.
type Behavior struct {
	// Reject, when not zero, refuses the create request synchronously with
	// HTTP 400 and this Twilio error code (e.g. CodeInvalidTo,
	// CodeNotMobile, CodeCannotRoute, CodeUnsubscribed), using Twilio's
	// words for it.
	Reject int
	// Outcome is the final status reported by status callback:
	// StatusDelivered (the default, after StatusSent), StatusUndelivered
	// (after StatusSent) or StatusFailed (never sent).
	Outcome string
	// ErrorCode goes with an undelivered or failed outcome, e.g.
	// CodeUnknownDestination (30005), CodeUnreachable (30003) or
	// CodeCarrierFiltered (30007). It defaults to CodeUnknownError.
	ErrorCode int
}

// validate reports a Behavior the double cannot act out.
func (b Behavior) validate() error {
	switch b.Outcome {
	case "", StatusDelivered, StatusUndelivered, StatusFailed:
	default:
		return fmt.Errorf("twiliodouble: outcome %q: use %q, %q or %q", b.Outcome, StatusDelivered, StatusUndelivered, StatusFailed)
	}
	if b.Reject != 0 && (b.Reject < 10000 || b.Reject > 99999) {
		return fmt.Errorf("twiliodouble: reject code %d is not a Twilio error code", b.Reject)
	}
	return nil
}

// steps lists the statuses a message with this behaviour goes through
// after creation, each reported by a status callback.
func (b Behavior) steps() []string {
	switch b.Outcome {
	case StatusFailed:
		return []string{StatusFailed}
	case StatusUndelivered:
		return []string{StatusSent, StatusUndelivered}
	}
	return []string{StatusSent, StatusDelivered}
}

// errorCode is the code reported with an unsuccessful outcome.
func (b Behavior) errorCode() int {
	if b.ErrorCode != 0 {
		return b.ErrorCode
	}
	return CodeUnknownError
}

// MagicNumbers returns the behaviours of Twilio's documented test
// credentials "magic" To numbers (https://www.twilio.com/docs/iam/test-credentials),
// for passing as Options.Numbers when a demo or test wants them.
func MagicNumbers() map[string]Behavior {
	return map[string]Behavior{
		"+15005550001": {Reject: CodeInvalidTo},
		"+15005550002": {Reject: CodeCannotRoute},
		"+15005550003": {Reject: CodeToNotPermitted},
		"+15005550004": {Reject: CodeUnsubscribed},
		"+15005550009": {Reject: CodeNotMobile},
	}
}

// SetBehavior sets what happens to messages sent to number from now on.
// The zero Behavior restores the default (delivered).
func (s *Server) SetBehavior(number string, b Behavior) error {
	if err := b.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b == (Behavior{}) {
		delete(s.numbers, number)
		return nil
	}
	s.numbers[number] = b
	return nil
}

// RateLimit makes the next n message create requests fail with HTTP 429
// and Twilio error 20429, with a Retry-After header when retryAfter > 0
// (rounded up to whole seconds, as HTTP requires). n = 0 clears it.
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLeft = max(n, 0)
	s.retryAfter = retryAfter
}

// FailNext makes the next n message create requests fail with the given
// HTTP status, 500 or 503, and Twilio's matching error (20500, 20503):
// the provider being down. They are served after any rate limiting set
// with RateLimit. n = 0 clears it.
func (s *Server) FailNext(n int, status int) error {
	if status != http.StatusInternalServerError && status != http.StatusServiceUnavailable {
		return fmt.Errorf("twiliodouble: FailNext status %d: use 500 or 503", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft = max(n, 0)
	s.failStatus = status
	return nil
}

// behaviorFor returns the behaviour for messages to number. Options.Behavior
// is called without the lock held, so it may use the Server.
func (s *Server) behaviorFor(number string) Behavior {
	s.mu.Lock()
	b, ok := s.numbers[number]
	s.mu.Unlock()
	if !ok && s.opts.Behavior != nil {
		b = s.opts.Behavior(number)
	}
	return b
}

// fault is an injected failure of a whole request.
type fault struct {
	status     int
	code       int
	message    string
	retryAfter time.Duration
}

// takeFault consumes one injected failure, if any is armed.
func (s *Server) takeFault() *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.rateLeft > 0:
		s.rateLeft--
		return &fault{status: http.StatusTooManyRequests, code: CodeTooManyRequests, message: "Too Many Requests", retryAfter: s.retryAfter}
	case s.failLeft > 0:
		s.failLeft--
		if s.failStatus == http.StatusServiceUnavailable {
			return &fault{status: s.failStatus, code: CodeServiceUnavailable, message: "Service Unavailable"}
		}
		return &fault{status: s.failStatus, code: CodeInternalError, message: "Internal Server Error"}
	}
	return nil
}
