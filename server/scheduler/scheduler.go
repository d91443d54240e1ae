// Package scheduler places pending pods onto nodes. Each cycle takes an
// immutable snapshot of the cluster (nodes and the pods on them, mirrored
// by informers) and plans placements for a batch of pending pods in
// priority order: filter → score → plan, with Borg's optimisations
// (equivalence classes share feasibility and score results within a cycle,
// scores are cached per class and node version, and large clusters are
// searched only until a sample of feasible nodes is found). A pod that fits
// nowhere may preempt lower-priority pods.
//
// Placements are committed optimistically: the pods are first reserved on
// the node with a compare-and-swap on the node's resourceVersion
// (ReservationsAnnotation), re-checked against fresh state, and then bound
// with a compare-and-swap on the pod's resourceVersion. A failed commit is
// not an error: the pod is planned again from fresh state. So several
// schedulers over one store never bind a pod twice nor over-commit a node.
//
// Schedule is the same algorithm without the store.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/informer"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Config configures a Scheduler.
type Config struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	// Policy, SampleFraction, SampleMin and DisablePreemption: see Options.
	Policy            Policy
	SampleFraction    float64
	SampleMin         int
	DisablePreemption bool
	// BatchSize bounds the pods planned in one cycle (default 512).
	BatchSize int
	// Parallelism bounds concurrent commits (default 256): node
	// reservations and, separately, pod bindings. The store groups
	// concurrent writes into one transaction, so throughput grows with it.
	Parallelism int
	// RetryInterval is how often unschedulable pods are tried again when
	// nothing has changed (default 30 s).
	RetryInterval time.Duration
	Logger        *slog.Logger
	// Registerer receives the scheduler's metrics (none when nil).
	Registerer prometheus.Registerer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	cfg     Config
	svc     *resource.Service
	pods    *api.Resource
	nodes   *api.Resource
	algo    *Algorithm
	cache   *cache
	queue   *queue
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	podInf  *informer.Informer
	nodeInf *informer.Informer

	// onBound, when set (benchmarks), learns each binding's latency.
	onBound func(time.Duration)

	commitSlots chan struct{}
	bindSlots   chan struct{}
	wg          sync.WaitGroup
}

// New returns a scheduler; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Service == nil || cfg.Catalogue == nil {
		return nil, errors.New("scheduler: Service and Catalogue are required")
	}
	policy, err := ParsePolicy(string(cfg.Policy))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	pods, ok1 := cfg.Catalogue.Lookup(api.PodsResource)
	nodes, ok2 := cfg.Catalogue.Lookup(api.NodesResource)
	if !ok1 || !ok2 {
		return nil, errors.New("scheduler: the catalogue has no pods or nodes")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 256
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Scheduler{
		cfg: cfg, svc: cfg.Service, pods: pods, nodes: nodes,
		algo: NewAlgorithm(Options{Policy: policy, SampleFraction: cfg.SampleFraction, SampleMin: cfg.SampleMin,
			DisablePreemption: cfg.DisablePreemption}),
		cache: newCache(cfg.Now), queue: newQueue(), log: cfg.Logger.With("component", "scheduler"),
		metrics: newMetrics(cfg.Registerer), now: cfg.Now,
		commitSlots: make(chan struct{}, cfg.Parallelism), bindSlots: make(chan struct{}, cfg.Parallelism),
	}
	s.cache.onEvent = s.onEvent
	s.podInf = informer.New(s.svc, pods, podHandler{s.cache}, s.log)
	s.nodeInf = informer.New(s.svc, nodes, nodeHandler{s.cache}, s.log)
	return s, nil
}

type podHandler struct{ c *cache }

func (h podHandler) Replace(objs []*api.Object) { h.c.replacePods(objs) }
func (h podHandler) Upsert(obj *api.Object)     { h.c.upsertPod(obj) }
func (h podHandler) Delete(obj *api.Object)     { h.c.deletePod(obj) }

type nodeHandler struct{ c *cache }

