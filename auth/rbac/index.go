package rbac

import "strings"

// subjectKind distinguishes the kinds of subjectKey.
type subjectKind uint8

const (
	kindUser subjectKind = iota + 1
	kindGroup
	kindServiceAccount // name is the full system:serviceaccount:<p>:<n> user name
	kindSAProjectGroup // name is the project of system:serviceaccounts:<project>
)

// subjectKey identifies a binding subject, and a request's identities.
type subjectKey struct {
	kind subjectKind
	name string
}

// projectSubject keys the grants of one subject in one project.
type projectSubject struct {
	project string
	subject subjectKey
}

// keyOf returns the key a binding subject is indexed under; ok is false for
// a subject that can never match (empty names, unknown kind).
func keyOf(s Subject) (subjectKey, bool) {
	switch s.Kind {
	case SubjectUser:
		return subjectKey{kindUser, s.Name}, s.Name != ""
	case SubjectGroup:
		return groupKey(s.Name), s.Name != ""
	case SubjectServiceAccount:
		return subjectKey{kindServiceAccount, ServiceAccountUser(s.Project, s.Name)}, s.Project != "" && s.Name != ""
	}
	return subjectKey{}, false
}

// groupKey indexes the per-project service-account groups by project, so a
// request can look them up without building the group name.
func groupKey(group string) subjectKey {
	if p, ok := strings.CutPrefix(group, ServiceAccountGroupPrefix); ok && p != "" {
		return subjectKey{kindSAProjectGroup, p}
	}
	return subjectKey{kindGroup, group}
}

// forEachSubject calls fn with every key the user matches, until fn returns
// false: an anonymous request is only system:unauthenticated; an
// authenticated user is their name, system:authenticated and their groups,
// and a service account also itself and its service-account groups.
func forEachSubject(u *UserInfo, fn func(subjectKey) bool) {
	if u.Name == "" {
		fn(subjectKey{kindGroup, GroupUnauthenticated})
		return
	}
	if !fn(subjectKey{kindUser, u.Name}) || !fn(subjectKey{kindGroup, GroupAuthenticated}) {
		return
	}
	if u.ServiceAccount {
		if project, _, ok := ParseServiceAccountUser(u.Name); ok {
			if !fn(subjectKey{kindServiceAccount, u.Name}) ||
				!fn(subjectKey{kindGroup, GroupServiceAccounts}) ||
				!fn(subjectKey{kindSAProjectGroup, project}) {
				return
			}
		}
	}
	for _, g := range u.Groups {
		if g == "" || g == GroupAuthenticated {
			continue
		}
		if !fn(groupKey(g)) {
			return
		}
	}
}

// grantSet is the union of the roles one subject holds in one scope.
type grantSet struct {
	// counts[role index] is how many bindings grant the role.
	counts []int32
	// perms is the union of the held roles' permission vectors.
	perms []verbSet
}

func (g *grantSet) add(r *compiledRole, delta int32) {
	g.counts[r.idx] += delta
	clear(g.perms)
	for i, n := range g.counts {
		if n > 0 {
			for id, v := range compiledRoles[i].perms {
				g.perms[id] |= v
			}
		}
	}
}

func (g *grantSet) empty() bool {
	for _, n := range g.counts {
		if n > 0 {
			return false
		}
	}
	return true
}

// allowing returns a held role that grants verb on id, or nil.
func (g *grantSet) allowing(id int, verb verbSet) *compiledRole {
	if g == nil || g.perms[id]&verb == 0 {
		return nil
	}
	for i, n := range g.counts {
		if r := compiledRoles[i]; n > 0 && r.perms[id]&verb != 0 {
			return r
		}
	}
	return nil
}

// markHeld sets held[i] for every role the set holds; g may be nil.
func (g *grantSet) markHeld(held []bool) {
	if g == nil {
		return
	}
	for i, n := range g.counts {
		if n > 0 {
			held[i] = true
		}
	}
}

func newGrantSet() *grantSet {
	return &grantSet{counts: make([]int32, len(compiledRoles)), perms: make([]verbSet, numIDs)}
}

// index holds the bindings and what they grant, by subject.
type index struct {
	clusterBindings map[string]*ClusterRoleBinding
	roleBindings    map[string]map[string]*RoleBinding // project → name →
	cluster         map[subjectKey]*grantSet
	inProject       map[projectSubject]*grantSet
	// memberOf counts, per subject, the role bindings naming it in each
	// project, for VisibleProjects.
	memberOf map[subjectKey]map[string]int32
}

func newIndex() *index {
	return &index{
		clusterBindings: map[string]*ClusterRoleBinding{},
		roleBindings:    map[string]map[string]*RoleBinding{},
		cluster:         map[subjectKey]*grantSet{},
		inProject:       map[projectSubject]*grantSet{},
		memberOf:        map[subjectKey]map[string]int32{},
	}
}

// applyCluster adds (delta +1) or removes (-1) what b grants.
func (ix *index) applyCluster(b *ClusterRoleBinding, delta int32) {
	r := rolesByName[b.Role]
	if r == nil {
		return
	}
	for _, s := range b.Subjects {
		k, ok := keyOf(s)
		if !ok {
			continue
		}
		g := ix.cluster[k]
		if g == nil {
			g = newGrantSet()
			ix.cluster[k] = g
		}
		g.add(r, delta)
		if g.empty() {
			delete(ix.cluster, k)
		}
	}
}

func (ix *index) setRoleBinding(b *RoleBinding) {
	byName := ix.roleBindings[b.Project]
	if byName == nil {
		byName = map[string]*RoleBinding{}
		ix.roleBindings[b.Project] = byName
	}
	if old, ok := byName[b.Name]; ok {
		ix.applyProject(old, -1)
	}
	byName[b.Name] = b
	ix.applyProject(b, +1)
}

// applyProject adds (delta +1) or removes (-1) what b grants.
func (ix *index) applyProject(b *RoleBinding, delta int32) {
	r := rolesByName[b.Role]
	if r == nil || b.Project == "" {
		return
	}
	for _, s := range b.Subjects {
		k, ok := keyOf(s)
		if !ok {
			continue
		}
		ps := projectSubject{b.Project, k}
		g := ix.inProject[ps]
		if g == nil {
			g = newGrantSet()
			ix.inProject[ps] = g
		}
		g.add(r, delta)
		if g.empty() {
			delete(ix.inProject, ps)
		}
		m := ix.memberOf[k]
		if m == nil {
			m = map[string]int32{}
			ix.memberOf[k] = m
		}
		if m[b.Project] += delta; m[b.Project] <= 0 {
			delete(m, b.Project)
			if len(m) == 0 {
				delete(ix.memberOf, k)
			}
		}
	}
}

// allowing finds a role held by the user, cluster-wide or in project, that
// grants verb on id; inProject tells where it was found.
func (ix *index) allowing(u *UserInfo, project string, id int, verb verbSet) (role *compiledRole, inProject bool) {
	forEachSubject(u, func(k subjectKey) bool {
		if role = ix.cluster[k].allowing(id, verb); role != nil {
			return false
		}
		if project != "" {
			if role = ix.inProject[projectSubject{project, k}].allowing(id, verb); role != nil {
				inProject = true
				return false
			}
		}
		return true
	})
	return role, inProject
}
