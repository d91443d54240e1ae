// Package local authenticates Slipway's local accounts: users whose bcrypt
// password hash Slipway keeps itself (the bootstrap admin and users that
// cluster admins create), and users listed in an htpasswd file.
package local

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway/slipway/api/errdefs"
)

// ErrInvalidCredentials is the one answer to an unknown user and a wrong
// password alike.
var ErrInvalidCredentials = fmt.Errorf("invalid username or password: %w", errdefs.ErrUnauthorized)

// Cost is the bcrypt cost of new hashes.
const Cost = 10

// MinPasswordLength is enforced when a password is set.
const MinPasswordLength = 8

// dummyHash is compared against when the user does not exist, so both
// failures take the same time.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("slipway-timing-equaliser"), Cost)

// Hash returns a bcrypt hash of password, refusing weak ones.
func Hash(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", errdefs.Invalidf("password", "must be at least %d characters", MinPasswordLength)
	}
	if len(password) > 72 {
		return "", errdefs.Invalidf("password", "must be at most 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), Cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// RandomPassword returns a password for a one-time bootstrap login.
func RandomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSource finds a user's password hash; NotFound when there is none.
type HashSource interface {
	PasswordHash(ctx context.Context, user string) (string, error)
}

// Provider checks passwords against hashes from a HashSource.
type Provider struct {
	ProviderName string
	Hashes       HashSource
}

// Name returns the provider's configured name.
func (p *Provider) Name() string { return p.ProviderName }

// Authenticate checks a username and password. It returns the username on
// success and ErrInvalidCredentials on any mismatch.
func (p *Provider) Authenticate(ctx context.Context, username, password string) (string, error) {
	if username == "" || password == "" {
		return "", ErrInvalidCredentials
	}
	hash, err := p.Hashes.PasswordHash(ctx, username)
	if errors.Is(err, errdefs.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", ErrInvalidCredentials
	}
	if err != nil {
		return "", err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return "", ErrInvalidCredentials
	}
	return username, nil
}

// HtpasswdFile is a HashSource reading an htpasswd file of bcrypt hashes
// ("user:$2y$…" lines), re-read when it changes.
type HtpasswdFile struct {
	Path string

	mu      sync.Mutex
	modTime int64
	hashes  map[string]string
}

// PasswordHash implements HashSource.
func (f *HtpasswdFile) PasswordHash(_ context.Context, user string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.Path)
	if err != nil {
		return "", fmt.Errorf("htpasswd file: %w", err)
	}
	if f.hashes == nil || st.ModTime().UnixNano() != f.modTime {
		if f.hashes, err = readHtpasswd(f.Path); err != nil {
			return "", err
		}
		f.modTime = st.ModTime().UnixNano()
	}
	h, ok := f.hashes[user]
	if !ok {
		return "", fmt.Errorf("no such user: %w", errdefs.ErrNotFound)
	}
	return h, nil
}

func readHtpasswd(path string) (map[string]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd file: %w", err)
	}
	defer file.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("%s:%d: only bcrypt entries (user:$2y$…) are supported", path, n)
		}
		out[user] = hash
	}
	return out, sc.Err()
}
