package api

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/api/errdefs"
)

// User is a person (or a service account's identity) Slipway knows. Users
// are created by their first login through an identity provider, or by a
// cluster admin for local accounts.
type User struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       UserSpec   `json:"spec"`
	Status     UserStatus `json:"status,omitempty"`
}

// UserSpec describes a user.
type UserSpec struct {
	DisplayName string `json:"displayName,omitempty"`
	Email       string `json:"email,omitempty"`
	// Disabled users cannot log in and their tokens stop working.
	Disabled bool `json:"disabled,omitempty"`
	// Identities are the provider identities ("provider:subject") that log
	// in as this user. The first login adds its identity; another
	// provider's identity maps to an existing user only when an admin adds
	// it here.
	Identities []string `json:"identities,omitempty"`
}

// Validate checks the user's fields.
func (s *UserSpec) Validate() error {
	if utf8.RuneCountInString(s.DisplayName) > 256 {
		return errdefs.Invalidf("spec.displayName", "must be at most 256 characters")
	}
	if s.Email != "" {
		if _, err := mail.ParseAddress(s.Email); err != nil {
			return errdefs.Invalidf("spec.email", "%q is not an email address", s.Email)
		}
	}
	seen := map[string]bool{}
	for i, id := range s.Identities {
		provider, subject, ok := strings.Cut(id, ":")
		if !ok || provider == "" || subject == "" || len(id) > 512 {
			return errdefs.Invalidf(fmt.Sprintf("spec.identities[%d]", i), "must be provider:subject")
		}
		if seen[id] {
			return errdefs.Invalidf(fmt.Sprintf("spec.identities[%d]", i), "duplicate identity %q", id)
		}
		seen[id] = true
	}
	return nil
}

// UserStatus is written by the server.
type UserStatus struct {
	LastLogin *time.Time `json:"lastLogin,omitempty"`
}

// Validate accepts any status.
func (s *UserStatus) Validate() error { return nil }

// Group is a named set of users. Groups come from an identity provider
// (labelled slipway.io/source=<provider>) or are managed by admins.
type Group struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       GroupSpec  `json:"spec"`
}

// GroupSpec lists the members.
type GroupSpec struct {
	Users []string `json:"users,omitempty"`
}

// Validate checks the member names.
func (s *GroupSpec) Validate() error {
	seen := map[string]bool{}
	for i, u := range s.Users {
		field := fmt.Sprintf("spec.users[%d]", i)
		if err := ValidateUserName(field, u); err != nil {
			return err
		}
		if seen[u] {
			return errdefs.Invalidf(field, "duplicate member %q", u)
		}
		seen[u] = true
	}
	return nil
}

// ValidateUserName checks a user name as it appears in a subject or a group.
// Users are named by DNS-1123 labels; service accounts by
// system:serviceaccount:<project>:<name>.
func ValidateUserName(field, name string) error {
	if p, sa, ok := ParseServiceAccountUser(name); ok {
		if err := ValidateName(field, p); err != nil {
			return err
		}
		return ValidateName(field, sa)
	}
	return ValidateName(field, name)
}

// ServiceAccountUser is the user name of a service account.
func ServiceAccountUser(project, name string) string {
	return "system:serviceaccount:" + project + ":" + name
}

// ParseServiceAccountUser splits a service account's user name.
func ParseServiceAccountUser(user string) (project, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	project, name, ok = strings.Cut(rest, ":")
	return project, name, ok
}

// Token is an issued bearer token. Its name is derived from the token's
// SHA-256 hash (TokenName); the token itself is shown once, when issued,
// and never stored.
type Token struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   ObjectMeta  `json:"metadata"`
	Spec       TokenSpec   `json:"spec"`
	Status     TokenStatus `json:"status,omitempty"`
}

// TokenKind says how a token came to be.
type TokenKind string

// Token kinds.
const (
	LoginToken          TokenKind = "login"
	ServiceAccountToken TokenKind = "serviceaccount"
)

// TokenSpec describes a token.
type TokenSpec struct {
	User string    `json:"user"`
	Kind TokenKind `json:"kind"`
	// Provider is the identity provider of the login that issued it.
	Provider    string     `json:"provider,omitempty"`
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
}

// Validate checks the token's fields.
func (s *TokenSpec) Validate() error {
	if err := ValidateUserName("spec.user", s.User); err != nil {
		return err
	}
	switch s.Kind {
	case LoginToken, ServiceAccountToken:
	default:
		return errdefs.Invalidf("spec.kind", "must be login or serviceaccount, got %q", s.Kind)
	}
	if utf8.RuneCountInString(s.Description) > 256 {
		return errdefs.Invalidf("spec.description", "must be at most 256 characters")
	}
	return nil
}

// TokenStatus is written by the server.
type TokenStatus struct {
	// LastUsed is updated at most once a minute.
	LastUsed *time.Time `json:"lastUsed,omitempty"`
}

// Validate accepts any status.
func (s *TokenStatus) Validate() error { return nil }

// ServiceAccount is a project's non-human identity, for agents and CI.
type ServiceAccount struct {
	Kind       string             `json:"kind"`
	APIVersion string             `json:"apiVersion"`
	Metadata   ObjectMeta         `json:"metadata"`
	Spec       ServiceAccountSpec `json:"spec,omitempty"`
}

// ServiceAccountSpec describes a service account.
type ServiceAccountSpec struct {
	Description string `json:"description,omitempty"`
}

