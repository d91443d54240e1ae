// Package glewlwyd starts a private glewlwyd 2.7 OpenID Connect provider
// (Debian package glewlwyd, sqlite backend) as a foreground child process for
// tests: all its files live in one directory, it listens on a loopback port
// chosen at run time, and it is configured through its own admin API with an
// OIDC plugin (PKCE allowed, username, email, name and groups claims), test
// users and one confidential client. Authorize plays the browser through
// glewlwyd's login API. Stop ends it by PID and waits for the exit.
package glewlwyd

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/slipway/slipway/internal/childproc"
)

// Binaries and files from the Debian packages glewlwyd and sqlite3.
const (
	Binary       = "glewlwyd"
	SQLiteBinary = "sqlite3"
	InitSQL      = "/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"
	WebappDir    = "/usr/share/glewlwyd/webapp/"
	ModuleDir    = "/usr/lib/glewlwyd"
)

// The administrator created by glewlwyd's init script.
const (
	adminUser     = "admin"
	adminPassword = "password"
)

const (
	startAttempts = 3
	readyTimeout  = 20 * time.Second
	stopGrace     = 5 * time.Second
)

// User is a glewlwyd user created at start-up.
type User struct {
	Username, Password, Name, Email string
	Groups                          []string
}

// Options configure Start.
type Options struct {
	// Dir holds every file of the instance; empty means a temporary
	// directory removed by Stop.
	Dir string
	// RedirectURIs the client may use; at least one is required.
	RedirectURIs []string
	// ClientID and ClientSecret of the confidential client (defaults
	// "platform" / "platform-secret").
	ClientID, ClientSecret string
	// Users to create; nil means DefaultUsers.
	Users []User
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// DefaultUsers are the users created when Options.Users is nil.
var DefaultUsers = []User{
	{Username: "alice", Password: "alicepw", Name: "Alice Liddell", Email: "alice@example.org", Groups: []string{"developers", "admins"}},
	{Username: "bob", Password: "bobpw", Name: "Bob Builder", Email: "bob@example.org", Groups: []string{"developers"}},
}

// Server is a running, configured glewlwyd child.
type Server struct {
	// URL is glewlwyd's external URL, e.g. http://127.0.0.1:PORT.
	URL string
	// Issuer is the OIDC issuer, URL + "/api/oidc".
	Issuer string
	// ClientID and ClientSecret of the registered confidential client.
	ClientID, ClientSecret string
	// Users created at start-up.
	Users []User
	// Dir is the instance directory.
	Dir string

	removeDir bool
	logger    *slog.Logger
	proc      *childproc.Process
}

// Start initialises the sqlite database, starts glewlwyd in the foreground
// and configures it through the admin API. The server outlives ctx, which
// bounds only the start-up; call Stop to end it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := exec.LookPath(Binary)
	if err != nil {
		return nil, fmt.Errorf("glewlwyd: find %s: %w", Binary, err)
	}
	sqlite, err := exec.LookPath(SQLiteBinary)
	if err != nil {
		return nil, fmt.Errorf("glewlwyd: find %s: %w", SQLiteBinary, err)
	}
	if len(opts.RedirectURIs) == 0 {
		return nil, errors.New("glewlwyd: at least one redirect URI is required")
	}
	s := &Server{
		ClientID:     opts.ClientID,
		ClientSecret: opts.ClientSecret,
		Users:        opts.Users,
		Dir:          opts.Dir,
		logger:       opts.Logger,
	}
	if s.ClientID == "" {
		s.ClientID = "platform"
	}
	if s.ClientSecret == "" {
		s.ClientSecret = "platform-secret"
	}
	if s.Users == nil {
		s.Users = DefaultUsers
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "slipway-glewlwyd-"); err != nil {
			return nil, fmt.Errorf("glewlwyd: create state directory: %w", err)
		}
		s.removeDir = true
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.Stop()
		}
	}()

	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		if lastErr = s.launch(ctx, bin, sqlite); lastErr == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, lastErr
		}
		s.logger.Warn("glewlwyd start attempt failed", "attempt", attempt+1, "err", lastErr)
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if err := s.configure(ctx, opts.RedirectURIs); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, childproc.LogTail(filepath.Join(s.Dir, "glewlwyd.log")))
	}
	ok = true
	s.logger.Info("glewlwyd started", "url", s.URL, "issuer", s.Issuer, "pid", s.proc.PID(), "dir", s.Dir)
	return s, nil
}

