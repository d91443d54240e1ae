// Package tokens issues, recognises and revokes Slipway's opaque bearer
// tokens. A token is shown once, when issued; the server keeps only its
// SHA-256 hash, as the name of a Token object. Recognition runs on every
// API request from an in-memory index kept current by a watch of Token
// objects, so a revocation anywhere takes effect everywhere within
// milliseconds.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Prefix starts every token, so secret scanners and people recognise one.
const Prefix = "slw_"

// ErrInvalid is returned for an unknown, expired or malformed token. It says
// nothing more, on purpose.
var ErrInvalid = fmt.Errorf("invalid or expired token: %w", errdefs.ErrUnauthorized)

// Generate returns a new random token and the name of its Token object.
func Generate() (token, name string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	token = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, NameOf(token), nil
}

// NameOf returns the Token object name for a token: the first 60 hex digits
// (240 bits) of its SHA-256, which fits a DNS-1123 label.
func NameOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:60]
}

// Entry is what the index knows of a live token.
type Entry struct {
	Name      string
	User      string
	Kind      api.TokenKind
	ExpiresAt time.Time // zero: never
}

// How long, and for how many tokens, a store miss is remembered.
const (
	missMemory = 5 * time.Second
	maxMisses  = 100_000
)

// Index recognises tokens. It is an informer.Handler for Token objects.
type Index struct {
	mu     sync.RWMutex
	byName map[string]Entry
	misses map[string]time.Time // token name → when the store did not have it

	usedMu sync.Mutex
	used   map[string]time.Time // token name → last use not yet recorded
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byName: map[string]Entry{}, misses: map[string]time.Time{}, used: map[string]time.Time{}}
}

func entryOf(obj *api.Object) (Entry, bool) {
	var spec api.TokenSpec
	if err := json.Unmarshal(obj.Spec, &spec); err != nil {
		return Entry{}, false
	}
	e := Entry{Name: obj.Metadata.Name, User: spec.User, Kind: spec.Kind}
	if spec.ExpiresAt != nil {
		e.ExpiresAt = *spec.ExpiresAt
	}
	return e, true
}

// Replace implements informer.Handler.
func (ix *Index) Replace(objs []*api.Object) {
	m := make(map[string]Entry, len(objs))
	for _, o := range objs {
		if e, ok := entryOf(o); ok {
			m[e.Name] = e
		}
	}
	ix.mu.Lock()
	ix.byName = m
	ix.mu.Unlock()
}

// Upsert implements informer.Handler.
func (ix *Index) Upsert(obj *api.Object) {
	e, ok := entryOf(obj)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.misses, obj.Metadata.Name)
	if ok {
		ix.byName[e.Name] = e
	} else {
		delete(ix.byName, obj.Metadata.Name)
	}
}

// Delete implements informer.Handler.
func (ix *Index) Delete(obj *api.Object) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.byName, obj.Metadata.Name)
}

// Len returns the number of known tokens.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byName)
}

// Fetcher reads a Token object from the store, for tokens the index has
// not seen yet (issued a moment ago, possibly by another server).
type Fetcher func(ctx context.Context, name string) (*api.Object, error)

// Lookup recognises a presented token and notes its use. A token unknown to
// the index is looked up with fetch (when not nil); misses are remembered
// briefly so a flood of bad tokens cannot turn into a flood of queries.
func (ix *Index) Lookup(ctx context.Context, token string, now time.Time, fetch Fetcher) (Entry, error) {
	if !strings.HasPrefix(token, Prefix) || len(token) > 128 {
		return Entry{}, ErrInvalid
	}
	name := NameOf(token)
	ix.mu.RLock()
	e, ok := ix.byName[name]
	missedAt, missed := ix.misses[name]
	ix.mu.RUnlock()
	if !ok && fetch != nil && (!missed || now.Sub(missedAt) > missMemory) {
		if obj, err := fetch(ctx, name); err == nil {
			e, ok = entryOf(obj)
		}
		if !ok {
			ix.mu.Lock()
			if len(ix.misses) >= maxMisses {
				clear(ix.misses)
			}
			ix.misses[name] = now
			ix.mu.Unlock()
		}
	}
	if !ok || (!e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)) {
		return Entry{}, ErrInvalid
	}
	ix.usedMu.Lock()
	ix.used[name] = now
	ix.usedMu.Unlock()
	return e, nil
}

// Issuer creates and revokes tokens.
type Issuer struct {
	Service *resource.Service
	Now     func() time.Time
}

func (is *Issuer) tokens() *api.Resource {
	r, _ := api.NewCatalogue().Lookup(api.TokensResource)
	return r
}

// Issue creates a token for user; ttl 0 means it never expires (service
// accounts). It returns the token, shown to the caller once, and its object.
func (is *Issuer) Issue(ctx context.Context, spec api.TokenSpec, ttl time.Duration) (string, *api.Object, error) {
	token, name, err := Generate()
	if err != nil {
		return "", nil, err
	}
	if ttl > 0 {
		exp := is.Now().Add(ttl).UTC().Truncate(time.Second)
		spec.ExpiresAt = &exp
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", nil, err
	}
	obj, err := is.Service.Create(store.WithProject(ctx, ""), is.tokens(), &api.Object{
		Metadata: api.ObjectMeta{Name: name}, Spec: raw,
	})
	if err != nil {
		return "", nil, fmt.Errorf("issue token for %q: %w", spec.User, err)
	}
	return token, obj, nil
}

// Revoke deletes a token by name and returns the deleted object (nil when
// it was already gone).
func (is *Issuer) Revoke(ctx context.Context, name string) (*api.Object, error) {
	obj, _, err := is.Service.Delete(ctx, is.tokens(), name, "")
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("revoke token: %w", err)
	}
	return obj, nil
}

// lastUsedEvery bounds how often a token's status.lastUsed is written.
const lastUsedEvery = time.Minute

// RecordLastUsed writes, once a minute, the last-use time of the tokens
// used since, until ctx ends; one status write per token per minute keeps
// the store's load independent of the request rate.
func (ix *Index) RecordLastUsed(ctx context.Context, svc *resource.Service, every time.Duration) {
	if every == 0 {
		every = lastUsedEvery
	}
	res, _ := api.NewCatalogue().Lookup(api.TokensResource)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ix.usedMu.Lock()
		used := ix.used
		ix.used = map[string]time.Time{}
		ix.usedMu.Unlock()
		for name, at := range used {
			patch, _ := json.Marshal(map[string]any{"status": api.TokenStatus{LastUsed: ptr(at.UTC().Truncate(time.Second))}})
			if _, err := svc.Patch(ctx, res, name, patch, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) && ctx.Err() == nil {
				ix.usedMu.Lock()
				if _, newer := ix.used[name]; !newer {
					ix.used[name] = at // try again next time
				}
				ix.usedMu.Unlock()
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
