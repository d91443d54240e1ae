// Package resource is the generic resource machinery every API resource
// shares: it fills in and checks what the server owns (kind, uid,
// timestamps, generation), validates through the resource's catalogue
// entry, and implements the update semantics — optimistic concurrency,
// status as a separate subresource, JSON merge patch, and deletion through
// deletionTimestamp and finalizers — on top of the store's compare-and-swap
// writes. The HTTP API and in-process controllers both call it.
//
// The project (tenant) travels in the context (store.WithProject).
package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/labels"
	"github.com/slipway/slipway/api/mergepatch"
	"github.com/slipway/slipway/server/store"
)

// maxRetries bounds the read-modify-write retries of a patch or delete that
// races other writers.
const maxRetries = 8

// Admission checks a write the generic validation cannot judge alone (a
// role that must exist, a project's permission for privileged pods). old
// is nil on create. It runs on every create and spec update — from the API
// and from controllers alike — before anything is stored.
type Admission func(ctx context.Context, res *api.Resource, old, obj *api.Object) error

// Service applies the generic semantics over a store.
type Service struct {
	store *store.Store
	now   func() time.Time
	admit Admission
}

// SetAdmission installs the admission check; call it before serving.
func (s *Service) SetAdmission(a Admission) { s.admit = a }

// New returns a Service; now is the clock (time.Now when nil).
func New(st *store.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, now: now}
}

// Store returns the underlying store.
func (s *Service) Store() *store.Store { return s.store }

// projectOf returns the context's project for a project-scoped resource
// and "" for a cluster-scoped one.
func projectOf(ctx context.Context, res *api.Resource) string {
	if res.Scope == api.ClusterScoped {
		return ""
	}
	p, _ := store.ProjectFrom(ctx)
	return p
}

// checkIdentity fills in and checks kind, apiVersion, name and project
// against the request. name is the name from the URL ("" on create).
func checkIdentity(ctx context.Context, res *api.Resource, obj *api.Object, name string) error {
	switch obj.Kind {
	case "":
		obj.Kind = res.Kind
	case res.Kind:
	default:
		return errdefs.BadRequestf("kind", "%q does not match the resource %s (kind %s)", obj.Kind, res.Plural, res.Kind)
	}
	switch obj.APIVersion {
	case "":
		obj.APIVersion = api.Version
	case api.Version:
	default:
		return errdefs.BadRequestf("apiVersion", "unsupported version %q; Slipway serves %q", obj.APIVersion, api.Version)
	}
	if name != "" {
		if obj.Metadata.Name == "" {
			obj.Metadata.Name = name
		} else if obj.Metadata.Name != name {
			return errdefs.BadRequestf("metadata.name", "%q does not match the name in the URL %q", obj.Metadata.Name, name)
		}
	}
	project := projectOf(ctx, res)
	switch {
	case obj.Metadata.Project == "":
		obj.Metadata.Project = project
	case res.Scope == api.ClusterScoped:
		return errdefs.BadRequestf("metadata.project", "%s are cluster-scoped and belong to no project", res.Plural)
	case obj.Metadata.Project != project:
		return errdefs.BadRequestf("metadata.project", "%q does not match the project in the URL %q", obj.Metadata.Project, project)
	}
	return nil
}

// Create validates and stores a new object. The server sets uid,
// creationTimestamp and generation; status is the controller's to write
// and is dropped from a create, as Kubernetes does.
func (s *Service) Create(ctx context.Context, res *api.Resource, obj *api.Object) (*api.Object, error) {
	if err := checkIdentity(ctx, res, obj, ""); err != nil {
		return nil, err
	}
	m := &obj.Metadata
	if m.ResourceVersion != "" {
		return nil, errdefs.Invalidf("metadata.resourceVersion", "must not be set on create")
	}
	if m.DeletionTimestamp != nil {
		return nil, errdefs.Invalidf("metadata.deletionTimestamp", "must not be set on create")
	}
	if err := api.ValidateMetadata(m); err != nil {
		return nil, err
	}
	if err := res.Validate(obj); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	m.UID = uuid.NewString()
	m.CreationTimestamp = &now
	m.Generation = 1
	for _, f := range res.Finalizers {
		if !slices.Contains(m.Finalizers, f) {
			m.Finalizers = append(m.Finalizers, f)
		}
	}
	if res.HasStatus {
		obj.Status = nil
	}
	if s.admit != nil {
		if err := s.admit(ctx, res, nil, obj); err != nil {
			return nil, err
		}
	}
	return s.store.Create(ctx, res, obj)
}

