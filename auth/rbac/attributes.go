package rbac

import "strings"

// Well-known group names. The evaluator adds them itself; authenticators
// need not (but may) put them in UserInfo.Groups.
const (
	// GroupAuthenticated is carried by every request with a user name.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated is the only group of an anonymous request.
	GroupUnauthenticated = "system:unauthenticated"
	// GroupServiceAccounts is carried by every service account.
	GroupServiceAccounts = "system:serviceaccounts"
	// ServiceAccountGroupPrefix followed by a project name is the group of
	// every service account in that project.
	ServiceAccountGroupPrefix = "system:serviceaccounts:"
	// ServiceAccountUserPrefix starts a service account's user name:
	// system:serviceaccount:<project>:<name>.
	ServiceAccountUserPrefix = "system:serviceaccount:"
)

// Verbs the evaluator knows. A request with any other verb is denied.
const (
	VerbGet    = "get"
	VerbList   = "list"
	VerbWatch  = "watch"
	VerbCreate = "create"
	VerbUpdate = "update"
	VerbPatch  = "patch"
	VerbDelete = "delete"
)

// UserInfo is the authenticated identity of a request.
type UserInfo struct {
	// Name is the user name; "" means an anonymous request, which is
	// evaluated with the single group system:unauthenticated whatever Groups
	// and ServiceAccount say.
	Name string
	// Groups are the groups the identity provider reported. The implicit
	// groups (system:authenticated, and for service accounts
	// system:serviceaccounts[:<project>]) are added by the evaluator.
	Groups []string
	// ServiceAccount marks a service-account token; Name is then
	// system:serviceaccount:<project>:<name>.
	ServiceAccount bool
}

// Attributes describe one request to authorize.
type Attributes struct {
	User UserInfo
	// Verb is one of the Verb constants.
	Verb string
	// Resource is the plural resource name ("configmaps").
	Resource string
	// Subresource is "" or a subresource of Resource ("status", "log").
	Subresource string
	// Project is the project of a project-scoped resource, or "" for a
	// cluster-scoped resource and for a list/watch across all projects.
	// For the projects resource itself the project is Name (Project may be
	// left empty or set to the same value).
	Project string
	// Name is the object's name, or "" for list, watch and create.
	Name string
	// Owner is the user who owns the object(s) the request touches, for
	// resources whose objects belong to a user (tokens: spec.user). The
	// server sets it when it knows the owner: for get/delete of a token it
	// reads the token first and passes its owner; for a list/watch it leaves Owner empty
	// (the whole collection) and filters by Decision.OwnOnly, or sets it to
	// the caller when the query is already restricted to the caller's own
	// tokens. An empty Owner never matches a caller, so forgetting it fails
	// closed. For users objects the owner is Name and Owner is ignored.
	Owner string
}

// Decision is the outcome of Authorize.
type Decision struct {
	Allowed bool
	// OwnOnly qualifies an allowed list or watch: the caller may see only
	// its own objects of the collection, so the server must filter the
	// results. For tokens: keep tokens whose owner is the caller (Admits
	// does this test). For projects: keep the projects VisibleProjects
	// returns for the caller.
	OwnOnly bool
	// Reason explains the decision. For a denial it names who, which verb,
	// which resource and where: `user "bob" cannot delete configmaps in
	// project "shop"`; it is meant for the Forbidden status message.
	Reason string
	// owner is the caller's name when OwnOnly is set.
	owner string
}

// Admits reports whether an object owned by owner may be returned under this
// decision: always when the decision is unrestricted, only the caller's own
// objects when OwnOnly is set, never when denied. Use it to filter token
// lists and watch events.
func (d Decision) Admits(owner string) bool {
	return d.Allowed && (!d.OwnOnly || (owner != "" && owner == d.owner))
}

// ServiceAccountUser returns the user name of the service account name in
// project: system:serviceaccount:<project>:<name>.
func ServiceAccountUser(project, name string) string {
	return ServiceAccountUserPrefix + project + ":" + name
}

// ParseServiceAccountUser splits a service-account user name into its
// project and name; ok is false if user is not of that form.
func ParseServiceAccountUser(user string) (project, name string, ok bool) {
	rest, found := strings.CutPrefix(user, ServiceAccountUserPrefix)
	if !found {
		return "", "", false
	}
	project, name, found = strings.Cut(rest, ":")
	if !found || project == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return project, name, true
}

// verbSet is a bit set of verbs.
type verbSet uint8

const (
	verbGet verbSet = 1 << iota
	verbList
	verbWatch
	verbCreate
	verbUpdate
	verbPatch
	verbDelete

	allVerbs = verbGet | verbList | verbWatch | verbCreate | verbUpdate | verbPatch | verbDelete
)

// parseVerb maps a verb name to its bit; "*" is every verb.
func parseVerb(v string) (verbSet, bool) {
	switch v {
	case VerbGet:
		return verbGet, true
	case VerbList:
		return verbList, true
	case VerbWatch:
		return verbWatch, true
	case VerbCreate:
		return verbCreate, true
	case VerbUpdate:
		return verbUpdate, true
	case VerbPatch:
		return verbPatch, true
	case VerbDelete:
		return verbDelete, true
	case "*":
		return allVerbs, true
	}
	return 0, false
}
