// Package labels parses and evaluates label selectors in the Kubernetes
// syntax: "app=web,tier!=db,env in (prod,staging),env notin (dev),canary,!legacy".
package labels

import (
	"fmt"
	"sort"
	"strings"

	"github.com/slipway/slipway/api/errdefs"
)

// Operator is how a requirement compares a label.
type Operator string

// Operators.
const (
	Equals       Operator = "="
	NotEquals    Operator = "!="
	In           Operator = "in"
	NotIn        Operator = "notin"
	Exists       Operator = "exists"
	DoesNotExist Operator = "!"
)

// Requirement is one comma-separated term of a selector.
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string // sorted; one value for = and !=, none for exists and !
}

// Selector is a conjunction of requirements; the empty selector matches
// everything.
type Selector []Requirement

// MaxSelectorLength bounds the selector text a request may carry.
const MaxSelectorLength = 4096

// Parse reads a selector. Errors name the field "labelSelector".
func Parse(s string) (Selector, error) {
	if len(s) > MaxSelectorLength {
		return nil, errdefs.BadRequestf("labelSelector", "longer than %d characters", MaxSelectorLength)
	}
	var sel Selector
	for _, term := range splitTerms(s) {
		term = strings.TrimSpace(term)
		if term == "" {
			if strings.TrimSpace(s) == "" {
				return nil, nil
			}
			return nil, errdefs.BadRequestf("labelSelector", "empty term in %q", s)
		}
		r, err := parseTerm(term)
		if err != nil {
			return nil, err
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// splitTerms splits on commas outside parentheses.
func splitTerms(s string) []string {
	var terms []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				terms = append(terms, s[start:i])
				start = i + 1
			}
		}
	}
	return append(terms, s[start:])
}

func parseTerm(term string) (Requirement, error) {
	bad := func(format string, args ...any) (Requirement, error) {
		return Requirement{}, errdefs.BadRequestf("labelSelector", "term %q: %s", term, fmt.Sprintf(format, args...))
	}
	if strings.HasPrefix(term, "!") {
		key := strings.TrimSpace(term[1:])
		if !validKey(key) {
			return bad("invalid key")
		}
		return Requirement{Key: key, Operator: DoesNotExist}, nil
	}
	if i := strings.IndexAny(term, "=!"); i >= 0 {
		key := strings.TrimSpace(term[:i])
		rest := term[i:]
		op := Equals
		switch {
		case strings.HasPrefix(rest, "!="):
			op, rest = NotEquals, rest[2:]
		case strings.HasPrefix(rest, "=="):
			rest = rest[2:]
		case strings.HasPrefix(rest, "="):
			rest = rest[1:]
		default:
			return bad("expected '=', '==' or '!='")
		}
		value := strings.TrimSpace(rest)
		if !validKey(key) {
			return bad("invalid key")
		}
		if !validValue(value) {
			return bad("invalid value %q", value)
		}
		return Requirement{Key: key, Operator: op, Values: []string{value}}, nil
	}
	fields := strings.Fields(term)
	if len(fields) == 1 {
		if !validKey(fields[0]) {
			return bad("invalid key")
		}
		return Requirement{Key: fields[0], Operator: Exists}, nil
	}
	key := fields[0]
	rest := strings.TrimSpace(strings.TrimPrefix(term, key))
	var op Operator
	switch {
	case strings.HasPrefix(rest, "notin"):
		op, rest = NotIn, rest[len("notin"):]
	case strings.HasPrefix(rest, "in"):
		op, rest = In, rest[len("in"):]
	default:
		return bad("expected 'in' or 'notin'")
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return bad("values must be in parentheses")
	}
	if !validKey(key) {
		return bad("invalid key")
	}
	var values []string
	for _, v := range strings.Split(rest[1:len(rest)-1], ",") {
		v = strings.TrimSpace(v)
		if !validValue(v) {
			return bad("invalid value %q", v)
		}
		values = append(values, v)
	}
	sort.Strings(values)
	return Requirement{Key: key, Operator: op, Values: values}, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 317 {
		return false
	}
	for _, c := range k {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./", c)
		if !ok {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	if len(v) > 63 {
		return false
	}
	for _, c := range v {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.", c)
		if !ok {
			return false
		}
	}
	return true
}

// Matches reports whether a set of labels satisfies every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.Key]
		switch r.Operator {
		case Equals:
			if !ok || v != r.Values[0] {
				return false
			}
		case NotEquals:
			if ok && v == r.Values[0] {
				return false
			}
		case In:
			if !ok || !contains(r.Values, v) {
				return false
			}
		case NotIn:
			if ok && contains(r.Values, v) {
				return false
			}
		case Exists:
			if !ok {
				return false
			}
		case DoesNotExist:
			if ok {
				return false
			}
		}
	}
	return true
}

func contains(sorted []string, v string) bool {
	i := sort.SearchStrings(sorted, v)
	return i < len(sorted) && sorted[i] == v
}

// String renders the selector in canonical form.
func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		switch r.Operator {
		case Equals, NotEquals:
			parts[i] = r.Key + string(r.Operator) + r.Values[0]
		case In, NotIn:
			parts[i] = r.Key + " " + string(r.Operator) + " (" + strings.Join(r.Values, ",") + ")"
		case Exists:
			parts[i] = r.Key
		case DoesNotExist:
			parts[i] = "!" + r.Key
		}
	}
	return strings.Join(parts, ",")
}
