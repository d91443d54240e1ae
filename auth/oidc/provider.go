package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Options carry the dependencies of a Provider.
type Options struct {
	// Logger receives diagnostics; nil discards them. Secrets, codes and
	// tokens are never logged.
	Logger *slog.Logger
	// HTTPClient talks to the provider; nil builds one from Config (CAFile,
	// HTTPTimeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry and login age; nil is time.Now.
	Now func() time.Time
}

// Provider is one configured OpenID Connect provider. It is safe for
// concurrent use.
type Provider struct {
	cfg      Config
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	client   *http.Client
	now      func() time.Time
	logger   *slog.Logger
}

// New validates cfg and fetches the provider's discovery document; it fails
// with ErrUnavailable when the issuer cannot be reached and ErrInvalidConfig
// when the discovered issuer differs from the configured one. Cost: one HTTP
// request (keys are fetched on first verification and cached).
func New(ctx context.Context, cfg Config, opts Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := opts.HTTPClient
	if client == nil {
		var err error
		if client, err = newHTTPClient(cfg); err != nil {
			return nil, err
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	discovered, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		var mismatch *gooidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("%w: issuer: %w", ErrInvalidConfig, err)
		}
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrUnavailable, cfg.Issuer, err)
	}
	endpoint := discovered.Endpoint()
	endpoint.AuthStyle = authStyle(discovered)
	p := &Provider{
		cfg:      cfg,
		provider: discovered,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
		},
		verifier: discovered.Verifier(&gooidc.Config{ClientID: cfg.ClientID, Now: now}),
		client:   client,
		now:      now,
		logger:   logger.With("provider", cfg.Name),
	}
	return p, nil
}

// Name is the provider name carried in identities.
func (p *Provider) Name() string { return p.cfg.Name }

// Pending is a login between Begin and Complete. The caller keeps it where
// the browser cannot change it (server-side session, sealed cookie) and
// passes it back to Complete exactly once.
type Pending struct {
	// AuthURL is where to send the browser.
	AuthURL string
	// State, Nonce and CodeVerifier are the secrets that bind the callback
	// and the ID token to this login.
	State        string
	Nonce        string
	CodeVerifier string
	// Started bounds the login's age (Config.MaxLoginAge).
	Started time.Time
}

// Begin starts an authorization-code login with PKCE (S256), a fresh state
// and a fresh nonce. It makes no network call.
func (p *Provider) Begin() (Pending, error) {
	state, err := randomToken()
	if err != nil {
		return Pending{}, err
	}
	nonce, err := randomToken()
	if err != nil {
		return Pending{}, err
	}
	verifier := oauth2.GenerateVerifier()
	return Pending{
		AuthURL:      p.oauth.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)),
		State:        state,
		Nonce:        nonce,
		CodeVerifier: verifier,
		Started:      p.now(),
	}, nil
}

// Complete finishes the login from the redirect's query parameters: it
// checks state and login age, reports a provider error (error=…), exchanges
// the code with the PKCE verifier, verifies the ID token including its nonce
// and maps its claims. Cost: one token request, plus one key-set fetch the
// first time or when the provider rotates keys.
func (p *Provider) Complete(ctx context.Context, pending Pending, callback url.Values) (Identity, error) {
	if pending.State == "" || subtle.ConstantTimeCompare([]byte(pending.State), []byte(callback.Get("state"))) != 1 {
		return Identity{}, fmt.Errorf("%w: state mismatch", ErrInvalidState)
	}
	if age := p.now().Sub(pending.Started); age > p.cfg.MaxLoginAge || age < -time.Minute {
		return Identity{}, fmt.Errorf("%w: login started %s ago", ErrInvalidState, age.Round(time.Second))
	}
	if e := callback.Get("error"); e != "" {
		return Identity{}, fmt.Errorf("%w: %s: %s", ErrProviderRefused, e, callback.Get("error_description"))
	}
	code := callback.Get("code")
	if code == "" {
		return Identity{}, fmt.Errorf("%w: callback without code", ErrProviderRefused)
	}

	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	token, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(pending.CodeVerifier))
	if err != nil {
		return Identity{}, p.tokenEndpointError("code exchange", ctx, err)
	}
	return p.identityFromToken(ctx, token, pending.Nonce)
}

// identityFromToken verifies the ID token that came with token and maps it.
// nonce is required unless empty (the device flow has none).
func (p *Provider) identityFromToken(ctx context.Context, token *oauth2.Token, nonce string) (Identity, error) {
	raw, ok := token.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, fmt.Errorf("%w: token response has no id_token", ErrInvalidToken)
	}
	idToken, err := p.verifier.Verify(gooidc.ClientContext(ctx, p.client), raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: nonce mismatch", ErrInvalidToken)
	}
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(token.AccessToken); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: decode claims: %w", ErrInvalidToken, err)
	}
	return mapClaims(p.cfg.Name, idToken.Subject, claims, p.cfg.Claims)
}

// authStyle picks how the client authenticates at the token endpoint from
// discovery. Without it oauth2 auto-detects by retrying a failed request with
// the other style, which sends a code twice: some providers treat that as a
// replay and revoke, and the second answer hides the first one's error.
func authStyle(p *gooidc.Provider) oauth2.AuthStyle {
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil || len(meta.Methods) == 0 {
		// The OIDC Discovery default is client_secret_basic.
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(meta.Methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(meta.Methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// newHTTPClient builds the client used for discovery, keys and tokens.
func newHTTPClient(cfg Config) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: cfg.HTTPTimeout}).DialContext
	if cfg.CAFile != "" {
		pemBytes, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: caFile: %w", ErrInvalidConfig, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%w: caFile %s: no PEM certificate found", ErrInvalidConfig, cfg.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, Timeout: cfg.HTTPTimeout}, nil
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ctxOr prefers the context's error when ctx ended.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
