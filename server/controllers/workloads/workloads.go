// Package workloads holds the controllers that turn workload objects into
// pods and addresses: deployments roll ReplicaSets, replica sets keep their
// pods, the service controller allocates cluster IPs and writes Endpoints,
// and jobs run pods to completion. Each is a level-triggered reconciler
// (server/reconcile) acting through the resource service, never the store.
//
// Ownership. A created object names its owner with a label whose key says
// the owner's kind and whose value is the owner's name — slipway.io/deployment
// on ReplicaSets and pods, slipway.io/replicaset and slipway.io/job on pods
// — and carries the owner's uid in the slipway.io/owner-uid annotation, so a
// new owner with a reused name never adopts its predecessor's objects.
// Owners carry the slipway.io/dependents finalizer: when one is deleted its
// controller deletes what it created, then lets it go.
//
// Events. A reconcile.Controller watches one resource, so changes to what
// an owner created reach it through mapper controllers: one watches pods
// and enqueues the pod's ReplicaSet, Deployment, Job and every Service whose
// selector matches the pod's labels before or after the change; one watches
// ReplicaSets and enqueues their Deployment; one watches Endpoints and
// enqueues the Service of the same name. A mapper remembers the labels it
// last saw of each object, because a deleted object can no longer be read.
package workloads

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
)

// Deps are what the workload controllers need.
type Deps struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	Logger    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ServiceCIDR is the network cluster IPs are allocated from
	// (api.DefaultServiceCIDR when invalid or unset).
	ServiceCIDR netip.Prefix
	// JobBackoff is the delay before a failed job pod is replaced, doubled
	// for each further failure up to JobBackoffMax (defaults 10 s and 6 min,
	// as in Kubernetes).
	JobBackoff, JobBackoffMax time.Duration
}

func (d *Deps) defaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if !d.ServiceCIDR.IsValid() {
		d.ServiceCIDR = netip.MustParsePrefix(api.DefaultServiceCIDR)
	}
	if d.JobBackoff <= 0 {
		d.JobBackoff = 10 * time.Second
	}
	if d.JobBackoffMax <= 0 {
		d.JobBackoffMax = 6 * time.Minute
	}
}

func (d *Deps) lookup(plural string) *api.Resource {
	r, ok := d.Catalogue.Lookup(plural)
	if !ok {
		panic("workloads: resource " + plural + " is not in the catalogue")
	}
	return r
}

// Controllers returns the workload controllers, wired to each other, ready
// to Run; the caller may set Logger, Metrics and Workers before running
// them. Each controller's Reconciler is one of the New… reconcilers below
// or a mapper that enqueues their keys.
func Controllers(deps Deps) []*reconcile.Controller {
	deps.defaults()
	svc := deps.Service
	deployments := &target{}
	replicaSets := &target{}
	services := &target{}
	jobs := &target{}
	deployments.ctl = &reconcile.Controller{Name: "deployments", Resource: deps.lookup(api.DeploymentsResource), Service: svc,
		Reconciler: deployments.wrap(NewDeployments(deps))}
	replicaSets.ctl = &reconcile.Controller{Name: "replicasets", Resource: deps.lookup(api.ReplicaSetsResource), Service: svc,
		Reconciler: replicaSets.wrap(NewReplicaSets(deps))}
	services.ctl = &reconcile.Controller{Name: "services", Resource: deps.lookup(api.ServicesResource), Service: svc,
		Reconciler: services.wrap(NewServices(deps))}
	jobs.ctl = &reconcile.Controller{Name: "jobs", Resource: deps.lookup(api.JobsResource), Service: svc,
		Reconciler: jobs.wrap(NewJobs(deps))}
	serviceRes := deps.lookup(api.ServicesResource)
	podMapper := &labelMapper{svc: svc, res: deps.lookup(api.PodsResource), route: func(ctx context.Context, project string, labels map[string]string) error {
		for key, t := range map[string]*target{api.ReplicaSetLabel: replicaSets, api.DeploymentLabel: deployments, api.JobLabel: jobs} {
			if name := labels[key]; name != "" {
				t.add(reconcile.Request{Project: project, Name: name})
			}
		}
		if len(labels) == 0 || !services.started.Load() {
			return nil
		}
		list, err := svc.List(ctx, serviceRes, api.ListOptions{})
		if err != nil {
			return fmt.Errorf("list services of project %q: %w", project, err)
		}
		for _, obj := range list.Items {
			var spec api.ServiceSpec
			if json.Unmarshal(obj.Spec, &spec) == nil && api.SelectorMatches(spec.Selector, labels) {
				services.add(reconcile.Request{Project: project, Name: obj.Metadata.Name})
			}
		}
		return nil
	}}
	rsMapper := &labelMapper{svc: svc, res: deps.lookup(api.ReplicaSetsResource), route: func(_ context.Context, project string, labels map[string]string) error {
		if name := labels[api.DeploymentLabel]; name != "" {
			deployments.add(reconcile.Request{Project: project, Name: name})
		}
		return nil
	}}
	endpointsMapper := reconcile.ReconcilerFunc(func(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
		services.add(req)
		return reconcile.Result{}, nil
	})
	return []*reconcile.Controller{
		deployments.ctl, replicaSets.ctl, services.ctl, jobs.ctl,
		{Name: "workload-pods", Resource: deps.lookup(api.PodsResource), Service: svc, Reconciler: podMapper},
		{Name: "deployment-replicasets", Resource: deps.lookup(api.ReplicaSetsResource), Service: svc, Reconciler: rsMapper},
		{Name: "service-endpoints", Resource: deps.lookup(api.EndpointsResource), Service: svc, Reconciler: endpointsMapper},
	}
}

