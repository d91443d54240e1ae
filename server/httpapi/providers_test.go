package httpapi_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/ldap"
	"github.com/slipway/slipway/auth/ldap/slapd"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/auth/oidc"
	"github.com/slipway/slipway/auth/oidc/glewlwyd"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
)

// startWith runs a server with the given identity providers.
// startWith runs a server with the given identity providers.
func startWith(t *testing.T, listen string, providers ...login.ProviderConfig) *env {
	t.Helper()
	return envOf(servertest.Start(t, server.Config{Listen: listen, Identity: login.Config{IdentityProviders: providers}}))
}

func (e *env) passwordLogin(t *testing.T, provider, user, password string) (string, error) {
	var res login.Result
	body, _ := json.Marshal(map[string]string{"provider": provider, "username": user, "password": password})
	err := e.clientWithToken(t, "").Do(context.Background(), "POST", "/auth/login", "application/json", body, &res)
	return res.Token, err
}

// LDAP logins against a real slapd: identities, groups, group bindings,
// disabled accounts, and the group sync.
func TestLDAPLogin(t *testing.T) {
	ctx := context.Background()
	dir, err := slapd.Start(ctx, slapd.Options{})
	if errors.Is(err, exec.ErrNotFound) {
		testpeer.Missing(t, "slapd (Debian package slapd)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Stop() })
	e := startWith(t, "127.0.0.1:0",
		login.ProviderConfig{Name: "local", Type: login.TypeLocal},
		login.ProviderConfig{Name: "corp", Type: login.TypeLDAP, LDAP: &ldap.Config{
			URL: dir.URL, BindDN: dir.Fixture.ServiceDN, BindPassword: dir.Fixture.ServicePassword,
			UserBase: "ou=people," + dir.BaseDN, UserFilter: "(&(objectClass=inetOrgPerson)(uid=%s))",
			DisabledFilter: "(employeeType=disabled)",
			Groups:         ldap.GroupSearch{Base: "ou=groups," + dir.BaseDN, Filter: "(objectClass=groupOfNames)"},
		}})
	alicePw := mustFixture(t, dir, "alice").Password

	var providers struct{ Providers []login.ProviderInfo }
	if err := e.clientWithToken(t, "").Do(ctx, "GET", "/auth/providers", "", nil, &providers); err != nil || len(providers.Providers) != 2 {
		t.Fatalf("providers: %+v, %v", providers, err)
	}
	if _, err := e.passwordLogin(t, "corp", "alice", "wrong"); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("wrong LDAP password: %v", err)
	}
	carol := mustFixture(t, dir, "carol")
	if _, err := e.passwordLogin(t, "corp", "carol", carol.Password); err == nil {
		t.Fatal("a disabled directory account logged in")
	}
	token, err := e.passwordLogin(t, "corp", "alice", alicePw)
	if err != nil {
		t.Fatal(err)
	}
	alice := e.clientWithToken(t, token)
	var me api.User
	if err := alice.Get(ctx, users, "", "~", &me); err != nil || len(me.Spec.Identities) != 1 ||
		!strings.HasPrefix(me.Spec.Identities[0], "corp:") || me.Spec.Email == "" {
		t.Fatalf("user from LDAP: %+v, %v", me, err)
	}
	var developers api.Group
	if err := e.client.Get(ctx, mustLookup("groups"), "", "developers", &developers); err != nil || !slices.Contains(developers.Spec.Users, "alice") ||
		developers.Metadata.Labels[login.SourceLabel] != "corp" {
		t.Fatalf("group from LDAP: %+v, %v", developers, err)
	}
	// A role bound to the directory group reaches its members.
	if err := e.client.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "team"}}, nil); err != nil {
		t.Fatal(err)
	}
	bind(t, e.client, "team", "developers", "edit", api.Subject{Kind: api.GroupSubject, Name: "developers"})
	if err := alice.Create(ctx, configmaps, "team", map[string]any{"metadata": map[string]any{"name": "c"}}, nil); err != nil {
		t.Fatalf("group member cannot edit: %v", err)
	}

	// The sync brings in the members who never logged in (bob); a dry run
	// first changes nothing.
	var dry, applied struct{ Changes []login.GroupChange }
	if err := e.client.Do(ctx, "POST", "/auth/groups/sync", "application/json", []byte(`{"provider":"corp"}`), &dry); err != nil {
		t.Fatal(err)
	}
	if len(dry.Changes) == 0 || dry.Changes[0].Applied {
		t.Fatalf("dry run: %+v", dry)
	}
	if err := e.client.Get(ctx, mustLookup("groups"), "", "developers", &developers); err != nil || slices.Contains(developers.Spec.Users, "bob") {
		t.Fatalf("dry run changed the group: %+v", developers.Spec)
	}
	if err := e.client.Do(ctx, "POST", "/auth/groups/sync", "application/json", []byte(`{"provider":"corp","confirm":true}`), &applied); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Get(ctx, mustLookup("groups"), "", "developers", &developers); err != nil || !slices.Contains(developers.Spec.Users, "bob") {
		t.Fatalf("after sync: %+v, %v", developers.Spec, err)
	}
	if err := alice.Do(ctx, "POST", "/auth/groups/sync", "application/json", []byte(`{"provider":"corp","confirm":true}`), nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("a non-admin synced groups: %v", err)
	}

	// An identity of another provider does not take over an existing user.
	e.createUser(t, "bob", "local-bob-password")
	bob := mustFixture(t, dir, "bob")
	if _, err := e.passwordLogin(t, "corp", "bob", bob.Password); !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(err.Error(), "not linked") {
		t.Fatalf("LDAP bob took over local bob: %v", err)
	}
}