// Get returns one object.
func (s *Service) Get(ctx context.Context, res *api.Resource, name string) (*api.Object, error) {
	return s.store.Get(ctx, res, name)
}

// List returns a page of objects.
func (s *Service) List(ctx context.Context, res *api.Resource, opts api.ListOptions) (*store.ListResult, error) {
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, err
	}
	return s.store.List(ctx, res, store.ListOptions{Selector: sel, Limit: opts.Limit, Continue: opts.Continue})
}

// Update replaces the user-owned parts of an object (PUT): metadata labels,
// annotations and finalizers, and spec or data. obj must carry the
// resourceVersion it was read at; a stale one fails with Conflict. For a
// resource with a status subresource the stored status is kept.
func (s *Service) Update(ctx context.Context, res *api.Resource, name string, obj *api.Object) (*api.Object, error) {
	return s.replace(ctx, res, name, obj, false)
}

// UpdateStatus replaces only the status (PUT …/status).
func (s *Service) UpdateStatus(ctx context.Context, res *api.Resource, name string, obj *api.Object) (*api.Object, error) {
	if !res.HasStatus {
		return nil, fmt.Errorf("%s have no status subresource: %w", res.Plural, errdefs.ErrNotFound)
	}
	return s.replace(ctx, res, name, obj, true)
}

func (s *Service) replace(ctx context.Context, res *api.Resource, name string, obj *api.Object, status bool) (*api.Object, error) {
	if err := checkIdentity(ctx, res, obj, name); err != nil {
		return nil, err
	}
	if obj.Metadata.ResourceVersion == "" {
		return nil, errdefs.Invalidf("metadata.resourceVersion", "is required to replace an object (read it, change it, write it back)")
	}
	current, err := s.store.Get(ctx, res, name)
	if err != nil {
		return nil, err
	}
	return s.apply(ctx, res, current, obj, modeOf(status))
}

// UpdateFrom writes next's spec, metadata and status in one
// compare-and-swap, for a controller that owns both parts of an object
// and holds it as stored at current's resourceVersion (from an informer):
// no read precedes the write, and the store refuses it with Conflict when
// current is stale. The scheduler binds pods with it (spec.nodeName and
// the PodScheduled condition together).
func (s *Service) UpdateFrom(ctx context.Context, res *api.Resource, current, next *api.Object) (*api.Object, error) {
	if err := checkIdentity(ctx, res, next, current.Metadata.Name); err != nil {
		return nil, err
	}
	mode := writeSpec
	if res.HasStatus {
		mode = writeBoth
	}
	return s.apply(ctx, res, current, next, mode)
}

// writeMode says which parts of an object a write replaces.
type writeMode int

const (
	writeSpec   writeMode = iota // metadata and spec/data (PUT)
	writeStatus                  // status only (PUT …/status)
	writeBoth                    // both, for UpdateFrom
)

func modeOf(status bool) writeMode {
	if status {
		return writeStatus
	}
	return writeSpec
}

// apply writes next over current, keeping what the request may not change.
func (s *Service) apply(ctx context.Context, res *api.Resource, current, next *api.Object, mode writeMode) (*api.Object, error) {
	if next.Metadata.ResourceVersion != current.Metadata.ResourceVersion {
		return nil, fmt.Errorf("%s %q has been modified (resourceVersion %s, not %s); apply your changes to the latest version and try again: %w",
			res.Kind, current.Metadata.Name, current.Metadata.ResourceVersion, next.Metadata.ResourceVersion, errdefs.ErrConflict)
	}
	out := *current
	if mode != writeSpec {
		out.Status = next.Status
		if err := res.ValidateStatus(&out); err != nil {
			return nil, err
		}
	}
	if mode != writeStatus {
		m := &out.Metadata
		m.Labels, m.Annotations, m.Finalizers = next.Metadata.Labels, next.Metadata.Annotations, next.Metadata.Finalizers
		if err := checkServerOwned(current, next); err != nil {
			return nil, err
		}
		if current.Metadata.DeletionTimestamp != nil {
			for _, f := range m.Finalizers {
				if !slices.Contains(current.Metadata.Finalizers, f) {
					return nil, errdefs.Invalidf("metadata.finalizers", "cannot add finalizer %q to an object being deleted", f)
				}
			}
		}
		if err := api.ValidateMetadata(m); err != nil {
			return nil, err
		}
		out.Spec, out.Data = next.Spec, next.Data
		if !res.HasStatus {
			out.Status = next.Status
		}
		if err := res.Validate(&out); err != nil {
			return nil, err
		}
		if !sameJSON(current.Spec, out.Spec) || !sameJSON(current.Data, out.Data) {
			m.Generation++
		}
		if s.admit != nil {
			if err := s.admit(ctx, res, current, &out); err != nil {
				return nil, err
			}
		}
		if m.DeletionTimestamp != nil && len(m.Finalizers) == 0 {
			// The last finalizer is gone: the object goes.
			return s.store.Delete(ctx, res, &out)
		}
	}
	return s.store.Update(ctx, res, &out)
}

