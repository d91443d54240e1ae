package ovsdb

import "fmt"

// Row is a row as the server sends it: column name to decoded JSON value
// (numbers kept as json.Number). The accessors convert one column to a Go
// type; a column absent from the row yields the zero value, because
// monitors and selects may ask for only some columns.
type Row map[string]any

// UnmarshalJSON decodes a row keeping integers exact.
func (r *Row) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := unmarshalNumbers(b, &m); err != nil {
		return err
	}
	*r = m
	return nil
}

// UUID returns the row's _uuid column.
func (r Row) UUID() (UUID, error) { return r.UUIDColumn("_uuid") }

// String decodes a string column.
func (r Row) String(col string) (string, error) {
	v, ok := r[col]
	if !ok {
		return "", nil
	}
	s, err := atomString(v)
	return s, columnErr(col, err)
}

// Int decodes an integer column.
func (r Row) Int(col string) (int64, error) {
	v, ok := r[col]
	if !ok {
		return 0, nil
	}
	i, err := atomInt(v)
	return i, columnErr(col, err)
}

// Bool decodes a boolean column.
func (r Row) Bool(col string) (bool, error) {
	v, ok := r[col]
	if !ok {
		return false, nil
	}
	b, err := atomBool(v)
	return b, columnErr(col, err)
}

// UUIDColumn decodes a uuid column.
func (r Row) UUIDColumn(col string) (UUID, error) {
	v, ok := r[col]
	if !ok {
		return "", nil
	}
	u, err := atomUUID(v)
	return u, columnErr(col, err)
}

// StringSet decodes a set-of-strings column, accepting the bare string the
// server sends for a one-element set.
func (r Row) StringSet(col string) ([]string, error) {
	return decodeSet(r, col, atomString)
}

// UUIDSet decodes a set-of-uuids column (references to other rows).
func (r Row) UUIDSet(col string) ([]UUID, error) {
	return decodeSet(r, col, atomUUID)
}

// IntSet decodes a set-of-integers column.
func (r Row) IntSet(col string) ([]int64, error) {
	return decodeSet(r, col, atomInt)
}

// OptionalBool decodes a column of type "boolean, min 0 max 1": nil when
// the set is empty.
func (r Row) OptionalBool(col string) (*bool, error) {
	return decodeOptional(r, col, atomBool)
}

// OptionalString decodes a column of type "string, min 0 max 1".
func (r Row) OptionalString(col string) (*string, error) {
	return decodeOptional(r, col, atomString)
}

// OptionalInt decodes a column of type "integer, min 0 max 1".
func (r Row) OptionalInt(col string) (*int64, error) {
	return decodeOptional(r, col, atomInt)
}

// OptionalUUID decodes a column of type "uuid, min 0 max 1".
func (r Row) OptionalUUID(col string) (*UUID, error) {
	return decodeOptional(r, col, atomUUID)
}

// StringMap decodes a string-to-string map column such as external_ids.
func (r Row) StringMap(col string) (map[string]string, error) {
	v, ok := r[col]
	if !ok {
		return map[string]string{}, nil
	}
	pairs, err := mapPairs(v)
	if err != nil {
		return nil, columnErr(col, err)
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, err := atomString(p[0])
		if err != nil {
			return nil, columnErr(col, err)
		}
		val, err := atomString(p[1])
		if err != nil {
			return nil, columnErr(col, err)
		}
		m[k] = val
	}
	return m, nil
}

func decodeSet[T any](r Row, col string, atom func(any) (T, error)) ([]T, error) {
	v, ok := r[col]
	if !ok {
		return nil, nil
	}
	elems, err := setElements(v)
	if err != nil {
		return nil, columnErr(col, err)
	}
	out := make([]T, 0, len(elems))
	for _, e := range elems {
		a, err := atom(e)
		if err != nil {
			return nil, columnErr(col, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func decodeOptional[T any](r Row, col string, atom func(any) (T, error)) (*T, error) {
	elems, err := decodeSet(r, col, atom)
	if err != nil {
		return nil, err
	}
	switch len(elems) {
	case 0:
		return nil, nil
	case 1:
		return &elems[0], nil
	default:
		return nil, fmt.Errorf("column %q: optional value has %d elements", col, len(elems))
	}
}

func columnErr(col string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("column %q: %w", col, err)
}