func (h nodeHandler) Replace(objs []*api.Object) { h.c.replaceNodes(objs) }
func (h nodeHandler) Upsert(obj *api.Object)     { h.c.upsertNode(obj) }
func (h nodeHandler) Delete(obj *api.Object)     { h.c.deleteNode(obj) }

// onEvent runs on an informer's goroutine: it only queues.
func (s *Scheduler) onEvent(ev clusterEvent, obj *api.Object, info *PodInfo, specChanged bool) {
	key := PodKey{obj.Metadata.Project, obj.Metadata.Name}
	switch ev {
	case podPending:
		s.queue.add(key, info.Priority, s.now(), specChanged)
	case podGone:
		s.queue.remove(key)
	case spaceFreed, nodesChanged:
		s.queue.requestFlush()
	}
}

// Run mirrors pods and nodes and schedules until ctx ends; it returns once
// every goroutine it started has stopped.
func (s *Scheduler) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer s.wg.Wait()
	defer cancel()
	s.goRun(func() { s.podInf.Run(ctx) })
	s.goRun(func() { s.nodeInf.Run(ctx) })
	for _, inf := range []*informer.Informer{s.podInf, s.nodeInf} {
		select {
		case <-inf.Synced():
		case <-ctx.Done():
			return
		}
	}
	s.log.InfoContext(ctx, "scheduler started", "policy", s.algo.opts.Policy)
	s.goRun(func() { s.retryLoop(ctx) })
	for {
		batch, err := s.queue.popBatch(ctx, s.cfg.BatchSize)
		if err != nil {
			return
		}
		s.cycle(ctx, batch)
	}
}

func (s *Scheduler) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// retryLoop periodically retries pods parked as unschedulable.
func (s *Scheduler) retryLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetryInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.queue.flush(s.now(), s.cfg.RetryInterval)
		}
	}
}

// item is one pod of a cycle.
type item struct {
	q    *queued
	obj  *api.Object
	info *PodInfo
}

// cycle plans one batch over a fresh snapshot and starts the commits.
func (s *Scheduler) cycle(ctx context.Context, batch []*queued) {
	snap := s.cache.Snapshot()
	items := make(map[string]*item, len(batch))
	infos := make([]*PodInfo, 0, len(batch))
	for _, q := range batch {
		obj, info, ok := s.cache.pending(q.key)
		if !ok {
			continue
		}
		items[info.UID] = &item{q: q, obj: obj, info: info}
		infos = append(infos, info)
	}
	SortByPriority(infos)
	groups := map[string][]*item{}
	for _, p := range s.algo.Schedule(ctx, snap, infos) {
		it := items[p.Pod.UID]
		if p.Node != "" {
			s.cache.assume(p.Pod, p.Node)
			groups[p.Node] = append(groups[p.Node], it)
			continue
		}
		s.metrics.attempts.WithLabelValues(resultUnschedulable).Inc()
		s.queue.park(it.q, s.now())
		msg := p.Diagnosis.Message()
		if p.Nominated != "" {
			s.spawn(ctx, s.commitSlots, func(ctx context.Context) { s.preempt(ctx, it, p, msg) })
		} else {
			s.spawn(ctx, s.commitSlots, func(ctx context.Context) { s.markUnschedulable(ctx, it.obj, msg, "") })
		}
	}
	for node, group := range groups {
		s.spawn(ctx, s.commitSlots, func(ctx context.Context) { s.commit(ctx, node, group) })
	}
}

// spawn runs f on a goroutine once a slot is free.
func (s *Scheduler) spawn(ctx context.Context, slots chan struct{}, f func(context.Context)) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s.goRun(func() {
		defer func() { <-slots }()
		f(ctx)
	})
}

