package twiliodouble_test

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/heraldhq/herald/channels/twiliodouble"
)

// received is one status callback as a webhook saw it.
type received struct {
	url    string // the full URL, as a consumer reconstructs it for validation
	params map[string]string
	header http.Header
}

// receiver is a status callback endpoint that records what it gets and
// answers with respond (200 when nil).
type receiver struct {
	srv     *httptest.Server
	respond func(n int) int // n counts requests from 1

	mu  sync.Mutex
	got []received
	ch  chan struct{}
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	t.Helper()
	r := &receiver{respond: respond, ch: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		params := map[string]string{}
		for k, v := range req.PostForm {
			params[k] = v[0]
		}
		r.mu.Lock()
		r.got = append(r.got, received{url: "http://" + req.Host + req.URL.RequestURI(), params: params, header: req.Header.Clone()})
		n := len(r.got)
		r.mu.Unlock()
		r.ch <- struct{}{}
		status := http.StatusOK
		if r.respond != nil {
			status = r.respond(n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// bySID groups the MessageStatus values received per message, in order.
func bySID(rs []received) map[string][]string {
	out := map[string][]string{}
	for _, r := range rs {
		sid := r.params["MessageSid"]
		out[sid] = append(out[sid], r.params["MessageStatus"])
	}
	return out
}

func TestStatusCallbacksAreSignedLikeTwilio(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := start(t, twiliodouble.Options{Numbers: map[string]twiliodouble.Behavior{
		"+4790000002": {Outcome: twiliodouble.StatusUndelivered, ErrorCode: twiliodouble.CodeUnknownDestination},
		"+4790000003": {Outcome: twiliodouble.StatusFailed, ErrorCode: twiliodouble.CodeCarrierFiltered},
	}})
	// A query string is part of what Twilio signs.
	cb := rcv.srv.URL + "/twilio/status?delivery=42"
	sids := map[string]string{}
	for _, number := range []string{"+4790000001", "+4790000002", "+4790000003"} {
		a := create(t, s, url.Values{"To": {number}, "From": {from}, "Body": {"x"}, "StatusCallback": {cb}})
		sids[number] = a.json(t)["sid"].(string)
	}
	svc := create(t, s, url.Values{"To": {to}, "MessagingServiceSid": {service}, "Body": {"x"}, "StatusCallback": {cb}}).json(t)["sid"].(string)
	wait(t, s)

	got := rcv.all()
	if len(got) != 7 {
		t.Fatalf("received %d callbacks, want 7 (2+2+1+2)", len(got))
	}
	statuses := bySID(got)
	want := map[string][]string{
		sids["+4790000001"]: {"sent", "delivered"},
		sids["+4790000002"]: {"sent", "undelivered"},
		sids["+4790000003"]: {"failed"},
		svc:                 {"sent", "delivered"},
	}
	for sid, w := range want {
		if !slices.Equal(statuses[sid], w) {
			t.Errorf("%s: statuses %v, want %v", sid, statuses[sid], w)
		}
	}

	validator := client.NewRequestValidator(s.AuthToken())
	tokens := map[string]bool{}
	for _, r := range got {
		sig := r.header.Get("X-Twilio-Signature")
		if r.url != cb {
			t.Errorf("callback went to %s, want %s", r.url, cb)
		}
		if !validator.Validate(r.url, r.params, sig) {
			t.Errorf("twilio-go rejects the signature of %v", r.params)
		}
		tampered := maps.Clone(r.params)
		tampered["MessageStatus"] = "delivered-ish"
		if validator.Validate(r.url, tampered, sig) {
			t.Error("a tampered parameter still validates")
		}
		if validator.Validate(r.url+"&x=1", r.params, sig) {
			t.Error("a changed URL still validates")
		}
		if other := client.NewRequestValidator("another-token"); other.Validate(r.url, r.params, sig) {
			t.Error("the signature validates with another token")
		}
		token := r.header.Get("I-Twilio-Idempotency-Token")
		if token == "" || tokens[token] {
			t.Errorf("idempotency token %q missing or reused across events", token)
		}
		tokens[token] = true
		if r.params["AccountSid"] != s.AccountSID() || r.params["ApiVersion"] != "2010-04-01" || r.params["SmsSid"] != r.params["MessageSid"] ||
			r.params["SmsStatus"] != r.params["MessageStatus"] || r.params["To"] == "" || r.params["From"] == "" {
			t.Errorf("callback parameters %v", r.params)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		switch r.params["MessageStatus"] {
		case "undelivered":
			if r.params["ErrorCode"] != "30005" || r.params["RawDlrDoneDate"] == "" {
				t.Errorf("undelivered callback %v", r.params)
			}
		case "failed":
			if r.params["ErrorCode"] != "30007" {
				t.Errorf("failed callback %v", r.params)
			}
		case "delivered":
			if _, has := r.params["ErrorCode"]; has || len(r.params["RawDlrDoneDate"]) != 10 {
				t.Errorf("delivered callback %v", r.params)
			}
		}
		if r.params["MessageSid"] == svc && (r.params["MessagingServiceSid"] != service || r.params["From"] != twiliodouble.DefaultPoolNumber) {
			t.Errorf("service message callback %v", r.params)
		}
	}
	if n := len(s.Callbacks()); n != 7 {
		t.Errorf("Callbacks() has %d records, want 7", n)
	}
}

func TestSignMatchesTwilioGoValidator(t *testing.T) {
	params := url.Values{"b": {"2"}, "a": {"1 & ø"}, "MessageSid": {"SMx"}}
	u := "https://herald.example/twilio?x=y"
	sig := twiliodouble.Sign("token", u, params)
	v := client.NewRequestValidator("token")
	flat := map[string]string{"b": "2", "a": "1 & ø", "MessageSid": "SMx"}
	if !v.Validate(u, flat, sig) {
		t.Fatalf("Sign(...) = %s does not validate", sig)
	}
	if !v.ValidateBody(u, []byte(params.Encode()), sig) {
		t.Error("ValidateBody rejects the encoded form")
	}
}

func TestRetriedCallbackKeepsIdempotencyToken(t *testing.T) {
	// The first request fails with 500, everything after succeeds.
	rcv := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s := start(t, twiliodouble.Options{CallbackRetryDelay: time.Millisecond})
	create(t, s, url.Values{"To": {to}, "From": {from}, "Body": {"x"}, "StatusCallback": {rcv.srv.URL + "/status"}})
	wait(t, s)

	got := rcv.all()
	if len(got) != 3 {
		t.Fatalf("received %d requests, want sent twice and delivered once", len(got))
	}
	first, retry, next := got[0], got[1], got[2]
	if first.params["MessageStatus"] != "sent" || retry.params["MessageStatus"] != "sent" || next.params["MessageStatus"] != "delivered" {
		t.Fatalf("statuses %s, %s, %s", first.params["MessageStatus"], retry.params["MessageStatus"], next.params["MessageStatus"])
	}
	tok := func(r received) string { return r.header.Get("I-Twilio-Idempotency-Token") }
	if tok(first) == "" || tok(first) != tok(retry) {
		t.Errorf("retry token %q, first %q: want equal and set", tok(retry), tok(first))
	}
	if tok(next) == tok(first) {
		t.Error("a new event reused the token")
	}
	if first.header.Get("X-Twilio-Signature") != retry.header.Get("X-Twilio-Signature") {
		t.Error("the retry is signed differently")
	}
	validator := client.NewRequestValidator(s.AuthToken())
	if !validator.Validate(retry.url, retry.params, retry.header.Get("X-Twilio-Signature")) {
		t.Error("retry does not validate")
	}
	recs := s.Callbacks()
	if len(recs) != 3 || recs[0].StatusCode != 500 || recs[0].Attempt != 1 || recs[1].Attempt != 2 || recs[1].StatusCode != 200 {
		t.Errorf("Callbacks() = %+v", recs)
	}
}

func TestCloseWaitsForQueuedCallbacks(t *testing.T) {
	rcv := newReceiver(t, nil)
	s, err := twiliodouble.Start(twiliodouble.Options{CallbackDelay: 20 * time.Millisecond, CallbackWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		create(t, s, url.Values{"To": {to}, "From": {from}, "Body": {"x"}, "StatusCallback": {rcv.srv.URL}})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(rcv.all()); n != 8 {
		t.Errorf("after Close %d callbacks were delivered, want all 8", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseIsBounded(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) })

	s, err := twiliodouble.Start(twiliodouble.Options{CloseTimeout: 200 * time.Millisecond, CallbackTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, url.Values{"To": {to}, "From": {from}, "Body": {"x"}, "StatusCallback": {stuck.URL}})
	begin := time.Now()
	err = s.Close()
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Close took %s with a CloseTimeout of 200ms", took)
	}
	if !errors.Is(err, twiliodouble.ErrCallbacksAbandoned) {
		t.Errorf("Close = %v, want ErrCallbacksAbandoned", err)
	}
}
