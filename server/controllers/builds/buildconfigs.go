package builds

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
)

// BuildConfigs reconciles BuildConfigs: a deleted one takes its builds
// along; one with a ConfigChange trigger gets its first build.
type BuildConfigs struct {
	Deps
}

// Reconcile implements reconcile.Reconciler.
func (c *BuildConfigs) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	bcs := c.lookup(api.BuildConfigsResource)
	obj, err := c.Service.Get(ctx, bcs, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return reconcile.Result{}, c.release(ctx, obj)
	}
	bc, err := decode[api.BuildConfig](obj)
	if err != nil {
		return reconcile.Result{}, reconcile.Terminal(err)
	}
	if bc.Status.LastVersion != 0 || c.Instantiator == nil || bc.Spec.Source.Git == nil {
		return reconcile.Result{}, nil
	}
	for _, t := range bc.Spec.Triggers {
		if t.Type != api.ConfigChangeBuildTrigger {
			continue
		}
		_, err := c.Instantiator.Instantiate(ctx, req.Name, Request{Cause: api.BuildCause{Type: api.ConfigChangeBuildTrigger, Message: "Build configuration change"}})
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("first build of buildconfig %s: %w", req.Name, err)
		}
		break
	}
	return reconcile.Result{}, nil
}

// release deletes a deleted BuildConfig's builds, then lets it go.
func (c *BuildConfigs) release(ctx context.Context, obj *api.Object) error {
	if !slices.Contains(obj.Metadata.Finalizers, api.DependentsFinalizer) {
		return nil
	}
	builds := c.lookup(api.BuildsResource)
	list, err := c.Service.List(ctx, builds, api.ListOptions{LabelSelector: api.BuildConfigLabel + "=" + obj.Metadata.Name})
	if err != nil {
		return fmt.Errorf("list the builds of buildconfig %q: %w", obj.Metadata.Name, err)
	}
	for _, item := range list.Items {
		if item.Metadata.Annotations[api.OwnerUIDAnnotation] != obj.Metadata.UID || item.Metadata.DeletionTimestamp != nil {
			continue
		}
		if _, _, err := c.Service.Delete(ctx, builds, item.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("delete build %s: %w", item.Metadata.Name, err)
		}
	}
	next := *obj
	next.Metadata.Finalizers = slices.DeleteFunc(slices.Clone(obj.Metadata.Finalizers), func(f string) bool { return f == api.DependentsFinalizer })
	if _, err := c.Service.Update(ctx, c.lookup(api.BuildConfigsResource), obj.Metadata.Name, &next); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("release buildconfig %q: %w", obj.Metadata.Name, err)
	}
	return nil
}
