package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/auth/oidc"
)

const testRedirect = "http://127.0.0.1:9/callback"

func newProvider(t *testing.T, ti *testIssuer, mutate func(*oidc.Config), opts oidc.Options) *oidc.Provider {
	t.Helper()
	cfg := oidc.Config{
		Name: "corp", Issuer: ti.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURL: testRedirect,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := oidc.New(t.Context(), cfg, opts)
	if err != nil {
		t.Fatalf("oidc.New: %v", err)
	}
	return p
}

// authorize plays the browser: it follows AuthURL (plus the test issuer's
// login shortcut) and returns the callback's query parameters.
func authorize(t *testing.T, authURL, login string) url.Values {
	t.Helper()
	if login != "" {
		authURL += "&login=" + url.QueryEscape(login)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("GET auth URL: %v", err)
	}
	defer resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), testRedirect) {
		t.Fatalf("auth answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func TestBeginAuthURL(t *testing.T) {
	p := newProvider(t, newTestIssuer(t), nil, oidc.Options{})
	a, err := p.Begin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Begin()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(a.AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{
		"client_id": testClientID, "response_type": "code", "redirect_uri": testRedirect,
		"state": a.State, "nonce": a.Nonce, "code_challenge_method": "S256", "scope": "openid profile email",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("auth URL %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Get("code_challenge") == "" || strings.Contains(a.AuthURL, a.CodeVerifier) {
		t.Errorf("auth URL must carry the challenge, never the verifier: %s", a.AuthURL)
	}
	if a.State == b.State || a.Nonce == b.Nonce || a.CodeVerifier == b.CodeVerifier || len(a.State) < 40 {
		t.Errorf("state, nonce and verifier must be fresh and long: %+v %+v", a, b)
	}
}

func TestComplete(t *testing.T) {
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alice := oidc.Identity{
		Provider: "corp", Subject: "sub-alice", Username: "alice", Email: "alice@example.org",
		DisplayName: "User alice", Groups: []string{"admins", "developers"},
	}
	cases := []struct {
		name      string
		login     string
		config    func(*oidc.Config)
		tamper    func(map[string]any) *ecdsa.PrivateKey // issuer-side changes
		callback  func(url.Values, *oidc.Pending)        // attacker-side changes
		clockSkew time.Duration                          // Complete runs this much later
		want      oidc.Identity
		wantErr   error
	}{
		{name: "valid login", login: "alice", want: alice},
		{
			name: "groups as a single string", login: "alice",
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["groups"] = "ops"; return nil },
			want:   oidc.Identity{Provider: "corp", Subject: "sub-alice", Username: "alice", Email: "alice@example.org", DisplayName: "User alice", Groups: []string{"ops"}},
		},
		{
			name: "nested groups claim path", login: "alice",
			config: func(c *oidc.Config) { c.Claims.Groups = "realm_access.roles" },
			tamper: func(c map[string]any) *ecdsa.PrivateKey {
				c["realm_access"] = map[string]any{"roles": []string{"viewer"}}
				return nil
			},
			want: oidc.Identity{Provider: "corp", Subject: "sub-alice", Username: "alice", Email: "alice@example.org", DisplayName: "User alice", Groups: []string{"viewer"}},
		},
		{
			name: "unverified email is dropped", login: "alice",
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["email_verified"] = false; return nil },
			want:   oidc.Identity{Provider: "corp", Subject: "sub-alice", Username: "alice", DisplayName: "User alice", Groups: []string{"admins", "developers"}},
		},
		{
			name: "sub as username", login: "alice",
			config: func(c *oidc.Config) { c.Claims.Username = "sub" },
			want:   oidc.Identity{Provider: "corp", Subject: "sub-alice", Username: "sub-alice", Email: "alice@example.org", DisplayName: "User alice", Groups: []string{"admins", "developers"}},
		},
		{
			name: "wrong audience", login: "alice", wantErr: oidc.ErrInvalidToken,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["aud"] = "someone-else"; return nil },
		},
		{
			name: "wrong issuer", login: "alice", wantErr: oidc.ErrInvalidToken,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["iss"] = "https://evil.example"; return nil },
		},
		{
			name: "expired token", login: "alice", wantErr: oidc.ErrInvalidToken,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["exp"] = time.Now().Add(-time.Minute).Unix(); return nil },
		},
		{
			name: "bad signature", login: "alice", wantErr: oidc.ErrInvalidToken,
			tamper: func(map[string]any) *ecdsa.PrivateKey { return otherKey },
		},
		{
			name: "wrong nonce", login: "alice", wantErr: oidc.ErrInvalidToken,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["nonce"] = "replayed-nonce"; return nil },
		},
		{
			name: "missing nonce", login: "alice", wantErr: oidc.ErrInvalidToken,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { delete(c, "nonce"); return nil },
		},
		{
			name: "missing username claim", login: "alice", wantErr: oidc.ErrMissingClaim,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { delete(c, "preferred_username"); return nil },
		},
		{
			name: "groups of the wrong type", login: "alice", wantErr: oidc.ErrMissingClaim,
			tamper: func(c map[string]any) *ecdsa.PrivateKey { c["groups"] = 42; return nil },
		},
		{
			name: "state mismatch", login: "alice", wantErr: oidc.ErrInvalidState,
			callback: func(q url.Values, _ *oidc.Pending) { q.Set("state", "forged") },
		},
		{
			name: "state missing", login: "alice", wantErr: oidc.ErrInvalidState,
			callback: func(q url.Values, _ *oidc.Pending) { q.Del("state") },
		},
		{name: "login too old", login: "alice", clockSkew: 11 * time.Minute, wantErr: oidc.ErrInvalidState},
		{name: "provider error access_denied", login: "", wantErr: oidc.ErrProviderRefused},
		{
			name: "wrong PKCE verifier", login: "alice", wantErr: oidc.ErrProviderRefused,
			callback: func(_ url.Values, p *oidc.Pending) { p.CodeVerifier = strings.Repeat("x", 43) },
		},
		{
			name: "forged code", login: "alice", wantErr: oidc.ErrProviderRefused,
			callback: func(q url.Values, _ *oidc.Pending) { q.Set("code", "forged") },
		},
		{
			name: "wrong client secret", login: "alice", wantErr: oidc.ErrProviderRefused,
			config: func(c *oidc.Config) { c.ClientSecret = "wrong" },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ti := newTestIssuer(t)
			ti.tamper = tc.tamper
			start := time.Now()
			now := start
			p := newProvider(t, ti, tc.config, oidc.Options{Now: func() time.Time { return now }})
			pending, err := p.Begin()
			if err != nil {
				t.Fatal(err)
			}
			callback := authorize(t, pending.AuthURL, tc.login)
			if tc.callback != nil {
				tc.callback(callback, &pending)
			}
			now = start.Add(tc.clockSkew)
			got, err := p.Complete(t.Context(), pending, callback)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Complete error = %v, want %v", err, tc.wantErr)
				}
				t.Logf("refused as expected: %v", err)
				if strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), pending.CodeVerifier) {
					t.Fatalf("error leaks a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if got.Provider != tc.want.Provider || got.Subject != tc.want.Subject || got.Username != tc.want.Username ||
				got.Email != tc.want.Email || got.DisplayName != tc.want.DisplayName || !slices.Equal(got.Groups, tc.want.Groups) {
				t.Fatalf("identity = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	ti := newTestIssuer(t)
	p := newProvider(t, ti, nil, oidc.Options{})
	pending, err := p.Begin()
	if err != nil {
		t.Fatal(err)
	}
	callback := authorize(t, pending.AuthURL, "bob")
	if _, err := p.Complete(t.Context(), pending, callback); err != nil {
		t.Fatalf("first Complete: %v", err)
	}
	if _, err := p.Complete(t.Context(), pending, callback); !errors.Is(err, oidc.ErrProviderRefused) {
		t.Fatalf("replayed Complete error = %v, want ErrProviderRefused", err)
	}
}

func TestNew(t *testing.T) {
	ti := newTestIssuer(t)
	cases := []struct {
		name    string
		cfg     oidc.Config
		wantErr error
	}{
		{name: "discovery ok", cfg: oidc.Config{Issuer: ti.srv.URL, ClientID: "c", RedirectURL: testRedirect}},
		{name: "issuer mismatch", cfg: oidc.Config{Issuer: ti.srv.URL + "/", ClientID: "c", RedirectURL: testRedirect}, wantErr: oidc.ErrInvalidConfig},
		{name: "no discovery document", cfg: oidc.Config{Issuer: ti.srv.URL + "/nowhere", ClientID: "c", RedirectURL: testRedirect}, wantErr: oidc.ErrUnavailable},
		{name: "unreachable issuer", cfg: oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURL: testRedirect}, wantErr: oidc.ErrUnavailable},
		{name: "plain http off loopback", cfg: oidc.Config{Issuer: "http://idp.example", ClientID: "c", RedirectURL: testRedirect}, wantErr: oidc.ErrInvalidConfig},
		{name: "no client id", cfg: oidc.Config{Issuer: ti.srv.URL, RedirectURL: testRedirect}, wantErr: oidc.ErrInvalidConfig},
		{name: "bad redirect", cfg: oidc.Config{Issuer: ti.srv.URL, ClientID: "c", RedirectURL: "callback"}, wantErr: oidc.ErrInvalidConfig},
		{name: "unreadable CA file", cfg: oidc.Config{Issuer: ti.srv.URL, ClientID: "c", RedirectURL: testRedirect, CAFile: "/nonexistent.pem"}, wantErr: oidc.ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := oidc.New(ctx, tc.cfg, oidc.Options{})
			if tc.wantErr == nil && err != nil {
				t.Fatalf("New: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("New error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestDeviceFlowUnsupported(t *testing.T) {
	p := newProvider(t, newTestIssuer(t), nil, oidc.Options{})
	if p.SupportsDeviceFlow() {
		t.Fatal("test issuer advertises no device endpoint")
	}
	if _, err := p.BeginDevice(t.Context()); !errors.Is(err, oidc.ErrUnsupported) {
		t.Fatalf("BeginDevice error = %v, want ErrUnsupported", err)
	}
}
