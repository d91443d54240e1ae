package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/store"
)

// podState is what the cache knows of one pod.
type podState struct {
	obj  *api.Object
	info *PodInfo // nil when the pod does not parse
	node string   // spec.nodeName
}

// assumedPod is a placement this scheduler is committing: it counts on the
// node until the pod informer shows the pod bound, or the binding fails.
type assumedPod struct {
	info *PodInfo
	node string
}

// cache is the scheduler's view of the cluster, fed by the pod and node
// informers, plus its own in-flight placements. It builds snapshots
// incrementally: a node's NodeInfo is rebuilt only when something on it
// changed.
type cache struct {
	now func() time.Time

	mu        sync.Mutex
	nodes     map[string]*api.Node
	pods      map[string]*podState           // by uid
	byNode    map[string]map[string]*PodInfo // node → uid → bound, unfinished pod
	nominee   map[string]map[string]*PodInfo // node → uid → pending pod nominated there
	assumed   map[string]*assumedPod         // by uid
	assumedOn map[string]map[string]*PodInfo // node → uid → assumed pod
	infos     map[string]*NodeInfo           // built NodeInfos; missing = rebuild
	snap      *Snapshot                      // nil = rebuild
	keys      map[PodKey]string              // pending pod key → uid
	onEvent   func(ev clusterEvent, obj *api.Object, info *PodInfo, specChanged bool)
}

// clusterEvent says what changed, for the queue.
type clusterEvent int

const (
	podPending   clusterEvent = iota // a pod needs scheduling
	podGone                          // a pending pod was bound elsewhere or deleted
	spaceFreed                       // a node gained room (pod gone, node changed)
	nodesChanged                     // a node appeared or changed what it admits
)

func newCache(now func() time.Time) *cache {
	return &cache{now: now, nodes: map[string]*api.Node{}, pods: map[string]*podState{},
		byNode: map[string]map[string]*PodInfo{}, nominee: map[string]map[string]*PodInfo{},
		assumed: map[string]*assumedPod{}, assumedOn: map[string]map[string]*PodInfo{}, infos: map[string]*NodeInfo{}, keys: map[PodKey]string{}}
}

