// Package controllers holds the API server's controllers: level-triggered
// reconcilers (see server/reconcile) that act through the in-process
// resource service, never on the store directly.
package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Projects keeps project status current and, when a project is deleted,
// deletes everything in it before letting the project go.
type Projects struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	Logger    *slog.Logger
}

// contentsPollInterval is how often a terminating project checks whether
// its objects (which may wait on their own finalizers) are gone.
const contentsPollInterval = time.Second

// Reconcile implements reconcile.Reconciler.
func (p *Projects) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	projects, _ := p.Catalogue.Lookup(api.ProjectsResource)
	obj, err := p.Service.Get(ctx, projects, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	phase := api.ProjectActive
	if obj.Metadata.DeletionTimestamp != nil {
		phase = api.ProjectTerminating
	}
	if err := p.setPhase(ctx, projects, obj, phase); err != nil {
		return reconcile.Result{}, err
	}
	if phase == api.ProjectActive || !slices.Contains(obj.Metadata.Finalizers, api.ProjectContentsFinalizer) {
		return reconcile.Result{}, nil
	}
	remaining, err := p.deleteContents(store.WithProject(ctx, req.Name))
	if err != nil {
		return reconcile.Result{}, err
	}
	if remaining > 0 {
		return reconcile.Result{RequeueAfter: contentsPollInterval}, nil
	}
	obj, err = p.Service.Get(ctx, projects, req.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	obj.Metadata.Finalizers = slices.DeleteFunc(obj.Metadata.Finalizers, func(f string) bool { return f == api.ProjectContentsFinalizer })
	if _, err := p.Service.Update(ctx, projects, req.Name, obj); err != nil {
		return reconcile.Result{}, fmt.Errorf("release project %q: %w", req.Name, err)
	}
	p.Logger.InfoContext(ctx, "project deleted with everything in it", "project", req.Name)
	return reconcile.Result{}, nil
}

func (p *Projects) setPhase(ctx context.Context, projects *api.Resource, obj *api.Object, phase api.ProjectPhase) error {
	var status api.ProjectStatus
	if len(obj.Status) > 0 {
		if err := json.Unmarshal(obj.Status, &status); err != nil {
			return reconcile.Terminal(fmt.Errorf("project %q has an unreadable status: %w", obj.Metadata.Name, err))
		}
	}
	if status.Phase == phase {
		return nil
	}
	status.Phase = phase
	raw, err := json.Marshal(status)
	if err != nil {
		return err
	}
	next := *obj
	next.Status = raw
	if _, err := p.Service.UpdateStatus(ctx, projects, obj.Metadata.Name, &next); err != nil {
		return fmt.Errorf("set project %q %s: %w", obj.Metadata.Name, phase, err)
	}
	return nil
}

// deleteContents deletes every project-scoped object in the context's
// project and returns how many still exist.
func (p *Projects) deleteContents(ctx context.Context) (int, error) {
	remaining := 0
	for _, res := range p.Catalogue.All() {
		if res.Scope != api.ProjectScoped {
			continue
		}
		list, err := p.Service.List(ctx, res, api.ListOptions{})
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", res.Plural, err)
		}
		for _, obj := range list.Items {
			remaining++
			if obj.Metadata.DeletionTimestamp != nil {
				continue // waiting on its own finalizers
			}
			_, deleted, err := p.Service.Delete(ctx, res, obj.Metadata.Name, "")
			if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return 0, fmt.Errorf("delete %s %q: %w", res.Kind, obj.Metadata.Name, err)
			}
			if deleted || errors.Is(err, errdefs.ErrNotFound) {
				remaining--
			}
		}
	}
	return remaining, nil
}
