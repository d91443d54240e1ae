package ovsdb

// rowReader decodes several columns of one row, keeping the first error,
// so typed conversions read as a list of fields.
type rowReader struct {
	row Row
	err error
}

func (r *rowReader) keep(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *rowReader) uuid() UUID {
	v, err := r.row.UUID()
	r.keep(err)
	return v
}

func (r *rowReader) str(col string) string {
	v, err := r.row.String(col)
	r.keep(err)
	return v
}

func (r *rowReader) integer(col string) int64 {
	v, err := r.row.Int(col)
	r.keep(err)
	return v
}

func (r *rowReader) boolean(col string) bool {
	v, err := r.row.Bool(col)
	r.keep(err)
	return v
}

func (r *rowReader) strings(col string) []string {
	v, err := r.row.StringSet(col)
	r.keep(err)
	return v
}

func (r *rowReader) uuids(col string) []UUID {
	v, err := r.row.UUIDSet(col)
	r.keep(err)
	return v
}

func (r *rowReader) strMap(col string) map[string]string {
	v, err := r.row.StringMap(col)
	r.keep(err)
	return v
}

func (r *rowReader) optBool(col string) *bool {
	v, err := r.row.OptionalBool(col)
	r.keep(err)
	return v
}

func (r *rowReader) optString(col string) *string {
	v, err := r.row.OptionalString(col)
	r.keep(err)
	return v
}

// optional encodes a "min 0, max 1" column value.
func optional[T any](v *T) Set[T] {
	if v == nil {
		return Set[T]{}
	}
	return Set[T]{*v}
}

// stringMap encodes a string-to-string map column; nil encodes as empty.
func stringMap(m map[string]string) Map[string, string] {
	return Map[string, string](m)
}
