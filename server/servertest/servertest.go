// Package servertest starts a real Slipway API server for tests — over a
// real PostgreSQL from storetest, with the bootstrap admin logged in — so
// tests of every layer exercise the same server the product runs. Test
// binaries that use it need storetest.Main (or its equivalent) in TestMain.
package servertest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/storetest"
)

// AdminPassword is the bootstrap admin's password in tests.
const AdminPassword = "servertest-admin-password"

// Env is a running server and its admin.
type Env struct {
	Server *server.Server
	// Admin is logged in as the bootstrap admin.
	Admin *client.Client
}

// Start runs a server with cfg (DataDir, DatabaseURL, BootstrapPassword,
// Listen and Logger are filled in when empty) and stops it when the test
// ends.
func Start(t testing.TB, cfg server.Config) *Env {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = storetest.NewDatabase(t)
	}
	if cfg.BootstrapPassword == "" {
		cfg.BootstrapPassword = AdminPassword
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	e := &Env{Server: srv}
	e.Admin = e.Login(t, "admin", cfg.BootstrapPassword)
	return e
}

// Client returns a client presenting token ("" for anonymous).
func (e *Env) Client(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Server: e.Server.URL(), CAFile: e.Server.CAFile(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Token logs a user in with a password and returns the token.
func (e *Env) Token(t testing.TB, user, password string) string {
	t.Helper()
	var res struct{ Token string }
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	if err := e.Client(t, "").Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
	return res.Token
}

// Login logs a user in and returns a client with the token.
func (e *Env) Login(t testing.TB, user, password string) *client.Client {
	t.Helper()
	return e.Client(t, e.Token(t, user, password))
}
