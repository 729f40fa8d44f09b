package tandem

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. Each maps to one HTTP status (see HTTPStatus).
const (
	EINVALID      = "invalid"      // bad input: a stack file, a flag, a request
	ENOTFOUND     = "not_found"    // no such service, route or instance
	ECONFLICT     = "conflict"     // the thing exists or is in the wrong state
	EUNAVAILABLE  = "unavailable"  // a service is down or not ready yet
	EUNAUTHORIZED = "unauthorized" // the caller did not say who it is, or not well enough
	EFORBIDDEN    = "forbidden"    // the caller is known, and may not do this
	ETIMEOUT      = "timeout"      // an upstream did not answer in time
	EUNSUPPORTED  = "unsupported"  // the runtime cannot do this here
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is tandem's one error type: a code for programs, a message for people,
// and the underlying cause.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, shown after Message

	wrapped error // a cause Message already shows (from Errorf's %w)
}

func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil:
		return e.Message + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return e.wrapped
}

// Errorf returns an *Error with code and a formatted message. A %w verb in
// format makes its operand the cause, which errors.Is and As then find.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), wrapped: errors.Unwrap(err)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error, and "" for nil.
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

// HTTPStatus maps an error code to the HTTP status that reports it.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ETIMEOUT:
		return http.StatusGatewayTimeout
	case EUNSUPPORTED:
		return http.StatusNotImplemented
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}
