package rbac_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth/rbac"
)

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// everyRequest returns every verb × resource × subresource the table knows,
// in project p (for project-scoped resources) or as the project p itself.
func everyRequest(u rbac.UserInfo, p string) []rbac.Attributes {
	var out []rbac.Attributes
	for _, r := range rbac.KnownResources() {
		for _, sub := range append([]string{""}, r.Subresources...) {
			for _, v := range allVerbs {
				a := rbac.Attributes{User: u, Verb: v, Resource: r.Name, Subresource: sub, Name: "x"}
				switch {
				case r.Name == "projects":
					a.Name = p
				case r.Scope == api.ProjectScoped:
					a.Project = p
				}
				out = append(out, a)
			}
		}
	}
	return out
}

func TestKnownResources(t *testing.T) {
	t.Parallel()
	want := map[string]api.Scope{
		"projects": api.ClusterScoped, "users": api.ClusterScoped, "groups": api.ClusterScoped,
		"tokens": api.ClusterScoped, "clusterrolebindings": api.ClusterScoped, "nodes": api.ClusterScoped, "leases": api.ClusterScoped,
		"configmaps": api.ProjectScoped, "secrets": api.ProjectScoped, "rolebindings": api.ProjectScoped,
		"serviceaccounts": api.ProjectScoped, "deployments": api.ProjectScoped, "replicasets": api.ProjectScoped, "pods": api.ProjectScoped,
		"services": api.ProjectScoped, "endpoints": api.ProjectScoped, "routes": api.ProjectScoped,
		"buildconfigs": api.ProjectScoped, "builds": api.ProjectScoped, "images": api.ProjectScoped,
		"events": api.ProjectScoped, "resourcequotas": api.ProjectScoped, "limitranges": api.ProjectScoped,
		"jobs": api.ProjectScoped, "networkpolicies": api.ProjectScoped, "poddisruptionbudgets": api.ProjectScoped,
	}
	got := rbac.KnownResources()
	if !slices.IsSortedFunc(got, func(a, b rbac.Resource) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("KnownResources is not sorted by name")
	}
	if len(got) != len(want) {
		t.Errorf("KnownResources has %d entries, want %d", len(got), len(want))
	}
	for _, r := range got {
		scope, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected resource %q", r.Name)
		} else if r.Scope != scope {
			t.Errorf("%s: scope %v, want %v", r.Name, r.Scope, scope)
		}
	}
	// Every resource the catalogue serves today has a policy.
	for _, r := range api.NewCatalogue().All() {
		i := slices.IndexFunc(got, func(k rbac.Resource) bool { return k.Name == r.Plural })
		if i < 0 || got[i].Scope != r.Scope {
			t.Errorf("catalogue resource %s (scope %v) has no policy with that scope", r.Plural, r.Scope)
			continue
		}
		if r.HasStatus && !slices.Contains(got[i].Subresources, "status") {
			t.Errorf("catalogue resource %s has a status subresource without a policy", r.Plural)
		}
	}
	// The result is a copy.
	got[0].Subresources = append(got[0].Subresources, "mutated")
	got[0].Name = "mutated"
	if again := rbac.KnownResources(); again[0].Name == "mutated" || slices.Contains(again[0].Subresources, "mutated") {
		t.Error("KnownResources returned the table itself")
	}
}

// TestRoleTablesClassifyEveryResource pins what each project role may do
// with each project-scoped resource: adding a resource to the policy table
// fails here until someone decides. rw = read and write, r = read only,
// - = nothing.
func TestRoleTablesClassifyEveryResource(t *testing.T) {
	t.Parallel()
	levels := map[string][3]string{ // admin, edit, view
		"configmaps":           {"rw", "rw", "r"},
		"secrets":              {"rw", "rw", "-"},
		"rolebindings":         {"rw", "-", "-"},
		"serviceaccounts":      {"rw", "rw", "r"},
		"deployments":          {"rw", "rw", "r"},
		"replicasets":          {"rw", "rw", "r"},
		"pods":                 {"rw", "rw", "r"},
		"services":             {"rw", "rw", "r"},
		"endpoints":            {"rw", "rw", "r"},
		"routes":               {"rw", "rw", "r"},
		"buildconfigs":         {"rw", "rw", "r"},
		"builds":               {"rw", "rw", "r"},
		"images":               {"rw", "rw", "r"},
		"events":               {"r", "r", "r"},
		"resourcequotas":       {"r", "-", "r"},
		"limitranges":          {"r", "-", "r"},
		"jobs":                 {"rw", "rw", "r"},
		"networkpolicies":      {"rw", "rw", "r"},
		"poddisruptionbudgets": {"rw", "rw", "r"},
	}
	roles := []string{rbac.RoleAdmin, rbac.RoleEdit, rbac.RoleView}
	for _, r := range rbac.KnownResources() {
		if r.Scope != api.ProjectScoped {
			continue
		}
		want, ok := levels[r.Name]
		if !ok {
			t.Errorf("project-scoped resource %q is not classified for the project roles", r.Name)
			continue
		}
		for i, role := range roles {
			a := rbac.New()
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b", Role: role, Subjects: user("bob")})
			read := a.Authorize(req(bob, "list", r.Name, shop, "")).Allowed
			write := a.Authorize(req(bob, "create", r.Name, shop, "")).Allowed
			got := "-"
			switch {
			case read && write:
				got = "rw"
			case read:
				got = "r"
			case write:
				got = "w"
			}
			if got != want[i] {
				t.Errorf("%s on %s: %s, want %s", role, r.Name, got, want[i])
			}
		}
	}
}

