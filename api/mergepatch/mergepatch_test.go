package mergepatch

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

// The examples of RFC 7386, appendix A.
func TestRFC7386Examples(t *testing.T) {
	tests := []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"n":12345678901234567890}`, `{"m":1}`, `{"m":1,"n":12345678901234567890}`},
	}
	for _, tc := range tests {
		t.Run(tc.doc+"+"+tc.patch, func(t *testing.T) {
			got, err := Apply([]byte(tc.doc), []byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tc.want)) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// jsonEqual compares JSON documents, numbers by their text (as Apply keeps
// them: 1E700 is valid JSON though no float64).
func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if err := decode(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := decode(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestBadPatches(t *testing.T) {
	for name, patch := range map[string]string{
		"malformed": `{"a":`,
		"trailing":  `{"a":1} {"b":2}`,
		"too deep":  strings.Repeat(`{"a":`, MaxDepth+2) + "1" + strings.Repeat("}", MaxDepth+2),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Apply([]byte(`{}`), []byte(patch)); !errors.Is(err, errdefs.ErrBadRequest) {
				t.Fatalf("err = %v, want BadRequest", err)
			}
		})
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1}}`), []byte(`{"a":{"b":null,"c":[1]}}`))
	f.Add([]byte(`[]`), []byte(`{"x":null}`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		if !json.Valid(doc) {
			return
		}
		out, err := Apply(doc, patch)
		if err != nil {
			if !errors.Is(err, errdefs.ErrBadRequest) {
				t.Fatalf("error of wrong class: %v", err)
			}
			return
		}
		// Applying the same patch twice changes nothing more (idempotence).
		again, err := Apply(out, patch)
		if err != nil {
			t.Fatalf("second application failed: %v", err)
		}
		if !jsonEqual(t, out, again) {
			t.Fatalf("not idempotent: %s then %s", out, again)
		}
	})
}
