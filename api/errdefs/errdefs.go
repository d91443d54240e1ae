// Package errdefs defines Slipway's error classes. Every layer wraps one of
// these sentinels with context (fmt.Errorf("…: %w", err)); callers test the
// class with errors.Is and only the API edge maps a class to an HTTP status.
package errdefs

import (
	"errors"
	"fmt"
)

// The error classes. Their messages double as the API's Status reason.
var (
	ErrBadRequest      = errors.New("BadRequest")
	ErrInvalid         = errors.New("Invalid")
	ErrUnauthorized    = errors.New("Unauthorized")
	ErrForbidden       = errors.New("Forbidden")
	ErrNotFound        = errors.New("NotFound")
	ErrNotAllowed      = errors.New("MethodNotAllowed")
	ErrAlreadyExists   = errors.New("AlreadyExists")
	ErrConflict        = errors.New("Conflict")
	ErrGone            = errors.New("Gone")
	ErrTooLarge        = errors.New("RequestEntityTooLarge")
	ErrUnsupportedType = errors.New("UnsupportedMediaType")
	ErrTooManyRequests = errors.New("TooManyRequests")
	ErrUnavailable     = errors.New("ServiceUnavailable")
	ErrInternal        = errors.New("InternalError")
)

// classes lists every sentinel, most specific first, for Class.
var classes = []error{
	ErrBadRequest, ErrInvalid, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrNotAllowed,
	ErrAlreadyExists, ErrConflict, ErrGone, ErrTooLarge, ErrUnsupportedType,
	ErrTooManyRequests, ErrUnavailable, ErrInternal,
}

// Class returns the sentinel err belongs to, or ErrInternal when err carries
// none of them.
func Class(err error) error {
	for _, c := range classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return ErrInternal
}

// FieldError is an Invalid or BadRequest error that names the offending field
// with a JSON path such as "metadata.name" or "spec.ports[0].port".
type FieldError struct {
	Class   error
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func (e *FieldError) Unwrap() error { return e.Class }

// Invalidf reports a value that is well-formed but not acceptable.
func Invalidf(field, format string, args ...any) error {
	return &FieldError{Class: ErrInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// BadRequestf reports input that could not be understood at all.
func BadRequestf(field, format string, args ...any) error {
	return &FieldError{Class: ErrBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// FieldOf returns the field named by the FieldError in err's chain, if any.
func FieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}
