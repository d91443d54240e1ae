package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
)

// Repositories is the reconciler of Image objects (run it with
// reconcile.Controller over images): when an Image is deleted — by a user
// or with its project — it deletes the repository's tags, manifests, blob
// links and upload sessions, then releases the Image's finalizer. The
// blobs go at the next garbage collection.
type Repositories struct{ reg *Registry }

// Repositories returns the Image reconciler.
func (reg *Registry) Repositories() *Repositories { return &Repositories{reg: reg} }

// Reconcile implements reconcile.Reconciler.
func (c *Repositories) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	reg := c.reg
	repo := repository{project: req.Project, name: req.Name}
	ctx = repo.ctx(ctx)
	obj, err := reg.cfg.Service.Get(ctx, reg.images, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp == nil || !slices.Contains(obj.Metadata.Finalizers, api.ImageRepositoryFinalizer) {
		return reconcile.Result{}, nil
	}
	uploads, err := reg.cfg.Store.DeleteRegistryRepository(ctx, req.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, id := range uploads {
		if err := reg.disk.removeUpload(id); err != nil {
			reg.log.WarnContext(ctx, "remove upload file", "upload", id, "error", err)
		}
	}
	obj.Metadata.Finalizers = slices.DeleteFunc(obj.Metadata.Finalizers, func(f string) bool { return f == api.ImageRepositoryFinalizer })
	if _, err := reg.cfg.Service.Update(ctx, reg.images, req.Name, obj); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, fmt.Errorf("release image %s: %w", repo, err)
	}
	reg.log.InfoContext(ctx, "repository deleted", "project", repo.project, "name", repo.name)
	return reconcile.Result{}, nil
}
