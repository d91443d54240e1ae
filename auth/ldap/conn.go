package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// loadTLSConfig builds the client TLS configuration for ldaps:// and
// StartTLS: the CA file when set, otherwise the system roots.
func loadTLSConfig(cfg Config, host string) (*tls.Config, error) {
	tc := &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in, documented as tests only
	}
	if cfg.CAFile != "" {
		pemBytes, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: caFile: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%w: caFile %s: no PEM certificate found", ErrInvalidConfig, cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// session is one LDAP connection used for a single Authenticate or
// ListGroups call.
type session struct {
	conn *goldap.Conn
	stop func() bool // detaches the ctx watcher
}

// dial connects to the directory within ctx and the dial timeout, upgrades
// with StartTLS when configured, and makes ctx cancellation close the
// connection so that a blocked request returns at once.
func (a *Authenticator) dial(ctx context.Context) (*session, error) {
	u, err := url.Parse(a.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: url: %w", ErrInvalidConfig, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	addr := net.JoinHostPort(host, port)
	dialCtx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	defer cancel()

	var raw net.Conn
	if u.Scheme == "ldaps" {
		d := tls.Dialer{Config: a.tlsConfig}
		raw, err = d.DialContext(dialCtx, "tcp", addr)
	} else {
		var d net.Dialer
		raw, err = d.DialContext(dialCtx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w", ErrUnavailable, addr, err)
	}
	conn := goldap.NewConn(raw, u.Scheme == "ldaps")
	conn.Start()
	s := &session{conn: conn}
	s.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	s.setDeadline(ctx, a.cfg.RequestTimeout)

	if a.cfg.StartTLS {
		if err := conn.StartTLS(a.tlsConfig); err != nil {
			s.close()
			return nil, fmt.Errorf("%w: StartTLS with %s: %w", ErrUnavailable, addr, ctxErr(ctx, err))
		}
	}
	return s, nil
}

// setDeadline bounds each request by the request timeout or what remains
// of ctx, whichever is shorter.
func (s *session) setDeadline(ctx context.Context, timeout time.Duration) {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = max(left, time.Millisecond)
		}
	}
	s.conn.SetTimeout(timeout)
}

func (s *session) close() {
	s.stop()
	_ = s.conn.Close()
}

// ctxErr prefers the context's error when ctx ended: the LDAP library then
// only reports a closed connection.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
