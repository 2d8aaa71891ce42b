package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/sms"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/web/webhooks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTwilioMapping(t *testing.T) {
	type want struct {
		kind  dispatcher.EventKind
		class dispatcher.Class
	}
	none := want{}
	for _, tc := range []struct {
		status, code string
		want         want
	}{
		{"delivered", "", want{dispatcher.EventDelivered, dispatcher.Transient}},
		{"undelivered", "30005", want{dispatcher.EventBounce, dispatcher.Invalid}},
		{"undelivered", "30006", want{dispatcher.EventBounce, dispatcher.Invalid}},
		{"failed", "21211", want{dispatcher.EventBounce, dispatcher.Invalid}},
		{"failed", "21614", want{dispatcher.EventBounce, dispatcher.Invalid}},
		{"failed", "21635", want{dispatcher.EventBounce, dispatcher.Invalid}},
		{"failed", "21612", want{dispatcher.EventBounce, dispatcher.Invalid}},
		{"failed", "21610", want{dispatcher.EventOptOut, dispatcher.Suppressed}},
		{"undelivered", "30003", want{dispatcher.EventBounce, dispatcher.Transient}},
		{"undelivered", "30008", want{dispatcher.EventBounce, dispatcher.Transient}},
		{"undelivered", "30007", want{dispatcher.EventBounce, dispatcher.Permanent}},
		{"failed", "30004", want{dispatcher.EventBounce, dispatcher.Permanent}},
		{"failed", "30034", want{dispatcher.EventBounce, dispatcher.Permanent}},
		{"undelivered", "30001", want{dispatcher.EventBounce, dispatcher.Transient}},
		{"failed", "", want{dispatcher.EventBounce, dispatcher.Transient}},
		{"queued", "", none},
		{"sending", "", none},
		{"sent", "", none},
		{"accepted", "", none},
	} {
		t.Run(tc.status+"/"+tc.code, func(t *testing.T) {
			b := setup(t, nil)
			rec := b.serve(twilioRequest(webhooks.PathTwilio, twilioForm(tc.status, tc.code), "tok-"+tc.status+tc.code))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
			}
			got := b.sink.got()
			if tc.want == none {
				if len(got) != 0 {
					t.Fatalf("intermediate status produced events %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d events, want 1", len(got))
			}
			ev := got[0]
			if ev.Kind != tc.want.kind || ev.Class != tc.want.class || ev.Code != tc.code {
				t.Errorf("event %s/%s code %q, want %s/%s code %q", ev.Kind, ev.Class, ev.Code, tc.want.kind, tc.want.class, tc.code)
			}
			if ev.Channel != dispatcher.SMS || ev.Source != "twilio" || ev.ProviderID != "SM0123456789abcdef0123456789abcdef" ||
				ev.Token != "tok-"+tc.status+tc.code || ev.DeliveryID != 0 || ev.Address != "+4791234567" || ev.At.IsZero() {
				t.Errorf("event %+v lacks channel, source, provider id, token or address", ev)
			}
		})
	}
}

func TestTwilioDeliveryParam(t *testing.T) {
	b := setup(t, nil)
	for _, tc := range []struct {
		target string
		want   int64
	}{
		{webhooks.PathTwilio + "?delivery=42", 42},
		{webhooks.PathTwilio + "?source=sms&delivery=7", 7},
		{webhooks.PathTwilio + "?delivery=-3", 0},
		{webhooks.PathTwilio + "?delivery=abc", 0},
	} {
		rec := b.serve(twilioRequest(tc.target, twilioForm("delivered", ""), "tok "+tc.target))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", tc.target, rec.Code)
		}
		got := b.sink.got()
		if ev := got[len(got)-1]; ev.DeliveryID != tc.want {
			t.Errorf("%s: DeliveryID %d, want %d", tc.target, ev.DeliveryID, tc.want)
		}
	}
}

