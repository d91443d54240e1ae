package ldap

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// Options carry the dependencies of an Authenticator.
type Options struct {
	// Logger receives warnings about directory data (e.g. ambiguous
	// usernames); nil discards them. Passwords are never logged.
	Logger *slog.Logger
}

// Authenticator checks passwords against one LDAP directory. It is safe for
// concurrent use; every call opens its own connection.
type Authenticator struct {
	cfg       Config
	tlsConfig *tls.Config
	logger    *slog.Logger
}

// New validates cfg and returns an Authenticator. It does not contact the
// directory.
func New(cfg Config, opts Options) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: url: %w", ErrInvalidConfig, err)
	}
	tc, err := loadTLSConfig(cfg, u.Hostname())
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{cfg: cfg, tlsConfig: tc, logger: logger.With("provider", cfg.Name)}, nil
}

// Name is the provider name carried in identities.
func (a *Authenticator) Name() string { return a.cfg.Name }

// Authenticate checks username and password and returns the user's identity
// with group names. It fails with ErrInvalidCredentials for an unknown user,
// a wrong or empty password, or an ambiguous username; ErrAccountDisabled
// when the password is right but the account is disabled; ErrUnavailable
// when the directory cannot answer. Cost: one connection and five round
// trips (service bind, search, user bind, service rebind, group search), plus
// one for the disabled check when configured.
func (a *Authenticator) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	// An empty password is an "unauthenticated bind" (RFC 4513 §5.1.2) that
	// many servers answer with success: refuse it before the network.
	if password == "" {
		return Identity{}, fmt.Errorf("%w: empty password", ErrInvalidCredentials)
	}
	if username == "" || len(username) > maxUsernameLength || !utf8.ValidString(username) || strings.ContainsRune(username, 0) {
		return Identity{}, fmt.Errorf("%w: malformed username", ErrInvalidCredentials)
	}

	s, err := a.dial(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer s.close()
	if err := a.serviceBind(ctx, s); err != nil {
		return Identity{}, err
	}

	entry, err := a.findUser(ctx, s, username)
	if err != nil {
		return Identity{}, err
	}

	if err := s.conn.Bind(entry.DN, password); err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return Identity{}, fmt.Errorf("%w: bind refused", ErrInvalidCredentials)
		}
		return Identity{}, fmt.Errorf("%w: bind as user: %w", ErrUnavailable, ctxErr(ctx, err))
	}

	// Back to the service account: users often may not read groups.
	if err := a.serviceBind(ctx, s); err != nil {
		return Identity{}, err
	}
	if a.cfg.DisabledFilter != "" {
		disabled, err := a.matches(ctx, s, entry.DN, a.cfg.DisabledFilter)
		if err != nil {
			return Identity{}, err
		}
		if disabled {
			return Identity{}, fmt.Errorf("%w: %s", ErrAccountDisabled, entry.DN)
		}
	}

	id := a.identityOf(entry)
	if id.Username == "" {
		return Identity{}, fmt.Errorf("%w: entry %s has no %s attribute", ErrUnavailable, entry.DN, a.cfg.Attributes.Username)
	}
	if id.Groups, err = a.groupsOf(ctx, s, entry.DN, id.Username); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// ListGroups returns every group matched by the group search with its
// members' usernames, sorted by name, for a periodic group sync. Members that
// are not users under UserBase matching UserFilter are left out. Cost: one
// connection, a paged search over the groups and, for MemberByDN, a paged
// search over all users to map DNs to usernames.
func (a *Authenticator) ListGroups(ctx context.Context) ([]Group, error) {
	if a.cfg.Groups.Base == "" {
		return nil, nil
	}
	s, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := a.serviceBind(ctx, s); err != nil {
		return nil, err
	}

	gs := a.cfg.Groups
	groupEntries, err := a.search(ctx, s, gs.Base, gs.Filter, []string{gs.NameAttribute, gs.MemberAttribute}, true)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}

	var usernameByDN map[string]string
	if gs.MemberValue == MemberByDN {
		// The filter with a wildcard in place of the username selects every
		// user the login path could find. "*" is our own input, not a user's.
		allUsers := strings.Replace(a.cfg.UserFilter, "%s", "*", 1)
		users, err := a.search(ctx, s, a.cfg.UserBase, allUsers, []string{a.cfg.Attributes.Username}, true)
		if err != nil {
			return nil, fmt.Errorf("list users for group members: %w", err)
		}
		usernameByDN = make(map[string]string, len(users))
		for _, u := range users {
			if name := u.GetAttributeValue(a.cfg.Attributes.Username); name != "" {
				usernameByDN[normalizeDN(u.DN)] = name
			}
		}
	}

	groups := make([]Group, 0, len(groupEntries))
	for _, e := range groupEntries {
		name := e.GetAttributeValue(gs.NameAttribute)
		if name == "" {
			a.logger.WarnContext(ctx, "LDAP group without a name attribute skipped", "dn", e.DN, "attribute", gs.NameAttribute)
			continue
		}
		g := Group{Name: name, Members: []string{}}
		for _, v := range e.GetAttributeValues(gs.MemberAttribute) {
			if gs.MemberValue == MemberByUsername {
				g.Members = append(g.Members, v)
				continue
			}
			if user, ok := usernameByDN[normalizeDN(v)]; ok {
				g.Members = append(g.Members, user)
			}
		}
		slices.Sort(g.Members)
		g.Members = slices.Compact(g.Members)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(x, y Group) int { return strings.Compare(x.Name, y.Name) })
	return groups, nil
}

