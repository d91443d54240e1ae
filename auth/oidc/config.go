// Package oidc is Slipway's relying party for any standard OpenID Connect
// provider (Keycloak, Dex, Okta, Azure AD, glewlwyd, …): discovery from the
// issuer URL, the authorization-code flow with PKCE (S256), state and nonce,
// ID-token verification (issuer, audience, expiry, signature, nonce) and the
// mapping of claims to a Slipway identity. The device flow is offered when
// the provider's discovery document advertises it.
//
// A login has two halves that usually run in different HTTP requests:
// Begin returns the URL to send the browser to and a Pending value the
// caller keeps server-side (or sealed in a cookie); Complete takes the
// Pending value back with the callback's state and code.
package oidc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Config mirrors the `oidc` identity-provider section of Slipway's YAML
// configuration.
type Config struct {
	// Name identifies the provider in identities (Identity.Provider).
	Name string `json:"name" yaml:"name"`
	// Issuer is the provider's issuer URL; discovery reads
	// <issuer>/.well-known/openid-configuration and the ID token's iss must
	// equal it.
	Issuer string `json:"issuer" yaml:"issuer"`
	// ClientID and ClientSecret identify Slipway at the provider. An empty
	// secret makes Slipway a public client (PKCE only).
	ClientID     string `json:"clientID" yaml:"clientID"`
	ClientSecret string `json:"clientSecret,omitempty" yaml:"clientSecret,omitempty"`
	// RedirectURL is Slipway's callback, registered at the provider.
	RedirectURL string `json:"redirectURL" yaml:"redirectURL"`
	// Scopes requested; "openid" is always included (default: openid,
	// profile, email).
	Scopes []string `json:"scopes,omitempty" yaml:"scopes,omitempty"`
	// Claims map ID-token claims to identity fields.
	Claims ClaimMapping `json:"claims" yaml:"claims"`
	// CAFile is a PEM bundle trusted for the provider's TLS certificate in
	// addition to the system roots.
	CAFile string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	// HTTPTimeout bounds each request to the provider (default 30 s).
	HTTPTimeout time.Duration `json:"httpTimeout,omitempty" yaml:"httpTimeout,omitempty"`
	// MaxLoginAge bounds the time between Begin and Complete (default 10 min).
	MaxLoginAge time.Duration `json:"maxLoginAge,omitempty" yaml:"maxLoginAge,omitempty"`
}

// ClaimMapping names the claims read into an Identity. A name may be a
// dotted path into nested objects, e.g. "realm_access.roles" (Keycloak).
type ClaimMapping struct {
	// Username (default "preferred_username"); "sub" is allowed when the
	// provider has nothing better. A token without it is refused.
	Username string `json:"username,omitempty" yaml:"username,omitempty"`
	// Email (default "email"); ignored when email_verified is false.
	Email string `json:"email,omitempty" yaml:"email,omitempty"`
	// DisplayName (default "name").
	DisplayName string `json:"displayName,omitempty" yaml:"displayName,omitempty"`
	// Groups (default "groups"): a list of strings or a single string.
	Groups string `json:"groups,omitempty" yaml:"groups,omitempty"`
}

const (
	defaultHTTPTimeout = 30 * time.Second
	defaultMaxLoginAge = 10 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "oidc"
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email"}
	}
	hasOpenID := false
	for _, s := range c.Scopes {
		hasOpenID = hasOpenID || s == "openid"
	}
	if !hasOpenID {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if c.Claims.Username == "" {
		c.Claims.Username = "preferred_username"
	}
	if c.Claims.Email == "" {
		c.Claims.Email = "email"
	}
	if c.Claims.DisplayName == "" {
		c.Claims.DisplayName = "name"
	}
	if c.Claims.Groups == "" {
		c.Claims.Groups = "groups"
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = defaultHTTPTimeout
	}
	if c.MaxLoginAge <= 0 {
		c.MaxLoginAge = defaultMaxLoginAge
	}
	return c
}

// Validate reports configuration mistakes, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	if err := checkURL("issuer", c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if err := checkURL("redirectURL", c.RedirectURL); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("clientID: required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", field, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%s: must be an http(s) URL, got %q", field, raw)
	case u.Host == "":
		return fmt.Errorf("%s: host is missing", field)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		// Tokens and codes travel in clear over http: only on this machine.
		return fmt.Errorf("%s: http is allowed only on loopback, use https", field)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
