package rbac

import (
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/slipway/slipway/api"
)

func init() {
	// Order matters: roles compile against the numbered policy table.
	indexPolicyTable()
	compileRoles()
}

// Authorizer evaluates requests against the built-in roles and the current
// bindings. It is safe for concurrent use: Authorize and the other queries
// take a read lock and do a handful of map lookups (no allocation when
// allowed); binding updates take the write lock and cost O(subjects of the
// binding). The zero value is not usable; call New.
type Authorizer struct {
	mu sync.RWMutex
	ix *index
}

// New returns an Authorizer with no bindings: it allows only the
// self-service rules until bindings are set (see DefaultClusterRoleBindings).
func New() *Authorizer {
	return &Authorizer{ix: newIndex()}
}

// SetClusterRoleBinding adds b, or replaces the binding of the same name.
// A binding to an unknown role is kept but grants nothing.
func (a *Authorizer) SetClusterRoleBinding(b ClusterRoleBinding) {
	b.Subjects = slices.Clone(b.Subjects)
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.ix.clusterBindings[b.Name]; ok {
		a.ix.applyCluster(old, -1)
	}
	a.ix.clusterBindings[b.Name] = &b
	a.ix.applyCluster(&b, +1)
}

// DeleteClusterRoleBinding removes the binding called name, if any.
func (a *Authorizer) DeleteClusterRoleBinding(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.ix.clusterBindings[name]; ok {
		a.ix.applyCluster(old, -1)
		delete(a.ix.clusterBindings, name)
	}
}

// SetRoleBinding adds b, or replaces the binding of the same project and
// name.
func (a *Authorizer) SetRoleBinding(b RoleBinding) {
	b.Subjects = slices.Clone(b.Subjects)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ix.setRoleBinding(&b)
}

// DeleteRoleBinding removes the binding project/name, if any.
func (a *Authorizer) DeleteRoleBinding(project, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	byName := a.ix.roleBindings[project]
	if old, ok := byName[name]; ok {
		a.ix.applyProject(old, -1)
		delete(byName, name)
		if len(byName) == 0 {
			delete(a.ix.roleBindings, project)
		}
	}
}

// Replace swaps every binding for the given ones, as after a relist. The new
// index is built before the write lock is taken, so requests are not held
// up while it is built.
func (a *Authorizer) Replace(cluster []ClusterRoleBinding, project []RoleBinding) {
	ix := newIndex()
	for _, b := range cluster {
		b.Subjects = slices.Clone(b.Subjects)
		if old, ok := ix.clusterBindings[b.Name]; ok {
			ix.applyCluster(old, -1)
		}
		ix.clusterBindings[b.Name] = &b
		ix.applyCluster(&b, +1)
	}
	for _, b := range project {
		b.Subjects = slices.Clone(b.Subjects)
		ix.setRoleBinding(&b)
	}
	a.mu.Lock()
	a.ix = ix
	a.mu.Unlock()
}

// Authorize decides one request. A denial's Reason says who cannot do what
// where; an allowed list or watch may come with OwnOnly, which the caller
// must honour by filtering (see Decision).
func (a *Authorizer) Authorize(attr Attributes) Decision {
	verb, ok := parseVerb(attr.Verb)
	if !ok || attr.Verb == "*" {
		return deny(&attr, nil, "", false, fmt.Sprintf("unknown verb %q", attr.Verb))
	}
	e := entries[attr.Resource]
	if e == nil {
		return deny(&attr, nil, "", false, fmt.Sprintf("resource %q has no access policy", attr.Resource))
	}
	id, ok := e.subresourceID(attr.Subresource)
	if !ok {
		return deny(&attr, nil, "", false, fmt.Sprintf("resource %q has no subresource %q", attr.Resource, attr.Subresource))
	}
	project, err := effectiveProject(e, &attr)
	if err != "" {
		return deny(&attr, e, project, false, err)
	}

	a.mu.RLock()
	role, inProject := a.ix.allowing(&attr.User, project, id, verb)
	a.mu.RUnlock()
	if role != nil {
		if inProject {
			return Decision{Allowed: true, Reason: role.inProjectReason}
		}
		return Decision{Allowed: true, Reason: role.clusterWideReason}
	}

	var hint bool
	if attr.User.Name != "" {
		var d Decision
		if d, ok, hint = selfCheck(e, verb, &attr); ok {
			return d
		}
	}
	return deny(&attr, e, project, hint, "")
}

