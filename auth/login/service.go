package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/ldap"
	"github.com/slipway/slipway/auth/local"
	"github.com/slipway/slipway/auth/oidc"
	"github.com/slipway/slipway/auth/tokens"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Identity is who a provider says the caller is.
type Identity struct {
	Provider    string
	Subject     string
	Username    string
	Email       string
	DisplayName string
	Groups      []string
}

// ProviderInfo is what clients learn about a provider (the login page lists
// them).
type ProviderInfo struct {
	Name string `json:"name"`
	// Type is "password" (username and password) or "oidc" (browser redirect).
	Type string `json:"type"`
	// DeviceFlow says the provider supports the no-browser device flow.
	DeviceFlow bool `json:"deviceFlow,omitempty"`
}

// passwordProvider authenticates a username and password.
type passwordProvider interface {
	authenticate(ctx context.Context, username, password string) (Identity, error)
}

type provider struct {
	name     string
	password passwordProvider // nil for OIDC
	oidc     *oidc.Provider   // nil for password providers
	ldap     *ldap.Authenticator
}

// ErrLoginFailed is the one answer to a failed password login, whatever the
// reason (unknown user, wrong password, unknown provider).
var ErrLoginFailed = fmt.Errorf("login failed: %w", errdefs.ErrUnauthorized)

// Result is a successful login.
type Result struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Deps are the server parts the login service works with.
type Deps struct {
	Service *resource.Service
	// Passwords holds local accounts' password hashes.
	Passwords local.HashSource
	Issuer    *tokens.Issuer
	Logger    *slog.Logger
	Now       func() time.Time
}

// Service runs logins.
type Service struct {
	deps      Deps
	cfg       Config
	providers []*provider
	byUser    *limiter
	byClient  *limiter

	pendingMu sync.Mutex
	pending   map[string]pendingLogin // OIDC state → login in progress
}

type pendingLogin struct {
	provider string
	oidc     oidc.Pending
	then     string
}

// New builds the configured providers. An OIDC provider that cannot be
// reached at start-up is skipped with an error in the log, not fatal: the
// others keep working.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TokenMaxAge == 0 {
		cfg.TokenMaxAge = 24 * time.Hour
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Service{
		deps: deps, cfg: cfg,
		// Failed attempts: 10 at once, then one every 6 s per user; 30,
		// then one every 2 s per client address.
		byUser:   newLimiter(10, 6*time.Second),
		byClient: newLimiter(30, 2*time.Second),
		pending:  map[string]pendingLogin{},
	}
	for _, pc := range cfg.IdentityProviders {
		p := &provider{name: pc.Name}
		switch pc.Type {
		case TypeLocal:
			p.password = localProvider{&local.Provider{ProviderName: pc.Name, Hashes: deps.Passwords}}
		case TypeHtpasswd:
			p.password = localProvider{&local.Provider{ProviderName: pc.Name, Hashes: &local.HtpasswdFile{Path: pc.File}}}
		case TypeLDAP:
			c := *pc.LDAP
			c.Name = pc.Name
			a, err := ldap.New(c, ldap.Options{Logger: deps.Logger})
			if err != nil {
				return nil, fmt.Errorf("identity provider %q: %w", pc.Name, err)
			}
			p.password, p.ldap = ldapProvider{a}, a
		case TypeOIDC:
			c := *pc.OIDC
			c.Name = pc.Name
			o, err := oidc.New(ctx, c, oidc.Options{Logger: deps.Logger})
			if err != nil {
				deps.Logger.ErrorContext(ctx, "OIDC provider unavailable; it is left out until restart", "provider", pc.Name, "error", err)
				continue
			}
			p.oidc = o
		}
		s.providers = append(s.providers, p)
	}
	return s, nil
}

// TokenMaxAge is the lifetime of the tokens logins issue.
func (s *Service) TokenMaxAge() time.Duration { return s.cfg.TokenMaxAge }

// Providers lists the usable providers in configuration order.
func (s *Service) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(s.providers))
	for _, p := range s.providers {
		info := ProviderInfo{Name: p.name, Type: "password"}
		if p.oidc != nil {
			info.Type, info.DeviceFlow = "oidc", p.oidc.SupportsDeviceFlow()
		}
		out = append(out, info)
	}
	return out
}

