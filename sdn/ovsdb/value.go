package ovsdb

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// UUID is a row's identity. It encodes as ["uuid", "<uuid>"].
type UUID string

// MarshalJSON encodes u as an OVSDB uuid atom.
func (u UUID) MarshalJSON() ([]byte, error) {
	return json.Marshal([]string{"uuid", string(u)})
}

// UnmarshalJSON decodes an OVSDB uuid atom.
func (u *UUID) UnmarshalJSON(b []byte) error {
	var v any
	if err := unmarshalNumbers(b, &v); err != nil {
		return err
	}
	got, err := atomUUID(v)
	if err != nil {
		return err
	}
	*u = got
	return nil
}

// NamedUUID refers, inside one transaction, to the row inserted by an
// earlier operation with that uuid-name. It encodes as ["named-uuid", name].
type NamedUUID string

// MarshalJSON encodes n as an OVSDB named-uuid.
func (n NamedUUID) MarshalJSON() ([]byte, error) {
	return json.Marshal([]string{"named-uuid", string(n)})
}

// Set is an OVSDB set value; it always encodes as ["set", [...]], which the
// server accepts for every set column whatever its size.
type Set[T any] []T

// MarshalJSON encodes s as ["set", [...]].
func (s Set[T]) MarshalJSON() ([]byte, error) {
	elems := []T(s)
	if elems == nil {
		elems = []T{}
	}
	return json.Marshal([]any{"set", elems})
}

// Map is an OVSDB map value; it encodes as ["map", [[k, v], ...]].
type Map[K comparable, V any] map[K]V

// MarshalJSON encodes m as ["map", [[k, v], ...]].
func (m Map[K, V]) MarshalJSON() ([]byte, error) {
	pairs := make([][2]any, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]any{k, v})
	}
	return json.Marshal([]any{"map", pairs})
}

// unmarshalNumbers decodes JSON keeping numbers as json.Number, so integers
// survive exactly.
func unmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// taggedPair reports whether v is a two-element array whose first element
// is the string tag, returning the second element.
func taggedPair(v any, tag string) (any, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return nil, false
	}
	s, ok := arr[0].(string)
	if !ok || s != tag {
		return nil, false
	}
	return arr[1], true
}

// setElements returns the elements of a set value. The server sends a set
// of exactly one element as that bare element, so anything that is not
// ["set", [...]] is taken as a one-element set.
func setElements(v any) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	if inner, ok := taggedPair(v, "set"); ok {
		elems, ok := inner.([]any)
		if !ok {
			return nil, fmt.Errorf("malformed set %v", v)
		}
		return elems, nil
	}
	return []any{v}, nil
}

// mapPairs returns the [key, value] pairs of a map value.
func mapPairs(v any) ([][2]any, error) {
	if v == nil {
		return nil, nil
	}
	inner, ok := taggedPair(v, "map")
	if !ok {
		return nil, fmt.Errorf("expected [\"map\", ...], got %v", v)
	}
	raw, ok := inner.([]any)
	if !ok {
		return nil, fmt.Errorf("malformed map %v", v)
	}
	pairs := make([][2]any, 0, len(raw))
	for _, p := range raw {
		kv, ok := p.([]any)
		if !ok || len(kv) != 2 {
			return nil, fmt.Errorf("malformed map pair %v", p)
		}
		pairs = append(pairs, [2]any{kv[0], kv[1]})
	}
	return pairs, nil
}

func atomString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("expected a string atom, got %v", v)
	}
	return s, nil
}

func atomUUID(v any) (UUID, error) {
	inner, ok := taggedPair(v, "uuid")
	if !ok {
		return "", fmt.Errorf("expected [\"uuid\", ...], got %v", v)
	}
	s, ok := inner.(string)
	if !ok {
		return "", fmt.Errorf("malformed uuid %v", v)
	}
	return UUID(s), nil
}

func atomInt(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("expected an integer atom, got %v", v)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("integer atom %s: %w", n, err)
	}
	return i, nil
}

func atomBool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("expected a boolean atom, got %v", v)
	}
	return b, nil
}
