// Package ldap authenticates Slipway users against a company LDAP directory
// (OpenLDAP, 389-ds, Active Directory) and lists its groups for a periodic
// group sync.
//
// A login is search-then-bind: bind with a service account, find the one
// entry matching the configured user filter (the username is escaped, so it
// can never change the filter's meaning), bind as that entry with the given
// password, then rebind as the service account to check the disabled filter
// and read the user's groups. Every call opens its own connection, bounded by
// the context and the configured timeouts.
package ldap

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config mirrors the `ldap` identity-provider section of Slipway's YAML
// configuration.
type Config struct {
	// Name identifies the provider in identities (Identity.Provider).
	Name string `json:"name" yaml:"name"`
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `json:"url" yaml:"url"`
	// StartTLS upgrades an ldap:// connection before any bind.
	StartTLS bool `json:"startTLS,omitempty" yaml:"startTLS,omitempty"`
	// CAFile is a PEM bundle that verifies the server certificate instead of
	// the system roots.
	CAFile string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty" yaml:"insecureSkipVerify,omitempty"`
	// BindDN and BindPassword are the service account that searches users
	// and groups. An empty BindDN searches anonymously.
	BindDN       string `json:"bindDN,omitempty" yaml:"bindDN,omitempty"`
	BindPassword string `json:"bindPassword,omitempty" yaml:"bindPassword,omitempty"`
	// UserBase is the subtree searched for users.
	UserBase string `json:"userBase" yaml:"userBase"`
	// UserFilter selects one user; its single %s is replaced by the escaped
	// username, e.g. "(&(objectClass=inetOrgPerson)(uid=%s))".
	UserFilter string `json:"userFilter" yaml:"userFilter"`
	// DisabledFilter, when set, is evaluated on the user's entry after a
	// successful password check; a match refuses the login with
	// ErrAccountDisabled. Examples: "(employeeType=disabled)",
	// "(pwdAccountLockedTime=*)" (OpenLDAP ppolicy), or for Active Directory
	// "(userAccountControl:1.2.840.113556.1.4.803:=2)".
	DisabledFilter string `json:"disabledFilter,omitempty" yaml:"disabledFilter,omitempty"`
	// Attributes map directory attributes to identity fields.
	Attributes AttributeMapping `json:"attributes" yaml:"attributes"`
	// Groups configures the group search; an empty Base disables groups.
	Groups GroupSearch `json:"groups" yaml:"groups"`
	// DialTimeout bounds connecting (default 10 s); RequestTimeout bounds
	// each LDAP operation (default 10 s). The context bounds both.
	DialTimeout    time.Duration `json:"dialTimeout,omitempty" yaml:"dialTimeout,omitempty"`
	RequestTimeout time.Duration `json:"requestTimeout,omitempty" yaml:"requestTimeout,omitempty"`
}

// AttributeMapping names the user attributes read into an Identity.
type AttributeMapping struct {
	// Username becomes Identity.Username (default "uid").
	Username string `json:"username,omitempty" yaml:"username,omitempty"`
	// Subject becomes Identity.Subject, a stable ID such as entryUUID or
	// objectGUID (default: the entry's DN).
	Subject string `json:"subject,omitempty" yaml:"subject,omitempty"`
	// Email (default "mail") and DisplayName (default "displayName", then
	// "cn" when absent) fill the corresponding fields.
	Email       string `json:"email,omitempty" yaml:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty" yaml:"displayName,omitempty"`
}

// Membership styles of GroupSearch.MemberValue.
const (
	// MemberByDN: the member attribute holds user DNs (groupOfNames member,
	// groupOfUniqueNames uniqueMember, Active Directory member).
	MemberByDN = "dn"
	// MemberByUsername: the member attribute holds usernames (posixGroup
	// memberUid).
	MemberByUsername = "username"
)

// GroupSearch configures how groups are found.
type GroupSearch struct {
	// Base is the subtree searched for groups.
	Base string `json:"base" yaml:"base"`
	// Filter selects group entries, e.g. "(objectClass=groupOfNames)".
	Filter string `json:"filter" yaml:"filter"`
	// NameAttribute names a group (default "cn").
	NameAttribute string `json:"nameAttribute,omitempty" yaml:"nameAttribute,omitempty"`
	// MemberAttribute lists members (default "member").
	MemberAttribute string `json:"memberAttribute,omitempty" yaml:"memberAttribute,omitempty"`
	// MemberValue is MemberByDN (default) or MemberByUsername.
	MemberValue string `json:"memberValue,omitempty" yaml:"memberValue,omitempty"`
}

const (
	defaultTimeout  = 10 * time.Second
	defaultPageSize = 500
	// maxUsernameLength refuses absurd input before it reaches the server.
	maxUsernameLength = 256
)

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "ldap"
	}
	if c.Attributes.Username == "" {
		c.Attributes.Username = "uid"
	}
	if c.Attributes.Email == "" {
		c.Attributes.Email = "mail"
	}
	if c.Attributes.DisplayName == "" {
		c.Attributes.DisplayName = "displayName"
	}
	if c.Groups.NameAttribute == "" {
		c.Groups.NameAttribute = "cn"
	}
	if c.Groups.MemberAttribute == "" {
		c.Groups.MemberAttribute = "member"
	}
	if c.Groups.MemberValue == "" {
		c.Groups.MemberValue = MemberByDN
	}
	if c.Groups.Filter == "" {
		c.Groups.Filter = "(objectClass=*)"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = defaultTimeout
	}
	return c
}

// Validate reports configuration mistakes, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("url: %w", err))
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		errs = append(errs, fmt.Errorf("url: scheme must be ldap or ldaps, got %q", u.Scheme))
	case u.Host == "":
		errs = append(errs, errors.New("url: host is missing"))
	case u.Scheme == "ldaps" && c.StartTLS:
		errs = append(errs, errors.New("startTLS: cannot be combined with an ldaps:// url"))
	}
	if c.UserBase == "" {
		errs = append(errs, errors.New("userBase: required"))
	}
	if n := strings.Count(c.UserFilter, "%s"); n != 1 {
		errs = append(errs, fmt.Errorf("userFilter: must contain %%s exactly once, found %d", n))
	} else if !balancedFilter(c.UserFilter) {
		errs = append(errs, errors.New("userFilter: must be a parenthesised LDAP filter"))
	}
	if c.DisabledFilter != "" && !balancedFilter(c.DisabledFilter) {
		errs = append(errs, errors.New("disabledFilter: must be a parenthesised LDAP filter"))
	}
	if c.Groups.Filter != "" && !balancedFilter(c.Groups.Filter) {
		errs = append(errs, errors.New("groups.filter: must be a parenthesised LDAP filter"))
	}
	if v := c.Groups.MemberValue; v != "" && v != MemberByDN && v != MemberByUsername {
		errs = append(errs, fmt.Errorf("groups.memberValue: must be %q or %q, got %q", MemberByDN, MemberByUsername, v))
	}
	if c.BindDN != "" && c.BindPassword == "" {
		errs = append(errs, errors.New("bindPassword: required with bindDN (an empty password is an anonymous bind)"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// balancedFilter is a cheap sanity check on a configured filter: it starts
// with "(", ends with ")" and its parentheses balance.
func balancedFilter(f string) bool {
	if !strings.HasPrefix(f, "(") || !strings.HasSuffix(f, ")") {
		return false
	}
	depth := 0
	for _, r := range f {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}