func (s *Service) find(name string) *provider {
	for _, p := range s.providers {
		if p.name == name || (name == "" && p.password != nil) {
			return p
		}
	}
	return nil
}

// PasswordLogin logs in with a username and password at the named provider
// (or the first password provider when name is empty). client identifies
// the caller's address for rate limiting.
func (s *Service) PasswordLogin(ctx context.Context, providerName, username, password, client string) (Result, error) {
	now := s.deps.Now()
	userKey := strings.ToLower(username)
	if !s.byClient.allow(client, now) || !s.byUser.allow(userKey, now) {
		return Result{}, fmt.Errorf("too many failed login attempts; wait and try again: %w", errdefs.ErrTooManyRequests)
	}
	p := s.find(providerName)
	if p == nil || p.password == nil {
		return Result{}, ErrLoginFailed
	}
	id, err := p.password.authenticate(ctx, username, password)
	if err != nil {
		s.byClient.spend(client, now)
		s.byUser.spend(userKey, now)
		if errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrForbidden) {
			// Unavailable says nothing about the account; Forbidden (a
			// disabled account) is only said after a correct password.
			return Result{}, err
		}
		s.deps.Logger.InfoContext(ctx, "login failed", "provider", p.name, "client", client, "reason", errors.Unwrap(err))
		return Result{}, ErrLoginFailed
	}
	return s.complete(ctx, id)
}

// complete maps a proven identity to its user and issues a token.
func (s *Service) complete(ctx context.Context, id Identity) (Result, error) {
	user, err := s.ensureUser(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if err := s.syncGroups(ctx, id.Provider, user, id.Groups, false); err != nil {
		return Result{}, err
	}
	token, obj, err := s.deps.Issuer.Issue(ctx, api.TokenSpec{User: user, Kind: api.LoginToken, Provider: id.Provider}, s.cfg.TokenMaxAge)
	if err != nil {
		return Result{}, err
	}
	var spec api.TokenSpec
	_ = json.Unmarshal(obj.Spec, &spec)
	s.deps.Logger.InfoContext(ctx, "login", "provider", id.Provider, "user", user)
	return Result{Token: token, User: user, ExpiresAt: *spec.ExpiresAt}, nil
}

func (s *Service) resource(plural string) *api.Resource {
	r, _ := api.NewCatalogue().Lookup(plural)
	return r
}

// UserName turns a provider's username into a Slipway user name (a DNS-1123
// label): lower case, other characters replaced by '-'. An e-mail address
// keeps its local part.
func UserName(raw string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(raw))
	if at := strings.IndexByte(name, '@'); at > 0 {
		name = name[:at]
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	name = strings.Trim(string(b), "-")
	if err := api.ValidateName("username", name); err != nil {
		return "", fmt.Errorf("username %q cannot be a Slipway user name: %w", raw, err)
	}
	return name, nil
}

// ensureUser finds or creates the user an identity logs in as. A user that
// exists under another identity is not taken over: an admin must add the
// identity to spec.identities first.
func (s *Service) ensureUser(ctx context.Context, id Identity) (string, error) {
	ctx = store.WithProject(ctx, "")
	users := s.resource(api.UsersResource)
	name, err := UserName(id.Username)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errdefs.ErrForbidden, err)
	}
	identity := id.Provider + ":" + id.Subject
	for attempt := 0; attempt < 3; attempt++ {
		obj, err := s.deps.Service.Get(ctx, users, name)
		if errors.Is(err, errdefs.ErrNotFound) {
			spec, _ := json.Marshal(api.UserSpec{DisplayName: id.DisplayName, Email: id.Email, Identities: []string{identity}})
			_, err = s.deps.Service.Create(ctx, users, &api.Object{Metadata: api.ObjectMeta{Name: name}, Spec: spec})
			if errors.Is(err, errdefs.ErrAlreadyExists) {
				continue // a concurrent first login
			}
			if err != nil {
				return "", fmt.Errorf("create user %q: %w", name, err)
			}
			s.touchLastLogin(ctx, name)
			return name, nil
		}
		if err != nil {
			return "", err
		}
		var spec api.UserSpec
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return "", err
		}
		if spec.Disabled {
			return "", fmt.Errorf("user %q is disabled: %w", name, errdefs.ErrForbidden)
		}
		if !slices.Contains(spec.Identities, identity) {
			return "", fmt.Errorf("user %q exists and is not linked to this %s identity; a cluster admin can add %q to its spec.identities: %w",
				name, id.Provider, identity, errdefs.ErrForbidden)
		}
		s.touchLastLogin(ctx, name)
		return name, nil
	}
	return "", fmt.Errorf("create user %q: concurrent changes: %w", name, errdefs.ErrConflict)
}