// launch creates a fresh database, writes the configuration for a newly
// chosen port, starts glewlwyd and waits until it accepts connections.
func (s *Server) launch(ctx context.Context, bin, sqlite string) error {
	dbPath := filepath.Join(s.Dir, "glewlwyd.db")
	_ = os.Remove(dbPath)
	if err := initDatabase(ctx, sqlite, dbPath); err != nil {
		return err
	}
	port, err := childproc.FreeLoopbackPort()
	if err != nil {
		return fmt.Errorf("glewlwyd: %w", err)
	}
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	s.Issuer = s.URL + "/api/oidc"
	confPath := filepath.Join(s.Dir, "glewlwyd.conf")
	if err := os.WriteFile(confPath, []byte(renderConfig(port, s.URL, dbPath)), 0o600); err != nil {
		return fmt.Errorf("glewlwyd: write configuration: %w", err)
	}
	// The server outlives the start-up context.
	s.proc, err = childproc.Start("glewlwyd", s.Dir, filepath.Join(s.Dir, "glewlwyd.log"), bin, "-c", confPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.proc.WaitTCP(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Millisecond); err != nil {
		_ = s.terminate()
		return fmt.Errorf("glewlwyd: not ready on port %d: %w (log: %s)", port, err, s.proc.LogTail())
	}
	return nil
}

// initDatabase runs Debian's sqlite init script (admin user, database user
// and client modules, openid scope) and declares the multi-valued user
// property "groups" that the groups claim reads.
func initDatabase(ctx context.Context, sqlite, dbPath string) error {
	f, err := os.Open(InitSQL)
	if err != nil {
		return fmt.Errorf("glewlwyd: open init script: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("glewlwyd: read init script: %w", err)
	}
	groupsProperty := `UPDATE g_user_module_instance SET gumi_parameters = json_set(gumi_parameters, '$."data-format".groups', json('{"multiple":true,"read":true,"write":true,"profile-read":true,"profile-write":false}')) WHERE gumi_name = 'database';` + "\n"
	cmd := exec.CommandContext(ctx, sqlite, dbPath)
	cmd.Stdin = io.MultiReader(zr, bytes.NewBufferString(groupsProperty))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("glewlwyd: initialise database: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop sends SIGTERM (glewlwyd exits in about 1.2 s), falls back to SIGKILL
// after a grace period, waits for the exit and removes the directory when
// Start created it.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	err := s.terminate()
	if s.removeDir {
		if rmErr := os.RemoveAll(s.Dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("glewlwyd: remove state directory: %w", rmErr))
		}
	}
	return err
}

func (s *Server) terminate() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.Stop(syscall.SIGTERM, stopGrace)
	if errors.Is(err, childproc.ErrKilled) {
		s.logger.Warn("glewlwyd ignored SIGTERM and was killed", "pid", s.proc.PID())
		return nil
	}
	return err
}

// renderConfig follows FIELD-NOTES §5.1. No use_secure_connection line at
// all: any value without key files makes glewlwyd exit.
func renderConfig(port int, externalURL, dbPath string) string {
	return fmt.Sprintf(`port=%d
bind_address="127.0.0.1"
external_url="%s"
login_url="login.html"
api_prefix="api"
static_files_path="%s"
allow_origin="*"
log_mode="console"
log_level="WARNING"
cookie_secure=0
session_expiration=2419200
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="%[4]s/user"
user_middleware_module_path="%[4]s/user_middleware"
client_module_path="%[4]s/client"
user_auth_scheme_module_path="%[4]s/scheme"
plugin_module_path="%[4]s/plugin"
hash_algorithm = "SHA512"
database =
{
  type = "sqlite3"
  path = "%[5]s"
};
`, port, externalURL, WebappDir, ModuleDir, dbPath)
}
