// Package testwait lets a test wait for a real system to reach a state:
// it polls a check until the check passes, and fails the test with the
// check's last error when a bound passes first. Tests poll rather than
// sleep: the bound is generous, the wait as short as the system allows.
package testwait

import (
	"testing"
	"time"
)

// DefaultInterval is how often Until polls: often enough that a wait
// measured with it is close to the truth, rarely enough that a check
// against a real server does not load it.
const DefaultInterval = 20 * time.Millisecond

// Until polls check every DefaultInterval until it returns nil and returns
// how long that took; when within passes first it fails the test, naming
// what it waited for and the last error.
func Until(t testing.TB, within time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	return Every(t, within, DefaultInterval, what, check)
}

// Every is Until polling every interval.
func Every(t testing.TB, within, interval time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(interval) // polling interval, bounded by the deadline
	}
}