func TestTwilioRejectsBadSignatures(t *testing.T) {
	form := twilioForm("undelivered", "30005")
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"no signature", func() *http.Request {
			r := twilioRequest(webhooks.PathTwilio, form, "t")
			r.Header.Del("X-Twilio-Signature")
			return r
		}},
		{"garbage signature", func() *http.Request {
			r := twilioRequest(webhooks.PathTwilio, form, "t")
			r.Header.Set("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
			return r
		}},
		{"tampered status", func() *http.Request {
			r := twilioRequest(webhooks.PathTwilio, form, "t")
			tampered := twilioForm("undelivered", "21211")
			r.Body = io.NopCloser(strings.NewReader(tampered.Encode()))
			return r
		}},
		{"tampered delivery parameter", func() *http.Request {
			r := twilioRequest(webhooks.PathTwilio+"?delivery=42", form, "t")
			r.URL.RawQuery = "delivery=43"
			return r
		}},
		{"signed for the internal URL", func() *http.Request {
			r := twilioRequest(webhooks.PathTwilio, form, "t")
			r.Header.Set("X-Twilio-Signature", twiliodouble.Sign(authToken, "http://10.0.0.5:8080"+webhooks.PathTwilio, form))
			return r
		}},
		{"signed with another token", func() *http.Request {
			r := twilioRequest(webhooks.PathTwilio, form, "t")
			r.Header.Set("X-Twilio-Signature", twiliodouble.Sign("another-token", publicBase+webhooks.PathTwilio, form))
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, nil)
			rec := b.serve(tc.req())
			if rec.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", rec.Code)
			}
			if n := b.sink.callCount(); n != 0 {
				t.Errorf("sink called %d times for a forged callback", n)
			}
			logs := b.logs.String()
			if !strings.Contains(logs, "rejected") || !strings.Contains(logs, "provider=twilio") {
				t.Errorf("rejection not logged: %s", logs)
			}
			if strings.Contains(logs, "4791234567") || strings.Contains(logs, "5005550006") {
				t.Errorf("phone number in logs: %s", logs)
			}
		})
	}
}

func TestTwilioDedupe(t *testing.T) {
	b := setup(t, nil)
	form := twilioForm("undelivered", "30005")
	for range 3 {
		if rec := b.serve(twilioRequest(webhooks.PathTwilio, form, "idem-1")); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := b.sink.callCount(); n != 1 {
		t.Errorf("sink called %d times for one idempotency token, want 1", n)
	}
	if rec := b.serve(twilioRequest(webhooks.PathTwilio, form, "idem-2")); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := b.sink.got()
	if len(got) != 2 || got[0].Token != "idem-1" || got[1].Token != "idem-2" {
		t.Errorf("events %+v, want tokens idem-1 and idem-2", got)
	}
}

func TestSinkFailureAsksForRetry(t *testing.T) {
	b := setup(t, nil)
	b.sink.setFail(errors.New("database is down"))
	req := func() *http.Request { return twilioRequest(webhooks.PathTwilio, twilioForm("delivered", ""), "idem") }
	if rec := b.serve(req()); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d with a failing sink, want 503", rec.Code)
	}
	b.sink.setFail(nil)
	if rec := b.serve(req()); rec.Code != http.StatusOK {
		t.Fatalf("retry: status %d, want 200", rec.Code)
	}
	if got := b.sink.got(); len(got) != 1 {
		t.Errorf("%d events applied after the retry, want 1: a failed event must not be remembered as done", len(got))
	}
}

