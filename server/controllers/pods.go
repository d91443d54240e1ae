package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
)

// nodeGoneCheck is how often a deleted pod waiting on its node checks
// that the node still exists.
const nodeGoneCheck = 30 * time.Second

// PodTermination lets deleted pods go when no node agent will: pods never
// bound to a node, and pods bound to a node that no longer exists. A node
// agent releases the pods it runs itself, after stopping them.
type PodTermination struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
}

// Reconcile implements reconcile.Reconciler.
func (p *PodTermination) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pods, _ := p.Catalogue.Lookup(api.PodsResource)
	obj, err := p.Service.Get(ctx, pods, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp == nil || !slices.Contains(obj.Metadata.Finalizers, api.PodTerminationFinalizer) {
		return reconcile.Result{}, nil
	}
	var spec api.PodSpec
	if err := json.Unmarshal(obj.Spec, &spec); err != nil {
		return reconcile.Result{}, reconcile.Terminal(err)
	}
	if spec.NodeName != "" {
		nodes, _ := p.Catalogue.Lookup(api.NodesResource)
		_, err := p.Service.Get(ctx, nodes, spec.NodeName)
		if err == nil {
			// Its node agent stops and releases it; look again in a while in
			// case the node goes away first.
			return reconcile.Result{RequeueAfter: nodeGoneCheck}, nil
		}
		if !errors.Is(err, errdefs.ErrNotFound) {
			return reconcile.Result{}, err
		}
	}
	obj.Metadata.Finalizers = slices.DeleteFunc(obj.Metadata.Finalizers, func(f string) bool { return f == api.PodTerminationFinalizer })
	_, err = p.Service.Update(ctx, pods, req.Name, obj)
	return reconcile.Result{}, err
}
