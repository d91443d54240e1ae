package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestRetryOnConflict(t *testing.T) {
	conflict := fmt.Errorf("update deployment %q: %w", "web", errdefs.ErrConflict)
	calls := 0
	err := retryOnConflict(func() error {
		if calls++; calls < 3 {
			return conflict
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("two conflicts then success: %v after %d calls", err, calls)
	}
	calls = 0
	if err := retryOnConflict(func() error { calls++; return conflict }); !errors.Is(err, errdefs.ErrConflict) || calls != conflictRetries {
		t.Errorf("always a conflict: %v after %d calls, want the conflict after %d", err, calls, conflictRetries)
	}
	calls = 0
	other := errors.New("not found")
	if err := retryOnConflict(func() error { calls++; return other }); err != other || calls != 1 {
		t.Errorf("another error: %v after %d calls, want it at once", err, calls)
	}
}