func TestRoutingAndLimits(t *testing.T) {
	b := setup(t, func(o *webhooks.Options) { o.MaxBodyBytes = 512 })
	get := httptest.NewRequest(http.MethodGet, webhooks.PathTwilio, nil)
	if rec := b.serve(get); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", rec.Code)
	}
	big := twilioForm("delivered", "")
	big.Set("Body", strings.Repeat("x", 1024))
	if rec := b.serve(twilioRequest(webhooks.PathTwilio, big, "t")); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", rec.Code)
	}
	if rec := b.serve(httptest.NewRequest(http.MethodPost, "/webhooks/mailgun", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("unknown provider: status %d, want 404", rec.Code)
	}
	onlyTwilio := setup(t, func(o *webhooks.Options) { o.SES, o.SendGrid = nil, nil })
	if rec := onlyTwilio.serve(sesRequest([]byte("{}"))); rec.Code != http.StatusNotFound {
		t.Errorf("disabled SES endpoint: status %d, want 404", rec.Code)
	}
	if b.sink.callCount() != 0 {
		t.Error("sink called")
	}
}

func TestNewValidates(t *testing.T) {
	s := newSink()
	for _, tc := range []struct {
		name string
		opts webhooks.Options
	}{
		{"no sink", webhooks.Options{}},
		{"twilio without token", webhooks.Options{Sink: s, Twilio: &webhooks.TwilioOptions{PublicBaseURL: publicBase}}},
		{"twilio without base", webhooks.Options{Sink: s, Twilio: &webhooks.TwilioOptions{AuthToken: authToken}}},
		{"twilio relative base", webhooks.Options{Sink: s, Twilio: &webhooks.TwilioOptions{AuthToken: authToken, PublicBaseURL: "/hooks"}}},
		{"sendgrid without key", webhooks.Options{Sink: s, SendGrid: &webhooks.SendGridOptions{}}},
		{"sendgrid with an RSA key", webhooks.Options{Sink: s, SendGrid: &webhooks.SendGridOptions{PublicKey: "MIIBCgKCAQEA"}}},
		{"ses with a bad topic", webhooks.Options{Sink: s, SES: &webhooks.SESOptions{TopicARNs: []string{"herald-ses"}}}},
		{"ses without topics", webhooks.Options{Sink: s, SES: &webhooks.SESOptions{}}},
	} {
		if _, err := webhooks.New(tc.opts); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	tw := webhooks.TwilioOptions{AuthToken: authToken, PublicBaseURL: publicBase}
	if strings.Contains(tw.String(), authToken) {
		t.Error("TwilioOptions.String shows the auth token")
	}
}

// TestTwilioEndToEnd sends through the real SMS channel to the Twilio
// double, which posts signed callbacks to the handler over HTTP.
func TestTwilioEndToEnd(t *testing.T) {
	s := newSink()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h, err := webhooks.New(webhooks.Options{Sink: s, Twilio: &webhooks.TwilioOptions{AuthToken: twiliodouble.DefaultAuthToken, PublicBaseURL: base}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	srv.Start()
	t.Cleanup(srv.Close)

	d, err := twiliodouble.Start(twiliodouble.Options{Numbers: map[string]twiliodouble.Behavior{
		"+4791234567": {Outcome: twiliodouble.StatusUndelivered, ErrorCode: 30005},
		"+4798765432": {},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	ch, err := sms.New(sms.Config{
		AccountSID: d.AccountSID(), AuthToken: d.AuthToken(), BaseURL: d.URL(),
		StatusCallback: srv.URL + webhooks.PathTwilio, CallbackDeliveryParam: "delivery",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for id, to := range map[int64]string{42: "+4791234567", 43: "+4798765432"} {
		m := &dispatcher.Message{DeliveryID: id, CampaignID: 1, Channel: dispatcher.SMS, To: to, Text: "Datainnbrudd: se e-post.", Sender: dispatcher.Sender{SMSFrom: "+15005550006"}}
		if _, err := ch.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.WaitSettled(ctx); err != nil {
		t.Fatal(err)
	}
	byDelivery := map[int64]dispatcher.ProviderEvent{}
	for _, ev := range s.got() {
		byDelivery[ev.DeliveryID] = ev
	}
	if ev := byDelivery[42]; ev.Kind != dispatcher.EventBounce || ev.Class != dispatcher.Invalid || ev.Code != "30005" || ev.Token == "" {
		t.Errorf("delivery 42: %+v, want an invalid bounce 30005 with a token", ev)
	}
	if ev := byDelivery[43]; ev.Kind != dispatcher.EventDelivered {
		t.Errorf("delivery 43: %+v, want delivered", ev)
	}
	for _, cb := range d.Callbacks() {
		if cb.StatusCode != http.StatusOK {
			t.Errorf("callback %s answered %d", cb.Status, cb.StatusCode)
		}
	}
}

// sesBounce is an SES bounce notification as SES writes it.
func sesBounce(bounceType, subType string, withHeader bool) string {
	headers := ""
	if withHeader {
		headers = `,"headersTruncated":false,"headers":[{"name":"From","value":"varsel@bolgen.example"},{"name":"X-Herald-Delivery","value":"42"},{"name":"Message-ID","value":"<herald.42.abcdef@bolgen.example>"}]`
	}
	return fmt.Sprintf(`{"notificationType":"Bounce","bounce":{"feedbackId":"0102017e-1","bounceType":%q,"bounceSubType":%q,
"bouncedRecipients":[{"emailAddress":"ase@example.net","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],
"timestamp":"2026-03-01T11:59:57.000Z","reportingMTA":"dsn; a1-2.smtp-out.eu-west-1.amazonses.com"},
"mail":{"timestamp":"2026-03-01T11:59:55.000Z","source":"varsel@bolgen.example","messageId":"0102017e-aaaa-bbbb","destination":["ase@example.net"]%s}}`, bounceType, subType, headers)
}

func TestSESNotifications(t *testing.T) {
	complaint := `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"ase@example.net"}],"timestamp":"2026-03-01T12:00:00.000Z","feedbackId":"f1","complaintFeedbackType":"abuse"},"mail":{"messageId":"0102017e-aaaa-bbbb","commonHeaders":{"messageId":"<herald.42.abcdef@bolgen.example>"}}}`
	delivery := `{"eventType":"Delivery","delivery":{"timestamp":"2026-03-01T12:00:01.000Z","recipients":["ase@example.net"],"smtpResponse":"250 2.0.0 OK"},"mail":{"messageId":"0102017e-aaaa-bbbb","headers":[{"name":"X-Herald-Delivery","value":"42"}]}}`
	for _, tc := range []struct {
		name       string
		message    string
		kind       dispatcher.EventKind
		class      dispatcher.Class
		delivery   int64
		providerID string
	}{
		{"permanent general", sesBounce("Permanent", "General", true), dispatcher.EventBounce, dispatcher.Invalid, 42, "<herald.42.abcdef@bolgen.example>"},
		{"permanent no email", sesBounce("Permanent", "NoEmail", true), dispatcher.EventBounce, dispatcher.Invalid, 42, "<herald.42.abcdef@bolgen.example>"},
		{"permanent suppressed", sesBounce("Permanent", "Suppressed", false), dispatcher.EventBounce, dispatcher.Invalid, 0, "0102017e-aaaa-bbbb"},
		{"account suppression list", sesBounce("Permanent", "OnAccountSuppressionList", false), dispatcher.EventBounce, dispatcher.Suppressed, 0, "0102017e-aaaa-bbbb"},
		{"transient mailbox full", sesBounce("Transient", "MailboxFull", true), dispatcher.EventBounce, dispatcher.Transient, 42, "<herald.42.abcdef@bolgen.example>"},
		{"undetermined", sesBounce("Undetermined", "Undetermined", false), dispatcher.EventBounce, dispatcher.Transient, 0, "0102017e-aaaa-bbbb"},
		{"complaint", complaint, dispatcher.EventComplaint, dispatcher.Transient, 0, "<herald.42.abcdef@bolgen.example>"},
		{"delivery event", delivery, dispatcher.EventDelivered, dispatcher.Transient, 42, "0102017e-aaaa-bbbb"},
	} {
		for _, version := range []string{"1", "2"} {
			t.Run(tc.name+"/v"+version, func(t *testing.T) {
				b := setup(t, nil)
				rec := b.serve(sesRequest(snsEnvelope(t, "Notification", tc.message, version, nil)))
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d: %s\n%s", rec.Code, rec.Body, b.logs)
				}
				got := b.sink.got()
				if len(got) != 1 {
					t.Fatalf("%d events, want 1", len(got))
				}
				ev := got[0]
				if ev.Kind != tc.kind || ev.Class != tc.class || ev.DeliveryID != tc.delivery || ev.ProviderID != tc.providerID {
					t.Errorf("event %s/%s delivery %d provider %q, want %s/%s %d %q", ev.Kind, ev.Class, ev.DeliveryID, ev.ProviderID, tc.kind, tc.class, tc.delivery, tc.providerID)
				}
				if ev.Token != "6b3f1c8e-0000-4000-8000-000000000001" || ev.Source != "ses" || ev.Channel != dispatcher.Email || ev.Address != "ase@example.net" {
					t.Errorf("event %+v: want the SNS MessageId as token, source ses, the address", ev)
				}
				if ev.Kind == dispatcher.EventBounce && ev.Code != "5.1.1" {
					t.Errorf("bounce code %q, want 5.1.1", ev.Code)
				}
				if strings.Contains(b.logs.String(), "ase@example.net") {
					t.Errorf("address in logs: %s", b.logs)
				}
			})
		}
	}
}

func TestSESWithSubjectAndIgnoredEvents(t *testing.T) {
	b := setup(t, nil)
	body := snsEnvelope(t, "Notification", `{"eventType":"Open","mail":{"messageId":"x"}}`, "2", func(m map[string]string) { m["Subject"] = "Amazon SES Email Event Notification" })
	if rec := b.serve(sesRequest(body)); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, b.logs)
	}
	if b.sink.callCount() != 0 {
		t.Error("an open event reached the sink")
	}
	notSES := snsEnvelope(t, "Notification", "hello", "2", nil)
	if rec := b.serve(sesRequest(notSES)); rec.Code != http.StatusBadRequest {
		t.Errorf("non-JSON message: status %d, want 400", rec.Code)
	}
}

func TestSESRejects(t *testing.T) {
	msg := sesBounce("Permanent", "General", true)
	for _, tc := range []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"tampered message", func(t *testing.T) []byte {
			return []byte(strings.Replace(string(snsEnvelope(t, "Notification", msg, "2", nil)), "Permanent", "Transient", 1))
		}},
		{"tampered bounce type, v1", func(t *testing.T) []byte {
			return []byte(strings.Replace(string(snsEnvelope(t, "Notification", sesBounce("Transient", "General", true), "1", nil)), "Transient", "Permanent", 1))
		}},
		{"certificate on another host", func(t *testing.T) []byte {
			return snsEnvelope(t, "Notification", msg, "2", func(m map[string]string) {
				m["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem"
			})
		}},
		{"certificate over http", func(t *testing.T) []byte {
			return snsEnvelope(t, "Notification", msg, "2", func(m map[string]string) {
				m["SigningCertURL"] = strings.Replace(certURL, "https:", "http:", 1)
			})
		}},
		{"certificate with credentials", func(t *testing.T) []byte {
			return snsEnvelope(t, "Notification", msg, "2", func(m map[string]string) {
				m["SigningCertURL"] = "https://evil.example@sns.eu-west-1.amazonaws.com/cert.pem"
			})
		}},
		{"unknown signature version", func(t *testing.T) []byte {
			return snsEnvelope(t, "Notification", msg, "3", nil)
		}},
		{"someone else's topic", func(t *testing.T) []byte {
			return snsEnvelope(t, "Notification", msg, "2", func(m map[string]string) { m["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:other" })
		}},
		{"subject added after signing", func(t *testing.T) []byte {
			body := snsEnvelope(t, "Notification", msg, "2", nil)
			return []byte(strings.Replace(string(body), `"Type":`, `"Subject":"x","Type":`, 1))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, nil)
			rec := b.serve(sesRequest(tc.body(t)))
			if rec.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", rec.Code)
			}
			if b.sink.callCount() != 0 {
				t.Error("sink called for a forged notification")
			}
			b.cert.mu.Lock()
			defer b.cert.mu.Unlock()
			for _, u := range b.cert.urls {
				if u != certURL {
					t.Errorf("fetched a certificate from %s", u)
				}
			}
		})
	}
}

// roundTrip records requests and answers 200.
type roundTrip struct {
	mu   sync.Mutex
	urls []string
}

func (rt *roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, r.URL.String())
	rt.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("<ConfirmSubscriptionResponse/>")), Header: http.Header{}, Request: r}, nil
}

func TestSESSubscriptionConfirmation(t *testing.T) {
	for _, confirm := range []bool{false, true} {
		t.Run(fmt.Sprint("confirm=", confirm), func(t *testing.T) {
			rt := &roundTrip{}
			b := setup(t, func(o *webhooks.Options) {
				o.SES.ConfirmSubscriptions = confirm
				o.SES.HTTPClient = &http.Client{Transport: rt}
			})
			body := snsEnvelope(t, "SubscriptionConfirmation", "You have chosen to subscribe to the topic", "1", nil)
			if rec := b.serve(sesRequest(body)); rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, b.logs)
			}
			rt.mu.Lock()
			defer rt.mu.Unlock()
			if confirm && (len(rt.urls) != 1 || !strings.HasPrefix(rt.urls[0], "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription")) {
				t.Errorf("confirmation requests %v, want one GET of the SubscribeURL", rt.urls)
			}
			if !confirm && len(rt.urls) != 0 {
				t.Errorf("confirmed %v although confirmation is off", rt.urls)
			}
			if !confirm && !strings.Contains(b.logs.String(), "awaits confirmation") {
				t.Errorf("pending subscription not logged: %s", b.logs)
			}
			if b.sink.callCount() != 0 {
				t.Error("sink called for a subscription confirmation")
			}
		})
	}
	// A SubscribeURL off SNS is never fetched, even when signed.
	rt := &roundTrip{}
	b := setup(t, func(o *webhooks.Options) {
		o.SES.ConfirmSubscriptions = true
		o.SES.HTTPClient = &http.Client{Transport: rt}
	})
	body := snsEnvelope(t, "SubscriptionConfirmation", "x", "2", func(m map[string]string) { m["SubscribeURL"] = "https://169.254.169.254/latest/meta-data/" })
	if rec := b.serve(sesRequest(body)); rec.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", rec.Code)
	}
	if len(rt.urls) != 0 {
		t.Errorf("fetched %v", rt.urls)
	}
}

