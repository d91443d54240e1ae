package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// NodeLifecycle watches node heartbeats. A node whose Lease expired is
// marked NotReady (Ready=Unknown); once it has been NotReady for
// EvictionTimeout its pods are deleted so their owners run them elsewhere —
// at a limited rate, and not at all while most nodes look down, so that a
// network partition does not cause a stampede (Borg's lesson).
type NodeLifecycle struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	Logger    *slog.Logger
	// EvictionTimeout is how long a node may be NotReady before its pods
	// are evicted (default 5 min).
	EvictionTimeout time.Duration
	// EvictionsPerSecond and EvictionBurst bound evictions cluster-wide
	// (defaults 1 and 10).
	EvictionsPerSecond float64
	EvictionBurst      int
	// MaxUnhealthyFraction stops evictions when more than this fraction of
	// the nodes is NotReady (default 0.55): then the problem is more likely
	// the network than the nodes.
	MaxUnhealthyFraction float64
	Now                  func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// HeartbeatPoll is how often a node's heartbeat is checked.
const HeartbeatPoll = 5 * time.Second

// LeaseName is the name of a node's heartbeat Lease.
func LeaseName(node string) string { return "node-" + node }

func (c *NodeLifecycle) defaults() {
	if c.EvictionTimeout == 0 {
		c.EvictionTimeout = 5 * time.Minute
	}
	if c.EvictionsPerSecond == 0 {
		c.EvictionsPerSecond = 1
	}
	if c.EvictionBurst == 0 {
		c.EvictionBurst = 10
	}
	if c.MaxUnhealthyFraction == 0 {
		c.MaxUnhealthyFraction = 0.55
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *NodeLifecycle) lookup(plural string) *api.Resource {
	r, _ := c.Catalogue.Lookup(plural)
	return r
}

// Reconcile implements reconcile.Reconciler.
func (c *NodeLifecycle) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c.defaults()
	ctx = store.WithProject(ctx, "")
	obj, err := c.Service.Get(ctx, c.lookup(api.NodesResource), req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	now := c.Now()
	alive, leaseDuration, err := c.heartbeating(ctx, req.Name, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	var status api.NodeStatus
	_ = json.Unmarshal(obj.Status, &status)
	ready := condition(status.Conditions, api.NodeReady)
	if !alive && ready != nil && ready.Status == "True" && ready.LastHeartbeatTime != nil &&
		now.Before(ready.LastHeartbeatTime.Add(leaseDuration)) {
		// The agent posted Ready after its lease expired: it restarted,
		// and its lease renewal is on its way. Marking it Unknown now
		// would undo the fresh status and make the node flap.
		alive = true
	}
	if alive {
		return reconcile.Result{RequeueAfter: HeartbeatPoll}, nil
	}
	if ready == nil || ready.Status == "True" {
		// The agent stopped renewing its lease: nobody knows what the node
		// does. Its pods leave the services' endpoints now (the routers
		// stop sending them traffic), long before they are evicted.
		if err := c.markPodsNotReady(ctx, req.Name, now); err != nil {
			return reconcile.Result{}, err
		}
		if err := c.markUnknown(ctx, obj, status, now); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{RequeueAfter: HeartbeatPoll}, nil
	}
	since := now
	if ready.LastTransitionTime != nil {
		since = *ready.LastTransitionTime
	}
	if wait := c.EvictionTimeout - now.Sub(since); wait > 0 {
		return reconcile.Result{RequeueAfter: min(wait, HeartbeatPoll)}, nil
	}
	if unhealthy, err := c.mostNodesDown(ctx, now); err != nil || unhealthy {
		if unhealthy {
			c.Logger.WarnContext(ctx, "most nodes look down: not evicting (a partition is more likely than dead nodes)", "node", req.Name)
		}
		return reconcile.Result{RequeueAfter: HeartbeatPoll}, err
	}
	more, err := c.evict(ctx, req.Name, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	if more {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	return reconcile.Result{RequeueAfter: HeartbeatPoll}, nil
}

// defaultLeaseDuration is how long a node's Ready status counts as a
// heartbeat when it has no Lease to say (four of the agent's default
// 10 s heartbeats).
const defaultLeaseDuration = 40 * time.Second

// heartbeating reports whether the node's Lease is still valid, and how
// long one heartbeat counts.
func (c *NodeLifecycle) heartbeating(ctx context.Context, node string, now time.Time) (alive bool, duration time.Duration, err error) {
	obj, err := c.Service.Get(ctx, c.lookup(api.LeasesResource), LeaseName(node))
	if errors.Is(err, errdefs.ErrNotFound) {
		return false, defaultLeaseDuration, nil
	}
	if err != nil {
		return false, 0, err
	}
	var lease api.LeaseSpec
	if err := json.Unmarshal(obj.Spec, &lease); err != nil || lease.RenewTime == nil || lease.LeaseDurationSeconds <= 0 {
		return false, defaultLeaseDuration, nil
	}
	duration = time.Duration(lease.LeaseDurationSeconds) * time.Second
	return now.Before(lease.RenewTime.Add(duration)), duration, nil
}

func condition(conds []api.Condition, typ string) *api.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func (c *NodeLifecycle) markUnknown(ctx context.Context, obj *api.Object, status api.NodeStatus, now time.Time) error {
	t := now.UTC().Truncate(time.Second)
	unknown := api.Condition{Type: api.NodeReady, Status: "Unknown", Reason: "NodeStatusUnknown",
		Message: "the node agent stopped renewing its heartbeat lease", LastTransitionTime: &t, LastHeartbeatTime: &t}
	if cond := condition(status.Conditions, api.NodeReady); cond != nil {
		unknown.LastHeartbeatTime = cond.LastHeartbeatTime
		*cond = unknown
	} else {
		status.Conditions = append(status.Conditions, unknown)
	}
	raw, err := json.Marshal(status)
	if err != nil {
		return err
	}
	next := *obj
	next.Status = raw
	if _, err := c.Service.UpdateStatus(ctx, c.lookup(api.NodesResource), obj.Metadata.Name, &next); err != nil {
		return fmt.Errorf("mark node %q NotReady: %w", obj.Metadata.Name, err)
	}
	c.Logger.WarnContext(ctx, "node stopped heartbeating: NotReady", "node", obj.Metadata.Name)
	return nil
}

// markPodsNotReady sets the Ready condition of the node's ready pods to
// False (reason NodeNotReady), as Kubernetes' node lifecycle controller
// does; the node's agent sets it again when it is back.
func (c *NodeLifecycle) markPodsNotReady(ctx context.Context, node string, now time.Time) error {
	pods := c.lookup(api.PodsResource)
	list, err := c.Service.List(store.WithProject(ctx, store.AllProjects), pods, api.ListOptions{})
	if err != nil {
		return err
	}
	t := now.UTC().Truncate(time.Second)
	marked := 0
	for _, p := range list.Items {
		var spec api.PodSpec
		var status api.PodStatus
		if json.Unmarshal(p.Spec, &spec) != nil || spec.NodeName != node || p.Metadata.DeletionTimestamp != nil ||
			json.Unmarshal(p.Status, &status) != nil {
			continue
		}
		cond := condition(status.Conditions, api.PodReady)
		if cond == nil || cond.Status != "True" {
			continue
		}
		*cond = api.Condition{Type: api.PodReady, Status: "False", Reason: "NodeNotReady",
			Message: "the pod's node stopped heartbeating", LastTransitionTime: &t}
		raw, err := json.Marshal(status)
		if err != nil {
			return err
		}
		next := *p
		next.Status = raw
		if _, err := c.Service.UpdateStatus(store.WithProject(ctx, p.Metadata.Project), pods, p.Metadata.Name, &next); err != nil &&
			!errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("mark pod %s/%s NotReady: %w", p.Metadata.Project, p.Metadata.Name, err)
		}
		marked++
	}
	if marked > 0 {
		c.Logger.InfoContext(ctx, "pods of a node that stopped heartbeating marked not ready", "node", node, "pods", marked)
	}
	return nil
}

// mostNodesDown reports whether more than MaxUnhealthyFraction of the
// nodes are NotReady.
func (c *NodeLifecycle) mostNodesDown(ctx context.Context, now time.Time) (bool, error) {
	list, err := c.Service.List(ctx, c.lookup(api.NodesResource), api.ListOptions{})
	if err != nil {
		return false, err
	}
	if len(list.Items) < 3 {
		return false, nil // too few to tell a partition from failures
	}
	down := 0
	for _, n := range list.Items {
		var status api.NodeStatus
		_ = json.Unmarshal(n.Status, &status)
		if cond := condition(status.Conditions, api.NodeReady); cond == nil || cond.Status != "True" {
			down++
		}
	}
	return float64(down) > c.MaxUnhealthyFraction*float64(len(list.Items)), nil
}

// take spends one eviction from the shared token bucket.
func (c *NodeLifecycle) take(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		c.tokens, c.last = float64(c.EvictionBurst), now
	}
	c.tokens = min(float64(c.EvictionBurst), c.tokens+now.Sub(c.last).Seconds()*c.EvictionsPerSecond)
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// evict deletes the node's pods as the rate limit allows and reports
// whether some are left.
func (c *NodeLifecycle) evict(ctx context.Context, node string, now time.Time) (bool, error) {
	pods := c.lookup(api.PodsResource)
	list, err := c.Service.List(store.WithProject(ctx, store.AllProjects), pods, api.ListOptions{})
	if err != nil {
		return false, err
	}
	for _, p := range list.Items {
		var spec api.PodSpec
		if json.Unmarshal(p.Spec, &spec) != nil || spec.NodeName != node || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		if !c.take(now) {
			return true, nil
		}
		if _, _, err := c.Service.Delete(store.WithProject(ctx, p.Metadata.Project), pods, p.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return false, fmt.Errorf("evict pod %s/%s from node %q: %w", p.Metadata.Project, p.Metadata.Name, node, err)
		}
		c.Logger.InfoContext(ctx, "evicted pod from a node that stopped heartbeating", "node", node, "project", p.Metadata.Project, "name", p.Metadata.Name)
	}
	return false, nil
}