func (s *Service) touchLastLogin(ctx context.Context, user string) {
	now := s.deps.Now().UTC().Truncate(time.Second)
	patch, _ := json.Marshal(map[string]any{"status": api.UserStatus{LastLogin: &now}})
	if _, err := s.deps.Service.Patch(ctx, s.resource(api.UsersResource), user, patch, true); err != nil {
		s.deps.Logger.WarnContext(ctx, "record last login", "user", user, "error", err)
	}
}

// SourceLabel marks the groups an identity provider manages.
const SourceLabel = "slipway.io/source"

// GroupName turns a provider's group name into a Group object name.
func GroupName(raw string) (string, error) { return UserName(raw) }

// syncGroups makes the provider's groups hold user exactly when the
// provider says so. With authoritative it also creates and empties groups
// wholesale (a full sync); otherwise it touches only this user's
// memberships.
func (s *Service) syncGroups(ctx context.Context, providerName, user string, groups []string, authoritative bool) error {
	ctx = store.WithProject(ctx, "")
	res := s.resource(api.GroupsResource)
	want := map[string]bool{}
	for _, g := range groups {
		name, err := GroupName(g)
		if err != nil {
			s.deps.Logger.WarnContext(ctx, "skipping a group whose name Slipway cannot use", "provider", providerName, "group", g)
			continue
		}
		want[name] = true
	}
	list, err := s.deps.Service.List(ctx, res, api.ListOptions{LabelSelector: SourceLabel + "=" + providerName})
	if err != nil {
		return err
	}
	have := map[string]*api.Object{}
	for _, o := range list.Items {
		have[o.Metadata.Name] = o
	}
	for name := range want {
		if _, ok := have[name]; ok {
			continue
		}
		spec, _ := json.Marshal(api.GroupSpec{Users: []string{user}})
		_, err := s.deps.Service.Create(ctx, res, &api.Object{
			Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{SourceLabel: providerName}}, Spec: spec})
		if err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
			return fmt.Errorf("create group %q: %w", name, err)
		}
	}
	for name, obj := range have {
		var spec api.GroupSpec
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return err
		}
		member := slices.Contains(spec.Users, user)
		switch {
		case want[name] && !member:
			spec.Users = append(spec.Users, user)
		case !want[name] && member:
			spec.Users = slices.DeleteFunc(spec.Users, func(u string) bool { return u == user })
		default:
			continue
		}
		slices.Sort(spec.Users)
		raw, _ := json.Marshal(spec)
		obj.Spec = raw
		if _, err := s.deps.Service.Update(ctx, res, name, obj); err != nil {
			return fmt.Errorf("update group %q: %w", name, err)
		}
	}
	return nil
}

// localProvider adapts local accounts and htpasswd files.
type localProvider struct{ p *local.Provider }

func (l localProvider) authenticate(ctx context.Context, username, password string) (Identity, error) {
	name, err := l.p.Authenticate(ctx, username, password)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Provider: l.p.Name(), Subject: name, Username: name}, nil
}

// ldapProvider adapts an LDAP directory.
type ldapProvider struct{ a *ldap.Authenticator }

func (l ldapProvider) authenticate(ctx context.Context, username, password string) (Identity, error) {
	id, err := l.a.Authenticate(ctx, username, password)
	switch {
	case errors.Is(err, ldap.ErrUnavailable):
		return Identity{}, fmt.Errorf("LDAP directory unavailable: %w", errdefs.ErrUnavailable)
	case errors.Is(err, ldap.ErrAccountDisabled):
		// The password was right: saying so reveals nothing new.
		return Identity{}, fmt.Errorf("the directory account %q is disabled: %w", username, errdefs.ErrForbidden)
	case err != nil:
		return Identity{}, fmt.Errorf("%w: %w", err, errdefs.ErrUnauthorized)
	}
	return Identity(id), nil
}