func TestSendGridEvents(t *testing.T) {
	body := `[
{"email":"ase@example.net","timestamp":1772366300,"event":"processed","sg_event_id":"e0","sg_message_id":"m1.filter"},
{"email":"ase@example.net","timestamp":1772366301,"event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 The email account that you tried to reach does not exist.","sg_event_id":"e1","sg_message_id":"m1.filter","smtp-id":"<herald.42.abc@bolgen.example>","herald_delivery":"42"},
{"email":"b@example.net","timestamp":1772366302,"event":"bounce","type":"blocked","status":"5.7.1","reason":"550 5.7.1 blocked by Spamhaus","sg_event_id":"e2","sg_message_id":"m2.filter","herald_delivery":43},
{"email":"c@example.net","timestamp":1772366303,"event":"dropped","reason":"Bounced Address","sg_event_id":"e3","sg_message_id":"m3.filter"},
{"email":"c@example.net","timestamp":1772366303,"event":"dropped","reason":"Invalid SMTPAPI header","sg_event_id":"e3b","sg_message_id":"m3.filter"},
{"email":"c@example.net","timestamp":1772366303,"event":"dropped","reason":"Unsubscribed Address","sg_event_id":"e3c","sg_message_id":"m3.filter"},
{"email":"d@example.net","timestamp":1772366304,"event":"deferred","response":"451 4.7.1 greylisted","attempt":"1","sg_event_id":"e4","sg_message_id":"m4.filter"},
{"email":"e@example.net","timestamp":1772366305,"event":"delivered","response":"250 OK","sg_event_id":"e5","sg_message_id":"m5.filter"},
{"email":"f@example.net","timestamp":1772366306,"event":"spamreport","sg_event_id":"e6","sg_message_id":"m6.filter"},
{"email":"g@example.net","timestamp":1772366307,"event":"unsubscribe","sg_event_id":"e7","sg_message_id":"m7.filter"},
{"email":"h@example.net","timestamp":1772366308,"event":"open","sg_event_id":"e8","sg_message_id":"m8.filter"}
]`
	want := []struct {
		token    string
		kind     dispatcher.EventKind
		class    dispatcher.Class
		delivery int64
	}{
		{"e1", dispatcher.EventBounce, dispatcher.Invalid, 42},
		{"e2", dispatcher.EventBounce, dispatcher.Permanent, 43},
		{"e3", dispatcher.EventBounce, dispatcher.Invalid, 0},
		{"e3b", dispatcher.EventBounce, dispatcher.Permanent, 0},
		{"e3c", dispatcher.EventBounce, dispatcher.Suppressed, 0},
		{"e4", dispatcher.EventDeferred, dispatcher.Transient, 0},
		{"e5", dispatcher.EventDelivered, dispatcher.Transient, 0},
		{"e6", dispatcher.EventComplaint, dispatcher.Transient, 0},
		{"e7", dispatcher.EventOptOut, dispatcher.Suppressed, 0},
	}
	b := setup(t, nil)
	if rec := b.serve(sendgridRequest(t, []byte(body))); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, b.logs)
	}
	got := b.sink.got()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		ev := got[i]
		if ev.Token != w.token || ev.Kind != w.kind || ev.Class != w.class || ev.DeliveryID != w.delivery || ev.Source != "sendgrid" {
			t.Errorf("event %d: %s %s/%s delivery %d, want %s %s/%s %d", i, ev.Token, ev.Kind, ev.Class, ev.DeliveryID, w.token, w.kind, w.class, w.delivery)
		}
	}
	if got[0].ProviderID != "<herald.42.abc@bolgen.example>" || got[0].Code != "5.1.1" || !got[0].At.Equal(time.Unix(1772366301, 0)) {
		t.Errorf("first event %+v: want our Message-ID, 5.1.1 and SendGrid's timestamp", got[0])
	}
	if got[1].ProviderID != "m2.filter" {
		t.Errorf("without smtp-id the provider id is %q, want sg_message_id", got[1].ProviderID)
	}
	if strings.Contains(b.logs.String(), "example.net") {
		t.Errorf("address in logs: %s", b.logs)
	}
}

