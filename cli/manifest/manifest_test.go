package manifest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantNames []string
		wantErr   string
	}{
		{"one YAML object", "kind: ConfigMap\nmetadata:\n  name: a\n", []string{"a"}, ""},
		{"JSON object", `{"kind":"ConfigMap","metadata":{"name":"a"}}`, []string{"a"}, ""},
		{"documents, blanks and comments", "---\n# only a comment\n---\nkind: A\nmetadata: {name: a}\n---\n\n---\nkind: B\nmetadata: {name: b}\n...\n", []string{"a", "b"}, ""},
		{"a list", `{"kind":"List","items":[{"kind":"A","metadata":{"name":"a"}},{"kind":"B","metadata":{"name":"b"}}]}`, []string{"a", "b"}, ""},
		{"--- inside a value is no separator", "kind: A\nmetadata: {name: a}\ndata:\n  x: |\n    ---x\n", []string{"a"}, ""},
		{"malformed", "kind: [", nil, "malformed YAML or JSON"},
		{"not an object", "- a\n- b\n", nil, "not an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Parse("f.yaml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range docs {
				names = append(names, nameOf(t, string(d.JSON)))
			}
			if strings.Join(names, ",") != strings.Join(tc.wantNames, ",") {
				t.Fatalf("names = %v, want %v", names, tc.wantNames)
			}
		})
	}
}

func nameOf(t *testing.T, js string) string {
	t.Helper()
	_, rest, ok := strings.Cut(js, `"name":"`)
	if !ok {
		t.Fatalf("no name in %s", js)
	}
	name, _, _ := strings.Cut(rest, `"`)
	return name
}
