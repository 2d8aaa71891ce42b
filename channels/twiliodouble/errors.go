package twiliodouble

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Twilio error codes the double answers with. They are Twilio's own
// numbers (https://www.twilio.com/docs/api/errors), so code that branches on
// them is exercised exactly as against the real API.
const (
	// Synchronous errors of the REST API.
	CodeAuthenticate       = 20003 // wrong Account SID / Auth Token (HTTP 401)
	CodeNotFound           = 20404 // no such resource (HTTP 404)
	CodeTooManyRequests    = 20429 // rate limited (HTTP 429)
	CodeInternalError      = 20500 // HTTP 500
	CodeServiceUnavailable = 20503 // HTTP 503
	CodeInvalidTo          = 21211 // 'To' is not a valid phone number
	CodeInvalidFrom        = 21212 // 'From' is not a valid number, short code or sender id
	CodeToNotPermitted     = 21408 // no permission to send to the 'To' region
	CodeBodyRequired       = 21602 // Body missing
	CodeFromRequired       = 21603 // neither From nor MessagingServiceSid given
	CodeToRequired         = 21604 // To missing
	CodeFromNotOwned       = 21606 // From is not a sender of this account
	CodeInvalidCallback    = 21609 // StatusCallback is not a valid URL
	CodeUnsubscribed       = 21610 // the recipient replied STOP: opted out
	CodeCannotRoute        = 21612 // 'To' cannot be reached from this sender
	CodeNotMobile          = 21614 // 'To' is not a mobile number
	CodeBodyTooLong        = 21617 // Body longer than 1600 characters
	CodeLandline           = 21635 // 'To' is a landline
	CodeServiceNotFound    = 21701 // Messaging Service does not exist
	CodeServiceInvalid     = 21705 // MessagingServiceSid does not look like MG…

	// Asynchronous errors reported on undelivered/failed messages.
	CodeQueueOverflow       = 30001
	CodeUnreachable         = 30003 // unreachable destination handset
	CodeMessageBlocked      = 30004
	CodeUnknownDestination  = 30005 // unknown destination handset
	CodeLandlineUnreachable = 30006 // landline or unreachable carrier
	CodeCarrierFiltered     = 30007 // message filtered by the carrier
	CodeUnknownError        = 30008
)

// apiError is Twilio's JSON error body, field for field.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// moreInfo is the documentation link Twilio puts in every error.
func moreInfo(code int) string { return "https://www.twilio.com/docs/errors/" + strconv.Itoa(code) }

// rejectMessage returns the words Twilio uses for a synchronous rejection
// of a message create request with the given code. Some of Twilio's
// messages quote the numbers; so do these.
func rejectMessage(code int, to, from string) string {
	switch code {
	case CodeInvalidTo:
		return fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	case CodeInvalidFrom:
		return fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from)
	case CodeToNotPermitted:
		return fmt.Sprintf("Permission to send an SMS has not been enabled for the region indicated by the 'To' number: %s.", to)
	case CodeBodyRequired:
		return "Message body is required."
	case CodeFromRequired:
		return "A 'From' phone number is required."
	case CodeToRequired:
		return "A 'To' phone number is required."
	case CodeFromNotOwned:
		return fmt.Sprintf("The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", from)
	case CodeInvalidCallback:
		return "Invalid StatusCallback url"
	case CodeUnsubscribed:
		return "Attempt to send to unsubscribed recipient"
	case CodeCannotRoute:
		return fmt.Sprintf("The 'To' phone number: %s, is not currently reachable using the 'From' phone number: %s via SMS.", to, from)
	case CodeNotMobile:
		return fmt.Sprintf("To number: %s, is not a mobile number", to)
	case CodeBodyTooLong:
		return "The concatenated message body exceeds the 1600 character limit."
	case CodeLandline:
		return "'To' number cannot be a landline."
	case CodeServiceNotFound:
		return "The Messaging Service does not exist."
	case CodeServiceInvalid:
		return "The Messaging Service is invalid."
	}
	return fmt.Sprintf("Unable to create record: error %d", code)
}

// deliveryErrorMessage is the error_message Twilio shows on a message that
// ended undelivered or failed with code.
func deliveryErrorMessage(code int) string {
	switch code {
	case CodeQueueOverflow:
		return "Queue overflow"
	case CodeUnreachable:
		return "Unreachable destination handset"
	case CodeMessageBlocked:
		return "Message blocked"
	case CodeUnknownDestination:
		return "Unknown destination handset"
	case CodeLandlineUnreachable:
		return "Landline or unreachable carrier"
	case CodeCarrierFiltered:
		return "Message filtered"
	case CodeUnknownError:
		return "Unknown error"
	}
	return fmt.Sprintf("Delivery error %d", code)
}

// writeError writes Twilio's JSON error body with the given HTTP status.
func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, apiError{Code: code, Message: message, MoreInfo: moreInfo(code), Status: status})
}

// writeRetryAfter sets Retry-After in whole seconds, rounding up so that a
// client waiting that long is never early.
func writeRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	secs := int64((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value written here is a plain struct; this cannot happen.
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