// serviceBind binds as the configured service account (or stays anonymous).
func (a *Authenticator) serviceBind(ctx context.Context, s *session) error {
	if a.cfg.BindDN == "" {
		return nil
	}
	if err := s.conn.Bind(a.cfg.BindDN, a.cfg.BindPassword); err != nil {
		// The detail names the DN and the server's answer, never the password.
		return fmt.Errorf("%w: service bind as %s: %w", ErrUnavailable, a.cfg.BindDN, ctxErr(ctx, err))
	}
	return nil
}

// findUser returns the single entry the user filter selects for username.
func (a *Authenticator) findUser(ctx context.Context, s *session, username string) (*goldap.Entry, error) {
	filter := strings.Replace(a.cfg.UserFilter, "%s", goldap.EscapeFilter(username), 1)
	attrs := []string{a.cfg.Attributes.Username, a.cfg.Attributes.Email, a.cfg.Attributes.DisplayName, "cn"}
	if a.cfg.Attributes.Subject != "" {
		attrs = append(attrs, a.cfg.Attributes.Subject)
	}
	entries, err := a.search(ctx, s, a.cfg.UserBase, filter, attrs, false)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	switch len(entries) {
	case 0:
		return nil, fmt.Errorf("%w: no such user", ErrInvalidCredentials)
	case 1:
		return entries[0], nil
	default:
		a.logger.WarnContext(ctx, "LDAP username matches several entries; login refused", "entries", len(entries))
		return nil, fmt.Errorf("%w: ambiguous username", ErrInvalidCredentials)
	}
}

// matches reports whether the entry at dn matches filter.
func (a *Authenticator) matches(ctx context.Context, s *session, dn, filter string) (bool, error) {
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false, filter, []string{"1.1"}, nil)
	res, err := s.conn.Search(req)
	if err != nil {
		return false, fmt.Errorf("%w: check disabled filter: %w", ErrUnavailable, ctxErr(ctx, err))
	}
	return len(res.Entries) > 0, nil
}

// groupsOf returns the sorted names of the groups listing the user.
func (a *Authenticator) groupsOf(ctx context.Context, s *session, userDN, username string) ([]string, error) {
	gs := a.cfg.Groups
	if gs.Base == "" {
		return []string{}, nil
	}
	value := userDN
	if gs.MemberValue == MemberByUsername {
		value = username
	}
	filter := "(&" + gs.Filter + "(" + gs.MemberAttribute + "=" + goldap.EscapeFilter(value) + "))"
	entries, err := a.search(ctx, s, gs.Base, filter, []string{gs.NameAttribute}, true)
	if err != nil {
		return nil, fmt.Errorf("find groups of user: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n := e.GetAttributeValue(gs.NameAttribute); n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// search runs a subtree search, paged when many results are expected. A
// missing base (noSuchObject) is an empty result, not an error.
func (a *Authenticator) search(ctx context.Context, s *session, base, filter string, attrs []string, paged bool) ([]*goldap.Entry, error) {
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	var (
		res *goldap.SearchResult
		err error
	)
	if paged {
		res, err = s.conn.SearchWithPaging(req, defaultPageSize)
	} else {
		req.SizeLimit = 2 // enough to detect an ambiguous username
		res, err = s.conn.Search(req)
		if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && res != nil {
			return res.Entries, nil
		}
	}
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: search %s: %w", ErrUnavailable, base, ctxErr(ctx, err))
	}
	return res.Entries, nil
}

// identityOf maps the user's entry to an Identity (without groups).
func (a *Authenticator) identityOf(e *goldap.Entry) Identity {
	m := a.cfg.Attributes
	id := Identity{
		Provider:    a.cfg.Name,
		Subject:     e.DN,
		Username:    e.GetAttributeValue(m.Username),
		Email:       e.GetAttributeValue(m.Email),
		DisplayName: e.GetAttributeValue(m.DisplayName),
	}
	if m.Subject != "" {
		if v := e.GetRawAttributeValue(m.Subject); len(v) > 0 {
			id.Subject = e.GetAttributeValue(m.Subject)
			if !utf8.Valid(v) { // binary IDs such as objectGUID
				id.Subject = fmt.Sprintf("%x", v)
			}
		}
	}
	if id.DisplayName == "" {
		id.DisplayName = e.GetAttributeValue("cn")
	}
	return id
}

// normalizeDN makes DNs comparable: parsed, re-serialised and lower-cased.
func normalizeDN(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	return strings.ToLower(parsed.String())
}
