package rbac

// selfRule is a permission every authenticated user has without a binding.
type selfRule struct {
	resource, subresource string
	verbs                 verbSet
	// ownOnly restricts the rule to the caller's own objects, as the
	// resource's owner field defines them. A rule without it applies to
	// the whole collection but still sets Decision.OwnOnly (projects: the
	// server filters to VisibleProjects).
	ownOnly bool
	reason  string
}

// selfRules are evaluated after the bindings, only for authenticated users.
//
//   - users: a user may get their own users object (Name == user name) and
//     change their own password (users/<self>/password).
//   - tokens: a user may list and watch their tokens (Decision.OwnOnly: the
//     server filters by Decision.Admits) and get or delete one of them
//     (Attributes.Owner must be the caller). Tokens are issued by the login
//     flow, not created through the API.
//   - projects: a user may list and watch the collection of projects; the
//     server shows only those VisibleProjects returns (Decision.OwnOnly is
//     set). Getting or watching one project by name needs a role in it
//     (every project role grants get and watch on its project).
var selfRules = []selfRule{
	{resource: "users", verbs: verbGet, ownOnly: true,
		reason: "allowed: a user may get their own users object"},
	{resource: "users", subresource: "password", verbs: verbCreate | verbUpdate, ownOnly: true,
		reason: "allowed: a user may change their own password"},
	{resource: "tokens", verbs: verbGet | verbList | verbWatch | verbDelete, ownOnly: true,
		reason: "allowed: a user may list, get and delete their own tokens"},
	{resource: "projects", verbs: verbList | verbWatch,
		reason: "allowed: a user may list the projects they can see"},
}

// selfCheck applies the self-service rules to an authenticated request that
// no binding allowed. It returns the decision and whether a rule applied;
// hint is true when a rule exists for the verb but the object is not the
// caller's, so the denial can say so.
func selfCheck(e *policyEntry, verb verbSet, a *Attributes) (d Decision, ok, hint bool) {
	for i := range selfRules {
		r := &selfRules[i]
		if r.resource != e.Name || r.subresource != a.Subresource || r.verbs&verb == 0 {
			continue
		}
		if !r.ownOnly {
			if a.Name != "" {
				continue // only the collection is filtered
			}
			return Decision{Allowed: true, OwnOnly: true, Reason: r.reason, owner: a.User.Name}, true, false
		}
		var objOwner string
		switch e.owner {
		case ownerName:
			objOwner = a.Name
		case ownerField:
			objOwner = a.Owner
		}
		if objOwner == a.User.Name {
			return Decision{Allowed: true, Reason: r.reason}, true, false
		}
		if e.owner == ownerField && a.Name == "" && a.Owner == "" && verb&(verbList|verbWatch) != 0 {
			// The whole collection: allowed, filtered to the caller's objects.
			return Decision{Allowed: true, OwnOnly: true, Reason: r.reason, owner: a.User.Name}, true, false
		}
		return Decision{}, false, true
	}
	return Decision{}, false, false
}
