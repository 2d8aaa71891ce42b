package dispatcher

import (
	"errors"
	"fmt"
)

// Error codes shared by the CLI and the HTTP API, which map them to exit
// codes and status codes. Callers branch on the code with ErrorCode.
const (
	EINVALID  = "invalid"  // the caller's input is wrong; the message says how to fix it
	ENOTFOUND = "notfound" // the named thing does not exist
	ECONFLICT = "conflict" // the request clashes with current state (e.g. launching a cancelled campaign)
	EINTERNAL = "internal" // a fault of ours or of a backend
)

// Error is herald's application error: a code a caller can branch on and a
// message fit to show an operator.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Sentinel errors for conditions callers branch on.
var (
	// ErrNotFound is returned by stores when a row does not exist.
	ErrNotFound = &Error{Code: ENOTFOUND, Message: "not found"}
	// ErrStale is returned when a conditional update found the row in
	// another state than expected: someone else moved it first.
	ErrStale = errors.New("row changed concurrently")
)
