package oidc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

const (
	testClientID     = "slipway"
	testClientSecret = "slipway-secret"
	testKeyID        = "k1"
)

// testIssuer is a minimal OpenID provider for the verification matrix:
// go-oidc's oidctest serves discovery and keys, and this adds /auth (which
// logs in the user named by the test-only `login` query parameter) and
// /token (client basic auth, single-use codes, PKCE S256 check). Tokens are
// ES256-signed; tamper lets a test change the claims or the signing key.
type testIssuer struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	tamper func(claims map[string]any) *ecdsa.PrivateKey

	mu    sync.Mutex
	codes map[string]grant
}

type grant struct {
	user, nonce, challenge, redirect string
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIssuer{t: t, key: key, codes: map[string]grant{}}
	keys := &oidctest.Server{
		PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: testKeyID, Algorithm: gooidc.ES256}},
		Algorithms: []string{gooidc.ES256},
	}
	mux := http.NewServeMux()
	mux.Handle("/", keys)
	mux.HandleFunc("/auth", ti.serveAuth)
	mux.HandleFunc("/token", ti.serveToken)
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	keys.SetIssuer(ti.srv.URL)
	return ti
}

func (ti *testIssuer) serveAuth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != testClientID || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	switch {
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back.Set("error", "invalid_request")
	case q.Get("login") == "":
		back.Set("error", "access_denied")
		back.Set("error_description", "user cancelled")
	default:
		code := rand.Text()
		ti.mu.Lock()
		ti.codes[code] = grant{user: q.Get("login"), nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: redirect.String()}
		ti.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (ti *testIssuer) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	code := r.PostForm.Get("code")
	ti.mu.Lock()
	g, found := ti.codes[code]
	delete(ti.codes, code) // single use
	ti.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !found || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || r.PostForm.Get("redirect_uri") != g.redirect {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	now := time.Now()
	claims := map[string]any{
		"iss": ti.srv.URL, "aud": testClientID, "sub": "sub-" + g.user, "nonce": g.nonce,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"preferred_username": g.user, "email": g.user + "@example.org", "email_verified": true,
		"name": "User " + g.user, "groups": []string{"developers", "admins"},
	}
	key := ti.key
	if ti.tamper != nil {
		if k := ti.tamper(claims); k != nil {
			key = k
		}
	}
	body, err := json.Marshal(claims)
	if err != nil {
		ti.t.Errorf("marshal claims: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 3600,
		"id_token": oidctest.SignIDToken(key, testKeyID, gooidc.ES256, string(body)),
	})
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
