package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestClass(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"wrapped not found", fmt.Errorf("get project: %w", ErrNotFound), ErrNotFound},
		{"field error", Invalidf("metadata.name", "must be a DNS-1123 label"), ErrInvalid},
		{"wrapped field error", fmt.Errorf("decode: %w", BadRequestf("spec", "unknown field %q", "x")), ErrBadRequest},
		{"plain error", errors.New("boom"), ErrInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Class(tc.err); got != tc.want {
				t.Fatalf("Class(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestFieldOf(t *testing.T) {
	err := fmt.Errorf("create: %w", Invalidf("spec.displayName", "too long"))
	if got := FieldOf(err); got != "spec.displayName" {
		t.Fatalf("FieldOf = %q", got)
	}
	if got := err.Error(); got != "create: spec.displayName: too long" {
		t.Fatalf("Error() = %q", got)
	}
	if FieldOf(ErrNotFound) != "" {
		t.Fatal("FieldOf of a plain class must be empty")
	}
}