func TestSendGridRejects(t *testing.T) {
	body := []byte(`[{"email":"ase@example.net","timestamp":1772366301,"event":"bounce","type":"bounce","sg_event_id":"e1"}]`)
	for _, tc := range []struct {
		name string
		req  func(t *testing.T) *http.Request
	}{
		{"no signature", func(t *testing.T) *http.Request {
			r := sendgridRequest(t, body)
			r.Header.Del(webhooks.HeaderSendGridSignature)
			return r
		}},
		{"tampered body", func(t *testing.T) *http.Request {
			r := sendgridRequest(t, body)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(string(body), "e1", "e2", 1)))
			return r
		}},
		{"other timestamp", func(t *testing.T) *http.Request {
			r := sendgridRequest(t, body)
			r.Header.Set(webhooks.HeaderSendGridTimestamp, "1772366401")
			return r
		}},
		{"signature not base64", func(t *testing.T) *http.Request {
			r := sendgridRequest(t, body)
			r.Header.Set(webhooks.HeaderSendGridSignature, "%%%")
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, nil)
			if rec := b.serve(tc.req(t)); rec.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", rec.Code)
			}
			if b.sink.callCount() != 0 {
				t.Error("sink called")
			}
		})
	}
	b := setup(t, nil)
	if rec := b.serve(sendgridRequest(t, []byte(`{"not":"an array"}`))); rec.Code != http.StatusBadRequest {
		t.Errorf("signed non-array: status %d, want 400", rec.Code)
	}
}

