package oidc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/auth/oidc"
	"github.com/slipway/slipway/auth/oidc/glewlwyd"
	"github.com/slipway/slipway/internal/testpeer"
)

// TestGlewlwydAuthorizationCodeFlow runs the whole relying-party flow
// against a real, independent provider: glewlwyd 2.7 as its own process.
// The browser's part (login, consent, following redirects) is played over
// plain HTTP; the code arrives at a real loopback callback server, which
// completes the login.
func TestGlewlwydAuthorizationCodeFlow(t *testing.T) {
	t.Parallel() // its own glewlwyd instance
	testpeer.RequireBinary(t, "glewlwyd (Debian package glewlwyd)", glewlwyd.Binary)
	testpeer.RequireBinary(t, "sqlite3 (Debian package sqlite3)", glewlwyd.SQLiteBinary)

	// The callback server exists before the provider so that its URL can be
	// registered as the client's redirect URI.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	redirectURL := "http://" + listener.Addr().String() + "/callback"

	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	idp, err := glewlwyd.Start(ctx, glewlwyd.Options{RedirectURIs: []string{redirectURL}})
	if errors.Is(err, exec.ErrNotFound) {
		testpeer.Missing(t, "glewlwyd", err)
	}
	if err != nil {
		t.Fatalf("start glewlwyd: %v", err)
	}
	t.Cleanup(func() {
		if err := idp.Stop(); err != nil {
			t.Errorf("stop glewlwyd: %v", err)
		}
	})

	p, err := oidc.New(ctx, oidc.Config{
		Name: "glewlwyd", Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		RedirectURL: redirectURL, Scopes: []string{"openid"},
	}, oidc.Options{})
	if err != nil {
		t.Fatalf("oidc.New (discovery): %v", err)
	}

	// pending logins by state, as Slipway's server would keep them.
	type result struct {
		id  oidc.Identity
		err error
	}
	var mu sync.Mutex
	pendingByState := map[string]oidc.Pending{}
	results := make(chan result, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pending := pendingByState[r.URL.Query().Get("state")]
		mu.Unlock()
		id, err := p.Complete(r.Context(), pending, r.URL.Query())
		results <- result{id, err}
		if err != nil {
			http.Error(w, "login failed", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("signed in"))
	})
	callbackServer := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = callbackServer.Serve(listener) }()
	t.Cleanup(func() { _ = callbackServer.Close() })

	login := func(t *testing.T, username, password string) (oidc.Identity, error) {
		t.Helper()
		pending, err := p.Begin()
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		pendingByState[pending.State] = pending
		mu.Unlock()
		callback, err := idp.Authorize(ctx, pending.AuthURL, username, password)
		if err != nil {
			return oidc.Identity{}, err
		}
		// The browser follows the redirect to Slipway's callback.
		resp, err := http.Get(redirectURL + "?" + callback.Encode())
		if err != nil {
			t.Fatalf("GET callback: %v", err)
		}
		resp.Body.Close()
		select {
		case r := <-results:
			return r.id, r.err
		case <-ctx.Done():
			t.Fatal("callback never completed")
			return oidc.Identity{}, nil
		}
	}

	cases := []struct {
		name     string
		username string
		password string
		want     oidc.Identity
		wantErr  error
	}{
		{
			name: "alice signs in", username: "alice", password: "alicepw",
			want: oidc.Identity{Provider: "glewlwyd", Username: "alice", Email: "alice@example.org", DisplayName: "Alice Liddell", Groups: []string{"admins", "developers"}},
		},
		{
			name: "bob signs in", username: "bob", password: "bobpw",
			want: oidc.Identity{Provider: "glewlwyd", Username: "bob", Email: "bob@example.org", DisplayName: "Bob Builder", Groups: []string{"developers"}},
		},
		{name: "wrong password never reaches the callback", username: "alice", password: "wrong", wantErr: glewlwyd.ErrLoginRefused},
	}
	for _, tc := range cases { // sequential: they share one provider session store
		t.Run(tc.name, func(t *testing.T) {
			got, err := login(t, tc.username, tc.password)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("login error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			t.Logf("identity from glewlwyd: %+v", got)
			if got.Subject == "" || got.Subject == tc.username {
				t.Errorf("subject = %q, want glewlwyd's opaque per-user id", got.Subject)
			}
			if got.Provider != tc.want.Provider || got.Username != tc.want.Username || got.Email != tc.want.Email ||
				got.DisplayName != tc.want.DisplayName || !slices.Equal(got.Groups, tc.want.Groups) {
				t.Fatalf("identity = %+v, want %+v", got, tc.want)
			}
		})
	}

	t.Run("forged state is refused at the callback", func(t *testing.T) {
		pending, err := p.Begin()
		if err != nil {
			t.Fatal(err)
		}
		callback, err := idp.Authorize(ctx, pending.AuthURL, "alice", "alicepw")
		if err != nil {
			t.Fatal(err)
		}
		forged := pending
		forged.State = "attacker-state"
		if _, err := p.Complete(ctx, forged, callback); !errors.Is(err, oidc.ErrInvalidState) {
			t.Fatalf("Complete error = %v, want ErrInvalidState", err)
		}
		// The genuine pending login still completes: a refused state does
		// not consume the code.
		if _, err := p.Complete(ctx, pending, callback); err != nil {
			t.Fatalf("genuine Complete: %v", err)
		}
		// And the code is single use at glewlwyd.
		if _, err := p.Complete(ctx, pending, callback); !errors.Is(err, oidc.ErrProviderRefused) {
			t.Fatalf("replayed code error = %v, want ErrProviderRefused", err)
		}
	})

	t.Run("tampered PKCE verifier is refused by glewlwyd", func(t *testing.T) {
		pending, err := p.Begin()
		if err != nil {
			t.Fatal(err)
		}
		callback, err := idp.Authorize(ctx, pending.AuthURL, "bob", "bobpw")
		if err != nil {
			t.Fatal(err)
		}
		pending.CodeVerifier = oidcVerifierOfAnotherLogin(t, p)
		_, err = p.Complete(ctx, pending, callback)
		if !errors.Is(err, oidc.ErrProviderRefused) {
			t.Fatalf("Complete error = %v, want ErrProviderRefused", err)
		}
		t.Logf("refused as expected: %v", err)
	})
}

