package rbac

import (
	"slices"
	"strings"
	"testing"
)

func TestMatchResource(t *testing.T) {
	t.Parallel()
	names := func(ids []int) []string {
		var out []string
		for _, id := range ids {
			out = append(out, idNames[id])
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		pattern string
		want    []string // nil: the pattern is rejected
	}{
		{"pods", []string{"pods"}},
		{"pods/log", []string{"pods/log"}},
		{"pods/*", []string{"pods/eviction", "pods/exec", "pods/log", "pods/status"}},
		{"*/scale", []string{"deployments/scale"}},
		{"*/rollback", []string{"deployments/rollback"}},
		{"*", idNames},
		{"widgets", nil},
		{"pods/attach", nil},
		{"*/attach", nil},
		{"groups/*", nil},
	}
	for _, tc := range tests {
		ids, err := matchResource(tc.pattern)
		if tc.want == nil {
			if err == nil {
				t.Errorf("matchResource(%q) = %v, want an error", tc.pattern, names(ids))
			}
			continue
		}
		want := slices.Sorted(slices.Values(tc.want))
		if got := names(ids); err != nil || !slices.Equal(got, want) {
			t.Errorf("matchResource(%q) = %v, %v; want %v", tc.pattern, got, err, want)
		}
	}
}

func TestCompileRoleRejectsBadTables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		role Role
		want string
	}{
		{"unknown verb", Role{Name: "r", Rules: []PolicyRule{{Verbs: []string{"escalate"}, Resources: []string{"pods"}}}}, `unknown verb "escalate"`},
		{"unknown resource", Role{Name: "r", Rules: []PolicyRule{{Verbs: []string{"get"}, Resources: []string{"widgets"}}}}, `unknown resource "widgets"`},
		{"unknown subresource", Role{Name: "r", Rules: []PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods/attach"}}}}, `unknown subresource "pods/attach"`},
		{"project role on nodes", Role{Name: "r", Scope: ProjectRole, Rules: []PolicyRule{{Verbs: []string{"get"}, Resources: []string{"nodes"}}}}, "names cluster-scoped nodes"},
		{"project role on everything", Role{Name: "r", Scope: ProjectRole, Rules: []PolicyRule{{Verbs: []string{"get"}, Resources: []string{"*"}}}}, "names cluster-scoped"},
	}
	for _, tc := range tests {
		if _, err := compileRole(tc.role); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	c, err := compileRole(Role{Name: "r", Scope: ProjectRole, Rules: []PolicyRule{{Verbs: []string{"*"}, Resources: []string{"projects", "pods/*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.perms[projectsRes.id] != allVerbs || c.perms[entries["pods"].id+1] != allVerbs || c.perms[entries["pods"].id] != 0 {
		t.Errorf("compiled permissions wrong: %v", c.perms)
	}
}
