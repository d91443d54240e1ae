package testwait

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheCheckPasses(t *testing.T) {
	calls := 0
	took := Until(t, 5*time.Second, "third call", func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("check called %d times, want 3", calls)
	}
	if took < 2*DefaultInterval {
		t.Errorf("took %v for two polling intervals", took)
	}
}

// recorder is a testing.TB that records Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	panic(r) // as t.Fatalf, Every does not go on
}

func TestEveryFailsWithTheLastError(t *testing.T) {
	rec := &recorder{TB: t}
	calls := 0
	func() {
		defer func() {
			if p := recover(); p != rec {
				t.Fatalf("Every did not fail the test (panic %v)", p)
			}
		}()
		Every(rec, 30*time.Millisecond, 5*time.Millisecond, "the impossible", func() error {
			calls++
			return errors.New("still no")
		})
	}()
	if want := "the impossible: not within 30ms: still no"; rec.failure != want {
		t.Errorf("failure = %q, want %q", rec.failure, want)
	}
	if calls < 2 {
		t.Errorf("check called %d times within the bound, want several", calls)
	}
}