func TestSendGridBatchRetry(t *testing.T) {
	body := []byte(`[{"event":"bounce","type":"bounce","sg_event_id":"a","email":"x@example.net"},{"event":"delivered","sg_event_id":"b","email":"y@example.net"}]`)
	b := setup(t, nil)
	failing := &failAfter{sink: b.sink, n: 1}
	h, err := webhooks.New(webhooks.Options{Sink: failing, SendGrid: &webhooks.SendGridOptions{PublicKey: keys().ecB}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, sendgridRequest(t, body))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d with the second event failing, want 503", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, sendgridRequest(t, body))
	if rec.Code != http.StatusOK {
		t.Fatalf("retry: status %d", rec.Code)
	}
	got := b.sink.got()
	if len(got) != 2 || got[0].Token != "a" || got[1].Token != "b" {
		t.Errorf("events %+v, want a then b, each once", got)
	}
}

// failAfter passes n events to sink, fails the next one, then passes all.
type failAfter struct {
	sink   *sink
	mu     sync.Mutex
	n      int
	failed bool
}

func (f *failAfter) Apply(ctx context.Context, ev dispatcher.ProviderEvent) error {
	f.mu.Lock()
	if f.n == 0 && !f.failed {
		f.failed = true
		f.mu.Unlock()
		return errors.New("deadlock detected")
	}
	f.n--
	f.mu.Unlock()
	return f.sink.Apply(ctx, ev)
}

// TestTwilioBehindPrefixProxy: Twilio posts to
// https://example.org/herald/webhooks/twilio; the proxy strips /herald and
// forwards over plain HTTP to another host.
func TestTwilioBehindPrefixProxy(t *testing.T) {
	b := setup(t, func(o *webhooks.Options) { o.Twilio.PublicBaseURL = "https://example.org/herald/" })
	form := twilioForm("delivered", "")
	req := twilioRequest(webhooks.PathTwilio+"?delivery=5", form, "p")
	req.Header.Set("X-Twilio-Signature", twiliodouble.Sign(authToken, "https://example.org/herald"+webhooks.PathTwilio+"?delivery=5", form))
	if rec := b.serve(req); rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if got := b.sink.got(); len(got) != 1 || got[0].DeliveryID != 5 {
		t.Errorf("events %+v, want delivery 5", got)
	}
}

func TestUnmatchedEventIsAccepted(t *testing.T) {
	b := setup(t, nil)
	b.sink.setFail(fmt.Errorf("%w (delivery 42)", dispatcher.ErrUnmatched))
	if rec := b.serve(twilioRequest(webhooks.PathTwilio+"?delivery=42", twilioForm("delivered", ""), "u1")); rec.Code != http.StatusOK {
		t.Errorf("status %d for an event about no known delivery, want 200: a retry would not match either", rec.Code)
	}
	if !strings.Contains(b.logs.String(), "matches no delivery") {
		t.Errorf("not logged:\n%s", b.logs)
	}
}
