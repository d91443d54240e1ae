// Package mergepatch applies JSON merge patches (RFC 7386): objects merge
// recursively, null removes a member, anything else replaces.
package mergepatch

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/slipway/slipway/api/errdefs"
)

// MaxDepth bounds the nesting of a patch, so a hostile patch cannot exhaust
// the stack.
const MaxDepth = 64

// Apply returns doc with patch applied. A malformed patch is a BadRequest.
func Apply(doc, patch []byte) ([]byte, error) {
	var d, p any
	if err := decode(doc, &d); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	if err := decode(patch, &p); err != nil {
		return nil, errdefs.BadRequestf("", "malformed merge patch: %v", err)
	}
	if depth(p, 0) > MaxDepth {
		return nil, errdefs.BadRequestf("", "merge patch nested deeper than %d levels", MaxDepth)
	}
	out, err := json.Marshal(merge(d, p))
	if err != nil {
		return nil, fmt.Errorf("encode patched document: %w", err)
	}
	return out, nil
}

func decode(b []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

func merge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = merge(t[k], v)
	}
	return t
}

func depth(v any, d int) int {
	deepest := d
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			deepest = max(deepest, depth(e, d+1))
		}
	case []any:
		for _, e := range x {
			deepest = max(deepest, depth(e, d+1))
		}
	}
	return deepest
}