func mustFixture(t *testing.T, dir *slapd.Server, name string) slapd.FixtureUser {
	u, ok := dir.Fixture.User(name)
	if !ok {
		t.Fatalf("no fixture user %s", name)
	}
	return u
}

// The OIDC authorization-code flow through Slipway's own endpoints, against
// glewlwyd running as its own process.
func TestOIDCLogin(t *testing.T) {
	testpeer.RequireBinary(t, "glewlwyd (Debian package glewlwyd)", glewlwyd.Binary)
	testpeer.RequireBinary(t, "sqlite3 (Debian package sqlite3)", glewlwyd.SQLiteBinary)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The provider must know Slipway's callback URL before Slipway starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	callback := "https://localhost:" + addr[strings.LastIndex(addr, ":")+1:] + "/auth/oidc/sso/callback"
	idp, err := glewlwyd.Start(ctx, glewlwyd.Options{RedirectURIs: []string{callback}})
	if err != nil {
		t.Fatalf("start glewlwyd: %v", err)
	}
	t.Cleanup(func() { _ = idp.Stop() })
	e := startWith(t, addr,
		login.ProviderConfig{Name: "local", Type: login.TypeLocal},
		login.ProviderConfig{Name: "sso", Type: login.TypeOIDC, OIDC: &oidc.Config{
			Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURL: callback,
			Scopes: []string{"openid"}, Claims: oidc.ClaimMapping{Groups: "groups"},
		}})

	browser := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // the test's own server
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(u string) *http.Response {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// slip login --web: the CLI's loopback listener is where the token lands.
	then := "http://127.0.0.1:9/callback"
	start := get(e.url + "/auth/oidc/sso/start?then=" + url.QueryEscape(then))
	if start.StatusCode != http.StatusFound || !strings.HasPrefix(start.Header.Get("Location"), idp.URL) {
		t.Fatalf("start: %d %s", start.StatusCode, start.Header.Get("Location"))
	}
	query, err := idp.Authorize(ctx, start.Header.Get("Location"), "alice", "alicepw")
	if err != nil {
		t.Fatal(err)
	}
	back := get(e.url + "/auth/oidc/sso/callback?" + query.Encode())
	loc, _ := url.Parse(back.Header.Get("Location"))
	if back.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), then) || loc.Query().Get("token") == "" {
		t.Fatalf("callback: %d %s", back.StatusCode, back.Header.Get("Location"))
	}
	alice := e.clientWithToken(t, loc.Query().Get("token"))
	var me api.User
	if err := alice.Get(ctx, users, "", "~", &me); err != nil || me.Metadata.Name != "alice" || me.Spec.Email != "alice@example.org" {
		t.Fatalf("OIDC user: %+v, %v", me, err)
	}
	var admins api.Group
	if err := e.client.Get(ctx, mustLookup("groups"), "", "admins", &admins); err != nil || !slices.Contains(admins.Spec.Users, "alice") {
		t.Fatalf("groups claim: %+v, %v", admins, err)
	}
	// The same callback cannot be replayed, and a forged state is refused.
	if replay := get(e.url + "/auth/oidc/sso/callback?" + query.Encode()); replay.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed callback: %d", replay.StatusCode)
	}
	forged := url.Values{"state": {"forged"}, "code": {"x"}}
	if r := get(e.url + "/auth/oidc/sso/callback?" + forged.Encode()); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged state: %d", r.StatusCode)
	}
	// The device flow, for a CLI without a browser: bob approves the code
	// on another device while the CLI waits.
	var device login.Device
	if err := e.clientWithToken(t, "").Do(ctx, "POST", "/auth/oidc/sso/device", "", nil, &device); err != nil {
		t.Fatal(err)
	}
	if err := idp.ApproveDevice(ctx, idp.ClientID, "openid", device.UserCode, "bob", "bobpw"); err != nil {
		t.Fatal(err)
	}
	var res login.Result
	raw, _ := json.Marshal(device)
	if err := e.clientWithToken(t, "").Do(ctx, "POST", "/auth/oidc/sso/device/token", "application/json", raw, &res); err != nil || res.User != "bob" {
		t.Fatalf("device login: %+v, %v", res, err)
	}
	// Where the browser may go afterwards is checked.
	if r := get(e.url + "/auth/oidc/sso/start?then=" + url.QueryEscape("https://evil.example/steal")); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("foreign then: %d", r.StatusCode)
	}
}
