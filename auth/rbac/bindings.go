package rbac

import (
	"fmt"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

// Subject kinds.
const (
	SubjectUser           = "User"
	SubjectGroup          = "Group"
	SubjectServiceAccount = "ServiceAccount"
)

// Subject is who a binding grants its role to.
type Subject struct {
	// Kind is User, Group or ServiceAccount.
	Kind string
	// Name is the user name, group name or service account name.
	Name string
	// Project is the service account's project; empty for other kinds.
	Project string
}

// ClusterRoleBinding grants a role cluster-wide: a cluster role everywhere,
// a project role in every project.
type ClusterRoleBinding struct {
	Name     string
	Role     string
	Subjects []Subject
}

// RoleBinding grants a project role in one project.
type RoleBinding struct {
	Project  string
	Name     string
	Role     string
	Subjects []Subject
}

// Names of the default cluster role bindings.
const (
	BindingSelfProvisioners = "self-provisioners"
	BindingWebhooks         = "system:webhooks"
)

// DefaultClusterRoleBindings returns the bindings a new cluster starts with,
// which the server writes to the store once at bootstrap (administrators may
// then delete or change them):
//
//   - self-provisioners: every authenticated user may create projects;
//   - system:webhooks: anyone may call buildconfig webhooks, which the
//     handler authenticates by their secret.
//
// Bindings for the infrastructure service accounts (system:node,
// system:router, system:builder) are created by the server along with
// those accounts.
func DefaultClusterRoleBindings() []ClusterRoleBinding {
	return []ClusterRoleBinding{
		{Name: BindingSelfProvisioners, Role: RoleSelfProvisioner, Subjects: []Subject{
			{Kind: SubjectGroup, Name: GroupAuthenticated},
		}},
		{Name: BindingWebhooks, Role: RoleWebhook, Subjects: []Subject{
			{Kind: SubjectGroup, Name: GroupAuthenticated},
			{Kind: SubjectGroup, Name: GroupUnauthenticated},
		}},
	}
}

// ValidateRoleRef checks that role names a built-in role that the binding
// may reference: any role for a ClusterRoleBinding (clusterScope), only a
// project role for a RoleBinding. Errors are errdefs.ErrInvalid naming the
// field roleRef.name.
func ValidateRoleRef(role string, clusterScope bool) error {
	const field = "roleRef.name"
	if role == "" {
		return errdefs.Invalidf(field, "is required")
	}
	c, ok := rolesByName[role]
	if !ok {
		return errdefs.Invalidf(field, "role %q does not exist (roles: %s)", role, roleList(clusterScope))
	}
	if !clusterScope && c.Scope != ProjectRole {
		return errdefs.Invalidf(field, "role %q is a cluster role and can only be bound by a ClusterRoleBinding (project roles: %s)", role, roleList(false))
	}
	return nil
}

// roleList names the roles a binding of the given scope may reference.
func roleList(clusterScope bool) string {
	var names []string
	for _, r := range Roles() {
		if clusterScope || r.Scope == ProjectRole {
			names = append(names, r.Name)
		}
	}
	return strings.Join(names, ", ")
}

// ValidateSubject checks one subject; field is its path in the object
// ("subjects[0]") and errors, of class errdefs.ErrInvalid, name the
// offending field below it ("subjects[0].kind").
func ValidateSubject(field string, s Subject) error {
	switch s.Kind {
	case SubjectUser, SubjectGroup:
		if s.Name == "" {
			return errdefs.Invalidf(field+".name", "is required")
		}
		if s.Project != "" {
			return errdefs.Invalidf(field+".project", "only a ServiceAccount subject has a project")
		}
	case SubjectServiceAccount:
		if s.Project == "" {
			return errdefs.Invalidf(field+".project", "a ServiceAccount subject needs the project of the service account")
		}
		if err := api.ValidateName(field+".project", s.Project); err != nil {
			return err
		}
		if err := api.ValidateName(field+".name", s.Name); err != nil {
			return err
		}
	case "":
		return errdefs.Invalidf(field+".kind", "must be User, Group or ServiceAccount")
	default:
		return errdefs.Invalidf(field+".kind", "must be User, Group or ServiceAccount, got %q", s.Kind)
	}
	return nil
}

// ValidateClusterRoleBinding checks the role and every subject of b (its
// name is checked with the object's metadata).
func ValidateClusterRoleBinding(b ClusterRoleBinding) error {
	if err := ValidateRoleRef(b.Role, true); err != nil {
		return err
	}
	return validateSubjects(b.Subjects)
}

// ValidateRoleBinding checks the role and every subject of b.
func ValidateRoleBinding(b RoleBinding) error {
	if err := ValidateRoleRef(b.Role, false); err != nil {
		return err
	}
	return validateSubjects(b.Subjects)
}

func validateSubjects(subjects []Subject) error {
	for i, s := range subjects {
		if err := ValidateSubject(fmt.Sprintf("subjects[%d]", i), s); err != nil {
			return err
		}
	}
	return nil
}
