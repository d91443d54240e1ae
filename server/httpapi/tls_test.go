package httpapi_test

import (
	"crypto/tls"
	"io"
	"log/slog"
)

// insecureTLS is for raw requests to the test's own httptest server.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // test server

// slogTo is a debug-level logger writing to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
