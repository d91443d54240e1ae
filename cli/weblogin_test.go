package cli_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/auth/oidc"
	"github.com/slipway/slipway/auth/oidc/glewlwyd"
	"github.com/slipway/slipway/cli"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/storetest"
)

// `slip login --web` end to end: the CLI's loopback listener, Slipway's
// OIDC endpoints and glewlwyd as the provider; the test plays the browser.
func TestWebLoginThroughOIDC(t *testing.T) {
	testpeer.RequireBinary(t, "glewlwyd (Debian package glewlwyd)", glewlwyd.Binary)
	testpeer.RequireBinary(t, "sqlite3 (Debian package sqlite3)", glewlwyd.SQLiteBinary)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
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
	defer idp.Stop()
	srv, err := server.Start(ctx, server.Config{
		Listen: addr, DataDir: t.TempDir(), DatabaseURL: storetest.NewDatabase(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BootstrapPassword: "web-login-admin-pw",
		Identity: login.Config{IdentityProviders: []login.ProviderConfig{
			{Name: "local", Type: login.TypeLocal},
			{Name: "sso", Type: login.TypeOIDC, OIDC: &oidc.Config{Issuer: idp.Issuer, ClientID: idp.ClientID,
				ClientSecret: idp.ClientSecret, RedirectURL: callback, Scopes: []string{"openid"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	browser := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // the test's own server
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	follow := func(u string) string {
		resp, err := browser.Get(u)
		if err != nil {
			t.Errorf("browser: %v", err)
			return ""
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	browsed := make(chan error, 1)
	openBrowser := func(start string) error {
		go func() {
			// Slipway → provider login → back to Slipway → the CLI's listener.
			query, err := idp.Authorize(ctx, follow(start), "bob", "bobpw")
			if err != nil {
				browsed <- err
				return
			}
			follow(follow(srv.URL() + "/auth/oidc/sso/callback?" + query.Encode()))
			browsed <- nil
		}()
		return nil
	}
	config := filepath.Join(t.TempDir(), "config")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		app := &cli.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Now: time.Now, OpenBrowser: openBrowser,
			Getenv: func(k string) string {
				if k == "SLIPCONFIG" {
					return config
				}
				return ""
			}}
		return app.Run(ctx, args), out.String(), errOut.String()
	}
	if code, stdout, stderr := run("login", srv.URL(), "--web", "--provider", "sso", "--certificate-authority", srv.CAFile()); code != 0 {
		t.Fatalf("slip login --web: %d\n%s\n%s", code, stdout, stderr)
	}
	if err := <-browsed; err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := run("whoami"); code != 0 || strings.TrimSpace(stdout) != "bob" {
		t.Fatalf("whoami after --web: %d %q %q", code, stdout, stderr)
	}
}
