package workloads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/mergepatch"
	"github.com/slipway/slipway/server/resource"
)

// maxConflictRetries bounds the read-modify-write retries of an operation
// racing other writers.
const maxConflictRetries = 8

// Operations are the workload actions the API serves as subresources:
// a Deployment's rollback and scale, a pod's eviction. They write through the resource service with
// optimistic concurrency, so they compose with the controllers and other
// clients.
type Operations struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (o *Operations) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Operations) resources() (deployments, replicaSets *api.Resource) {
	deployments, _ = o.Catalogue.Lookup(api.DeploymentsResource)
	replicaSets, _ = o.Catalogue.Lookup(api.ReplicaSetsResource)
	return deployments, replicaSets
}

// Rollback sets a Deployment's pod template to the template of an earlier
// revision, exactly (image references, digests included, are copied, never
// resolved again), turns its automatic image triggers off so the next image
// does not undo the rollback, and records both in the
// deployment.slipway.io/rollback annotation. The deployment controller then
// rolls out the old ReplicaSet as the newest revision. Revision 0 is the
// one before the current template's; a rollback to the current template
// changes nothing.
func (o *Operations) Rollback(ctx context.Context, name string, req api.DeploymentRollback) (*api.Object, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	deployments, replicaSets := o.resources()
	now := o.now
	for attempt := 0; ; attempt++ {
		obj, err := o.Service.Get(ctx, deployments, name)
		if err != nil {
			return nil, err
		}
		d, err := decodeAs[api.Deployment](obj)
		if err != nil {
			return nil, err
		}
		list, err := o.Service.List(ctx, replicaSets, api.ListOptions{LabelSelector: api.DeploymentLabel + "=" + name})
		if err != nil {
			return nil, fmt.Errorf("list revisions of deployment %q: %w", name, err)
		}
		current := templateKey(d.Spec.Template)
		var target *api.ReplicaSet
		for _, item := range list.Items {
			if item.Metadata.Annotations[api.OwnerUIDAnnotation] != d.Metadata.UID {
				continue
			}
			rs, err := decodeAs[api.ReplicaSet](item)
			if err != nil {
				return nil, err
			}
			switch {
			case req.ToRevision != 0 && revision(rs) == req.ToRevision:
				target = rs
			case req.ToRevision == 0 && templateKey(podTemplateWithout(rs.Spec.Template, api.PodTemplateHashLabel)) != current &&
				(target == nil || revision(rs) > revision(target)):
				target = rs
			}
		}
		if target == nil {
			if req.ToRevision == 0 {
				return nil, errdefs.Invalidf("toRevision", "deployment %q has no earlier revision to roll back to", name)
			}
			return nil, errdefs.Invalidf("toRevision", "deployment %q has no revision %d", name, req.ToRevision)
		}
		tmpl := podTemplateWithout(target.Spec.Template, api.PodTemplateHashLabel)
		if templateKey(tmpl) == current {
			return obj, nil
		}
		d.Spec.Template = tmpl
		var off []string
		for i := range d.Spec.Triggers {
			if ic := d.Spec.Triggers[i].ImageChange; ic != nil && ic.Automatic {
				ic.Automatic = false
				off = append(off, ic.From)
			}
		}
		note := fmt.Sprintf("rolled back to revision %d (replica set %s) at %s", revision(target), target.Metadata.Name,
			now().UTC().Format(time.RFC3339))
		if len(off) > 0 {
			note += "; automatic image triggers turned off: " + strings.Join(off, ", ")
		}
		d.Metadata.Annotations = maps.Clone(d.Metadata.Annotations)
		if d.Metadata.Annotations == nil {
			d.Metadata.Annotations = map[string]string{}
		}
		d.Metadata.Annotations[api.RollbackAnnotation] = note
		next, err := encode(d)
		if err != nil {
			return nil, err
		}
		next.Status = obj.Status
		out, err := o.Service.Update(ctx, deployments, name, next)
		if errors.Is(err, errdefs.ErrConflict) && attempt < maxConflictRetries {
			continue
		}
		return out, err
	}
}

