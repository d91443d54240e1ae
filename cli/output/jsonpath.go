package output

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// JSONPath is a parsed -o jsonpath=TEMPLATE, the subset of kubectl's
// JSONPath people use: text with {expressions}; fields (.a.b, ['a.b']),
// indices ([0], [-1]), wildcards ([*], .*), filters
// ([?(@.type=="Ready")], with == and !=), {range PATH}…{end}, and string
// literals ({"\n"}). Several results of one expression are printed
// separated by spaces; strings print bare, other values as JSON.
type JSONPath struct {
	nodes []tplNode
}

// tplNode is text, an expression, or a range over an expression.
type tplNode struct {
	text  string
	path  []step // nil for text
	body  []tplNode
	isRng bool
}

// step is one selection of a path.
type step struct {
	field    string // a key; "*" all values of an object or array
	index    *int
	wildcard bool
	filter   *filter
}

type filter struct {
	path  []step
	op    string // "==" or "!="
	value any    // string or float64
}

// ParseJSONPath parses a template.
func ParseJSONPath(tpl string) (*JSONPath, error) {
	p := &tplParser{src: tpl}
	nodes, err := p.parse(false)
	if err != nil {
		return nil, fmt.Errorf("jsonpath %q: %w", tpl, err)
	}
	return &JSONPath{nodes: nodes}, nil
}

type tplParser struct {
	src string
	pos int
}

func (p *tplParser) parse(inRange bool) ([]tplNode, error) {
	var out []tplNode
	for p.pos < len(p.src) {
		open := strings.IndexByte(p.src[p.pos:], '{')
		if open < 0 {
			out = append(out, tplNode{text: p.src[p.pos:]})
			p.pos = len(p.src)
			break
		}
		if open > 0 {
			out = append(out, tplNode{text: p.src[p.pos : p.pos+open]})
		}
		p.pos += open + 1
		end, err := p.closing()
		if err != nil {
			return nil, err
		}
		expr := strings.TrimSpace(p.src[p.pos:end])
		p.pos = end + 1
		switch {
		case expr == "end":
			if !inRange {
				return nil, fmt.Errorf("{end} without {range}")
			}
			return out, nil
		case strings.HasPrefix(expr, "range ") || strings.HasPrefix(expr, "range\t"):
			path, err := parsePath(strings.TrimSpace(expr[len("range"):]))
			if err != nil {
				return nil, err
			}
			body, err := p.parse(true)
			if err != nil {
				return nil, err
			}
			out = append(out, tplNode{path: path, body: body, isRng: true})
		case strings.HasPrefix(expr, `"`):
			s, err := strconv.Unquote(expr)
			if err != nil {
				return nil, fmt.Errorf("string literal %s: %w", expr, err)
			}
			out = append(out, tplNode{text: s})
		default:
			path, err := parsePath(expr)
			if err != nil {
				return nil, err
			}
			out = append(out, tplNode{path: path})
		}
	}
	if inRange {
		return nil, fmt.Errorf("{range} without {end}")
	}
	return out, nil
}

// closing finds the } ending the expression at p.pos, skipping quoted
// strings.
func (p *tplParser) closing() (int, error) {
	var quote byte
	for i := p.pos; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == '}':
			return i, nil
		}
	}
	return 0, fmt.Errorf("unclosed { at offset %d", p.pos-1)
}

// parsePath parses ".a.b[0]['c.d'][*][?(@.x=="y")]"; "$" or "@" may lead.
func parsePath(s string) ([]step, error) {
	orig := s
	s = strings.TrimPrefix(strings.TrimPrefix(s, "$"), "@")
	var steps []step
	for s != "" {
		switch s[0] {
		case '.':
			s = s[1:]
			n := strings.IndexAny(s, ".[")
			if n < 0 {
				n = len(s)
			}
			name := s[:n]
			s = s[n:]
			switch name {
			case "":
				if s == "" {
					continue // "." alone is the current value
				}
				return nil, fmt.Errorf("empty field name in %q", orig)
			case "*":
				steps = append(steps, step{wildcard: true})
			default:
				steps = append(steps, step{field: name})
			}
		case '[':
			end := matchingBracket(s)
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in %q", orig)
			}
			inner := strings.TrimSpace(s[1:end])
			s = s[end+1:]
			st, err := parseBracket(inner)
			if err != nil {
				return nil, fmt.Errorf("%w in %q", err, orig)
			}
			steps = append(steps, st)
		default:
			return nil, fmt.Errorf("unexpected %q in %q (paths start with a dot: {.metadata.name})", s[:1], orig)
		}
	}
	return steps, nil
}