// effectiveProject returns the project whose RoleBindings apply to the
// request, or a reason the attributes are inconsistent.
func effectiveProject(e *policyEntry, attr *Attributes) (string, string) {
	switch {
	case e == projectsRes:
		// The project object lives in itself; the collection of projects
		// is in no project, so no RoleBinding reaches it.
		if attr.Name == "" {
			if attr.Project != "" {
				return "", fmt.Sprintf("the collection of projects is not in project %q", attr.Project)
			}
			return "", ""
		}
		if attr.Project != "" && attr.Project != attr.Name {
			return attr.Name, fmt.Sprintf("request for project %q made in project %q", attr.Name, attr.Project)
		}
		return attr.Name, ""
	case e.Scope == api.ClusterScoped:
		if attr.Project != "" {
			return "", fmt.Sprintf("%s are cluster-scoped but the request names project %q", e.Name, attr.Project)
		}
		return "", ""
	}
	return attr.Project, ""
}

// deny builds a denial: `user "bob" cannot delete configmaps in project
// "shop"`, with why appended after a colon when given.
func deny(attr *Attributes, e *policyEntry, project string, ownHint bool, why string) Decision {
	b := make([]byte, 0, 96+len(why))
	switch u := &attr.User; {
	case u.Name == "":
		b = append(b, "anonymous requests"...)
	case u.ServiceAccount:
		b = strconv.AppendQuote(append(b, "service account "...), u.Name)
	default:
		b = strconv.AppendQuote(append(b, "user "...), u.Name)
	}
	b = append(append(append(append(b, " cannot "...), attr.Verb...), ' '), attr.Resource...)
	if attr.Subresource != "" {
		b = append(append(b, '/'), attr.Subresource...)
	}
	switch {
	case e == projectsRes && project != "":
		b = strconv.AppendQuote(append(b, ' '), project)
	case e == nil || e.Scope == api.ClusterScoped:
		// The resource is cluster-wide, or unknown and so of no scope.
		if e == nil && attr.Project != "" {
			b = strconv.AppendQuote(append(b, " in project "...), attr.Project)
		}
	case project == "":
		b = append(b, " across all projects"...)
	default:
		b = strconv.AppendQuote(append(b, " in project "...), project)
	}
	if ownHint {
		b = append(b, " other than their own"...)
	}
	if why != "" {
		b = append(append(b, ": "...), why...)
	}
	return Decision{Reason: string(b)}
}

// VisibleProjects returns the projects user may see, to filter project lists
// and watches. all is true (and projects nil) when the user may get every
// project: cluster-admin, cluster-reader, or any project role granted
// cluster-wide. Otherwise projects holds every project where the user may
// get the project object, i.e. has a project role; the map is the caller's.
func (a *Authorizer) VisibleProjects(user UserInfo) (all bool, projects map[string]bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ix := a.ix
	getProject := projectsRes.id
	forEachSubject(&user, func(k subjectKey) bool {
		if g := ix.cluster[k]; g != nil && g.perms[getProject]&verbGet != 0 {
			all = true
			return false
		}
		return true
	})
	if all {
		return true, nil
	}
	projects = map[string]bool{}
	forEachSubject(&user, func(k subjectKey) bool {
		for p := range ix.memberOf[k] {
			if g := ix.inProject[projectSubject{p, k}]; g != nil && g.perms[getProject]&verbGet != 0 {
				projects[p] = true
			}
		}
		return true
	})
	return false, projects
}

// RolesOf returns the sorted names of the roles user holds in project,
// whether bound there or cluster-wide (directly or through a group); with
// project "" only the cluster-wide ones. Bindings to unknown roles are not
// listed: they grant nothing.
func (a *Authorizer) RolesOf(user UserInfo, project string) []string {
	held := make([]bool, len(compiledRoles))
	a.mu.RLock()
	ix := a.ix
	forEachSubject(&user, func(k subjectKey) bool {
		ix.cluster[k].markHeld(held)
		if project != "" {
			ix.inProject[projectSubject{project, k}].markHeld(held)
		}
		return true
	})
	a.mu.RUnlock()
	var names []string
	for i, h := range held {
		if h {
			names = append(names, compiledRoles[i].Name)
		}
	}
	slices.Sort(names)
	return names
}
