package login

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/oidc"
)

// pendingTTL bounds how long a browser login may take.
const pendingTTL = 10 * time.Minute

// maxPending bounds the logins in progress, so unauthenticated callers
// cannot grow the map without limit.
const maxPending = 10_000

// BeginOIDC starts a browser login at an OIDC provider and returns the URL
// to send the browser to. then is where the browser goes after the callback
// (validated by the caller); the pending login lives in this server's
// memory until the callback.
func (s *Service) BeginOIDC(providerName, then string) (string, error) {
	p := s.find(providerName)
	if p == nil || p.oidc == nil {
		return "", fmt.Errorf("no OIDC provider %q: %w", providerName, errdefs.ErrNotFound)
	}
	pending, err := p.oidc.Begin()
	if err != nil {
		return "", err
	}
	now := s.deps.Now()
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	for state, pl := range s.pending {
		if now.Sub(pl.oidc.Started) > pendingTTL {
			delete(s.pending, state)
		}
	}
	if len(s.pending) >= maxPending {
		return "", fmt.Errorf("too many logins in progress: %w", errdefs.ErrTooManyRequests)
	}
	s.pending[pending.State] = pendingLogin{provider: p.name, oidc: pending, then: then}
	return pending.AuthURL, nil
}

// CompleteOIDC finishes a browser login from the provider's redirect query
// and returns the login and where the browser was headed. A state is usable
// once.
func (s *Service) CompleteOIDC(ctx context.Context, providerName string, query url.Values) (Result, string, error) {
	s.pendingMu.Lock()
	pl, ok := s.pending[query.Get("state")]
	delete(s.pending, query.Get("state"))
	s.pendingMu.Unlock()
	p := s.find(providerName)
	if !ok || p == nil || p.oidc == nil || pl.provider != p.name {
		return Result{}, "", fmt.Errorf("unknown or expired login; start again: %w", errdefs.ErrUnauthorized)
	}
	id, err := p.oidc.Complete(ctx, pl.oidc, query)
	if err != nil {
		s.deps.Logger.InfoContext(ctx, "OIDC login failed", "provider", p.name, "error", err)
		return Result{}, pl.then, fmt.Errorf("login at %s failed: %w", p.name, errdefs.ErrUnauthorized)
	}
	res, err := s.complete(ctx, Identity(id))
	return res, pl.then, err
}

// Device is a device-flow login in progress, as shown to the user.
type Device struct {
	UserCode                string    `json:"userCode"`
	VerificationURI         string    `json:"verificationURI"`
	VerificationURIComplete string    `json:"verificationURIComplete,omitempty"`
	ExpiresAt               time.Time `json:"expiresAt"`
	Interval                int       `json:"interval"`
	// DeviceCode is what the client polls with.
	DeviceCode string `json:"deviceCode"`
}

// BeginDevice starts a device-flow login (for a CLI without a browser).
func (s *Service) BeginDevice(ctx context.Context, providerName string) (Device, error) {
	p := s.find(providerName)
	if p == nil || p.oidc == nil {
		return Device{}, fmt.Errorf("no OIDC provider %q: %w", providerName, errdefs.ErrNotFound)
	}
	if !p.oidc.SupportsDeviceFlow() {
		return Device{}, fmt.Errorf("%s does not support the device flow; use `slip login --web`: %w", p.name, errdefs.ErrBadRequest)
	}
	da, err := p.oidc.BeginDevice(ctx)
	if err != nil {
		return Device{}, fmt.Errorf("start device login at %s: %w", p.name, errdefs.ErrUnavailable)
	}
	return Device{UserCode: da.UserCode, VerificationURI: da.VerificationURI, VerificationURIComplete: da.VerificationURIComplete,
		ExpiresAt: da.Expiry, Interval: int(da.Interval), DeviceCode: da.DeviceCode}, nil
}

// CompleteDevice waits (until ctx ends or the code expires) for the user to
// approve a device login, then logs in.
func (s *Service) CompleteDevice(ctx context.Context, providerName string, d Device) (Result, error) {
	p := s.find(providerName)
	if p == nil || p.oidc == nil {
		return Result{}, fmt.Errorf("no OIDC provider %q: %w", providerName, errdefs.ErrNotFound)
	}
	id, err := p.oidc.CompleteDevice(ctx, &oidc.DeviceAuthorization{DeviceCode: d.DeviceCode, Expiry: d.ExpiresAt, Interval: int64(d.Interval)})
	if err != nil {
		return Result{}, fmt.Errorf("device login at %s failed: %w", p.name, errdefs.ErrUnauthorized)
	}
	return s.complete(ctx, Identity(id))
}
