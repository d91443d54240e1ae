package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/slipway/slipway/api/errdefs"
)

// Error codes of the OCI distribution specification.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeTagInvalid          = "TAG_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeRangeInvalid        = "RANGE_INVALID"
	codeUnknown             = "UNKNOWN"
)

// regError is an error the registry answers with the distribution spec's
// JSON error body.
type regError struct {
	status  int
	code    string
	message string
	detail  any
	cause   error
}

func (e *regError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.message, e.cause)
	}
	return e.code + ": " + e.message
}

func (e *regError) Unwrap() error { return e.cause }

func errorf(status int, code, format string, args ...any) *regError {
	return &regError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// withDetail adds the spec's free-form detail.
func (e *regError) withDetail(d any) *regError { e.detail = d; return e }

// asRegError maps any error to a registry error: a regError as it is, an
// error class of errdefs to the nearest code, anything else to a 500.
func asRegError(err error) *regError {
	var re *regError
	if errors.As(err, &re) {
		return re
	}
	switch errdefs.Class(err) {
	case errdefs.ErrUnauthorized:
		return &regError{status: http.StatusUnauthorized, code: codeUnauthorized, message: "authentication required", cause: err}
	case errdefs.ErrForbidden:
		return &regError{status: http.StatusForbidden, code: codeDenied, message: err.Error(), cause: err}
	case errdefs.ErrNotFound:
		return &regError{status: http.StatusNotFound, code: codeNameUnknown, message: err.Error(), cause: err}
	case errdefs.ErrBadRequest, errdefs.ErrInvalid:
		return &regError{status: http.StatusBadRequest, code: codeUnsupported, message: err.Error(), cause: err}
	case errdefs.ErrConflict:
		return &regError{status: http.StatusConflict, code: codeBlobUploadInvalid, message: err.Error(), cause: err}
	case errdefs.ErrTooLarge:
		return &regError{status: http.StatusRequestEntityTooLarge, code: codeSizeInvalid, message: err.Error(), cause: err}
	}
	return &regError{status: http.StatusInternalServerError, code: codeUnknown, message: "internal error", cause: err}
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func writeRegError(w http.ResponseWriter, r *http.Request, e *regError) {
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: e.code, Message: e.message, Detail: e.detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