// Scale returns a Deployment's scale.
func (o *Operations) Scale(ctx context.Context, name string) (*api.Scale, error) {
	deployments, _ := o.resources()
	obj, err := o.Service.Get(ctx, deployments, name)
	if err != nil {
		return nil, err
	}
	return scaleOf(obj)
}

func scaleOf(obj *api.Object) (*api.Scale, error) {
	d, err := decodeAs[api.Deployment](obj)
	if err != nil {
		return nil, err
	}
	var selector []string
	if d.Spec.Selector != nil {
		for _, k := range slices.Sorted(maps.Keys(d.Spec.Selector.MatchLabels)) {
			selector = append(selector, k+"="+d.Spec.Selector.MatchLabels[k])
		}
	}
	m := d.Metadata
	return &api.Scale{Kind: "Scale", APIVersion: api.Version,
		Metadata: api.ObjectMeta{Name: m.Name, Project: m.Project, UID: m.UID, ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp},
		Spec:     api.ScaleSpec{Replicas: ptr(d.Spec.EffectiveReplicas())},
		Status:   api.ScaleStatus{Replicas: d.Status.Replicas, Selector: strings.Join(selector, ",")},
	}, nil
}

// UpdateScale sets a Deployment's replicas from a Scale (PUT). A
// metadata.resourceVersion in it must be the deployment's current one.
func (o *Operations) UpdateScale(ctx context.Context, name string, s *api.Scale) (*api.Scale, error) {
	if err := validateScale(name, s); err != nil {
		return nil, err
	}
	deployments, _ := o.resources()
	for attempt := 0; ; attempt++ {
		obj, err := o.Service.Get(ctx, deployments, name)
		if err != nil {
			return nil, err
		}
		if rv := s.Metadata.ResourceVersion; rv != "" && rv != obj.Metadata.ResourceVersion {
			return nil, fmt.Errorf("deployment %q has been modified (resourceVersion %s, not %s): %w",
				name, obj.Metadata.ResourceVersion, rv, errdefs.ErrConflict)
		}
		var spec map[string]json.RawMessage
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return nil, fmt.Errorf("deployment %q has an unreadable spec: %w", name, err)
		}
		spec["replicas"], _ = json.Marshal(*s.Spec.Replicas)
		next := *obj
		if next.Spec, err = json.Marshal(spec); err != nil {
			return nil, err
		}
		out, err := o.Service.Update(ctx, deployments, name, &next)
		if errors.Is(err, errdefs.ErrConflict) && s.Metadata.ResourceVersion == "" && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		return scaleOf(out)
	}
}

// PatchScale applies a JSON merge patch to a Deployment's Scale (PATCH).
func (o *Operations) PatchScale(ctx context.Context, name string, patch []byte) (*api.Scale, error) {
	for attempt := 0; ; attempt++ {
		current, err := o.Scale(ctx, name)
		if err != nil {
			return nil, err
		}
		doc, err := json.Marshal(current)
		if err != nil {
			return nil, err
		}
		patched, err := mergepatch.Apply(doc, patch)
		if err != nil {
			return nil, err
		}
		var next api.Scale
		if err := api.DecodeStrict(patched, &next, ""); err != nil {
			return nil, err
		}
		pinned := next.Metadata.ResourceVersion != current.Metadata.ResourceVersion
		out, err := o.UpdateScale(ctx, name, &next)
		if errors.Is(err, errdefs.ErrConflict) && !pinned && attempt < maxConflictRetries {
			continue
		}
		return out, err
	}
}

func validateScale(name string, s *api.Scale) error {
	switch {
	case s.Kind != "" && s.Kind != "Scale":
		return errdefs.BadRequestf("kind", "must be Scale, got %q", s.Kind)
	case s.APIVersion != "" && s.APIVersion != api.Version:
		return errdefs.BadRequestf("apiVersion", "unsupported version %q", s.APIVersion)
	case s.Metadata.Name != "" && s.Metadata.Name != name:
		return errdefs.BadRequestf("metadata.name", "%q does not match the name in the URL %q", s.Metadata.Name, name)
	case s.Spec.Replicas == nil:
		return errdefs.Invalidf("spec.replicas", "is required")
	case *s.Spec.Replicas < 0:
		return errdefs.Invalidf("spec.replicas", "must not be negative")
	}
	return nil
}