// commit reserves a group of placements on their node, then binds them.
func (s *Scheduler) commit(ctx context.Context, node string, group []*item) {
	ctx, cancel := context.WithTimeout(ctx, bindTimeout)
	defer cancel()
	infos := make([]*PodInfo, len(group))
	byUID := make(map[string]*item, len(group))
	for i, it := range group {
		infos[i] = it.info
		byUID[it.info.UID] = it
	}
	accepted, rejected, err := s.reserve(ctx, node, infos)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "reserve pods on node", "node", node, "error", err)
	}
	for _, pi := range rejected {
		s.retry(byUID[pi.UID], resultConflict)
	}
	var wg sync.WaitGroup
	for _, pi := range accepted {
		it := byUID[pi.UID]
		select {
		case s.bindSlots <- struct{}{}:
		case <-ctx.Done():
			s.retry(it, resultError)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.bindSlots }()
			s.bind(ctx, node, it)
		}()
	}
	wg.Wait()
}

// retry undoes an assumed placement and queues the pod again.
func (s *Scheduler) retry(it *item, result string) {
	s.metrics.attempts.WithLabelValues(result).Inc()
	s.cache.forget(it.info)
	s.queue.requeue(it.q)
}

// reserve adds the pods that still fit to the node's reservations (a
// compare-and-swap on the node) and returns which did and which did not.
func (s *Scheduler) reserve(ctx context.Context, name string, group []*PodInfo) (accepted, rejected []*PodInfo, err error) {
	obj, ok := s.nodeInf.Get("", name)
	for attempt := 0; ; attempt++ {
		if !ok || attempt > 0 {
			if obj, err = s.svc.Get(ctx, s.nodes, name); err != nil {
				return nil, group, fmt.Errorf("read node %q: %w", name, err)
			}
		}
		node, err := decodeNode(obj)
		if err != nil {
			return nil, group, fmt.Errorf("node %q: %w", name, err)
		}
		// Every binding committed before this node version must be in the
		// pod mirror before pruning reservations on the strength of it.
		if err := s.podInf.WaitFor(ctx, revisionOf(obj.Metadata.ResourceVersion)); err != nil {
			return nil, group, err
		}
		entries, accepted, rejected, changed := s.cache.reserve(ctx, node, group, s.algo)
		if !changed {
			return accepted, rejected, nil
		}
		next := *obj
		next.Metadata.Annotations = encodeReservations(obj.Metadata.Annotations, entries)
		out, err := s.svc.UpdateFrom(ctx, s.nodes, obj, &next)
		if err == nil {
			s.cache.upsertNode(out)
			return accepted, rejected, nil
		}
		if !errors.Is(err, errdefs.ErrConflict) || attempt >= 8 {
			return nil, group, fmt.Errorf("reserve on node %q: %w", name, err)
		}
	}
}

// bind sets the pod's spec.nodeName and its PodScheduled=True condition in
// one compare-and-swap on the version it was planned at: no read precedes
// the write, and a pod changed meanwhile is planned again.
func (s *Scheduler) bind(ctx context.Context, node string, it *item) {
	pctx := store.WithProject(ctx, it.info.Key.Project)
	next, err := bindingOf(it.obj, node, s.now())
	if err != nil {
		s.log.WarnContext(ctx, "decode pod", "project", it.info.Key.Project, "name", it.info.Key.Name, "error", err)
		s.retry(it, resultError)
		return
	}
	_, err = s.svc.UpdateFrom(pctx, s.pods, it.obj, next)
	switch {
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrNotFound):
		// Bound by another scheduler, changed or deleted: plan again from
		// fresh state if it is still pending.
		s.retry(it, resultConflict)
		return
	case err != nil:
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "bind pod", "project", it.info.Key.Project, "name", it.info.Key.Name, "node", node, "error", err)
		}
		s.retry(it, resultError)
		return
	}
	s.metrics.attempts.WithLabelValues(resultScheduled).Inc()
	s.metrics.scheduled.Inc()
	latency := s.now().Sub(it.q.since)
	s.metrics.latency.Observe(latency.Seconds())
	if s.onBound != nil {
		s.onBound(latency)
	}
}