// allowedSet returns the requests role allows when bound as given.
func allowedSet(role string, clusterWide bool) map[string]bool {
	a := rbac.New()
	if clusterWide {
		a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "b", Role: role, Subjects: user("bob")})
	} else {
		a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b", Role: role, Subjects: user("bob")})
	}
	out := map[string]bool{}
	for _, attr := range everyRequest(bob, shop) {
		if d := a.Authorize(attr); d.Allowed && strings.HasPrefix(d.Reason, "allowed by role") {
			out[attr.Verb+" "+attr.Resource+"/"+attr.Subresource] = true
		}
	}
	return out
}

func TestRoleProperties(t *testing.T) {
	t.Parallel()
	admin, edit, view := allowedSet(rbac.RoleAdmin, false), allowedSet(rbac.RoleEdit, false), allowedSet(rbac.RoleView, false)
	for req := range edit {
		if !admin[req] {
			t.Errorf("edit allows %q but admin does not", req)
		}
	}
	for req := range view {
		if !admin[req] {
			t.Errorf("view allows %q but admin does not", req)
		}
	}
	for name, set := range map[string]map[string]bool{"admin": admin, "edit": edit, "view": view} {
		if !set["get projects/"] {
			t.Errorf("%s does not grant get on its project", name)
		}
		for req := range set {
			if strings.HasSuffix(req, "/status") && !strings.HasPrefix(req, "get ") && !strings.HasPrefix(req, "list ") && !strings.HasPrefix(req, "watch ") {
				t.Errorf("%s writes status (%q), which belongs to controllers", name, req)
			}
		}
	}
	for req := range view {
		if verb, _, _ := strings.Cut(req, " "); verb != "get" && verb != "list" && verb != "watch" {
			t.Errorf("view allows %q", req)
		}
	}

	reader := allowedSet(rbac.RoleClusterReader, true)
	for req := range reader {
		verb, res, _ := strings.Cut(req, " ")
		if verb != "get" && verb != "list" && verb != "watch" {
			t.Errorf("cluster-reader allows %q", req)
		}
		if strings.HasPrefix(res, "secrets/") || strings.HasPrefix(res, "tokens/") {
			t.Errorf("cluster-reader allows %q", req)
		}
	}
	for _, res := range []string{"nodes/", "users/", "pods/", "rolebindings/", "clusterrolebindings/"} {
		if !reader["list "+res] {
			t.Errorf("cluster-reader cannot list %s", res)
		}
	}

	clusterAdmin := allowedSet(rbac.RoleClusterAdmin, true)
	if n := len(everyRequest(bob, shop)); len(clusterAdmin) != n {
		t.Errorf("cluster-admin allows %d of the %d known requests", len(clusterAdmin), n)
	}
	// A project role bound cluster-wide applies in every project.
	a := rbac.New()
	a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "b", Role: rbac.RoleEdit, Subjects: user("bob")})
	for _, p := range []string{shop, other, "any"} {
		if !a.Authorize(req(bob, "create", "deployments", p, "")).Allowed {
			t.Errorf("edit bound cluster-wide does not apply in %s", p)
		}
	}
	if a.Authorize(req(bob, "list", "nodes", "", "")).Allowed {
		t.Error("a project role bound cluster-wide reached a cluster-scoped resource")
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	roles := rbac.Roles()
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	want := []string{"cluster-admin", "cluster-reader", "self-provisioner", "system:node",
		"system:router", "system:sdn", "system:webhook", "admin", "edit", "system:builder", "view"}
	if !slices.Equal(names, want) {
		t.Errorf("Roles() = %v, want %v", names, want)
	}
	for _, r := range roles {
		if r.Description == "" || len(r.Rules) == 0 {
			t.Errorf("role %s has no description or no rules", r.Name)
		}
		got, ok := rbac.LookupRole(r.Name)
		if !ok || got.Name != r.Name || got.Scope != r.Scope {
			t.Errorf("LookupRole(%q) = %+v, %v", r.Name, got, ok)
		}
	}
	if _, ok := rbac.LookupRole("nonesuch"); ok {
		t.Error("LookupRole found a role that does not exist")
	}
	// Changing what Roles returned changes nothing.
	view, _ := rbac.LookupRole(rbac.RoleView)
	view.Rules[0].Resources[0] = "secrets"
	for _, r := range rbac.Roles() {
		for _, rule := range r.Rules {
			rule.Verbs[0] = "delete"
		}
	}
	a := rbac.New()
	a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b", Role: rbac.RoleView, Subjects: user("bob")})
	if a.Authorize(req(bob, "get", "secrets", shop, "db")).Allowed || a.Authorize(req(bob, "delete", "configmaps", shop, "c")).Allowed {
		t.Error("mutating a returned role changed the built-in one")
	}
	if again, _ := rbac.LookupRole(rbac.RoleView); again.Rules[0].Resources[0] == "secrets" {
		t.Error("LookupRole returned the table itself")
	}
}
