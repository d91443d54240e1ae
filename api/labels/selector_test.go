package labels

import (
	"errors"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestParseAndMatch(t *testing.T) {
	web := map[string]string{"app": "web", "env": "prod", "canary": ""}
	tests := []struct {
		name     string
		selector string
		labels   map[string]string
		want     bool
		wantErr  error
	}{
		{"empty matches all", "", web, true, nil},
		{"equals", "app=web", web, true, nil},
		{"double equals", "app==web", web, true, nil},
		{"equals other", "app=db", web, false, nil},
		{"not equals", "app!=db", web, true, nil},
		{"not equals missing key", "tier!=db", web, true, nil},
		{"in", "env in (prod, staging)", web, true, nil},
		{"in miss", "env in (dev)", web, false, nil},
		{"notin", "env notin (dev,test)", web, true, nil},
		{"notin hit", "env notin (prod)", web, false, nil},
		{"exists", "canary", web, true, nil},
		{"does not exist", "!legacy", web, true, nil},
		{"does not exist hit", "!canary", web, false, nil},
		{"conjunction", "app=web,env in (prod),!legacy", web, true, nil},
		{"conjunction miss", "app=web,env=dev", web, false, nil},
		{"prefixed key", "slipway.io/app=web", map[string]string{"slipway.io/app": "web"}, true, nil},
		{"bad operator", "app>web", web, false, errdefs.ErrBadRequest},
		{"unbalanced", "env in (prod", web, false, errdefs.ErrBadRequest},
		{"bad value", "app=we b", web, false, errdefs.ErrBadRequest},
		{"empty term", "app=web,,env=prod", web, false, errdefs.ErrBadRequest},
		{"in without parens", "env in prod", web, false, errdefs.ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Parse(tc.selector)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Parse(%q) err = %v, want %v", tc.selector, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.selector, err)
			}
			if got := sel.Matches(tc.labels); got != tc.want {
				t.Fatalf("Matches = %v, want %v (selector %q)", got, tc.want, sel)
			}
			// The canonical form parses back to the same selector.
			again, err := Parse(sel.String())
			if err != nil || again.String() != sel.String() {
				t.Fatalf("round trip of %q: %q, %v", sel, again, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"app=web", "env in (a,b)", "!x,y", "a!=b", "k notin (c)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrBadRequest) {
				t.Fatalf("error of wrong class: %v", err)
			}
			return
		}
		again, err := Parse(sel.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", sel.String(), s, err)
		}
		if again.String() != sel.String() {
			t.Fatalf("unstable canonical form: %q vs %q", again.String(), sel.String())
		}
	})
}
