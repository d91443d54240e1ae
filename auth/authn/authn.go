// Package authn answers "who is calling?" for every API request: it
// recognises the bearer token, checks its user is still enabled, and adds
// the user's groups. Everything it reads is in memory, kept current by
// informers, so a check costs a hash and a few map lookups.
package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/auth/tokens"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Well-known groups.
const (
	Authenticated   = "system:authenticated"
	Unauthenticated = "system:unauthenticated"
	ServiceAccounts = "system:serviceaccounts"
)

// Anonymous is the caller without a token.
var Anonymous = rbac.UserInfo{Groups: []string{Unauthenticated}}

// Caller is an authenticated request's identity.
type Caller struct {
	rbac.UserInfo
	// TokenName names the Token object the request presented.
	TokenName string
}

// UserSource finds users in memory (an informer of users).
type UserSource interface {
	Get(project, name string) (*api.Object, bool)
}

// Authenticator recognises callers.
type Authenticator struct {
	Tokens *tokens.Index
	Users  UserSource
	Groups *GroupIndex
	// Service reads a token or user the informers have not seen yet (it
	// was created a moment ago, maybe by another server).
	Service *resource.Service
	Now     func() time.Time
}

// ErrUnauthenticated is the answer to any token problem; it says nothing
// more, on purpose.
var ErrUnauthenticated = fmt.Errorf("authentication required: present a valid token (slip login): %w", errdefs.ErrUnauthorized)

// Authenticate identifies the caller of r: Anonymous without an
// Authorization header, an error for a bad token or a disabled user.
func (a *Authenticator) Authenticate(r *http.Request) (Caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Caller{UserInfo: Anonymous}, nil
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return Caller{}, ErrUnauthenticated
	}
	return a.AuthenticateToken(r.Context(), strings.TrimSpace(token))
}

func (a *Authenticator) fetch(ctx context.Context, plural, name string) (*api.Object, error) {
	res, _ := api.NewCatalogue().Lookup(plural)
	return a.Service.Get(store.WithProject(ctx, ""), res, name)
}

// AuthenticateToken identifies the holder of a token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (Caller, error) {
	fetchToken := func(ctx context.Context, name string) (*api.Object, error) {
		return a.fetch(ctx, api.TokensResource, name)
	}
	e, err := a.Tokens.Lookup(ctx, token, a.Now(), fetchToken)
	if err != nil {
		return Caller{}, ErrUnauthenticated
	}
	info := rbac.UserInfo{Name: e.User}
	if project, _, isSA := api.ParseServiceAccountUser(e.User); isSA {
		info.ServiceAccount = true
		info.Groups = []string{Authenticated, ServiceAccounts, ServiceAccounts + ":" + project}
	} else {
		obj, ok := a.Users.Get("", e.User)
		if !ok {
			var err error
			obj, err = a.fetch(ctx, api.UsersResource, e.User)
			ok = err == nil
		}
		if !ok || disabled(obj) {
			return Caller{}, ErrUnauthenticated
		}
		info.Groups = append(a.Groups.GroupsOf(e.User), Authenticated)
	}
	return Caller{UserInfo: info, TokenName: e.Name}, nil
}

func disabled(user *api.Object) bool {
	var spec api.UserSpec
	return json.Unmarshal(user.Spec, &spec) != nil || spec.Disabled
}

// GroupIndex maps users to their groups. It is an informer.Handler for
// Group objects.
type GroupIndex struct {
	mu     sync.RWMutex
	groups map[string][]string // group → members
	byUser map[string][]string // user → groups
}

// NewGroupIndex returns an empty index.
func NewGroupIndex() *GroupIndex {
	return &GroupIndex{groups: map[string][]string{}, byUser: map[string][]string{}}
}

// GroupsOf returns a copy of the user's groups.
func (g *GroupIndex) GroupsOf(user string) []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return slices.Clone(g.byUser[user])
}

func members(obj *api.Object) []string {
	var spec api.GroupSpec
	_ = json.Unmarshal(obj.Spec, &spec)
	return spec.Users
}

// Replace implements informer.Handler.
func (g *GroupIndex) Replace(objs []*api.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups = map[string][]string{}
	for _, o := range objs {
		g.groups[o.Metadata.Name] = members(o)
	}
	g.rebuildLocked()
}

// Upsert implements informer.Handler.
func (g *GroupIndex) Upsert(obj *api.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups[obj.Metadata.Name] = members(obj)
	g.rebuildLocked()
}

// Delete implements informer.Handler.
func (g *GroupIndex) Delete(obj *api.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.groups, obj.Metadata.Name)
	g.rebuildLocked()
}

// rebuildLocked recomputes the user index: groups change rarely, so a full
// rebuild keeps this simple.
func (g *GroupIndex) rebuildLocked() {
	byUser := map[string][]string{}
	for name, users := range g.groups {
		for _, u := range users {
			byUser[u] = append(byUser[u], name)
		}
	}
	for _, gs := range byUser {
		slices.Sort(gs)
	}
	g.byUser = byUser
}
