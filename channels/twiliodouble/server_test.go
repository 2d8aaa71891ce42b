package twiliodouble_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/twiliodouble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	from    = "+15005550006"
	service = "MG0123456789abcdef0123456789abcdef"
	to      = "+4791234567"
)

// start runs a double for the test and closes it afterwards, failing the
// test if Close reports anything.
func start(t *testing.T, opts twiliodouble.Options) *twiliodouble.Server {
	t.Helper()
	s, err := twiliodouble.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// httpClient is a client without keep-alive, so no idle connection
// outlives a test.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", a.status, err, a.body)
	}
	return m
}

// call makes one API request with Basic credentials user:pass ("" = none).
func call(t *testing.T, method, u string, form url.Values, user, pass string) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func messagesURL(s *twiliodouble.Server) string {
	return s.URL() + "/2010-04-01/Accounts/" + s.AccountSID() + "/Messages.json"
}

func create(t *testing.T, s *twiliodouble.Server, form url.Values) answer {
	t.Helper()
	return call(t, http.MethodPost, messagesURL(s), form, s.AccountSID(), s.AuthToken())
}

func fetch(t *testing.T, s *twiliodouble.Server, sid string) answer {
	t.Helper()
	return call(t, http.MethodGet, s.URL()+"/2010-04-01/Accounts/"+s.AccountSID()+"/Messages/"+sid+".json", nil, s.AccountSID(), s.AuthToken())
}