// target is a controller that mappers enqueue into. A controller's queue
// exists only once it runs, so enqueues wait until its first reconcile has
// started: one dropped before then is not lost, because every object the
// controller has not reconciled yet will be, reading the state after the
// dropped change.
type target struct {
	ctl     *reconcile.Controller
	started atomic.Bool
}

func (t *target) wrap(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.ReconcilerFunc(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		t.started.Store(true)
		return r.Reconcile(ctx, req)
	})
}

func (t *target) add(req reconcile.Request) {
	if t.started.Load() {
		t.ctl.Enqueue(req)
	}
}

// labelMapper reconciles objects of one resource by routing their labels
// (as last seen and as now) to the controllers of their owners.
type labelMapper struct {
	svc   *resource.Service
	res   *api.Resource
	route func(ctx context.Context, project string, labels map[string]string) error

	mu   sync.Mutex
	seen map[reconcile.Request]map[string]string
}

// Reconcile implements reconcile.Reconciler.
func (m *labelMapper) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := m.svc.Get(ctx, m.res, req.Name)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, err
	}
	var current map[string]string
	m.mu.Lock()
	if m.seen == nil {
		m.seen = map[reconcile.Request]map[string]string{}
	}
	previous, known := m.seen[req]
	if err == nil {
		current = obj.Metadata.Labels
		m.seen[req] = current
	} else {
		delete(m.seen, req)
	}
	m.mu.Unlock()
	if known && !maps.Equal(previous, current) {
		if err := m.route(ctx, req.Project, previous); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, m.route(ctx, req.Project, current)
}

// decodeAs converts the generic envelope to a typed object.
func decodeAs[T any](obj *api.Object) (*T, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, reconcile.Terminal(fmt.Errorf("%s %q is unreadable: %w", obj.Kind, obj.Metadata.Name, err))
	}
	return out, nil
}

// encode converts a typed object to the generic envelope.
func encode(v any) (*api.Object, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj api.Object
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	return &obj, nil
}

// writeStatus stores status on obj's status subresource when it differs
// from what is stored.
func writeStatus(ctx context.Context, svc *resource.Service, res *api.Resource, obj *api.Object, status any) error {
	raw, err := json.Marshal(status)
	if err != nil {
		return err
	}
	if sameJSON(obj.Status, raw) {
		return nil
	}
	next := *obj
	next.Status = raw
	if _, err := svc.UpdateStatus(ctx, res, obj.Metadata.Name, &next); err != nil {
		return fmt.Errorf("update status of %s %q: %w", res.Kind, obj.Metadata.Name, err)
	}
	return nil
}

func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return string(ca) == string(cb)
}

