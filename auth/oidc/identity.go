package oidc

import "errors"

// Identity is who a completed login proved the caller to be.
type Identity struct {
	Provider    string   // Config.Name
	Subject     string   // the ID token's sub: stable per user at this issuer
	Username    string   // the mapped username claim
	Email       string   // empty when absent or not verified
	DisplayName string   // may be empty
	Groups      []string // sorted, empty when the provider sends none
}

// Error classes. Callers test them with errors.Is; the wrapped detail is for
// logs and never contains a secret, code or token.
var (
	// ErrInvalidState: the callback's state does not match the pending
	// login, or the pending login is too old (CSRF or a replayed callback).
	ErrInvalidState = errors.New("invalid or expired login state")
	// ErrProviderRefused: the provider refused the login or the code
	// exchange (error=access_denied, invalid or reused code, bad client
	// credentials).
	ErrProviderRefused = errors.New("identity provider refused the login")
	// ErrInvalidToken: the ID token failed verification (signature, issuer,
	// audience, expiry, nonce, at_hash) or is missing.
	ErrInvalidToken = errors.New("invalid ID token")
	// ErrMissingClaim: the verified token lacks a claim the mapping needs.
	ErrMissingClaim = errors.New("ID token lacks a required claim")
	// ErrUnavailable: the provider could not be reached or answered
	// nonsense (discovery, network, TLS, timeout).
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrUnsupported: the provider does not offer the requested flow.
	ErrUnsupported = errors.New("not supported by the identity provider")
	// ErrInvalidConfig: the configuration cannot work.
	ErrInvalidConfig = errors.New("invalid OIDC configuration")
)
