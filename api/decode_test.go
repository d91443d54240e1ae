package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestDecodeAndValidate(t *testing.T) {
	cat := NewCatalogue()
	projects, _ := cat.Lookup("projects")
	configmaps, _ := cat.Lookup("configmaps")
	tests := []struct {
		name      string
		res       *Resource
		body      string
		wantErr   error
		wantField string
	}{
		{"valid project", projects, `{"metadata":{"name":"shop"},"spec":{"displayName":"Shop"}}`, nil, ""},
		{"valid configmap", configmaps, `{"metadata":{"name":"c"},"data":{"a.b-c_d":"v"}}`, nil, ""},
		{"case-mismatched field is unknown", projects, `{"metadata":{"name":"shop"},"spec":{"DisplayName":"x"}}`, errdefs.ErrBadRequest, "spec.DisplayName"},
		{"duplicate field", projects, `{"metadata":{"name":"a","name":"b"}}`, errdefs.ErrBadRequest, "metadata.name"},
		{"unknown nested field", projects, `{"metadata":{"name":"a","labels":{},"owner":"x"}}`, errdefs.ErrBadRequest, "metadata.owner"},
		{"spec of wrong type", projects, `{"metadata":{"name":"a"},"spec":[]}`, errdefs.ErrBadRequest, "spec"},
		{"display name too long", projects, `{"metadata":{"name":"a"},"spec":{"displayName":"` + strings.Repeat("x", 257) + `"}}`, errdefs.ErrInvalid, "spec.displayName"},
		{"bad configmap key", configmaps, `{"metadata":{"name":"c"},"data":{"a/b":"v"}}`, errdefs.ErrInvalid, "data[a/b]"},
		{"data on a project", projects, `{"metadata":{"name":"a"},"data":{}}`, errdefs.ErrBadRequest, "data"},
		{"not an object", projects, `[1,2]`, errdefs.ErrBadRequest, ""},
		{"bad annotation key", projects, `{"metadata":{"name":"a","annotations":{"-x":"y"}}}`, errdefs.ErrInvalid, "metadata.annotations[-x]"},
		{"duplicate finalizer", projects, `{"metadata":{"name":"a","finalizers":["x.io/f","x.io/f"]}}`, errdefs.ErrInvalid, "metadata.finalizers[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeAndValidate(tc.res, []byte(tc.body))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want class %v", err, tc.wantErr)
			}
			if got := errdefs.FieldOf(err); got != tc.wantField {
				t.Fatalf("field = %q, want %q (%v)", got, tc.wantField, err)
			}
		})
	}
}

func decodeAndValidate(res *Resource, body []byte) error {
	obj, err := DecodeObject(body)
	if err != nil {
		return err
	}
	if err := ValidateMetadata(&obj.Metadata); err != nil {
		return err
	}
	if err := res.Validate(obj); err != nil {
		return err
	}
	return res.ValidateStatus(obj)
}

// FuzzDecodeObject drives the request decoding and validation path with
// arbitrary bodies: it must never panic, and every failure must be a client
// error (BadRequest or Invalid) naming the problem — never an internal one.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"metadata":{"name":"shop","labels":{"a":"b"}},"spec":{"displayName":"Shop"}}`,
		`{"metadata":{"name":"c","finalizers":["x.io/y"]},"data":{"k":"v"}}`,
		`{"kind":"Project","apiVersion":"v1","metadata":{"name":"x"},"status":{"phase":"Active"}}`,
		`metadata:\n  name: y\n`,
		`{"metadata":{"name":"a","name":"b"}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	cat := NewCatalogue()
	f.Fuzz(func(t *testing.T, body []byte, yaml bool) {
		mt := MediaJSON
		if yaml {
			mt = MediaYAML
		}
		data, err := ToJSON(body, mt)
		for _, res := range cat.All() {
			if err == nil {
				err = decodeAndValidate(res, data)
			}
			if err != nil {
				class := errdefs.Class(err)
				if class != errdefs.ErrBadRequest && class != errdefs.ErrInvalid {
					t.Fatalf("%s: error of class %v: %v", res.Plural, class, err)
				}
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
			}
		}
	})
}
