package cli_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/auth/ldap"
	"github.com/slipway/slipway/auth/ldap/slapd"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/cli"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/storetest"
)

// `slip login -u -p --provider` through an LDAP directory (a real slapd):
// a directory user logs in, sees who they are, and a wrong password or a
// disabled account fails with the same one-line error and exit code 1.
func TestLoginThroughLDAP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir, err := slapd.Start(ctx, slapd.Options{})
	if errors.Is(err, exec.ErrNotFound) {
		testpeer.Missing(t, "slapd (Debian package slapd)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Stop() })
	srv, err := server.Start(ctx, server.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: storetest.NewDatabase(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BootstrapPassword: "ldap-login-admin-pw",
		Identity: login.Config{IdentityProviders: []login.ProviderConfig{
			{Name: "local", Type: login.TypeLocal},
			{Name: "corp", Type: login.TypeLDAP, LDAP: &ldap.Config{
				URL: dir.URL, BindDN: dir.Fixture.ServiceDN, BindPassword: dir.Fixture.ServicePassword,
				UserBase: "ou=people," + dir.BaseDN, UserFilter: "(&(objectClass=inetOrgPerson)(uid=%s))",
				DisabledFilter: "(employeeType=disabled)",
				Groups:         ldap.GroupSearch{Base: "ou=groups," + dir.BaseDN, Filter: "(objectClass=groupOfNames)"},
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	password := func(user string) string {
		for _, u := range dir.Fixture.Users {
			if u.Username == user {
				return u.Password
			}
		}
		t.Fatalf("no fixture user %s", user)
		return ""
	}
	config := filepath.Join(t.TempDir(), "config")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		app := &cli.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Now: time.Now,
			Getenv: func(k string) string {
				if k == "SLIPCONFIG" {
					return config
				}
				return ""
			}}
		return app.Run(ctx, args), out.String(), errOut.String()
	}
	code, stdout, stderr := run("login", srv.URL(), "--provider", "corp", "-u", "alice", "-p", password("alice"), "--certificate-authority", srv.CAFile())
	if code != 0 || !strings.Contains(stdout, `as "alice"`) {
		t.Fatalf("slip login through LDAP: %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := run("whoami"); code != 0 || strings.TrimSpace(stdout) != "alice" {
		t.Fatalf("whoami: %d %q", code, stdout)
	}
	for _, tc := range [][3]string{
		{"alice", "wrong", "failed: unknown user or wrong password"},
		{"nobody", "x", "failed: unknown user or wrong password"},
		{"carol", password("carol"), `Forbidden: the directory account "carol" is disabled`},
	} {
		code, _, stderr := run("login", "--provider", "corp", "-u", tc[0], "-p", tc[1])
		if code != 1 || !strings.Contains(stderr, tc[2]) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("login as %s: exit %d, stderr %q; want 1 and one line saying %q", tc[0], code, stderr, tc[2])
		}
	}
}
