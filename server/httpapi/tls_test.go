package httpapi_test

import "crypto/tls"

// insecureTLS is for raw requests to the test's own httptest server.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // test server
