package workloads

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
)

// podBurst bounds the pods one reconcile creates or deletes, so a large
// scale-up shows progress in status between batches.
const podBurst = 50

// ReplicaSets keeps spec.replicas pods of each ReplicaSet's template:
// it creates missing ones, replaces failed ones, deletes extra ones
// (unscheduled, pending and not-ready pods first) and counts them in
// status.
type ReplicaSets struct {
	deps
}

// deps is what every reconciler of the package shares.
type deps struct {
	Deps
	deployments, replicaSets, pods, services, endpoints, jobs *api.Resource
}

func newDeps(d Deps) deps {
	d.defaults()
	return deps{Deps: d,
		deployments: d.lookup(api.DeploymentsResource), replicaSets: d.lookup(api.ReplicaSetsResource),
		pods: d.lookup(api.PodsResource), services: d.lookup(api.ServicesResource),
		endpoints: d.lookup(api.EndpointsResource), jobs: d.lookup(api.JobsResource)}
}

// NewReplicaSets returns the replica set reconciler.
func NewReplicaSets(d Deps) reconcile.Reconciler { return &ReplicaSets{newDeps(d)} }

// Reconcile implements reconcile.Reconciler.
func (c *ReplicaSets) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := c.Service.Get(ctx, c.replicaSets, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return reconcile.Result{}, releaseDependents(ctx, c.Service, c.replicaSets, obj, []*api.Resource{c.pods}, api.ReplicaSetLabel)
	}
	rs, err := decodeAs[api.ReplicaSet](obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	pods, err := ownedPods(ctx, c.Service, c.pods, api.ReplicaSetLabel, rs.Metadata.Name, rs.Metadata.UID)
	if err != nil {
		return reconcile.Result{}, err
	}
	var active []*api.Pod
	for _, p := range pods {
		switch {
		case p.Metadata.DeletionTimestamp != nil:
		case podTerminal(p):
			// Replaced below; its restart policy gave up on it.
			if err := c.deletePod(ctx, p); err != nil {
				return reconcile.Result{}, err
			}
		default:
			active = append(active, p)
		}
	}
	want := int(rs.Spec.EffectiveReplicas())
	switch diff := want - len(active); {
	case diff > 0:
		labels := map[string]string{api.ReplicaSetLabel: rs.Metadata.Name}
		if d := rs.Metadata.Labels[api.DeploymentLabel]; d != "" {
			labels[api.DeploymentLabel] = d
		}
		for range min(diff, podBurst) {
			p, err := createPod(ctx, c.Service, c.pods, &rs.Spec.Template, rs.Metadata.Name, labels, rs.Metadata.UID)
			if err != nil {
				return reconcile.Result{}, err
			}
			active = append(active, p)
		}
	case diff < 0:
		sortForDeletion(active, c.Now())
		for _, p := range active[:min(-diff, podBurst)] {
			if err := c.deletePod(ctx, p); err != nil {
				return reconcile.Result{}, err
			}
		}
		active = active[min(-diff, podBurst):]
	}
	status := api.ReplicaSetStatus{ObservedGeneration: rs.Metadata.Generation, Replicas: int32(len(active))}
	var requeue time.Duration
	now := c.Now()
	for _, p := range active {
		if _, ready := podReadySince(p); ready {
			status.ReadyReplicas++
		}
		available, wait := podAvailable(p, time.Duration(rs.Spec.MinReadySeconds)*time.Second, now)
		if available {
			status.AvailableReplicas++
		} else if wait > 0 && (requeue == 0 || wait < requeue) {
			requeue = wait
		}
	}
	if err := writeStatus(ctx, c.Service, c.replicaSets, obj, status); err != nil {
		return reconcile.Result{}, err
	}
	if len(active) != want {
		return reconcile.Result{RequeueAfter: time.Millisecond}, nil // the next batch
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

func (c *ReplicaSets) deletePod(ctx context.Context, p *api.Pod) error {
	_, _, err := c.Service.Delete(ctx, c.pods, p.Metadata.Name, "")
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("delete pod %q: %w", p.Metadata.Name, err)
	}
	return nil
}

// sortForDeletion orders pods the way Kubernetes picks victims: unscheduled
// before scheduled, pending before running, not ready before ready, ready
// for less time before longer, more restarts before fewer, newer before
// older.
func sortForDeletion(pods []*api.Pod, now time.Time) {
	phaseRank := map[string]int{api.PodPending: 0, api.PodUnknown: 1, api.PodRunning: 2}
	restarts := func(p *api.Pod) int32 {
		var n int32
		for _, s := range p.Status.ContainerStatuses {
			n += s.RestartCount
		}
		return n
	}
	created := func(p *api.Pod) time.Time {
		if p.Metadata.CreationTimestamp == nil {
			return now
		}
		return *p.Metadata.CreationTimestamp
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if ra, rb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; ra != rb {
			return ra < rb
		}
		sa, readyA := podReadySince(a)
		sb, readyB := podReadySince(b)
		if readyA != readyB {
			return !readyA
		}
		if readyA && !sa.Equal(sb) {
			return sa.After(sb)
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		return created(a).After(created(b))
	})
}

// podTemplateWithout returns the template with one label removed, for
// comparing a ReplicaSet's template to its Deployment's.
func podTemplateWithout(t api.PodTemplate, label string) api.PodTemplate {
	if _, ok := t.Metadata.Labels[label]; ok {
		t.Metadata.Labels = maps.Clone(t.Metadata.Labels)
		delete(t.Metadata.Labels, label)
	}
	return t
}