// checkServerOwned refuses changes to the fields the server owns; leaving
// them empty keeps the stored values.
func checkServerOwned(current, next *api.Object) error {
	n, c := next.Metadata, current.Metadata
	if n.UID != "" && n.UID != c.UID {
		return errdefs.Invalidf("metadata.uid", "is set by the server and cannot change")
	}
	if n.CreationTimestamp != nil && !n.CreationTimestamp.Equal(*c.CreationTimestamp) {
		return errdefs.Invalidf("metadata.creationTimestamp", "is set by the server and cannot change")
	}
	if n.DeletionTimestamp != nil && (c.DeletionTimestamp == nil || !n.DeletionTimestamp.Equal(*c.DeletionTimestamp)) {
		return errdefs.Invalidf("metadata.deletionTimestamp", "is set by the server when the object is deleted (use DELETE)")
	}
	if n.Generation != 0 && n.Generation != c.Generation {
		return errdefs.Invalidf("metadata.generation", "is set by the server and cannot change")
	}
	return nil
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b) || string(a) == "null" || string(b) == "null"
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// Patch applies a JSON merge patch to the object (status true: to its
// status subresource). A patch that names metadata.resourceVersion is
// conditional on it; otherwise it is retried over concurrent writes.
func (s *Service) Patch(ctx context.Context, res *api.Resource, name string, patch []byte, status bool) (*api.Object, error) {
	if status && !res.HasStatus {
		return nil, fmt.Errorf("%s have no status subresource: %w", res.Plural, errdefs.ErrNotFound)
	}
	var precondition struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(patch, &precondition) // malformed patches fail in Apply
	for attempt := 0; ; attempt++ {
		current, err := s.store.Get(ctx, res, name)
		if err != nil {
			return nil, err
		}
		doc, err := json.Marshal(current)
		if err != nil {
			return nil, fmt.Errorf("encode %s %q: %w", res.Kind, name, err)
		}
		patched, err := mergepatch.Apply(doc, patch)
		if err != nil {
			return nil, err
		}
		next, err := api.DecodeObject(patched)
		if err != nil {
			return nil, err
		}
		if err := checkIdentity(ctx, res, next, name); err != nil {
			return nil, err
		}
		out, err := s.apply(ctx, res, current, next, modeOf(status))
		if errors.Is(err, errdefs.ErrConflict) && precondition.Metadata.ResourceVersion == "" && attempt < maxRetries {
			continue
		}
		return out, err
	}
}

// Delete deletes an object. Without finalizers it goes at once (deleted
// true). With finalizers the server sets deletionTimestamp and the object
// stays until the controllers that own the finalizers remove them. A
// non-empty precondition must match the current resourceVersion.
func (s *Service) Delete(ctx context.Context, res *api.Resource, name, precondition string) (obj *api.Object, deleted bool, err error) {
	for attempt := 0; ; attempt++ {
		current, err := s.store.Get(ctx, res, name)
		if err != nil {
			return nil, false, err
		}
		if precondition != "" && precondition != current.Metadata.ResourceVersion {
			return nil, false, fmt.Errorf("%s %q: precondition resourceVersion %s does not match %s: %w",
				res.Kind, name, precondition, current.Metadata.ResourceVersion, errdefs.ErrConflict)
		}
		switch {
		case len(current.Metadata.Finalizers) == 0:
			obj, err = s.store.Delete(ctx, res, current)
			deleted = err == nil
		case current.Metadata.DeletionTimestamp != nil:
			return current, false, nil
		default:
			now := s.now().UTC().Truncate(time.Second)
			current.Metadata.DeletionTimestamp = &now
			current.Metadata.Generation++
			obj, err = s.store.Update(ctx, res, current)
		}
		if errors.Is(err, errdefs.ErrConflict) && precondition == "" && attempt < maxRetries {
			continue
		}
		return obj, deleted, err
	}
}

// Watch starts a watch; see store.Watch.
func (s *Service) Watch(ctx context.Context, res *api.Resource, selector string, after int64) (*store.Watch, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	return s.store.Watch(ctx, res, store.WatchOptions{Selector: sel, After: after})
}