// ownedPods lists the pods label=name created by the owner with uid.
func ownedPods(ctx context.Context, svc *resource.Service, pods *api.Resource, label, name, uid string) ([]*api.Pod, error) {
	list, err := svc.List(ctx, pods, api.ListOptions{LabelSelector: label + "=" + name})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", name, err)
	}
	var out []*api.Pod
	for _, obj := range list.Items {
		if obj.Metadata.Annotations[api.OwnerUIDAnnotation] != uid {
			continue
		}
		p, err := decodeAs[api.Pod](obj)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// releaseDependents deletes the objects of dependents labelled label=name
// and owned by obj, then removes obj's dependents finalizer. The dependents
// go through their own deletion (finalizers included) on their own time.
func releaseDependents(ctx context.Context, svc *resource.Service, res *api.Resource, obj *api.Object, dependents []*api.Resource, label string) error {
	if !slices.Contains(obj.Metadata.Finalizers, api.DependentsFinalizer) {
		return nil
	}
	for _, dep := range dependents {
		list, err := svc.List(ctx, dep, api.ListOptions{LabelSelector: label + "=" + obj.Metadata.Name})
		if err != nil {
			return fmt.Errorf("list %s of %s %q: %w", dep.Plural, res.Kind, obj.Metadata.Name, err)
		}
		for _, child := range list.Items {
			if child.Metadata.Annotations[api.OwnerUIDAnnotation] != obj.Metadata.UID || child.Metadata.DeletionTimestamp != nil {
				continue
			}
			if _, _, err := svc.Delete(ctx, dep, child.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return fmt.Errorf("delete %s %q of %s %q: %w", dep.Kind, child.Metadata.Name, res.Kind, obj.Metadata.Name, err)
			}
		}
	}
	next := *obj
	next.Metadata.Finalizers = slices.DeleteFunc(slices.Clone(obj.Metadata.Finalizers), func(f string) bool { return f == api.DependentsFinalizer })
	if _, err := svc.Update(ctx, res, obj.Metadata.Name, &next); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("release %s %q: %w", res.Kind, obj.Metadata.Name, err)
	}
	return nil
}

// createPod creates a pod from template named <base>-<5 random characters>,
// trying other suffixes on a name collision.
func createPod(ctx context.Context, svc *resource.Service, pods *api.Resource, t *api.PodTemplate, base string, ownerLabels map[string]string, ownerUID string) (*api.Pod, error) {
	for attempt := 0; ; attempt++ {
		pod := api.PodFromTemplate(t, childName(base, randomSuffix(5)), ownerLabels, ownerUID)
		obj, err := encode(&pod)
		if err != nil {
			return nil, err
		}
		obj.Status = nil
		created, err := svc.Create(ctx, pods, obj)
		if errors.Is(err, errdefs.ErrAlreadyExists) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create pod for %s: %w", base, err)
		}
		return decodeAs[api.Pod](created)
	}
}

// childName is base-suffix, base cut so the whole is a valid name.
func childName(base, suffix string) string {
	if max := 63 - 1 - len(suffix); len(base) > max {
		base = base[:max]
	}
	return base + "-" + suffix
}

// suffixAlphabet avoids vowels (no words) and look-alike characters, as
// Kubernetes' generated names do.
const suffixAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return string(b)
}

// podReadySince returns when the pod's Ready condition became True, or
// false when it is not ready.
func podReadySince(p *api.Pod) (time.Time, bool) {
	if p.Status.Phase != api.PodRunning {
		return time.Time{}, false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			if c.Status != api.ConditionTrue {
				return time.Time{}, false
			}
			if c.LastTransitionTime != nil {
				return *c.LastTransitionTime, true
			}
			return time.Time{}, true
		}
	}
	return time.Time{}, false
}

// podAvailable tells whether a pod has been ready for minReady; when it is
// ready but not yet available, wait says how long until it is.
func podAvailable(p *api.Pod, minReady time.Duration, now time.Time) (available bool, wait time.Duration) {
	since, ready := podReadySince(p)
	if !ready {
		return false, 0
	}
	if minReady <= 0 || since.IsZero() {
		return true, 0
	}
	if left := since.Add(minReady).Sub(now); left > 0 {
		return false, left
	}
	return true, 0
}

func podTerminal(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}

func ptr[T any](v T) *T { return &v }
