// Package testpeer decides what a test does when a real peer it needs
// (PostgreSQL, containerd, OVN, HAProxy, slapd, an OIDC provider, Chromium,
// root privileges) is not available: on a developer's machine the test is
// skipped with the reason; in CI (CI=true) it fails, because a missing peer
// there means the run did not check what it claims to check.
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in continuous integration, where every
// peer must be present.
func InCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// Missing skips the test locally and fails it in CI, naming the peer and why
// it is unavailable.
func Missing(t testing.TB, peer string, why error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI but unavailable: %v (run `make deps`)", peer, why)
	}
	t.Skipf("%s unavailable: %v (run `make deps`, or set CI=true to make this a failure)", peer, why)
}

// RequireRoot stops the test, by Missing's rule, unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root privileges", errNotRoot)
	}
}

// RequireBinary stops the test, by Missing's rule, unless path (an absolute
// path or a name looked up in PATH) is an executable.
func RequireBinary(t testing.TB, peer, path string) string {
	t.Helper()
	found, err := exec.LookPath(path)
	if err != nil {
		Missing(t, peer, err)
	}
	return found
}

type notRootError struct{}

func (notRootError) Error() string { return "not running as root" }

var errNotRoot error = notRootError{}
