package cli

import (
	"errors"

	"github.com/slipway/slipway/api/errdefs"
)

// conflictRetries bounds the attempts of a read-modify-write that races
// another writer (a controller updating the object it just read).
const conflictRetries = 5

// retryOnConflict runs readModifyWrite again, from a fresh read, while it
// fails with a Conflict, at most conflictRetries times in all.
func retryOnConflict(readModifyWrite func() error) error {
	for attempt := 1; ; attempt++ {
		err := readModifyWrite()
		if !errors.Is(err, errdefs.ErrConflict) || attempt == conflictRetries {
			return err
		}
	}
}
