package netns_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/netns"
)

func TestLifecycle(t *testing.T) {
	testpeer.RequireRoot(t)
	path := filepath.Join(t.TempDir(), "netns", "pod-a")
	steps := []struct {
		name string
		do   func() error
		want func(err error) bool
		pin  bool // namespace pinned afterwards
	}{
		{"create", func() error { return netns.Create(path) }, func(err error) bool { return err == nil }, true},
		{"create again fails", func() error { return netns.Create(path) }, func(err error) bool { return errors.Is(err, os.ErrExist) }, true},
		{"delete", func() error { return netns.Delete(path) }, func(err error) bool { return err == nil }, false},
		{"delete again", func() error { return netns.Delete(path) }, func(err error) bool { return err == nil }, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); !s.want(err) {
				t.Fatalf("error = %v", err)
			}
			if got := netns.Exists(path); got != s.pin {
				t.Errorf("Exists = %v, want %v", got, s.pin)
			}
		})
	}
}
