package kinds

import "testing"

func TestLookup(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		typed, wantPlural string
	}{
		{"cm", "configmaps"}, {"ConfigMap", "configmaps"}, {"configmap", "configmaps"}, {"CONFIGMAPS", "configmaps"},
		{"project", "projects"}, {"proj", "projects"}, {"sa", "serviceaccounts"}, {"rb", "rolebindings"},
		{"clusterrolebinding", "clusterrolebindings"}, {"users", "users"}, {"Token", "tokens"}, {"widgets", ""},
	}
	for _, tc := range tests {
		t.Run(tc.typed, func(t *testing.T) {
			k, ok := r.Lookup(tc.typed)
			switch {
			case tc.wantPlural == "" && ok:
				t.Fatalf("found %s, want nothing", k.Resource.Plural)
			case tc.wantPlural != "" && (!ok || k.Resource.Plural != tc.wantPlural):
				t.Fatalf("found %v, want %s", k, tc.wantPlural)
			}
		})
	}
	r.Learn([]Discovered{{Name: "widgets", Kind: "Widget", ProjectScoped: true}})
	if k, ok := r.Lookup("widget"); !ok || !k.ProjectScoped() {
		t.Fatalf("a discovered kind is not found: %v", k)
	}
}