// Validate checks the description.
func (s *ServiceAccountSpec) Validate() error {
	if utf8.RuneCountInString(s.Description) > 256 {
		return errdefs.Invalidf("spec.description", "must be at most 256 characters")
	}
	return nil
}

// RoleBinding grants a role to subjects: in one project (RoleBinding) or,
// as a ClusterRoleBinding, cluster-wide. Unlike Kubernetes, roleRef and
// subjects live under spec, as every Slipway object's desired state does.
type RoleBinding struct {
	Kind       string          `json:"kind"`
	APIVersion string          `json:"apiVersion"`
	Metadata   ObjectMeta      `json:"metadata"`
	Spec       RoleBindingSpec `json:"spec"`
}

// RoleBindingSpec names the role and who gets it.
type RoleBindingSpec struct {
	RoleRef  RoleRef   `json:"roleRef"`
	Subjects []Subject `json:"subjects"`
}

// RoleRef names a built-in role.
type RoleRef struct {
	Kind string `json:"kind"` // ClusterRole
	Name string `json:"name"`
}

// Subject is who a binding grants its role to.
type Subject struct {
	Kind    string `json:"kind"` // User, Group or ServiceAccount
	Name    string `json:"name"`
	Project string `json:"project,omitempty"` // for ServiceAccount
}

// Subject kinds.
const (
	UserSubject           = "User"
	GroupSubject          = "Group"
	ServiceAccountSubject = "ServiceAccount"
)

// Validate checks the binding's shape; whether the role exists is checked
// by the server, which knows the roles.
func (s *RoleBindingSpec) Validate() error {
	if s.RoleRef.Kind != "ClusterRole" {
		return errdefs.Invalidf("spec.roleRef.kind", "must be ClusterRole (roles are built in), got %q", s.RoleRef.Kind)
	}
	if s.RoleRef.Name == "" {
		return errdefs.Invalidf("spec.roleRef.name", "is required")
	}
	if len(s.Subjects) == 0 {
		return errdefs.Invalidf("spec.subjects", "at least one subject is required")
	}
	for i, sub := range s.Subjects {
		field := fmt.Sprintf("spec.subjects[%d]", i)
		switch sub.Kind {
		case UserSubject:
			if err := ValidateUserName(field+".name", sub.Name); err != nil {
				return err
			}
		case GroupSubject:
			if sub.Name == "" || len(sub.Name) > 253 {
				return errdefs.Invalidf(field+".name", "must be 1 to 253 characters")
			}
		case ServiceAccountSubject:
			if err := ValidateName(field+".name", sub.Name); err != nil {
				return err
			}
			if err := ValidateName(field+".project", sub.Project); err != nil {
				return err
			}
		default:
			return errdefs.Invalidf(field+".kind", "must be User, Group or ServiceAccount, got %q", sub.Kind)
		}
		if sub.Kind != ServiceAccountSubject && sub.Project != "" {
			return errdefs.Invalidf(field+".project", "only a ServiceAccount subject names a project")
		}
	}
	return nil
}

// Plural names of the identity and access resources.
const (
	UsersResource               = "users"
	GroupsResource              = "groups"
	TokensResource              = "tokens"
	ServiceAccountsResource     = "serviceaccounts"
	RoleBindingsResource        = "rolebindings"
	ClusterRoleBindingsResource = "clusterrolebindings"
)

func identityResources() []*Resource {
	specOnly := func(kind string, validate func(obj *Object) error) func(obj *Object) error {
		return func(obj *Object) error {
			if err := forbid(obj.Data, "data", kind); err != nil {
				return err
			}
			return validate(obj)
		}
	}
	noStatus := func(kind string, validate func(obj *Object) error) func(obj *Object) error {
		return specOnly(kind, func(obj *Object) error {
			if err := forbid(obj.Status, "status", kind); err != nil {
				return err
			}
			return validate(obj)
		})
	}
	return []*Resource{
		{Plural: UsersResource, Kind: "User", Scope: ClusterScoped, HasStatus: true,
			validateSpec:   specOnly("User", func(o *Object) error { return strictField[UserSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[UserStatus](o.Status, "status") }},
		{Plural: GroupsResource, Kind: "Group", Scope: ClusterScoped,
			validateSpec: noStatus("Group", func(o *Object) error { return strictField[GroupSpec](o.Spec, "spec") })},
		{Plural: TokensResource, Kind: "Token", Scope: ClusterScoped, HasStatus: true,
			validateSpec:   specOnly("Token", func(o *Object) error { return strictField[TokenSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[TokenStatus](o.Status, "status") }},
		{Plural: ServiceAccountsResource, Kind: "ServiceAccount", Scope: ProjectScoped,
			validateSpec: noStatus("ServiceAccount", func(o *Object) error { return strictField[ServiceAccountSpec](o.Spec, "spec") })},
		{Plural: RoleBindingsResource, Kind: "RoleBinding", Scope: ProjectScoped,
			validateSpec: noStatus("RoleBinding", func(o *Object) error { return strictField[RoleBindingSpec](o.Spec, "spec") })},
		{Plural: ClusterRoleBindingsResource, Kind: "ClusterRoleBinding", Scope: ClusterScoped,
			validateSpec: noStatus("ClusterRoleBinding", func(o *Object) error { return strictField[RoleBindingSpec](o.Spec, "spec") })},
	}
}