func oidcVerifierOfAnotherLogin(t *testing.T, p *oidc.Provider) string {
	t.Helper()
	other, err := p.Begin()
	if err != nil {
		t.Fatal(err)
	}
	return other.CodeVerifier
}

// TestGlewlwydDeviceFlow: discovery advertises the device endpoint, the user
// approves on "another device" and CompleteDevice's polling gets the token.
func TestGlewlwydDeviceFlow(t *testing.T) {
	t.Parallel() // its own glewlwyd instance
	testpeer.RequireBinary(t, "glewlwyd (Debian package glewlwyd)", glewlwyd.Binary)
	testpeer.RequireBinary(t, "sqlite3 (Debian package sqlite3)", glewlwyd.SQLiteBinary)
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	const redirectURL = "http://127.0.0.1:9/callback"
	idp, err := glewlwyd.Start(ctx, glewlwyd.Options{RedirectURIs: []string{redirectURL}})
	if err != nil {
		t.Fatalf("start glewlwyd: %v", err)
	}
	t.Cleanup(func() {
		if err := idp.Stop(); err != nil {
			t.Errorf("stop glewlwyd: %v", err)
		}
	})
	p, err := oidc.New(ctx, oidc.Config{
		Name: "glewlwyd", Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		RedirectURL: redirectURL, Scopes: []string{"openid"},
	}, oidc.Options{})
	if err != nil {
		t.Fatalf("oidc.New: %v", err)
	}
	if !p.SupportsDeviceFlow() {
		t.Fatal("glewlwyd's discovery does not advertise the device endpoint")
	}
	da, err := p.BeginDevice(ctx)
	if err != nil {
		t.Fatalf("BeginDevice: %v", err)
	}
	t.Logf("device authorization: uri=%s user_code=%s interval=%d", da.VerificationURI, da.UserCode, da.Interval)
	if err := idp.ApproveDevice(ctx, idp.ClientID, "openid", da.UserCode, "alice", "alicepw"); err != nil {
		t.Fatalf("ApproveDevice: %v", err)
	}
	id, err := p.CompleteDevice(ctx, da)
	if err != nil {
		t.Fatalf("CompleteDevice: %v", err)
	}
	if id.Username != "alice" || !slices.Equal(id.Groups, []string{"admins", "developers"}) {
		t.Fatalf("identity = %+v", id)
	}
}