func matchingBracket(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func parseBracket(inner string) (step, error) {
	switch {
	case inner == "*":
		return step{wildcard: true}, nil
	case strings.HasPrefix(inner, "?(") && strings.HasSuffix(inner, ")"):
		f, err := parseFilter(strings.TrimSpace(inner[2 : len(inner)-1]))
		return step{filter: f}, err
	case len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0]:
		return step{field: inner[1 : len(inner)-1]}, nil
	}
	n, err := strconv.Atoi(inner)
	if err != nil {
		return step{}, fmt.Errorf("[%s] is not an index, a quoted key, * or a filter", inner)
	}
	return step{index: &n}, nil
}

func parseFilter(s string) (*filter, error) {
	for _, op := range []string{"==", "!="} {
		i := strings.Index(s, op)
		if i < 0 {
			continue
		}
		left, right := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+2:])
		if !strings.HasPrefix(left, "@") {
			return nil, fmt.Errorf("filter %q: the left side must be a path from @", s)
		}
		path, err := parsePath(left)
		if err != nil {
			return nil, err
		}
		f := &filter{path: path, op: op}
		switch {
		case len(right) >= 2 && (right[0] == '"' || right[0] == '\'') && right[len(right)-1] == right[0]:
			f.value = right[1 : len(right)-1]
		default:
			v, err := strconv.ParseFloat(right, 64)
			if err != nil {
				return nil, fmt.Errorf("filter %q: compare with a quoted string or a number", s)
			}
			f.value = v
		}
		return f, nil
	}
	return nil, fmt.Errorf("filter %q: use @.path==\"value\" or !=", s)
}

// Execute writes the template applied to a JSON document.
func (j *JSONPath) Execute(w io.Writer, raw []byte) error {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("jsonpath: decode: %w", err)
	}
	var b strings.Builder
	if err := execute(&b, j.nodes, doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func execute(b *strings.Builder, nodes []tplNode, cur any) error {
	for _, n := range nodes {
		switch {
		case n.path == nil && !n.isRng:
			b.WriteString(n.text)
		case n.isRng:
			for _, v := range rangeValues(evaluate(n.path, cur)) {
				if err := execute(b, n.body, v); err != nil {
					return err
				}
			}
		default:
			for i, v := range evaluate(n.path, cur) {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(format(v))
			}
		}
	}
	return nil
}

// rangeValues is what {range} iterates: the results, or the elements of a
// single array result.
func rangeValues(vs []any) []any {
	if len(vs) == 1 {
		if arr, ok := vs[0].([]any); ok {
			return arr
		}
	}
	return vs
}

func evaluate(path []step, cur any) []any {
	vals := []any{cur}
	for _, st := range path {
		var next []any
		for _, v := range vals {
			next = append(next, apply(st, v)...)
		}
		vals = next
	}
	return vals
}

func apply(st step, v any) []any {
	switch {
	case st.wildcard:
		switch t := v.(type) {
		case []any:
			return t
		case map[string]any:
			out := make([]any, 0, len(t))
			for _, k := range slices.Sorted(maps.Keys(t)) {
				out = append(out, t[k])
			}
			return out
		}
	case st.index != nil:
		if arr, ok := v.([]any); ok {
			i := *st.index
			if i < 0 {
				i += len(arr)
			}
			if i >= 0 && i < len(arr) {
				return []any{arr[i]}
			}
		}
	case st.filter != nil:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		var out []any
		for _, el := range arr {
			if st.filter.matches(el) {
				out = append(out, el)
			}
		}
		return out
	default:
		if m, ok := v.(map[string]any); ok {
			if x, ok := m[st.field]; ok {
				return []any{x}
			}
		}
	}
	return nil
}

func (f *filter) matches(el any) bool {
	got := evaluate(f.path, el)
	equal := len(got) == 1 && got[0] == f.value
	if f.op == "!=" {
		return !equal
	}
	return equal
}

func format(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}
