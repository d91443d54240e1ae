package slapd_test

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/auth/ldap/slapd"
	"github.com/slipway/slipway/internal/testpeer"
)

// TestStartStop checks the launcher's contract: loopback URLs chosen at run
// time, files under one directory, and after Stop the process has exited,
// the port is closed and the directory is gone.
func TestStartStop(t *testing.T) {
	testpeer.RequireBinary(t, "slapd (Debian package slapd)", slapd.SlapdBinary)
	testpeer.RequireBinary(t, "slapadd (Debian package slapd)", slapd.SlapaddBinary)
	cases := []struct {
		name string
		tls  bool
	}{
		{name: "plain", tls: false},
		{name: "with TLS", tls: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := slapd.Start(t.Context(), slapd.Options{TLS: tc.tls})
			if errors.Is(err, exec.ErrNotFound) {
				testpeer.Missing(t, "slapd", err)
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			pidBytes, err := os.ReadFile(srv.Dir + "/slapd.pid")
			if err != nil {
				t.Fatalf("pid file under the instance directory: %v", err)
			}
			addrs := []string{srv.URL}
			if tc.tls {
				if srv.LDAPSURL == "" || srv.CAFile == "" {
					t.Fatalf("TLS server without ldaps URL or CA file: %+v", srv)
				}
				addrs = append(addrs, srv.LDAPSURL)
			} else if srv.LDAPSURL != "" || srv.CAFile != "" {
				t.Fatalf("plain server with TLS settings: %+v", srv)
			}
			for _, a := range addrs {
				u, err := url.Parse(a)
				if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" {
					t.Fatalf("URL %q is not a loopback address with a port", a)
				}
			}
			if err := srv.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if _, err := os.Stat(srv.Dir); !os.IsNotExist(err) {
				t.Errorf("instance directory still exists after Stop: %v", err)
			}
			var pid int
			if _, err := fmt.Sscan(string(pidBytes), &pid); err == nil && syscall.Kill(pid, 0) == nil {
				t.Errorf("slapd pid %d still exists after Stop", pid)
			}
			u, _ := url.Parse(srv.URL)
			if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
				conn.Close()
				t.Errorf("port %s still accepts connections after Stop", u.Host)
			}
		})
	}
}
