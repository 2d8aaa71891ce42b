package sms

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/heraldhq/herald/dispatcher"
)

func TestClassOf(t *testing.T) {
	tests := []struct {
		code, status int
		want         dispatcher.Class
	}{
		{21211, 400, dispatcher.Invalid},
		{21614, 400, dispatcher.Invalid},
		{21612, 400, dispatcher.Invalid},
		{21635, 400, dispatcher.Invalid},
		{21610, 400, dispatcher.Suppressed},
		{20429, 429, dispatcher.Transient},
		{20429, 0, dispatcher.Transient},
		{0, 429, dispatcher.Transient},
		{20500, 500, dispatcher.Transient},
		{20503, 503, dispatcher.Transient},
		{0, 502, dispatcher.Transient},
		{0, 408, dispatcher.Transient},
		{20003, 401, dispatcher.Permanent},
		{21603, 400, dispatcher.Permanent},
		{21408, 400, dispatcher.Permanent},
		{20404, 404, dispatcher.Permanent},
		{0, 403, dispatcher.Permanent},
		{0, 0, dispatcher.Transient},
	}
	for _, tt := range tests {
		if got := classOf(tt.code, tt.status); got != tt.want {
			t.Errorf("classOf(%d, %d) = %s, want %s", tt.code, tt.status, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	const to = "+4791234567"
	tests := []struct {
		name       string
		err        error
		last       response
		class      dispatcher.Class
		code, diag string
		retryAfter time.Duration
	}{
		{
			name:  "Twilio error quoting the number",
			err:   &client.TwilioRestError{Code: 21211, Status: 400, Message: "The 'To' number " + to + " is not a valid phone number."},
			last:  response{status: 400},
			class: dispatcher.Invalid, code: "21211", diag: "The 'To' number [recipient] is not a valid phone number.",
		},
		{
			name:  "status missing from the body: the HTTP status decides",
			err:   &client.TwilioRestError{Code: 20001, Message: "x"},
			last:  response{status: 503, retryAfter: 2 * time.Second},
			class: dispatcher.Transient, code: "20001", diag: "x", retryAfter: 2 * time.Second,
		},
		{
			name:  "rate limited",
			err:   &client.TwilioRestError{Code: 20429, Status: 429, Message: "Too Many Requests"},
			last:  response{status: 429, retryAfter: 5 * time.Second},
			class: dispatcher.Transient, code: "20429", diag: "Too Many Requests", retryAfter: 5 * time.Second,
		},
		{
			name:  "final failure ignores Retry-After",
			err:   &client.TwilioRestError{Code: 21610, Status: 400, Message: "Attempt to send to unsubscribed recipient"},
			last:  response{status: 400, retryAfter: 5 * time.Second},
			class: dispatcher.Suppressed, code: "21610", diag: "Attempt to send to unsubscribed recipient",
		},
		{
			name:  "API standards v1.0 error",
			err:   &client.RestErrorV1{Code: 21614, HttpStatusCode: 400, Message: "not mobile"},
			class: dispatcher.Invalid, code: "21614", diag: "not mobile",
		},
		{
			name:  "wrapped",
			err:   errors.Join(errors.New("ctx"), &client.TwilioRestError{Code: 20003, Status: 401, Message: "Authenticate"}),
			class: dispatcher.Permanent, code: "20003", diag: "Authenticate",
		},
		{
			name:  "network",
			err:   &url.Error{Op: "Post", URL: "https://api.twilio.com/x", Err: errors.New("connection reset")},
			class: dispatcher.Transient, diag: `no answer from Twilio: Post "https://api.twilio.com/x": connection reset`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := classify(tt.err, tt.last, to)
			if se.Class != tt.class || se.Code != tt.code || se.Diagnostic != tt.diag || se.RetryAfter != tt.retryAfter {
				t.Errorf("got %s %q %q %s, want %s %q %q %s", se.Class, se.Code, se.Diagnostic, se.RetryAfter, tt.class, tt.code, tt.diag, tt.retryAfter)
			}
			if !errors.Is(se, tt.err) {
				t.Error("the original error is not in the chain")
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"86400", maxRetryAfter, true},
		{"99999999999999999999999", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseRetryAfter checks that any header value yields a wait within
// bounds, and none only with ok false.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "3", "120", "18446744073709551615", "Sat, 01 Mar 2025 12:01:30 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "-5", "1e3"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %s, outside [0, %s]", v, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %s with ok false", v, d)
		}
	})
}

func TestRebase(t *testing.T) {
	tests := []struct{ base, in, want string }{
		{"http://127.0.0.1:9999", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", "http://127.0.0.1:9999/2010-04-01/Accounts/AC1/Messages.json"},
		{"https://proxy.example/twilio/", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1", "https://proxy.example/twilio/2010-04-01/Accounts/AC1/Messages.json?x=1"},
		{"https://proxy.example/twilio", "https://api.dublin.ie1.twilio.com/2010-04-01/A", "https://proxy.example/twilio/2010-04-01/A"},
	}
	for _, tt := range tests {
		base, _ := url.Parse(tt.base)
		req, err := http.NewRequest(http.MethodPost, tt.in, nil)
		if err != nil {
			t.Fatal(err)
		}
		orig := req.URL.String()
		out := req.Clone(req.Context())
		rebase(out, base)
		if out.URL.String() != tt.want || out.Host != "" {
			t.Errorf("rebase(%s, %s) = %s (Host %q), want %s", tt.base, tt.in, out.URL, out.Host, tt.want)
		}
		if req.URL.String() != orig {
			t.Errorf("rebase changed the original request to %s", req.URL)
		}
	}
}

func TestCallbackURL(t *testing.T) {
	c := &Channel{callback: "https://herald.example/twilio?k=v", callbackParam: "delivery"}
	if got := c.callbackURL(42); got != "https://herald.example/twilio?delivery=42&k=v" {
		t.Errorf("callbackURL = %s", got)
	}
	c.callbackParam = ""
	if got := c.callbackURL(42); got != "https://herald.example/twilio?k=v" {
		t.Errorf("without param: %s", got)
	}
}