func decodePod(obj *api.Object) (*api.Pod, error) {
	p := &api.Pod{Kind: obj.Kind, APIVersion: obj.APIVersion, Metadata: obj.Metadata}
	if err := json.Unmarshal(obj.Spec, &p.Spec); err != nil {
		return nil, err
	}
	if len(obj.Status) > 0 {
		if err := json.Unmarshal(obj.Status, &p.Status); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func decodeNode(obj *api.Object) (*api.Node, error) {
	n := &api.Node{Kind: obj.Kind, APIVersion: obj.APIVersion, Metadata: obj.Metadata}
	if len(obj.Spec) > 0 {
		if err := json.Unmarshal(obj.Spec, &n.Spec); err != nil {
			return nil, err
		}
	}
	if len(obj.Status) > 0 {
		if err := json.Unmarshal(obj.Status, &n.Status); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (c *cache) dirtyLocked(node string) {
	if node == "" {
		return
	}
	delete(c.infos, node)
	c.snap = nil
}

// podEvent is a change to tell the queue about.
type podEvent struct {
	ev          clusterEvent
	obj         *api.Object
	info        *PodInfo
	specChanged bool
}

func decodePodInfo(obj *api.Object) (*api.Pod, *PodInfo) {
	pod, err := decodePod(obj)
	if err != nil {
		return nil, nil
	}
	info, err := NewPodInfo(pod)
	if err != nil {
		return pod, nil
	}
	return pod, info
}

// upsertPod records a pod's latest state.
func (c *cache) upsertPod(obj *api.Object) {
	pod, info := decodePodInfo(obj)
	c.mu.Lock()
	e := c.upsertLocked(obj, pod, info)
	cb := c.onEvent
	c.mu.Unlock()
	if cb != nil && e.ev >= 0 {
		cb(e.ev, e.obj, e.info, e.specChanged)
	}
}

func (c *cache) upsertLocked(obj *api.Object, pod *api.Pod, info *PodInfo) podEvent {
	uid := obj.Metadata.UID
	old := c.pods[uid]
	st := &podState{obj: obj, info: info}
	if pod != nil {
		st.node = pod.Spec.NodeName
	}
	c.removeLocked(uid, old)
	c.pods[uid] = st
	var ev clusterEvent = -1
	key := PodKey{obj.Metadata.Project, obj.Metadata.Name}
	switch {
	case pod == nil || info == nil:
	case st.node != "":
		c.unassumeLocked(uid)
		if !Finished(pod) {
			addTo(c.byNode, st.node, uid, info)
			c.dirtyLocked(st.node)
		} else {
			ev = spaceFreed
		}
		if old != nil && old.node == "" {
			ev = podGone
		}
	case Pending(pod):
		c.keys[key] = uid
		if nn := pod.Status.NominatedNodeName; nn != "" {
			addTo(c.nominee, nn, uid, info)
			c.dirtyLocked(nn)
		}
		ev = podPending
	default: // being deleted before it was bound, or finished
		ev = podGone
	}
	if ev == podGone && st.node != "" && old != nil && old.node != "" && Finished(pod) {
		ev = spaceFreed
	}
	specChanged := old == nil || old.obj.Metadata.Generation != obj.Metadata.Generation
	return podEvent{ev: ev, obj: obj, info: info, specChanged: specChanged}
}

// deletePod forgets a pod.
func (c *cache) deletePod(obj *api.Object) {
	c.mu.Lock()
	uid := obj.Metadata.UID
	old := c.pods[uid]
	c.removeLocked(uid, old)
	delete(c.pods, uid)
	c.unassumeLocked(uid)
	cb := c.onEvent
	c.mu.Unlock()
	if cb != nil && old != nil {
		if old.node != "" {
			cb(spaceFreed, obj, old.info, false)
		} else {
			cb(podGone, obj, old.info, false)
		}
	}
}

func (c *cache) removeLocked(uid string, old *podState) {
	if old == nil {
		return
	}
	if m := c.byNode[old.node]; m != nil && m[uid] != nil {
		delete(m, uid)
		c.dirtyLocked(old.node)
	}
	if old.info != nil {
		if nn := old.info.Pod.Status.NominatedNodeName; nn != "" && c.nominee[nn] != nil {
			delete(c.nominee[nn], uid)
			c.dirtyLocked(nn)
		}
		if c.keys[old.info.Key] == uid {
			delete(c.keys, old.info.Key)
		}
	}
}

func addTo(m map[string]map[string]*PodInfo, node, uid string, info *PodInfo) {
	if m[node] == nil {
		m[node] = map[string]*PodInfo{}
	}
	m[node][uid] = info
}

// replacePods resets the pods after a (re)list, atomically: a commit
// check never sees a half-loaded cache.
func (c *cache) replacePods(objs []*api.Object) {
	pods := make([]*api.Pod, len(objs))
	infos := make([]*PodInfo, len(objs))
	for i, o := range objs {
		pods[i], infos[i] = decodePodInfo(o)
	}
	c.mu.Lock()
	c.pods = map[string]*podState{}
	c.byNode = map[string]map[string]*PodInfo{}
	c.nominee = map[string]map[string]*PodInfo{}
	c.keys = map[PodKey]string{}
	c.infos = map[string]*NodeInfo{}
	c.snap = nil
	events := make([]podEvent, 0, len(objs))
	for i, o := range objs {
		events = append(events, c.upsertLocked(o, pods[i], infos[i]))
	}
	cb := c.onEvent
	c.mu.Unlock()
	if cb == nil {
		return
	}
	for _, e := range events {
		if e.ev >= 0 {
			cb(e.ev, e.obj, e.info, e.specChanged)
		}
	}
	cb(spaceFreed, &api.Object{}, nil, false)
}

// upsertNode records a node; a node object older than the cached one (a
// scheduler's own write seen before the informer's) is ignored.
func (c *cache) upsertNode(obj *api.Object) {
	node, err := decodeNode(obj)
	if err != nil {
		return
	}
	c.mu.Lock()
	old := c.nodes[node.Metadata.Name]
	if old != nil && revisionOf(old.Metadata.ResourceVersion) > revisionOf(node.Metadata.ResourceVersion) {
		c.mu.Unlock()
		return
	}
	c.nodes[node.Metadata.Name] = node
	c.dirtyLocked(node.Metadata.Name)
	cb := c.onEvent
	c.mu.Unlock()
	if cb != nil && (old == nil || admits(old) != admits(node)) {
		cb(nodesChanged, obj, nil, false)
	}
}

func revisionOf(rv string) int64 {
	n, _ := store.ParseRevision(rv)
	return n
}

// admits renders what of a node decides which pods it accepts, so a
// heartbeat that changes nothing of it does not retry every pending pod.
func admits(n *api.Node) string {
	ni := NewNodeInfo(n)
	b, _ := json.Marshal([]any{ni.Ready, ni.Unschedulable, ni.Allocatable, n.Metadata.Labels, n.Spec.Taints,
		n.Metadata.Annotations[ReservationsAnnotation] == ""})
	return string(b)
}

func (c *cache) deleteNode(obj *api.Object) {
	c.mu.Lock()
	delete(c.nodes, obj.Metadata.Name)
	c.dirtyLocked(obj.Metadata.Name)
	c.mu.Unlock()
}

func (c *cache) replaceNodes(objs []*api.Object) {
	nodes := map[string]*api.Node{}
	for _, o := range objs {
		if n, err := decodeNode(o); err == nil {
			nodes[n.Metadata.Name] = n
		}
	}
	c.mu.Lock()
	c.nodes = nodes
	c.infos = map[string]*NodeInfo{}
	c.snap = nil
	cb := c.onEvent
	c.mu.Unlock()
	if cb != nil {
		cb(nodesChanged, &api.Object{}, nil, false)
	}
}

// Snapshot returns the current snapshot, rebuilding only changed nodes.
func (c *cache) Snapshot() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil {
		return c.snap
	}
	now := c.now()
	infos := make([]*NodeInfo, 0, len(c.nodes))
	for name, n := range c.nodes {
		ni := c.infos[name]
		if ni == nil {
			ni = c.buildLocked(n, nil, false, now)
			c.infos[name] = ni
		}
		infos = append(infos, ni)
	}
	c.snap = newSnapshot(infos)
	return c.snap
}

// buildLocked builds a node's NodeInfo from the pods bound there, this
// scheduler's assumed pods (except those in skip), and, for the check at
// commit, other schedulers' live reservations. Snapshots leave
// reservations out: the commit check is authoritative, and a reservation
// left by a binding that failed must not keep its own pod off the node
// until it expires.
func (c *cache) buildLocked(n *api.Node, skip map[string]bool, reservations bool, now time.Time) *NodeInfo {
	name := n.Metadata.Name
	ni := NewNodeInfo(n)
	for _, pi := range c.byNode[name] {
		ni.AddPod(pi)
	}
	for uid, pi := range c.assumedOn[name] {
		if !skip[uid] && c.byNode[name][uid] == nil {
			ni.AddPod(pi)
		}
	}
	for uid, r := range parseReservations(n.Metadata.Annotations) {
		if !reservations || skip[uid] || c.assumedOn[name][uid] != nil || !c.unbound(uid) || r.expired(now) {
			continue
		}
		ni.AddPod(r.podInfo(uid))
	}
	for _, pi := range c.nominee[name] {
		ni.Nominated = append(ni.Nominated, pi)
	}
	slices.SortFunc(ni.Nominated, func(a, b *PodInfo) int { return cmp.Compare(b.Priority, a.Priority) })
	return ni
}

// unbound reports whether a reservation's pod may still be bound to the
// node: it is known and not bound yet. Its reservation then holds space
// even if this scheduler has planned the pod elsewhere meanwhile: the
// scheduler that reserved it may win the binding. An unknown pod was
// deleted (commit checks first wait for the pod mirror to catch up with
// the node's version); a bound one counts as bound.
func (c *cache) unbound(uid string) bool {
	st := c.pods[uid]
	return st != nil && st.node == ""
}

// assume counts a placement on its node until it is bound or forgotten.
func (c *cache) assume(pi *PodInfo, node string) {
	c.mu.Lock()
	c.assumed[pi.UID] = &assumedPod{info: pi, node: node}
	addTo(c.assumedOn, node, pi.UID, pi)
	c.dirtyLocked(node)
	c.mu.Unlock()
}

func (c *cache) unassumeLocked(uid string) {
	if a, ok := c.assumed[uid]; ok {
		delete(c.assumed, uid)
		delete(c.assumedOn[a.node], uid)
		c.dirtyLocked(a.node)
	}
}

// forget drops a placement whose commit failed.
func (c *cache) forget(pi *PodInfo) {
	c.mu.Lock()
	c.unassumeLocked(pi.UID)
	c.mu.Unlock()
}

// pending returns the pending pod named key, if it still is pending.
func (c *cache) pending(key PodKey) (*api.Object, *PodInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	uid, ok := c.keys[key]
	if !ok {
		return nil, nil, false
	}
	st := c.pods[uid]
	if st == nil || st.info == nil || st.node != "" {
		return nil, nil, false
	}
	if _, inFlight := c.assumed[uid]; inFlight {
		return nil, nil, false
	}
	return st.obj, st.info, true
}

// node returns the cached node object.
func (c *cache) node(name string) (*api.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	return n, ok
}

// reserve decides which of group (pods this scheduler assumed on node)
// still fit against n — the node as just read, whose reservations are
// authoritative — and the pods bound there, and returns the node's new
// reservations (pruned) and the accepted pods. Callers must have waited
// for the pod informer to reach n's resourceVersion, so every pod whose
// reservation was pruned before it is seen bound.
func (c *cache) reserve(ctx context.Context, n *api.Node, group []*PodInfo, a *Algorithm) (map[string]reservation, []*PodInfo, []*PodInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	skip := make(map[string]bool, len(group))
	for _, pi := range group {
		skip[pi.UID] = true
	}
	ni := c.buildLocked(n, skip, true, now)
	entries := parseReservations(n.Metadata.Annotations)
	changed := false
	for uid, r := range entries {
		if !c.unbound(uid) || r.expired(now) {
			delete(entries, uid)
			changed = true
		}
	}
	var accepted, rejected []*PodInfo
	// Pods already reserved here (by an earlier attempt, or by another
	// scheduler that planned them too) hold their space before any other
	// pod is checked.
	for _, pi := range group {
		if _, ok := entries[pi.UID]; ok {
			accepted = append(accepted, pi)
			ni.AddPod(pi)
		}
	}
	for _, pi := range group {
		if _, ok := entries[pi.UID]; ok {
			continue
		}
		if !a.Feasible(ctx, pi, ni).IsSuccess() {
			rejected = append(rejected, pi)
			continue
		}
		ni.AddPod(pi)
		entries[pi.UID] = reservationOf(pi, now)
		accepted = append(accepted, pi)
		changed = true
	}
	return entries, accepted, rejected, changed
}
