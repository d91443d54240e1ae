package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway/slipway/api/errdefs"
)

type mapHashes map[string]string

func (m mapHashes) PasswordHash(_ context.Context, user string) (string, error) {
	h, ok := m[user]
	if !ok {
		return "", errdefs.ErrNotFound
	}
	return h, nil
}

func TestProvider(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ProviderName: "local", Hashes: mapHashes{"alice": h}}
	tests := []struct {
		name, user, password string
		wantErr              error
	}{
		{"right password", "alice", "correct horse", nil},
		{"wrong password", "alice", "wrong horse", ErrInvalidCredentials},
		{"unknown user", "mallory", "correct horse", ErrInvalidCredentials},
		{"empty password", "alice", "", ErrInvalidCredentials},
		{"empty user", "", "correct horse", ErrInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Authenticate(context.Background(), tc.user, tc.password)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errdefs.ErrUnauthorized) {
				t.Fatal("a failed login must be Unauthorized")
			}
		})
	}
}

func TestHashRefusesWeakPasswords(t *testing.T) {
	for _, pw := range []string{"", "short", string(make([]byte, 73))} {
		if _, err := Hash(pw); !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("Hash(%d bytes) = %v, want Invalid", len(pw), err)
		}
	}
}

func TestHtpasswdFile(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), 4)
	path := filepath.Join(t.TempDir(), "users.htpasswd")
	if err := os.WriteFile(path, []byte("# users\nbob:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Provider{ProviderName: "file", Hashes: &HtpasswdFile{Path: path}}
	if _, err := p.Authenticate(context.Background(), "bob", "s3cret-pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authenticate(context.Background(), "bob", "nope-nope"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("bob:{SHA}abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, testTime, testTime)
	if _, err := p.Authenticate(context.Background(), "bob", "s3cret-pass"); err == nil {
		t.Fatal("a non-bcrypt entry was accepted")
	}
}

var testTime = mustTime()

func mustTime() (t time.Time) { return time.Unix(1_700_000_000, 0) }
