package twiliodouble

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Message statuses of Twilio's Message resource that the double uses.
const (
	StatusAccepted    = "accepted" // created through a Messaging Service, sender not chosen yet
	StatusQueued      = "queued"
	StatusSent        = "sent"
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered"
	StatusFailed      = "failed"
)

// Message is a message the double accepted, as recorded for tests, the demo
// and benchmarks to inspect.
type Message struct {
	SID                 string // SM + 32 hex digits
	AccountSID          string
	To                  string
	From                string // as requested; empty when a Messaging Service chose the sender
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	Status              string // current status: queued/accepted, then sent, delivered, ...
	ErrorCode           int    // set when Status is undelivered or failed
	Segments            int
	Created             time.Time
	Updated             time.Time
}

// message is the double's state for one Message resource.
type message struct {
	Message
	sender   string   // the sender used on the wire: From, or the pool number for a service
	behavior Behavior // decided at creation
	sent     time.Time
}

// resource is Twilio's JSON representation of a Message (API v2010),
// with the same field names and the same nulls.
type resource struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// apiVersion is the only REST API version the double speaks.
const apiVersion = "2010-04-01"

// rfc2822 is the timestamp format of Twilio's v2010 resources, always GMT.
const rfc2822 = time.RFC1123Z

// pricePerSegment is what the double bills, in Twilio's notation.
const pricePerSegment = 0.0079

// resource renders m as Twilio would return it now.
func (m *message) resource() resource {
	base := "/" + apiVersion + "/Accounts/" + m.AccountSID + "/Messages/" + m.SID
	r := resource{
		AccountSID:  m.AccountSID,
		APIVersion:  apiVersion,
		Body:        m.Body,
		DateCreated: m.Created.UTC().Format(rfc2822),
		DateUpdated: m.Updated.UTC().Format(rfc2822),
		Direction:   "outbound-api",
		NumMedia:    "0",
		NumSegments: strconv.Itoa(m.Segments),
		PriceUnit:   "USD",
		SID:         m.SID,
		Status:      m.Status,
		To:          m.To,
		URI:         base + ".json",
		SubresourceURIs: map[string]string{
			"media":    base + "/Media.json",
			"feedback": base + "/Feedback.json",
		},
	}
	if m.sender != "" {
		r.From = ptr(m.sender)
	}
	if m.MessagingServiceSID != "" {
		r.MessagingServiceSID = ptr(m.MessagingServiceSID)
	}
	if !m.sent.IsZero() {
		r.DateSent = ptr(m.sent.UTC().Format(rfc2822))
		r.Price = ptr(strconv.FormatFloat(-pricePerSegment*float64(m.Segments), 'f', 5, 64))
	}
	if m.ErrorCode != 0 {
		r.ErrorCode = ptr(m.ErrorCode)
		r.ErrorMessage = ptr(deliveryErrorMessage(m.ErrorCode))
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// newSID returns prefix followed by 32 random lower-case hex digits, the
// shape of every Twilio SID.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// newToken returns a random idempotency token in UUID form.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// gsm7 is the GSM 03.38 default alphabet (without the escape character);
// gsm7ext are the characters of its extension table, which take two septets.
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7ext = "\f^{}\\[~]|€"
)

// Segments returns how many SMS segments body takes, as carriers count
// them: GSM-7 text fits 160 septets in one segment and 153 per segment when
// concatenated (extension characters take two); anything else is UCS-2 with
// 70 UTF-16 units in one segment and 67 per concatenated segment. Norwegian
// æ, ø and å are GSM-7; most other non-Latin scripts are not.
func Segments(body string) int {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsm7, r):
			septets++
		case strings.ContainsRune(gsm7ext, r):
			septets += 2
		default:
			gsm = false
		}
		if !gsm {
			break
		}
	}
	if gsm {
		return segmentsOf(septets, 160, 153)
	}
	return segmentsOf(len(utf16.Encode([]rune(body))), 70, 67)
}

func segmentsOf(units, single, multi int) int {
	if units <= single {
		return 1
	}
	return (units + multi - 1) / multi
}
