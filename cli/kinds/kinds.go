// Package kinds is what slip knows about each resource type beyond the
// server's catalogue: the names users type for it (plural, singular, kind,
// short names, case-insensitive) and the columns of its tables and
// descriptions. Adding a kind to the CLI is adding an entry to builtin; a
// kind the server serves but the CLI does not know still works with the
// default NAME/AGE table, found through the server's discovery document.
package kinds

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
)

// Column is one column of a kind's table.
type Column struct {
	Header string
	Value  func(o *Object, now time.Time) string
}

// Kind describes one resource type to the CLI.
type Kind struct {
	Resource *api.Resource
	// Singular is the lower-case singular name ("configmap"), used in
	// messages and -o name.
	Singular   string
	ShortNames []string
	// Columns come between NAME and AGE; Wide ones are added by -o wide.
	Columns []Column
	Wide    []Column
}

// ProjectScoped reports whether the kind's objects live in projects.
func (k *Kind) ProjectScoped() bool { return k.Resource.Scope == api.ProjectScoped }

// Ref names one object of the kind in messages: configmap "web".
func (k *Kind) Ref(name string) string { return fmt.Sprintf("%s %q", k.Singular, name) }

// extras describes the kinds the CLI has more to say about than NAME and
// AGE, by plural.
var extras = map[string]Kind{
	api.ProjectsResource: {ShortNames: []string{"proj"},
		Columns: []Column{text("DISPLAY NAME", "spec", "displayName"), text("STATUS", "status", "phase")},
		Wide:    []Column{text("DESCRIPTION", "spec", "description")}},
	api.ConfigMapsResource: {ShortNames: []string{"cm"},
		Columns: []Column{{"DATA", func(o *Object, _ time.Time) string { return strconv.Itoa(len(o.Map("data"))) }}}},
	api.UsersResource: {
		Columns: []Column{text("DISPLAY NAME", "spec", "displayName"), list("IDENTITIES", "spec", "identities")},
		Wide:    []Column{text("EMAIL", "spec", "email"), text("DISABLED", "spec", "disabled")}},
	api.GroupsResource: {
		Columns: []Column{list("USERS", "spec", "users")}},
	api.TokensResource: {
		Columns: []Column{text("USER", "spec", "user"), text("KIND", "spec", "kind"), {"EXPIRES", expires}},
		Wide:    []Column{text("PROVIDER", "spec", "provider"), text("DESCRIPTION", "spec", "description")}},
	api.ServiceAccountsResource: {ShortNames: []string{"sa"},
		Wide: []Column{text("DESCRIPTION", "spec", "description")}},
	api.RoleBindingsResource: {ShortNames: []string{"rb"},
		Columns: []Column{{"ROLE", role}},
		Wide:    subjectColumns},
	api.ClusterRoleBindingsResource: {ShortNames: []string{"crb"},
		Columns: []Column{{"ROLE", role}},
		Wide:    subjectColumns},
}

var subjectColumns = []Column{
	{"USERS", subjects(api.UserSubject)},
	{"GROUPS", subjects(api.GroupSubject)},
	{"SERVICE ACCOUNTS", subjects(api.ServiceAccountSubject)},
}

func text(header string, path ...string) Column {
	return Column{header, func(o *Object, _ time.Time) string { return o.String(path...) }}
}

func list(header string, path ...string) Column {
	return Column{header, func(o *Object, _ time.Time) string { return strings.Join(o.Strings(path...), ",") }}
}

func expires(o *Object, now time.Time) string {
	t, ok := o.Time("spec", "expiresAt")
	if !ok {
		return "never"
	}
	if t.Before(now) {
		return "expired"
	}
	return "in " + Age(now, t)
}

func role(o *Object, _ time.Time) string {
	return o.String("spec", "roleRef", "kind") + "/" + o.String("spec", "roleRef", "name")
}

// Subjects returns the names of a binding's subjects of one kind; service
// accounts are shown as project/name.
func Subjects(o *Object, kind string) []string {
	list, _ := o.Field("spec", "subjects").([]any)
	var out []string
	for _, s := range list {
		m, _ := s.(map[string]any)
		if m["kind"] != kind {
			continue
		}
		name, _ := m["name"].(string)
		if p, _ := m["project"].(string); p != "" {
			name = p + "/" + name
		}
		out = append(out, name)
	}
	return out
}

func subjects(kind string) func(o *Object, _ time.Time) string {
	return func(o *Object, _ time.Time) string { return strings.Join(Subjects(o, kind), ",") }
}

// Registry resolves the names users type to kinds.
type Registry struct {
	kinds []*Kind
}

// NewRegistry returns the kinds of the catalogue the CLI was built with.
func NewRegistry() *Registry {
	r := &Registry{}
	for _, res := range api.NewCatalogue().All() {
		r.add(res)
	}
	return r
}

func (r *Registry) add(res *api.Resource) *Kind {
	k := extras[res.Plural]
	k.Resource = res
	k.Singular = strings.ToLower(res.Kind)
	r.kinds = append(r.kinds, &k)
	return &k
}

// All returns every known kind, sorted by plural.
func (r *Registry) All() []*Kind {
	out := slices.Clone(r.kinds)
	slices.SortFunc(out, func(a, b *Kind) int { return strings.Compare(a.Resource.Plural, b.Resource.Plural) })
	return out
}

// Lookup finds a kind by plural, singular, kind or short name, ignoring
// case.
func (r *Registry) Lookup(name string) (*Kind, bool) {
	n := strings.ToLower(name)
	for _, k := range r.kinds {
		if n == k.Resource.Plural || n == k.Singular || slices.Contains(k.ShortNames, n) {
			return k, true
		}
	}
	return nil, false
}

// ByKind finds a kind by its exact kind ("ConfigMap").
func (r *Registry) ByKind(kind string) (*Kind, bool) {
	for _, k := range r.kinds {
		if k.Resource.Kind == kind {
			return k, true
		}
	}
	return nil, false
}

// Discovered is one resource of the server's discovery document.
type Discovered = api.APIResource

// Learn adds the resources a server serves that this CLI does not know,
// so they can be used with the default table.
func (r *Registry) Learn(served []Discovered) {
	for _, d := range served {
		if _, ok := r.Lookup(d.Name); ok {
			continue
		}
		scope := api.ClusterScoped
		if d.ProjectScoped {
			scope = api.ProjectScoped
		}
		r.add(&api.Resource{Plural: d.Name, Kind: d.Kind, Scope: scope, HasStatus: d.HasSubresource("status")})
	}
}
