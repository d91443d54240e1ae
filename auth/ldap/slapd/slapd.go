// Package slapd starts a private OpenLDAP slapd as a foreground child process
// for tests and local clusters: all its files (configuration, database, pid
// file, log, TLS material) live in one directory, it listens on loopback ports
// chosen at run time, it is loaded with fixture entries before it starts, and
// Stop ends it by PID and waits for the exit.
package slapd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway/slipway/internal/childproc"
)

// Binary names looked up in PATH (Debian installs them in /usr/sbin).
const (
	SlapdBinary   = "slapd"
	SlapaddBinary = "slapadd"
)

// Default directory layout of a started server.
const (
	DefaultSuffix        = "dc=example,dc=org"
	DefaultAdminPassword = "adminpw"
)

// startAttempts bounds the retries when a port chosen at run time is taken by
// someone else between choosing it and slapd binding it.
const startAttempts = 3

// readyTimeout bounds the wait for slapd to accept connections (measured:
// 11–14 ms on the reference machine).
const readyTimeout = 15 * time.Second

// Options configure Start. The zero value starts a plain-LDAP server with the
// default fixture in a fresh temporary directory.
type Options struct {
	// Dir holds every file of the instance; it must be empty or absent. When
	// empty, a temporary directory is created and removed by Stop.
	Dir string
	// Suffix is the base DN of the directory (default DefaultSuffix).
	Suffix string
	// Fixture is the directory content; nil means DefaultFixture(Suffix).
	// The suffix entry itself must be part of it.
	Fixture *Fixture
	// TLS also serves ldaps:// and StartTLS with a certificate for 127.0.0.1
	// and localhost, signed by a CA generated for this instance (CAFile).
	TLS bool
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Server is a running slapd child.
type Server struct {
	// URL is the plain ldap:// address (StartTLS is offered when TLS is on).
	URL string
	// LDAPSURL is the ldaps:// address, empty unless Options.TLS.
	LDAPSURL string
	// CAFile is the PEM CA certificate that signed the server certificate,
	// empty unless Options.TLS.
	CAFile string
	// BaseDN is the directory suffix.
	BaseDN string
	// AdminDN and AdminPassword are the rootdn credentials.
	AdminDN       string
	AdminPassword string
	// Fixture is the content the directory was loaded with.
	Fixture *Fixture
	// Dir is the instance directory.
	Dir string

	removeDir bool
	logger    *slog.Logger
	proc      *childproc.Process
}

// Start writes the configuration, loads the fixture offline with slapadd and
// starts slapd in the foreground (-d 0), returning once it accepts LDAP
// connections. The server outlives ctx, which bounds only the start-up; call
// Stop to end it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	slapdPath, err := exec.LookPath(SlapdBinary)
	if err != nil {
		return nil, fmt.Errorf("slapd: find %s: %w", SlapdBinary, err)
	}
	slapaddPath, err := exec.LookPath(SlapaddBinary)
	if err != nil {
		return nil, fmt.Errorf("slapd: find %s: %w", SlapaddBinary, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	suffix := opts.Suffix
	if suffix == "" {
		suffix = DefaultSuffix
	}
	fixture := opts.Fixture
	if fixture == nil {
		fixture = DefaultFixture(suffix)
	}

	s := &Server{
		BaseDN:        suffix,
		AdminDN:       "cn=admin," + suffix,
		AdminPassword: DefaultAdminPassword,
		Fixture:       fixture,
		Dir:           opts.Dir,
		logger:        logger,
	}
	if s.Dir == "" {
		s.Dir, err = os.MkdirTemp("", "slipway-slapd-")
		if err != nil {
			return nil, fmt.Errorf("slapd: create state directory: %w", err)
		}
		s.removeDir = true
	}
	ok := false
	defer func() {
		if !ok && s.removeDir {
			_ = os.RemoveAll(s.Dir)
		}
	}()
	if err := os.MkdirAll(filepath.Join(s.Dir, "db"), 0o700); err != nil {
		return nil, fmt.Errorf("slapd: create database directory: %w", err)
	}

	var tlsFiles *tlsFiles
	if opts.TLS {
		tlsFiles, err = writeTLSFiles(s.Dir)
		if err != nil {
			return nil, err
		}
		s.CAFile = tlsFiles.caFile
	}
	confPath := filepath.Join(s.Dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(renderConfig(s.Dir, suffix, s.AdminDN, s.AdminPassword, fixture.ServiceDN, tlsFiles)), 0o600); err != nil {
		return nil, fmt.Errorf("slapd: write configuration: %w", err)
	}
	ldifPath := filepath.Join(s.Dir, "fixture.ldif")
	if err := os.WriteFile(ldifPath, []byte(fixture.LDIF()), 0o600); err != nil {
		return nil, fmt.Errorf("slapd: write fixture: %w", err)
	}
	if out, err := exec.CommandContext(ctx, slapaddPath, "-q", "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapd: load fixture with slapadd: %w: %s", err, bytes.TrimSpace(out))
	}

	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		lastErr = s.launch(ctx, slapdPath, confPath, opts.TLS)
		if lastErr == nil {
			ok = true
			logger.Info("slapd started", "url", s.URL, "ldaps", s.LDAPSURL, "pid", s.proc.PID(), "dir", s.Dir)
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
		logger.Warn("slapd start attempt failed", "attempt", attempt+1, "err", lastErr)
	}
	return nil, lastErr
}

// launch starts one slapd process on freshly chosen ports and waits until it
// answers, or stops it and reports why it did not.
func (s *Server) launch(ctx context.Context, slapdPath, confPath string, withTLS bool) error {
	port, err := childproc.FreeLoopbackPort()
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	urls := []string{"ldap://127.0.0.1:" + strconv.Itoa(port) + "/"}
	s.URL = strings.TrimSuffix(urls[0], "/")
	s.LDAPSURL = ""
	if withTLS {
		tlsPort, err := childproc.FreeLoopbackPort()
		if err != nil {
			return fmt.Errorf("slapd: %w", err)
		}
		urls = append(urls, "ldaps://127.0.0.1:"+strconv.Itoa(tlsPort)+"/")
		s.LDAPSURL = strings.TrimSuffix(urls[1], "/")
	}
	// The server outlives the start-up context.
	s.proc, err = childproc.Start("slapd", s.Dir, filepath.Join(s.Dir, "slapd.log"),
		slapdPath, "-d", "0", "-h", strings.Join(urls, " "), "-f", confPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.proc.WaitTCP(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Millisecond); err != nil {
		_ = s.kill()
		return fmt.Errorf("slapd: not ready on port %d: %w (log: %s)", port, err, s.proc.LogTail())
	}
	return nil
}

// Stop kills slapd and waits for it to exit, then removes the directory when
// Start created it. SIGKILL is deliberate: the directory is disposable, and
// slapd takes over a second to honour SIGTERM (1–6 ms for SIGKILL).
func (s *Server) Stop() error {
	if s == nil || s.proc == nil {
		return nil
	}
	err := s.kill()
	if s.removeDir {
		if rmErr := os.RemoveAll(s.Dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("slapd: remove state directory: %w", rmErr))
		}
	}
	if err == nil {
		s.logger.Info("slapd stopped", "dir", s.Dir)
	}
	return err
}

func (s *Server) kill() error { return s.proc.Stop(syscall.SIGKILL, 0) }

// renderConfig writes a slapd.conf following the verified configuration of
// FIELD-NOTES §4, plus nis.schema for posixGroup and optional TLS settings.
func renderConfig(dir, suffix, adminDN, adminPassword, serviceDN string, tf *tlsFiles) string {
	var b strings.Builder
	fmt.Fprintf(&b, `include         /etc/ldap/schema/core.schema
include         /etc/ldap/schema/cosine.schema
include         /etc/ldap/schema/nis.schema
include         /etc/ldap/schema/inetorgperson.schema
pidfile         %[1]s/slapd.pid
argsfile        %[1]s/slapd.args
modulepath      /usr/lib/ldap
moduleload      back_mdb
`, dir)
	if tf != nil {
		fmt.Fprintf(&b, "TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", tf.caFile, tf.certFile, tf.keyFile)
	}
	fmt.Fprintf(&b, `database        mdb
maxsize         104857600
suffix          %q
rootdn          %q
rootpw          %s
directory       %s/db
index           objectClass,uid,member,memberUid eq
access to attrs=userPassword
        by anonymous auth
        by * none
access to *
        by dn.exact=%q read
        by self read
        by * none
`, suffix, adminDN, adminPassword, dir, serviceDN)
	return b.String()
}
