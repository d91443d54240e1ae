package api

import (
	"errors"
	"net/http"

	"github.com/slipway/slipway/api/errdefs"
)

// Status is the body of every error response.
type Status struct {
	Kind    string         `json:"kind"`
	Code    int            `json:"code"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Details *StatusDetails `json:"details,omitempty"`
}

// StatusDetails names what the error is about.
type StatusDetails struct {
	Field string `json:"field,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Name  string `json:"name,omitempty"`
}

var statusCodes = map[error]int{
	errdefs.ErrBadRequest:      http.StatusBadRequest,
	errdefs.ErrInvalid:         http.StatusUnprocessableEntity,
	errdefs.ErrUnauthorized:    http.StatusUnauthorized,
	errdefs.ErrForbidden:       http.StatusForbidden,
	errdefs.ErrNotFound:        http.StatusNotFound,
	errdefs.ErrNotAllowed:      http.StatusMethodNotAllowed,
	errdefs.ErrAlreadyExists:   http.StatusConflict,
	errdefs.ErrConflict:        http.StatusConflict,
	errdefs.ErrGone:            http.StatusGone,
	errdefs.ErrTooLarge:        http.StatusRequestEntityTooLarge,
	errdefs.ErrUnsupportedType: http.StatusUnsupportedMediaType,
	errdefs.ErrTooManyRequests: http.StatusTooManyRequests,
	errdefs.ErrUnavailable:     http.StatusServiceUnavailable,
	errdefs.ErrInternal:        http.StatusInternalServerError,
}

// StatusFromError maps an error to the Status the API answers with. Only
// the API edge calls it; internal errors keep their detail out of the
// message.
func StatusFromError(err error) Status {
	class := errdefs.Class(err)
	msg := err.Error()
	if class == errdefs.ErrInternal {
		msg = "internal error"
	}
	st := Status{Kind: "Status", Code: statusCodes[class], Reason: class.Error(), Message: msg}
	if f := errdefs.FieldOf(err); f != "" {
		st.Details = &StatusDetails{Field: f}
	}
	return st
}

// StatusError is a Status received by a client, usable with errors.Is
// against the errdefs classes.
type StatusError struct{ Status Status }

func (e *StatusError) Error() string { return e.Status.Message }

// Unwrap returns the errdefs class named by the status reason.
func (e *StatusError) Unwrap() error {
	for class := range statusCodes {
		if class.Error() == e.Status.Reason {
			return class
		}
	}
	return errdefs.ErrInternal
}

// IsStatus reports whether err carries a Status from the server.
func IsStatus(err error) bool {
	var se *StatusError
	return errors.As(err, &se)
}
