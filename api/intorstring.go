package api

import (
	"encoding/json"
	"strconv"
)

// IntOrString is a port given as a number or by name, as in Kubernetes.
type IntOrString struct {
	IntVal int32
	StrVal string
	IsStr  bool
}

// FromInt returns a numeric IntOrString.
func FromInt(i int32) IntOrString { return IntOrString{IntVal: i} }

// FromString returns a named IntOrString.
func FromString(s string) IntOrString { return IntOrString{StrVal: s, IsStr: true} }

// MarshalJSON writes a number or a string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsStr {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON reads a number or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsStr = true
		return json.Unmarshal(b, &v.StrVal)
	}
	v.IsStr = false
	return json.Unmarshal(b, &v.IntVal)
}

func (v IntOrString) String() string {
	if v.IsStr {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}
