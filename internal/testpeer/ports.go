package testpeer

import (
	"sync"
	"testing"

	"github.com/slipway/slipway/internal/childproc"
)

// handedOut are the ports FreePort gave in this process.
var handedOut sync.Map

// FreePort is a loopback TCP port free now and never given before in this
// process. The kernel may give a port again once its probe closed, before
// the daemon it was for binds it, and two parallel tests would then share
// it: HAProxy, binding with SO_REUSEPORT, did not even fail (CI once saw a
// route answered 401 by another test's stats listener).
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		port, err := childproc.FreeLoopbackPort()
		if err != nil {
			t.Fatal(err)
		}
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}
