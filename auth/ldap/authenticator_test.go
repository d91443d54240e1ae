package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/auth/ldap"
	"github.com/slipway/slipway/auth/ldap/slapd"
	"github.com/slipway/slipway/internal/testpeer"
)

// One slapd for the whole package, started by the package's own launcher.
var (
	directory      *slapd.Server
	directoryError error
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	directory, directoryError = slapd.Start(ctx, slapd.Options{TLS: true})
	cancel()
	code := m.Run()
	if directory != nil {
		if err := directory.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop slapd:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// requireDirectory returns the shared slapd or stops the test by testpeer's
// rule when slapd is not installed.
func requireDirectory(t *testing.T) *slapd.Server {
	t.Helper()
	if errors.Is(directoryError, exec.ErrNotFound) {
		testpeer.Missing(t, "slapd (Debian packages slapd, ldap-utils)", directoryError)
	}
	if directoryError != nil {
		t.Fatalf("start slapd: %v", directoryError)
	}
	return directory
}

// baseConfig is the configuration a Slipway admin would write for the
// fixture directory: groupOfNames groups and employeeType-based disabling.
func baseConfig(d *slapd.Server) ldap.Config {
	return ldap.Config{
		Name:           "corp",
		URL:            d.URL,
		BindDN:         d.Fixture.ServiceDN,
		BindPassword:   d.Fixture.ServicePassword,
		UserBase:       "ou=people," + d.BaseDN,
		UserFilter:     "(&(objectClass=inetOrgPerson)(uid=%s))",
		DisabledFilter: "(employeeType=disabled)",
		Groups: ldap.GroupSearch{
			Base:   "ou=groups," + d.BaseDN,
			Filter: "(objectClass=groupOfNames)",
		},
		RequestTimeout: 5 * time.Second,
	}
}

func newAuthenticator(t *testing.T, cfg ldap.Config) *ldap.Authenticator {
	t.Helper()
	a, err := ldap.New(cfg, ldap.Options{})
	if err != nil {
		t.Fatalf("ldap.New: %v", err)
	}
	return a
}

func TestAuthenticate(t *testing.T) {
	d := requireDirectory(t)
	a := newAuthenticator(t, baseConfig(d))

	alice := ldap.Identity{
		Provider:    "corp",
		Subject:     "uid=alice,ou=people," + d.BaseDN,
		Username:    "alice",
		Email:       "alice@example.org",
		DisplayName: "Alice Liddell",
		Groups:      []string{"admins", "developers"},
	}
	cases := []struct {
		name     string
		username string
		password string
		want     ldap.Identity
		wantErr  error
	}{
		{name: "valid login", username: "alice", password: "alicepw", want: alice},
		{name: "username matched case-insensitively, identity canonical", username: "ALICE", password: "alicepw", want: alice},
		{name: "second user", username: "bob", password: "bobpw", want: ldap.Identity{
			Provider: "corp", Subject: "uid=bob,ou=people," + d.BaseDN, Username: "bob",
			Email: "bob@example.org", DisplayName: "Bob Builder", Groups: []string{"developers"},
		}},
		{name: "wrong password", username: "alice", password: "wrong", wantErr: ldap.ErrInvalidCredentials},
		{name: "unknown user", username: "mallory", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "empty password", username: "alice", password: "", wantErr: ldap.ErrInvalidCredentials},
		{name: "empty username", username: "", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "other user's password", username: "bob", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "disabled user with right password", username: "carol", password: "carolpw", wantErr: ldap.ErrAccountDisabled},
		{name: "disabled user with wrong password hides the state", username: "carol", password: "nope", wantErr: ldap.ErrInvalidCredentials},
		// Injection: unescaped, each of these would select alice and the
		// bind would then succeed with her password.
		{name: "injection wildcard", username: "*", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "injection prefix wildcard", username: "ali*", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "injection filter break-out", username: "alice)(uid=*", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "injection or-clause", username: "*)(|(uid=alice)", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "injection NUL byte", username: "alice\x00", password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
		{name: "injection escaped hex", username: `\2a`, password: "alicepw", wantErr: ldap.ErrInvalidCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			got, err := a.Authenticate(ctx, tc.username, tc.password)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Authenticate(%q) error = %v, want %v", tc.username, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), tc.password) && tc.password != "" {
					t.Fatalf("error %q contains the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate(%q): %v", tc.username, err)
			}
			if !identityEqual(got, tc.want) {
				t.Fatalf("identity = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestUnknownUserAndWrongPasswordLookAlike: the messages differ in the
// wrapped detail (for logs) but callers see one error class and one message
// at the top.
func TestUnknownUserAndWrongPasswordLookAlike(t *testing.T) {
	d := requireDirectory(t)
	a := newAuthenticator(t, baseConfig(d))
	_, errUnknown := a.Authenticate(t.Context(), "nobody", "x")
	_, errWrong := a.Authenticate(t.Context(), "alice", "x")
	for _, err := range []error{errUnknown, errWrong} {
		if !errors.Is(err, ldap.ErrInvalidCredentials) || errors.Is(err, ldap.ErrAccountDisabled) || errors.Is(err, ldap.ErrUnavailable) {
			t.Fatalf("error %v is not exactly ErrInvalidCredentials", err)
		}
	}
}

func TestAuthenticateConfigurations(t *testing.T) {
	d := requireDirectory(t)
	cases := []struct {
		name     string
		mutate   func(*ldap.Config)
		username string
		password string
		want     ldap.Identity // compared on Username and Groups
		wantErr  error
	}{
		{
			name: "StartTLS with CA file",
			mutate: func(c *ldap.Config) {
				c.StartTLS, c.CAFile = true, d.CAFile
			},
			username: "alice", password: "alicepw",
			want: ldap.Identity{Username: "alice", Groups: []string{"admins", "developers"}},
		},
		{
			name:     "ldaps with CA file",
			mutate:   func(c *ldap.Config) { c.URL, c.CAFile = d.LDAPSURL, d.CAFile },
			username: "bob", password: "bobpw",
			want: ldap.Identity{Username: "bob", Groups: []string{"developers"}},
		},
		{
			name:     "ldaps without the CA is refused",
			mutate:   func(c *ldap.Config) { c.URL = d.LDAPSURL },
			username: "alice", password: "alicepw",
			wantErr: ldap.ErrUnavailable,
		},
		{
			name:     "StartTLS without the CA is refused",
			mutate:   func(c *ldap.Config) { c.StartTLS = true },
			username: "alice", password: "alicepw",
			wantErr: ldap.ErrUnavailable,
		},
		{
			name: "posixGroup memberUid groups",
			mutate: func(c *ldap.Config) {
				c.Groups = ldap.GroupSearch{
					Base: "ou=groups," + d.BaseDN, Filter: "(objectClass=posixGroup)",
					MemberAttribute: "memberUid", MemberValue: ldap.MemberByUsername,
				}
			},
			username: "bob", password: "bobpw",
			want: ldap.Identity{Username: "bob", Groups: []string{"ops"}},
		},
		{
			name:     "groups not configured",
			mutate:   func(c *ldap.Config) { c.Groups = ldap.GroupSearch{} },
			username: "alice", password: "alicepw",
			want: ldap.Identity{Username: "alice", Groups: []string{}},
		},
		{
			name:     "no disabled filter lets carol in",
			mutate:   func(c *ldap.Config) { c.DisabledFilter = "" },
			username: "carol", password: "carolpw",
			want: ldap.Identity{Username: "carol", Groups: []string{"developers"}},
		},
		{
			name:     "wrong service password",
			mutate:   func(c *ldap.Config) { c.BindPassword = "not-the-service-password" },
			username: "alice", password: "alicepw",
			wantErr: ldap.ErrUnavailable,
		},
		{
			name:     "anonymous search cannot see users",
			mutate:   func(c *ldap.Config) { c.BindDN, c.BindPassword = "", "" },
			username: "alice", password: "alicepw",
			wantErr: ldap.ErrInvalidCredentials,
		},
		{
			name:     "ambiguous filter refuses the login",
			mutate:   func(c *ldap.Config) { c.UserFilter = "(|(uid=%s)(objectClass=inetOrgPerson))" },
			username: "alice", password: "alicepw",
			wantErr: ldap.ErrInvalidCredentials,
		},
		{
			name:     "mail as username attribute",
			mutate:   func(c *ldap.Config) { c.UserFilter = "(mail=%s)"; c.Attributes.Username = "mail" },
			username: "bob@example.org", password: "bobpw",
			want: ldap.Identity{Username: "bob@example.org", Groups: []string{"developers"}},
		},
		{
			name:     "unreachable server",
			mutate:   func(c *ldap.Config) { c.URL = "ldap://127.0.0.1:1" },
			username: "alice", password: "alicepw",
			wantErr: ldap.ErrUnavailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(d)
			tc.mutate(&cfg)
			a := newAuthenticator(t, cfg)
			got, err := a.Authenticate(t.Context(), tc.username, tc.password)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.Username != tc.want.Username || !slices.Equal(got.Groups, tc.want.Groups) {
				t.Fatalf("got username %q groups %v, want %q %v", got.Username, got.Groups, tc.want.Username, tc.want.Groups)
			}
		})
	}
}

func TestListGroups(t *testing.T) {
	d := requireDirectory(t)
	cases := []struct {
		name   string
		groups ldap.GroupSearch
		want   []ldap.Group
	}{
		{
			name:   "groupOfNames by member DN",
			groups: ldap.GroupSearch{Base: "ou=groups," + d.BaseDN, Filter: "(objectClass=groupOfNames)"},
			want: []ldap.Group{
				{Name: "admins", Members: []string{"alice"}},
				{Name: "developers", Members: []string{"alice", "bob", "carol"}},
			},
		},
		{
			name: "posixGroup by memberUid",
			groups: ldap.GroupSearch{
				Base: "ou=groups," + d.BaseDN, Filter: "(objectClass=posixGroup)",
				MemberAttribute: "memberUid", MemberValue: ldap.MemberByUsername,
			},
			want: []ldap.Group{{Name: "ops", Members: []string{"bob"}}},
		},
		{
			name:   "missing base is empty",
			groups: ldap.GroupSearch{Base: "ou=nowhere," + d.BaseDN, Filter: "(objectClass=groupOfNames)"},
			want:   []ldap.Group{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(d)
			cfg.Groups = tc.groups
			got, err := newAuthenticator(t, cfg).ListGroups(t.Context())
			if err != nil {
				t.Fatalf("ListGroups: %v", err)
			}
			if !slices.EqualFunc(got, tc.want, func(x, y ldap.Group) bool {
				return x.Name == y.Name && slices.Equal(x.Members, y.Members)
			}) {
				t.Fatalf("groups = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestContextCancellation(t *testing.T) {
	d := requireDirectory(t)
	a := newAuthenticator(t, baseConfig(d))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := a.Authenticate(ctx, "alice", "alicepw")
	if !errors.Is(err, ldap.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want ErrUnavailable wrapping context.Canceled", err)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := ldap.Config{URL: "ldap://dir.example:389", UserBase: "ou=people,dc=x", UserFilter: "(uid=%s)"}
	cases := []struct {
		name    string
		mutate  func(*ldap.Config)
		wantErr error
	}{
		{name: "valid", mutate: func(*ldap.Config) {}},
		{name: "ldaps", mutate: func(c *ldap.Config) { c.URL = "ldaps://dir.example" }},
		{name: "http scheme", mutate: func(c *ldap.Config) { c.URL = "http://dir.example" }, wantErr: ldap.ErrInvalidConfig},
		{name: "no host", mutate: func(c *ldap.Config) { c.URL = "ldap://" }, wantErr: ldap.ErrInvalidConfig},
		{name: "ldaps with StartTLS", mutate: func(c *ldap.Config) { c.URL = "ldaps://d"; c.StartTLS = true }, wantErr: ldap.ErrInvalidConfig},
		{name: "no user base", mutate: func(c *ldap.Config) { c.UserBase = "" }, wantErr: ldap.ErrInvalidConfig},
		{name: "filter without placeholder", mutate: func(c *ldap.Config) { c.UserFilter = "(uid=alice)" }, wantErr: ldap.ErrInvalidConfig},
		{name: "filter with two placeholders", mutate: func(c *ldap.Config) { c.UserFilter = "(|(uid=%s)(mail=%s))" }, wantErr: ldap.ErrInvalidConfig},
		{name: "unbalanced filter", mutate: func(c *ldap.Config) { c.UserFilter = "(uid=%s" }, wantErr: ldap.ErrInvalidConfig},
		{name: "unbalanced disabled filter", mutate: func(c *ldap.Config) { c.DisabledFilter = "employeeType=disabled" }, wantErr: ldap.ErrInvalidConfig},
		{name: "bad member style", mutate: func(c *ldap.Config) { c.Groups.MemberValue = "uid" }, wantErr: ldap.ErrInvalidConfig},
		{name: "bind DN without password", mutate: func(c *ldap.Config) { c.BindDN = "cn=svc" }, wantErr: ldap.ErrInvalidConfig},
		{name: "unreadable CA file", mutate: func(c *ldap.Config) { c.CAFile = "/nonexistent/ca.pem" }, wantErr: ldap.ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			_, err := ldap.New(cfg, ldap.Options{})
			if tc.wantErr == nil && err != nil {
				t.Fatalf("New: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("New error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func identityEqual(a, b ldap.Identity) bool {
	return a.Provider == b.Provider && a.Subject == b.Subject && a.Username == b.Username &&
		a.Email == b.Email && a.DisplayName == b.DisplayName && slices.Equal(a.Groups, b.Groups)
}