// bindingOf is obj bound to node: spec.nodeName set (other spec fields
// kept byte for byte) and PodScheduled=True with no nominated node.
func bindingOf(obj *api.Object, node string, now time.Time) (*api.Object, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(obj.Spec, &spec); err != nil {
		return nil, fmt.Errorf("pod spec: %w", err)
	}
	spec["nodeName"], _ = json.Marshal(node)
	var st api.PodStatus
	if len(obj.Status) > 0 {
		if err := json.Unmarshal(obj.Status, &st); err != nil {
			return nil, fmt.Errorf("pod status: %w", err)
		}
	}
	st.NominatedNodeName = ""
	setCondition(&st, api.Condition{Type: api.PodScheduled, Status: "True"}, now)
	next := *obj
	next.Spec, _ = json.Marshal(spec)
	next.Status, _ = json.Marshal(st)
	return &next, nil
}

// markUnschedulable records PodScheduled=False with the reason, when it
// differs from what the pod says.
func (s *Scheduler) markUnschedulable(ctx context.Context, obj *api.Object, msg, nominated string) {
	pctx := store.WithProject(ctx, obj.Metadata.Project)
	err := s.writeStatus(pctx, obj, func(cur *api.Object, st *api.PodStatus) bool {
		var spec struct {
			NodeName string `json:"nodeName"`
		}
		if json.Unmarshal(cur.Spec, &spec) != nil || spec.NodeName != "" || cur.Metadata.DeletionTimestamp != nil {
			return false // bound meanwhile (by another scheduler) or going
		}
		changed := false
		if nominated != "" && st.NominatedNodeName != nominated {
			st.NominatedNodeName, changed = nominated, true
		}
		return setCondition(st, api.Condition{Type: api.PodScheduled, Status: "False", Reason: "Unschedulable", Message: msg}, s.now()) || changed
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, errdefs.ErrNotFound) {
		s.log.WarnContext(ctx, "record pod unschedulable", "project", obj.Metadata.Project, "name", obj.Metadata.Name, "error", err)
	}
}

// preempt deletes the victims and nominates the node for the pod.
func (s *Scheduler) preempt(ctx context.Context, it *item, p Placement, msg string) {
	for _, v := range p.Victims {
		vctx := store.WithProject(ctx, v.Key.Project)
		_, _, err := s.svc.Delete(vctx, s.pods, v.Key.Name, "")
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			s.log.WarnContext(ctx, "preempt pod", "project", v.Key.Project, "name", v.Key.Name, "error", err)
			continue
		}
		s.metrics.victims.Inc()
		s.log.InfoContext(ctx, "preempted pod", "project", v.Key.Project, "name", v.Key.Name, "node", p.Nominated,
			"for", it.info.Key.String(), "priority", it.info.Priority)
	}
	s.markUnschedulable(ctx, it.obj, msg, p.Nominated)
}

// writeStatus applies change to the pod's status and writes it if change
// reports a difference, re-reading on conflicts.
func (s *Scheduler) writeStatus(ctx context.Context, obj *api.Object, change func(*api.Object, *api.PodStatus) bool) error {
	for attempt := 0; ; attempt++ {
		var st api.PodStatus
		if len(obj.Status) > 0 {
			if err := json.Unmarshal(obj.Status, &st); err != nil {
				return fmt.Errorf("pod %s/%s status: %w", obj.Metadata.Project, obj.Metadata.Name, err)
			}
		}
		if !change(obj, &st) {
			return nil
		}
		next := *obj
		next.Status, _ = json.Marshal(st)
		_, err := s.svc.UpdateStatus(ctx, s.pods, obj.Metadata.Name, &next)
		if !errors.Is(err, errdefs.ErrConflict) || attempt >= 4 {
			return err
		}
		if obj, err = s.svc.Get(ctx, s.pods, obj.Metadata.Name); err != nil {
			return err
		}
	}
}

// setCondition sets a condition, reporting whether anything changed; the
// transition time moves only when the status does.
func setCondition(st *api.PodStatus, c api.Condition, now time.Time) bool {
	for i := range st.Conditions {
		old := &st.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status || c.LastTransitionTime == nil {
			t := now.UTC().Truncate(time.Second)
			c.LastTransitionTime = &t
		}
		*old = c
		return true
	}
	t := now.UTC().Truncate(time.Second)
	c.LastTransitionTime = &t
	st.Conditions = append(st.Conditions, c)
	return true
}
