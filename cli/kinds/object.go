package kinds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Object is an object as the CLI handles it: the server's JSON, kept as
// sent (for -o json), and its decoded form, which columns read.
type Object struct {
	Raw json.RawMessage
	Doc map[string]any
}

// Decode parses one object.
func Decode(raw json.RawMessage) (*Object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return &Object{Raw: raw, Doc: doc}, nil
}

// Field returns the value at a path of member names, nil when absent.
func (o *Object) Field(path ...string) any {
	var cur any = o.Doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// String returns the string at path, "" when absent; numbers and booleans
// are formatted.
func (o *Object) String(path ...string) string {
	switch v := o.Field(path...).(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return fmt.Sprint(v)
	}
	return ""
}

// Strings returns the list of strings at path.
func (o *Object) Strings(path ...string) []string {
	list, _ := o.Field(path...).([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Map returns the object at path.
func (o *Object) Map(path ...string) map[string]any {
	m, _ := o.Field(path...).(map[string]any)
	return m
}

// Kind is the object's kind.
func (o *Object) Kind() string { return o.String("kind") }

// Name is the object's name.
func (o *Object) Name() string { return o.String("metadata", "name") }

// Project is the object's project, "" for a cluster-scoped object.
func (o *Object) Project() string { return o.String("metadata", "project") }

// Time returns the RFC 3339 time at path.
func (o *Object) Time(path ...string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, o.String(path...))
	return t, err == nil
}

// Created is the object's creation time.
func (o *Object) Created() (time.Time, bool) { return o.Time("metadata", "creationTimestamp") }

// Age formats how long ago t was, the way kubectl does: 45s, 12m, 5h, 3d,
// 2y.
func Age(t time.Time, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}