func wait(t *testing.T, s *twiliodouble.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitSettled(ctx); err != nil {
		t.Fatalf("WaitSettled: %v", err)
	}
}

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestCreateReturnsTwilioMessageResource(t *testing.T) {
	s := start(t, twiliodouble.Options{})
	rcv := newReceiver(t, nil)
	cb := rcv.srv.URL + "/twilio"
	a := create(t, s, url.Values{"To": {to}, "From": {from}, "Body": {"Hei Ola, vi må dessverre fortelle deg …"}, "StatusCallback": {cb}})
	if a.status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	m := a.json(t)
	sid, _ := m["sid"].(string)
	if !sidPattern.MatchString(sid) {
		t.Errorf("sid %q does not look like SM + 32 hex", sid)
	}
	want := map[string]any{
		"account_sid":           s.AccountSID(),
		"to":                    to,
		"from":                  from,
		"body":                  "Hei Ola, vi må dessverre fortelle deg …",
		"status":                "queued",
		"num_segments":          "1",
		"num_media":             "0",
		"direction":             "outbound-api",
		"api_version":           "2010-04-01",
		"price_unit":            "USD",
		"uri":                   "/2010-04-01/Accounts/" + s.AccountSID() + "/Messages/" + sid + ".json",
		"messaging_service_sid": nil,
		"error_code":            nil,
		"error_message":         nil,
		"price":                 nil,
		"date_sent":             nil,
	}
	for k, v := range want {
		got, present := m[k]
		if !present {
			t.Errorf("field %s missing", k)
			continue
		}
		if got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	for _, k := range []string{"date_created", "date_updated"} {
		v, _ := m[k].(string)
		d, err := time.Parse(time.RFC1123Z, v)
		if err != nil || time.Since(d) > time.Minute || !strings.HasSuffix(v, "+0000") {
			t.Errorf("%s = %q: not a current RFC 2822 GMT time (%v)", k, v, err)
		}
	}

	// twilio-go's own model decodes it.
	var msg openapi.ApiV2010Message
	if err := json.Unmarshal(a.body, &msg); err != nil {
		t.Fatalf("twilio-go model: %v", err)
	}
	if msg.Sid == nil || *msg.Sid != sid || msg.ErrorCode != nil {
		t.Errorf("twilio-go model decoded sid %v error_code %v", msg.Sid, msg.ErrorCode)
	}

	got := s.Messages()
	if len(got) != 1 || got[0].SID != sid || got[0].To != to || got[0].From != from ||
		got[0].StatusCallback != cb || got[0].Body == "" {
		t.Errorf("Messages() = %+v", got)
	}
}

func TestCreateThroughMessagingService(t *testing.T) {
	s := start(t, twiliodouble.Options{})
	a := create(t, s, url.Values{"To": {to}, "MessagingServiceSid": {service}, "Body": {"hello"}})
	if a.status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := a.json(t)
	if m["status"] != "accepted" || m["messaging_service_sid"] != service || m["from"] != nil || m["num_segments"] != "0" {
		t.Errorf("status %v service %v from %v segments %v; want accepted, %s, null, 0",
			m["status"], m["messaging_service_sid"], m["from"], m["num_segments"], service)
	}
	wait(t, s)
	f := fetch(t, s, m["sid"].(string)).json(t)
	if f["status"] != "delivered" || f["from"] != twiliodouble.DefaultPoolNumber || f["num_segments"] != "1" {
		t.Errorf("after delivery: status %v from %v segments %v", f["status"], f["from"], f["num_segments"])
	}
	if got := s.Messages(); len(got) != 1 || got[0].MessagingServiceSID != service || got[0].From != "" {
		t.Errorf("Messages() = %+v", got)
	}
}

func TestFetchShowsCurrentStatus(t *testing.T) {
	s := start(t, twiliodouble.Options{Numbers: map[string]twiliodouble.Behavior{
		"+4790000001": {Outcome: twiliodouble.StatusUndelivered, ErrorCode: twiliodouble.CodeUnknownDestination},
	}})
	ok := create(t, s, url.Values{"To": {to}, "From": {from}, "Body": {"a"}}).json(t)["sid"].(string)
	bad := create(t, s, url.Values{"To": {"+4790000001"}, "From": {from}, "Body": {"a"}}).json(t)["sid"].(string)
	wait(t, s)

	a := fetch(t, s, ok)
	if a.status != http.StatusOK {
		t.Fatalf("GET: %d %s", a.status, a.body)
	}
	m := a.json(t)
	if m["status"] != "delivered" || m["date_sent"] == nil || m["price"] == nil || m["error_code"] != nil {
		t.Errorf("delivered message: %s", a.body)
	}
	m = fetch(t, s, bad).json(t)
	if m["status"] != "undelivered" || m["error_code"] != float64(30005) || m["error_message"] != "Unknown destination handset" {
		t.Errorf("undelivered message: status %v error_code %v error_message %v", m["status"], m["error_code"], m["error_message"])
	}

	a = fetch(t, s, "SM00000000000000000000000000000000")
	if a.status != http.StatusNotFound || a.json(t)["code"] != float64(20404) {
		t.Errorf("unknown SID: %d %s", a.status, a.body)
	}
}

func TestAuthentication(t *testing.T) {
	const keySID, keySecret = "SK0123456789abcdef0123456789abcdef", "keysecret"
	s := start(t, twiliodouble.Options{APIKeys: map[string]string{keySID: keySecret}})
	form := url.Values{"To": {to}, "From": {from}, "Body": {"x"}}
	const authError = `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"account and token", s.AccountSID(), s.AuthToken(), http.StatusCreated},
		{"API key", keySID, keySecret, http.StatusCreated},
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong token", s.AccountSID(), "not-the-token", http.StatusUnauthorized},
		{"other account", "AC99999999999999999999999999999999", s.AuthToken(), http.StatusUnauthorized},
		{"wrong key secret", keySID, "guess", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, http.MethodPost, messagesURL(s), form, tt.user, tt.pass)
			if a.status != tt.want {
				t.Fatalf("status %d, want %d: %s", a.status, tt.want, a.body)
			}
			if tt.want == http.StatusUnauthorized && string(a.body) != authError {
				t.Errorf("body %s, want %s", a.body, authError)
			}
		})
	}

	// Right credentials, someone else's account in the path.
	a := call(t, http.MethodPost, s.URL()+"/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json", form, s.AccountSID(), s.AuthToken())
	if a.status != http.StatusNotFound || a.json(t)["code"] != float64(20404) {
		t.Errorf("foreign account: %d %s", a.status, a.body)
	}
	if n := s.Count(); n != 2 {
		t.Errorf("Count = %d, want the 2 authenticated messages", n)
	}
}

func TestRequestValidation(t *testing.T) {
	s := start(t, twiliodouble.Options{})
	restricted := start(t, twiliodouble.Options{Senders: []string{from}, Services: []string{service}})
	tests := []struct {
		name string
		s    *twiliodouble.Server
		form url.Values
		code int
	}{
		{"no To", s, url.Values{"From": {from}, "Body": {"x"}}, 21604},
		{"no sender", s, url.Values{"To": {to}, "Body": {"x"}}, 21603},
		{"no Body", s, url.Values{"To": {to}, "From": {from}}, 21602},
		{"To not E.164", s, url.Values{"To": {"91234567"}, "From": {from}, "Body": {"x"}}, 21211},
		{"From malformed", s, url.Values{"To": {to}, "From": {"+1-800"}, "Body": {"x"}}, 21212},
		{"service SID malformed", s, url.Values{"To": {to}, "MessagingServiceSid": {"MG123"}, "Body": {"x"}}, 21705},
		{"body over 1600 characters", s, url.Values{"To": {to}, "From": {from}, "Body": {strings.Repeat("å", 1601)}}, 21617},
		{"callback not a URL", s, url.Values{"To": {to}, "From": {from}, "Body": {"x"}, "StatusCallback": {"/relative"}}, 21609},
		{"From not owned", restricted, url.Values{"To": {to}, "From": {"+15005550007"}, "Body": {"x"}}, 21606},
		{"service not owned", restricted, url.Values{"To": {to}, "MessagingServiceSid": {"MGffffffffffffffffffffffffffffffff"}, "Body": {"x"}}, 21701},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := create(t, tt.s, tt.form)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", a.status, a.body)
			}
			m := a.json(t)
			if m["code"] != float64(tt.code) || m["status"] != float64(400) || m["message"] == "" ||
				m["more_info"] != "https://www.twilio.com/docs/errors/"+strconv.Itoa(tt.code) {
				t.Errorf("body %s, want code %d", a.body, tt.code)
			}
		})
	}
	// An alphanumeric sender id and a 1600-character body are fine.
	if a := create(t, s, url.Values{"To": {to}, "From": {"Herald AS"}, "Body": {strings.Repeat("å", 1600)}}); a.status != http.StatusCreated {
		t.Errorf("alphanumeric sender: %d %s", a.status, a.body)
	}
	if s.Count() != 1 || restricted.Count() != 0 {
		t.Errorf("rejected requests were recorded: %d, %d", s.Count(), restricted.Count())
	}
}

func TestPerNumberRejections(t *testing.T) {
	tests := []struct {
		code    int
		message string
	}{
		{twiliodouble.CodeInvalidTo, "The 'To' number +4790000011 is not a valid phone number."},
		{twiliodouble.CodeNotMobile, "To number: +4790000011, is not a mobile number"},
		{twiliodouble.CodeCannotRoute, "The 'To' phone number: +4790000011, is not currently reachable using the 'From' phone number: +15005550006 via SMS."},
		{twiliodouble.CodeUnsubscribed, "Attempt to send to unsubscribed recipient"},
	}
	s := start(t, twiliodouble.Options{})
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			const number = "+4790000011"
			if err := s.SetBehavior(number, twiliodouble.Behavior{Reject: tt.code}); err != nil {
				t.Fatal(err)
			}
			a := create(t, s, url.Values{"To": {number}, "From": {from}, "Body": {"x"}})
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if m := a.json(t); m["code"] != float64(tt.code) || m["message"] != tt.message {
				t.Errorf("got %s\nwant code %d message %q", a.body, tt.code, tt.message)
			}
		})
	}
	// Clearing restores delivery; other numbers were never affected.
	if err := s.SetBehavior("+4790000011", twiliodouble.Behavior{}); err != nil {
		t.Fatal(err)
	}
	if a := create(t, s, url.Values{"To": {"+4790000011"}, "From": {from}, "Body": {"x"}}); a.status != http.StatusCreated {
		t.Errorf("after clearing: %d %s", a.status, a.body)
	}
	if err := s.SetBehavior(to, twiliodouble.Behavior{Outcome: "lost"}); err == nil {
		t.Error("SetBehavior accepted an unknown outcome")
	}
}

func TestMagicNumbersAndBehaviorFunc(t *testing.T) {
	s := start(t, twiliodouble.Options{
		Numbers: twiliodouble.MagicNumbers(),
		Behavior: func(number string) twiliodouble.Behavior {
			if strings.HasSuffix(number, "13") {
				return twiliodouble.Behavior{Reject: twiliodouble.CodeNotMobile}
			}
			return twiliodouble.Behavior{}
		},
	})
	for number, code := range map[string]float64{"+15005550001": 21211, "+15005550009": 21614, "+4791234513": 21614} {
		if m := create(t, s, url.Values{"To": {number}, "From": {from}, "Body": {"x"}}).json(t); m["code"] != code {
			t.Errorf("%s: code %v, want %v", number, m["code"], code)
		}
	}
	if _, err := twiliodouble.Start(twiliodouble.Options{Numbers: map[string]twiliodouble.Behavior{to: {Reject: 42}}}); err == nil {
		t.Error("Start accepted reject code 42")
	}
}

func TestRateLimitAndServerErrors(t *testing.T) {
	s := start(t, twiliodouble.Options{})
	form := url.Values{"To": {to}, "From": {from}, "Body": {"x"}}
	s.RateLimit(2, 1500*time.Millisecond)
	if err := s.FailNext(1, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		a := create(t, s, form)
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "2" {
			t.Fatalf("request %d: %d Retry-After %q", i, a.status, a.header.Get("Retry-After"))
		}
		if m := a.json(t); m["code"] != float64(20429) || m["status"] != float64(429) {
			t.Errorf("429 body %s", a.body)
		}
	}
	a := create(t, s, form)
	if a.status != http.StatusServiceUnavailable || a.json(t)["code"] != float64(20503) {
		t.Errorf("after rate limit: %d %s, want 503 20503", a.status, a.body)
	}
	if err := s.FailNext(1, http.StatusInternalServerError); err != nil {
		t.Fatal(err)
	}
	a = create(t, s, form)
	if a.status != http.StatusInternalServerError || a.json(t)["code"] != float64(20500) {
		t.Errorf("FailNext 500: %d %s", a.status, a.body)
	}
	if a := create(t, s, form); a.status != http.StatusCreated {
		t.Errorf("after faults: %d %s", a.status, a.body)
	}
	s.RateLimit(1, 0)
	if a := create(t, s, form); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "" {
		t.Errorf("rate limit without Retry-After: %d %q", a.status, a.header.Get("Retry-After"))
	}
	if err := s.FailNext(1, http.StatusBadGateway); err == nil {
		t.Error("FailNext accepted 502")
	}
	if s.Count() != 1 {
		t.Errorf("Count = %d, want 1", s.Count())
	}
}

func TestWaitFor(t *testing.T) {
	s := start(t, twiliodouble.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor with nothing sent = %v", err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { create(t, s, url.Values{"To": {to}, "From": {from}, "Body": {"x"}}) })
	}
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, 5); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if s.Count() != 5 {
		t.Errorf("Count = %d", s.Count())
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"empty", "", 1},
		{"160 GSM", strings.Repeat("a", 160), 1},
		{"161 GSM", strings.Repeat("a", 161), 2},
		{"306 GSM", strings.Repeat("a", 306), 2},
		{"307 GSM", strings.Repeat("a", 307), 3},
		{"Norwegian is GSM-7", strings.Repeat("æøåÆØÅ", 26) + "abcd", 1},
		{"80 euro signs take 160 septets", strings.Repeat("€", 80), 1},
		{"81 euro signs", strings.Repeat("€", 81), 2},
		{"70 Cyrillic", strings.Repeat("ж", 70), 1},
		{"71 Cyrillic", strings.Repeat("ж", 71), 2},
		{"one non-GSM rune makes it UCS-2", strings.Repeat("a", 70) + "ж", 2},
		{"35 emoji are 70 UTF-16 units", strings.Repeat("😀", 35), 1},
		{"36 emoji", strings.Repeat("😀", 36), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := twiliodouble.Segments(tt.body); got != tt.want {
				t.Errorf("Segments = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNotFoundIsTwilioJSON(t *testing.T) {
	s := start(t, twiliodouble.Options{})
	a := call(t, http.MethodGet, s.URL()+"/2010-04-01/Accounts/"+s.AccountSID()+"/Calls.json", nil, s.AccountSID(), s.AuthToken())
	if a.status != http.StatusNotFound || !bytes.Contains(a.body, []byte(`"code":20404`)) {
		t.Errorf("%d %s", a.status, a.body)
	}
}
