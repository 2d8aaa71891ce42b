package webhooks_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/web/webhooks"
)

// The fuzz targets sign whatever the fuzzer makes, so that the parsers
// behind the signature checks are reached: a provider's (or a stolen
// key's) malformed input must never panic the handler or produce a 5xx.

func FuzzTwilioForm(f *testing.F) {
	f.Add(twilioForm("undelivered", "30005").Encode(), "delivery=42")
	f.Add(twilioForm("delivered", "").Encode(), "")
	f.Add("MessageStatus=failed&ErrorCode=21610", "delivery=-1")
	f.Add("MessageStatus=%zz", "delivery=99999999999999999999")
	f.Add("", "")
	b := setup(f, func(o *webhooks.Options) { o.DedupeSize = -1 })
	f.Fuzz(func(t *testing.T, body, query string) {
		target := webhooks.PathTwilio
		if query != "" {
			target += "?" + query
		}
		for _, c := range []byte(query) {
			if c <= ' ' || c >= 0x7f || c == '#' {
				return // not something a request line can carry
			}
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		// Post the fuzzer's bytes as they are, signed over their parse.
		form, _ := url.ParseQuery(body)
		req := twilioRequest(target, form, "fuzz")
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
		rec := b.serve(req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

func FuzzSESNotification(f *testing.F) {
	f.Add(sesBounce("Permanent", "General", true))
	f.Add(sesBounce("Transient", "MailboxFull", false))
	f.Add(`{"notificationType":"Complaint","complaint":null}`)
	f.Add(`{"notificationType":"Bounce"}`)
	f.Add(`{"eventType":"Delivery","delivery":{"recipients":[]},"mail":{"headers":[{"name":"X-Herald-Delivery","value":"9223372036854775808"}]}}`)
	f.Add(`[]`)
	b := setup(f, func(o *webhooks.Options) { o.DedupeSize = -1 })
	f.Fuzz(func(t *testing.T, message string) {
		rec := b.serve(sesRequest(snsEnvelope(t, "Notification", message, "2", nil)))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("status %d for %q", rec.Code, message)
		}
		// The unsigned envelope itself is outside input too.
		rec = b.serve(sesRequest([]byte(message)))
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusForbidden {
			t.Fatalf("unsigned %q: status %d", message, rec.Code)
		}
	})
}

func FuzzSendGridEvents(f *testing.F) {
	f.Add([]byte(`[{"event":"bounce","type":"bounce","sg_event_id":"a","herald_delivery":"42","timestamp":1}]`))
	f.Add([]byte(`[{"event":"dropped","reason":"Invalid","herald_delivery":{"x":1},"timestamp":"x"}]`))
	f.Add([]byte(`[{"timestamp":1e99}]`))
	f.Add([]byte(`[null]`))
	f.Add([]byte(`{}`))
	b := setup(f, func(o *webhooks.Options) { o.DedupeSize = -1 })
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := b.serve(sendgridRequest(t, body))
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
