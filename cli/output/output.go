// Package output prints objects the ways slip offers: aligned tables
// (default and -o wide), JSON, YAML, kind/name pairs, and descriptions.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/slipway/slipway/cli/kinds"
)

// Format is an output format of -o.
type Format string

// The formats.
const (
	Table Format = ""
	Wide  Format = "wide"
	JSON  Format = "json"
	YAML  Format = "yaml"
	Name  Format = "name"
	// JSONPathFormat prints a template (-o jsonpath=TEMPLATE).
	JSONPathFormat Format = "jsonpath"
)

// Formats lists the accepted -o values.
var Formats = []string{string(Wide), string(JSON), string(YAML), string(Name), "jsonpath=TEMPLATE"}

// ParseFormat checks an -o value; for jsonpath=TEMPLATE it also returns
// the parsed template.
func ParseFormat(s string) (Format, *JSONPath, error) {
	if tpl, ok := strings.CutPrefix(s, "jsonpath="); ok {
		j, err := ParseJSONPath(tpl)
		if err != nil {
			return "", nil, err
		}
		return JSONPathFormat, j, nil
	}
	switch f := Format(strings.ToLower(s)); f {
	case Table, Wide, JSON, YAML, Name:
		return f, nil, nil
	}
	return "", nil, fmt.Errorf("unknown output format %q: use one of %s", s, strings.Join(Formats, ", "))
}

// Printer prints objects of one kind.
type Printer struct {
	Format Format
	// Template is the JSONPath template of JSONPathFormat.
	Template *JSONPath
	Kind     *kinds.Kind
	// ShowProject adds a PROJECT column (lists across projects).
	ShowProject bool
	Now         time.Time
}

// NewTable returns a tabwriter aligned the way kubectl's tables are.
func NewTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0) }

// PrintList prints objects as a list.
func (p *Printer) PrintList(w io.Writer, objs []*kinds.Object) error {
	switch p.Format {
	case JSON, YAML, JSONPathFormat:
		items := make([]json.RawMessage, len(objs))
		for i, o := range objs {
			items[i] = o.Raw
		}
		if items == nil {
			items = []json.RawMessage{}
		}
		list, err := json.Marshal(map[string]any{"kind": "List", "apiVersion": "v1", "items": items})
		if err != nil {
			return fmt.Errorf("encode list: %w", err)
		}
		if p.Format == JSONPathFormat {
			return p.Template.Execute(w, list)
		}
		return p.encode(w, list)
	case Name:
		for _, o := range objs {
			fmt.Fprintln(w, p.Kind.Singular+"/"+o.Name())
		}
		return nil
	}
	tw := NewTable(w)
	p.WriteHeader(tw)
	for _, o := range objs {
		p.WriteRow(tw, o)
	}
	return tw.Flush()
}

// PrintObject prints one object.
func (p *Printer) PrintObject(w io.Writer, o *kinds.Object) error {
	switch p.Format {
	case JSON, YAML:
		return p.encode(w, o.Raw)
	case JSONPathFormat:
		return p.Template.Execute(w, o.Raw)
	}
	return p.PrintList(w, []*kinds.Object{o})
}

func (p *Printer) encode(w io.Writer, raw []byte) error {
	if p.Format == YAML {
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		_, err = w.Write(y)
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "    "); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func (p *Printer) columns() []kinds.Column {
	cols := p.Kind.Columns
	if p.Format == Wide {
		cols = append(append([]kinds.Column(nil), cols...), p.Kind.Wide...)
	}
	return cols
}

// WriteHeader writes the table's header line (table formats only).
func (p *Printer) WriteHeader(w io.Writer) {
	if p.Format != Table && p.Format != Wide {
		return
	}
	var h []string
	if p.ShowProject {
		h = append(h, "PROJECT")
	}
	h = append(h, "NAME")
	for _, c := range p.columns() {
		h = append(h, c.Header)
	}
	h = append(h, "AGE")
	fmt.Fprintln(w, strings.Join(h, "\t"))
}

// WriteRow writes one object in the printer's format: a table row, a name,
// or a JSON/YAML document (YAML documents are separated by ---, for watch
// streams).
func (p *Printer) WriteRow(w io.Writer, o *kinds.Object) {
	switch p.Format {
	case Name:
		fmt.Fprintln(w, p.Kind.Singular+"/"+o.Name())
		return
	case JSON:
		_ = p.encode(w, o.Raw)
		return
	case YAML:
		fmt.Fprintln(w, "---")
		_ = p.encode(w, o.Raw)
		return
	case JSONPathFormat:
		_ = p.Template.Execute(w, o.Raw)
		return
	}
	var r []string
	if p.ShowProject {
		r = append(r, o.Project())
	}
	r = append(r, o.Name())
	for _, c := range p.columns() {
		r = append(r, cell(c.Value(o, p.Now)))
	}
	age := "<unknown>"
	if t, ok := o.Created(); ok {
		age = kinds.Age(t, p.Now)
	}
	r = append(r, age)
	fmt.Fprintln(w, strings.Join(r, "\t"))
}

func cell(s string) string {
	if s == "" {
		return "<none>"
	}
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
}

// Describe prints an object for people: its metadata, then its spec,
// data and status as indented YAML.
func Describe(w io.Writer, k *kinds.Kind, o *kinds.Object, now time.Time) error {
	tw := NewTable(w)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, cell(value)) }
	field("Name", o.Name())
	if k.ProjectScoped() {
		field("Project", o.Project())
	}
	field("Kind", o.Kind())
	field("Labels", pairs(o.Map("metadata", "labels")))
	field("Annotations", pairs(o.Map("metadata", "annotations")))
	if t, ok := o.Created(); ok {
		field("Created", fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), kinds.Age(t, now)))
	}
	if t, ok := o.Time("metadata", "deletionTimestamp"); ok {
		field("Deleting since", t.Format(time.RFC3339))
	}
	if f := o.Strings("metadata", "finalizers"); len(f) > 0 {
		field("Finalizers", strings.Join(f, ", "))
	}
	for _, c := range append(append([]kinds.Column(nil), k.Columns...), k.Wide...) {
		if v := c.Value(o, now); v != "" {
			field(title(c.Header), v)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sec := range []struct{ title, field string }{{"Spec", "spec"}, {"Data", "data"}, {"Status", "status"}} {
		v := o.Field(sec.field)
		if v == nil {
			continue
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("describe %s: %w", sec.field, err)
		}
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		for line := range strings.SplitSeq(strings.TrimRight(string(y), "\n"), "\n") {
			fmt.Fprintln(w, "  "+line)
		}
	}
	return nil
}

func title(header string) string {
	words := strings.Fields(strings.ToLower(header))
	if len(words) > 0 {
		words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
	}
	return strings.Join(words, " ")
}

func pairs(m map[string]any) string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
