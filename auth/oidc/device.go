package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// SupportsDeviceFlow reports whether discovery advertised a
// device_authorization_endpoint (RFC 8628).
func (p *Provider) SupportsDeviceFlow() bool {
	return p.oauth.Endpoint.DeviceAuthURL != ""
}

// DeviceAuthorization is a started device login: show the user
// VerificationURI (or VerificationURIComplete) and UserCode, then call
// CompleteDevice with it.
type DeviceAuthorization = oauth2.DeviceAuthResponse

// BeginDevice starts a device-flow login (for the CLI on a machine without a
// browser). It fails with ErrUnsupported when the provider has no device
// endpoint. Cost: one HTTP request.
func (p *Provider) BeginDevice(ctx context.Context) (*DeviceAuthorization, error) {
	if !p.SupportsDeviceFlow() {
		return nil, fmt.Errorf("%w: device flow", ErrUnsupported)
	}
	// RFC 8628 §3.1 requires a confidential client to authenticate here too,
	// but oauth2.DeviceAuth sends only client_id.
	client := p.client
	if p.oauth.ClientSecret != "" {
		client = p.clientAuthenticating(p.oauth.Endpoint.DeviceAuthURL)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	resp, err := p.oauth.DeviceAuth(ctx)
	if err != nil {
		return nil, p.tokenEndpointError("device authorization", ctx, err)
	}
	return resp, nil
}

// CompleteDevice polls the token endpoint at the provider's interval until
// the user approves, denies or the code expires, or ctx ends; then it
// verifies the ID token and maps its claims. The device flow has no nonce:
// the token comes straight from the token endpoint over the client's own
// connection.
func (p *Provider) CompleteDevice(ctx context.Context, da *DeviceAuthorization) (Identity, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	token, err := p.oauth.DeviceAccessToken(ctx, da)
	if err != nil {
		return Identity{}, p.tokenEndpointError("device token", ctx, err)
	}
	return p.identityFromToken(ctx, token, "")
}

func (p *Provider) tokenEndpointError(what string, ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		return fmt.Errorf("%w: %s: %s %s", ErrProviderRefused, what, re.Response.Status, re.ErrorCode)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, ctxOr(ctx, err))
}

// clientAuthenticating returns a copy of the provider's HTTP client that
// adds the client's credentials to requests for endpoint, as the token
// endpoint would receive them (RFC 6749 §2.3.1).
func (p *Provider) clientAuthenticating(endpoint string) *http.Client {
	c := *p.client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.String() != endpoint {
			return base.RoundTrip(req)
		}
		req = req.Clone(req.Context())
		if p.oauth.Endpoint.AuthStyle == oauth2.AuthStyleInParams {
			if err := addFormSecret(req, p.oauth.ClientSecret); err != nil {
				return nil, err
			}
		} else {
			req.SetBasicAuth(url.QueryEscape(p.oauth.ClientID), url.QueryEscape(p.oauth.ClientSecret))
		}
		return base.RoundTrip(req)
	})
	return &c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// addFormSecret appends client_secret to a form-encoded request body.
func addFormSecret(req *http.Request, secret string) error {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return fmt.Errorf("read device authorization request: %w", err)
	}
	_ = req.Body.Close()
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return fmt.Errorf("parse device authorization request: %w", err)
	}
	form.Set("client_secret", secret)
	encoded := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(encoded))
	req.ContentLength = int64(len(encoded))
	return nil
}
