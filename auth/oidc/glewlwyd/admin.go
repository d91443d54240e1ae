package glewlwyd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

const requestTimeout = 10 * time.Second

// configure logs in as the administrator and creates the OIDC plugin, the
// users and the client.
func (s *Server) configure(ctx context.Context, redirectURIs []string) error {
	admin, err := newSessionClient()
	if err != nil {
		return err
	}
	if err := s.call(ctx, admin, http.MethodPost, "/api/auth/", map[string]any{"username": adminUser, "password": adminPassword}, nil); err != nil {
		return fmt.Errorf("glewlwyd: admin login: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("glewlwyd: generate signing key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("glewlwyd: encode signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("glewlwyd: encode public key: %w", err)
	}
	claim := func(name, property string) map[string]any {
		return map[string]any{
			"name": name, "user-property": property, "type": "string",
			"boolean-value-true": "", "boolean-value-false": "",
			"mandatory": true, "on-demand": false, "scope": []string{},
		}
	}
	plugin := map[string]any{
		"module": "oidc", "name": "oidc", "display_name": "OIDC",
		"parameters": map[string]any{
			"iss":                        s.Issuer,
			"jwt-type":                   "rsa",
			"jwt-key-size":               "256",
			"key":                        string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
			"cert":                       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
			"access-token-duration":      3600,
			"refresh-token-duration":     1209600,
			"code-duration":              600,
			"refresh-token-rolling":      true,
			"allow-non-oidc":             false,
			"auth-type-code-enabled":     true,
			"auth-type-token-enabled":    false,
			"auth-type-id-token-enabled": true,
			"auth-type-none-enabled":     false,
			"auth-type-password-enabled": false,
			"auth-type-client-enabled":   false,
			"auth-type-refresh-enabled":  true,
			"auth-type-device-enabled":   true,
			// RFC 8628's default is 5 s; 1 s keeps device-flow tests short.
			"device-authorization-interval":   1,
			"device-authorization-expiration": 600,
			"subject-type":                    "public",
			"scope":                           []string{},
			"pkce-allowed":                    true,
			"pkce-method-plain-allowed":       false,
			"name-claim":                      "mandatory",
			"name-claim-scope":                []string{},
			"email-claim":                     "mandatory",
			"email-claim-scope":               []string{},
			"claims":                          []any{claim("preferred_username", "username"), claim("groups", "groups")},
		},
	}
	if err := s.call(ctx, admin, http.MethodPost, "/api/mod/plugin/", plugin, nil); err != nil {
		return fmt.Errorf("glewlwyd: create OIDC plugin: %w", err)
	}
	for _, u := range s.Users {
		user := map[string]any{
			"username": u.Username, "password": u.Password, "name": u.Name, "email": u.Email,
			"enabled": true, "scope": []string{"openid", "g_profile"}, "groups": u.Groups,
		}
		if err := s.call(ctx, admin, http.MethodPost, "/api/user/", user, nil); err != nil {
			return fmt.Errorf("glewlwyd: create user %s: %w", u.Username, err)
		}
	}
	client := map[string]any{
		"client_id": s.ClientID, "name": s.ClientID, "password": s.ClientSecret,
		"confidential": true, "enabled": true, "redirect_uri": redirectURIs,
		"authorization_type": []string{"code", "authorization_code", "refresh_token", "device_authorization"},
		"scope":              []string{},
		// Without it a confidential client gets 403 unauthorized_client at /token.
		"token_endpoint_auth_method": []string{"client_secret_basic", "client_secret_post"},
	}
	if err := s.call(ctx, admin, http.MethodPost, "/api/client/", client, nil); err != nil {
		return fmt.Errorf("glewlwyd: create client: %w", err)
	}
	return nil
}

// ErrLoginRefused reports that glewlwyd refused the user's password.
var ErrLoginRefused = errors.New("glewlwyd refused the login")

// Authorize plays the user's browser for an authorization request built by a
// relying party: it signs in through glewlwyd's login API, grants the
// requested scopes to the client, follows authURL (with g_continue, which
// glewlwyd's login page would add) and returns the query parameters of the
// redirect to the client's redirect URI, without requesting that URI.
func (s *Server) Authorize(ctx context.Context, authURL, username, password string) (url.Values, error) {
	browser, err := newSessionClient()
	if err != nil {
		return nil, err
	}
	if err := s.call(ctx, browser, http.MethodPost, "/api/auth/", map[string]any{"username": username, "password": password}, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoginRefused, err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("glewlwyd: parse auth URL: %w", err)
	}
	q := u.Query()
	grant := map[string]any{"scope": strings.ReplaceAll(q.Get("scope"), " ", ",")}
	if err := s.call(ctx, browser, http.MethodPut, "/api/auth/grant/"+url.PathEscape(q.Get("client_id"))+"/", grant, nil); err != nil {
		return nil, fmt.Errorf("glewlwyd: grant scopes: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL+"&g_continue", nil)
	if err != nil {
		return nil, fmt.Errorf("glewlwyd: build authorize request: %w", err)
	}
	resp, err := browser.Do(req)
	if err != nil {
		return nil, fmt.Errorf("glewlwyd: authorize: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("state") == "" {
		return nil, fmt.Errorf("glewlwyd: authorize answered %s with Location %q", resp.Status, resp.Header.Get("Location"))
	}
	return loc.Query(), nil
}

// ApproveDevice plays the user who opens the device-flow verification URI
// on another device: it signs in, grants the scopes to the client and
// submits userCode at glewlwyd's device verification endpoint.
func (s *Server) ApproveDevice(ctx context.Context, clientID, scope, userCode, username, password string) error {
	browser, err := newSessionClient()
	if err != nil {
		return err
	}
	if err := s.call(ctx, browser, http.MethodPost, "/api/auth/", map[string]any{"username": username, "password": password}, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrLoginRefused, err)
	}
	grant := map[string]any{"scope": strings.ReplaceAll(scope, " ", ",")}
	if err := s.call(ctx, browser, http.MethodPut, "/api/auth/grant/"+url.PathEscape(clientID)+"/", grant, nil); err != nil {
		return fmt.Errorf("glewlwyd: grant scopes: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer+"/device?code="+url.QueryEscape(userCode)+"&g_continue", nil)
	if err != nil {
		return fmt.Errorf("glewlwyd: build device verification request: %w", err)
	}
	resp, err := browser.Do(req)
	if err != nil {
		return fmt.Errorf("glewlwyd: device verification: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "deviceComplete") {
		return fmt.Errorf("glewlwyd: device verification answered %s with Location %q", resp.Status, loc)
	}
	return nil
}

// newSessionClient is an HTTP client with a cookie jar that does not follow
// redirects, as the admin API and the login flow need.
func newSessionClient() (*http.Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("glewlwyd: cookie jar: %w", err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// call sends a JSON request to glewlwyd and decodes a JSON answer into out
// when out is not nil. Non-2xx answers are errors carrying the status and
// body (glewlwyd's bodies hold error names, never the submitted secrets).
func (s *Server) call(ctx context.Context, c *http.Client, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(respBody))
	}
	if out != nil {
		if err := json.Unmarshal(respBody, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
