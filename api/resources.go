package api

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/slipway/slipway/api/errdefs"
)

// Scope says whether objects of a resource live in a project.
type Scope int

// Scopes.
const (
	ClusterScoped Scope = iota
	ProjectScoped
)

// Resource describes one resource type: its names, scope and how its
// kind-specific fields are validated. The API server, store and client
// handle every resource through its Resource.
type Resource struct {
	// Plural is the URL segment and the store's key: "projects".
	Plural string
	// Kind is the object's kind: "Project".
	Kind  string
	Scope Scope
	// HasStatus tells whether the resource has a status subresource; if so
	// status is written only through it.
	HasStatus bool
	// HasType tells whether objects carry a top-level type (Secrets).
	HasType bool
	// Finalizers are added to every new object of the resource, so its
	// controller can clean up before the object goes.
	Finalizers []string

	validateSpec   func(obj *Object) error
	validateStatus func(obj *Object) error
}

// Validate checks the kind-specific fields users own (spec, data).
func (r *Resource) Validate(obj *Object) error {
	if obj.Type != "" && !r.HasType {
		return errdefs.BadRequestf("type", "a %s has no type", r.Kind)
	}
	return r.validateSpec(obj)
}

// ValidateStatus checks the status written through the status subresource.
func (r *Resource) ValidateStatus(obj *Object) error {
	if r.validateStatus == nil {
		return nil
	}
	return r.validateStatus(obj)
}

// Validator is a decoded spec, status or data that checks itself. Errors
// name fields relative to the whole object ("spec.displayName").
type Validator interface{ Validate() error }

// strictField decodes raw into a fresh T and validates it. An absent field
// decodes as T's zero value.
func strictField[T any, PT interface {
	*T
	Validator
}](raw json.RawMessage, field string) error {
	v := PT(new(T))
	if len(raw) > 0 && string(raw) != "null" {
		if err := DecodeStrict(raw, v, field); err != nil {
			return err
		}
	}
	return v.Validate()
}

func forbid(raw json.RawMessage, field, kind string) error {
	if len(raw) > 0 && string(raw) != "null" {
		return errdefs.BadRequestf(field, "a %s has no %s", kind, field)
	}
	return nil
}

// Catalogue is the set of resources the API serves.
type Catalogue struct {
	byPlural map[string]*Resource
	byKind   map[string]*Resource
}

// ByKind finds a resource by its kind.
func (c *Catalogue) ByKind(kind string) (*Resource, bool) {
	r, ok := c.byKind[kind]
	return r, ok
}

// Lookup finds a resource by its plural name.
func (c *Catalogue) Lookup(plural string) (*Resource, bool) {
	r, ok := c.byPlural[plural]
	return r, ok
}

// All returns every resource sorted by plural name.
func (c *Catalogue) All() []*Resource {
	out := make([]*Resource, 0, len(c.byPlural))
	for _, r := range c.byPlural {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Plural < out[j].Plural })
	return out
}

// NewCatalogue returns the catalogue of every resource Slipway serves.
func NewCatalogue() *Catalogue {
	c := &Catalogue{byPlural: map[string]*Resource{}, byKind: map[string]*Resource{}}
	all := append([]*Resource{projectResource(), configMapResource()}, identityResources()...)
	all = append(all, workloadControllerResources()...)
	all = append(all, quotaResources()...)
	all = append(all, routeResource(), imageResource(), secretResource())
	all = append(all, networkPolicyResource())
	all = append(all, disruptionResources()...)
	all = append(all, buildResources()...)
	for _, r := range append(all, workloadResources()...) {
		if _, dup := c.byPlural[r.Plural]; dup {
			panic(fmt.Sprintf("resource %q registered twice", r.Plural))
		}
		c.byPlural[r.Plural] = r
		c.byKind[r.Kind] = r
	}
	return c
}
