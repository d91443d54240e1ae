package testpeer

import (
	"testing"

	"github.com/slipway/slipway/node/containerlog"
)

// LogBinary is the test binary's path, for runtime.Options.LogBinary: a
// test package whose containers log through it calls
// containerlog.ServeIfInvoked first in TestMain, as the slipway binary's
// main does.
func LogBinary(t testing.TB) string {
	t.Helper()
	self, err := containerlog.Self()
	if err != nil {
		t.Fatal(err)
	}
	return self
}
