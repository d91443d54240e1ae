package scheduler

import (
	"cmp"
	"context"
	"maps"
	"math"
	"slices"

	"github.com/slipway/slipway/api"
)

// Options tune the placement algorithm.
type Options struct {
	// Policy ranks nodes by resource use (default LeastAllocated).
	Policy Policy
	// SampleFraction and SampleMin bound the search: a pod's search stops
	// once max(SampleMin, SampleFraction × nodes) feasible nodes have been
	// found, and only those are scored (Borg's relaxed randomisation).
	// Defaults: 0.05 and 100. A fraction of 1 scores every feasible node.
	SampleFraction float64
	SampleMin      int
	// DisablePreemption stops pending pods from evicting lower-priority ones.
	DisablePreemption bool
}

func (o *Options) defaults() {
	if o.Policy == "" {
		o.Policy = LeastAllocated
	}
	if o.SampleFraction <= 0 {
		o.SampleFraction = 0.05
	}
	if o.SampleMin <= 0 {
		o.SampleMin = 100
	}
}

type weightedScore struct {
	plugin ScorePlugin
	weight int64
}

type weightedNormalizer struct {
	plugin NormalizeScorePlugin
	weight int64
}

// Algorithm places pods on a snapshot: filter → score → plan. It holds no
// cluster state and is safe for one cycle at a time.
type Algorithm struct {
	opts        Options
	filters     []FilterPlugin
	scores      []weightedScore
	normalizers []weightedNormalizer
	// next is where the next search starts, so successive pods look at
	// different nodes first (as Kubernetes does with sampling).
	next int
}

// NewAlgorithm returns the algorithm with the default plugins.
func NewAlgorithm(opts Options) *Algorithm {
	opts.defaults()
	return &Algorithm{
		opts:    opts,
		filters: DefaultFilters(),
		scores: []weightedScore{
			{ResourceScore{Policy: opts.Policy}, 1},
			{TaintPreference{}, 1},
		},
		normalizers: []weightedNormalizer{{Spread{}, 2}},
	}
}

// Placement is the outcome for one pod.
type Placement struct {
	Pod *PodInfo
	// Node is where the pod goes; "" when it fits nowhere.
	Node string
	// Diagnosis says why it fits nowhere.
	Diagnosis *Diagnosis
	// Nominated is the node where preemption makes room; Victims are the
	// pods to delete for it (none when pods already leaving free enough).
	Nominated string
	Victims   []*PodInfo
}

// Schedule parses pods and places them on the snapshot in priority order
// (highest first, then in the order given), as one cycle. It is the
// algorithm without the store: placements are planned, not bound.
func Schedule(ctx context.Context, snap *Snapshot, pods []*api.Pod, opts Options) []Placement {
	infos := make([]*PodInfo, 0, len(pods))
	for _, p := range pods {
		if pi, err := NewPodInfo(p); err == nil {
			infos = append(infos, pi)
		}
	}
	SortByPriority(infos)
	return NewAlgorithm(opts).Schedule(ctx, snap, infos)
}

// SortByPriority orders pods highest priority first, stably.
func SortByPriority(pods []*PodInfo) {
	slices.SortStableFunc(pods, func(a, b *PodInfo) int { return cmp.Compare(b.Priority, a.Priority) })
}

// Schedule places pods, in the order given, as one cycle over snap: each
// placement is assumed in the plan before the next pod is considered, so
// the placements together never over-commit a node. snap is not changed.
func (a *Algorithm) Schedule(ctx context.Context, snap *Snapshot, pods []*PodInfo) []Placement {
	pl := newPlan(snap)
	out := make([]Placement, 0, len(pods))
	for _, pi := range pods {
		if ctx.Err() != nil {
			break
		}
		out = append(out, a.place(ctx, pl, pi))
	}
	return out
}

// place finds the pod a node, or a preemption, and assumes it in the plan.
func (a *Algorithm) place(ctx context.Context, pl *plan, pi *PodInfo) Placement {
	best, diag, statuses := a.find(ctx, pl, pi)
	if best >= 0 {
		pl.assume(best, pi)
		return Placement{Pod: pi, Node: pl.nodes[best].Name}
	}
	p := Placement{Pod: pi, Diagnosis: diag}
	if !a.opts.DisablePreemption {
		if i, victims, ok := a.preempt(ctx, pl, pi, statuses); ok {
			p.Nominated, p.Victims = pl.nodes[i].Name, victims
			pl.nominate(i, pi, victims)
		}
	}
	return p
}

// sampleSize is how many feasible nodes a search looks for.
func (a *Algorithm) sampleSize(n int) int {
	want := max(a.opts.SampleMin, int(math.Ceil(a.opts.SampleFraction*float64(n))))
	return min(want, n)
}

// find returns the best node's index, or -1 with the diagnosis and every
// node's status.
func (a *Algorithm) find(ctx context.Context, pl *plan, pi *PodInfo) (int, *Diagnosis, []*Status) {
	n := len(pl.nodes)
	if n == 0 {
		return -1, &Diagnosis{}, nil
	}
	cc := pl.class(pi.Class)
	state := &CycleState{plan: pl}
	want := a.sampleSize(n)
	feasible := pl.feasible[:0]
	start := a.next % n
	visited := 0
	for ; visited < n && len(feasible) < want; visited++ {
		i := (start + visited) % n
		node := pl.nodes[i]
		r := &cc[i]
		if r.node != node || r.version != node.version {
			a.evaluate(ctx, state, pi, node, r)
		}
		if r.status == nil {
			feasible = append(feasible, i)
		}
	}
	a.next = start + visited
	pl.feasible = feasible
	if len(feasible) == 0 {
		// Every node was visited: the diagnosis is complete.
		d := &Diagnosis{Nodes: n}
		statuses := make([]*Status, n)
		for i := range n {
			statuses[i] = cc[i].status
			d.add(cc[i].status)
		}
		return -1, d, statuses
	}
	scores := pl.scores[:0]
	nodes := pl.scoreNodes[:0]
	for _, i := range feasible {
		scores = append(scores, cc[i].score)
		nodes = append(nodes, pl.nodes[i])
	}
	for _, w := range a.normalizers {
		extra := pl.extra[:0]
		extra = append(extra, make([]int64, len(nodes))...)
		w.plugin.ScoreNodes(ctx, state, pi, nodes, extra)
		for j := range extra {
			scores[j] += w.weight * extra[j]
		}
		pl.extra = extra
	}
	best := 0
	for j := 1; j < len(scores); j++ {
		if scores[j] > scores[best] {
			best = j
		}
	}
	pl.scores, pl.scoreNodes = scores, nodes
	return feasible[best], nil, nil
}

// evaluate runs the filters and, on a feasible node, the cacheable scores.
func (a *Algorithm) evaluate(ctx context.Context, state *CycleState, pi *PodInfo, node *NodeInfo, r *classResult) {
	r.node, r.version, r.status, r.score = node, node.version, nil, 0
	for _, f := range a.filters {
		if s := f.Filter(ctx, state, pi, node); !s.IsSuccess() {
			r.status = s
			return
		}
	}
	for _, w := range a.scores {
		r.score += w.weight * w.plugin.Score(ctx, state, pi, node)
	}
}

// Feasible runs every filter and returns the first failure, or nil.
func (a *Algorithm) Feasible(ctx context.Context, pi *PodInfo, node *NodeInfo) *Status {
	state := &CycleState{plan: &plan{}}
	for _, f := range a.filters {
		if s := f.Filter(ctx, state, pi, node); !s.IsSuccess() {
			return s
		}
	}
	return nil
}

// classResult caches a filter verdict and node-local score for one
// equivalence class on one node, valid while the node is the same
// NodeInfo at the same version.
type classResult struct {
	node    *NodeInfo
	version uint64
	status  *Status
	score   int64
}

// plan is one cycle's working copy of a snapshot: nodes are cloned on
// first change (copy on write), so the snapshot stays untouched.
type plan struct {
	nodes      []*NodeInfo
	owned      []bool
	zoneOwners map[string]map[string]int
	classes    map[string][]classResult
	// buffers reused across pods
	feasible   []int
	scores     []int64
	extra      []int64
	scoreNodes []*NodeInfo
	index      map[string]int
}

func newPlan(s *Snapshot) *plan {
	zo := make(map[string]map[string]int, len(s.zoneOwners))
	for z, m := range s.zoneOwners {
		zo[z] = maps.Clone(m)
	}
	return &plan{nodes: slices.Clone(s.nodes), owned: make([]bool, len(s.nodes)), zoneOwners: zo,
		classes: map[string][]classResult{}, index: s.index}
}

func (pl *plan) class(key string) []classResult {
	cc, ok := pl.classes[key]
	if !ok {
		cc = make([]classResult, len(pl.nodes))
		pl.classes[key] = cc
	}
	return cc
}

// mutable returns node i, cloned if the plan does not own it yet.
func (pl *plan) mutable(i int) *NodeInfo {
	if !pl.owned[i] {
		pl.nodes[i] = pl.nodes[i].Clone()
		pl.owned[i] = true
	}
	return pl.nodes[i]
}

// assume places pi on node i.
func (pl *plan) assume(i int, pi *PodInfo) {
	if nn := pi.Pod.Status.NominatedNodeName; nn != "" {
		if j, ok := pl.index[nn]; ok {
			n := pl.mutable(j)
			if k := slices.IndexFunc(n.Nominated, func(q *PodInfo) bool { return q.UID == pi.UID }); k >= 0 {
				n.Nominated = slices.Delete(n.Nominated, k, k+1)
				n.version++
			}
		}
	}
	n := pl.mutable(i)
	n.AddPod(pi)
	if n.Zone != "" && pi.Owner != "" {
		m := pl.zoneOwners[n.Zone]
		if m == nil {
			m = map[string]int{}
			pl.zoneOwners[n.Zone] = m
		}
		m[pi.Owner]++
	}
}

// nominate records that pi will run on node i once victims are gone: the
// victims count as leaving, and pi holds its space against lower
// priorities.
func (pl *plan) nominate(i int, pi *PodInfo, victims []*PodInfo) {
	n := pl.mutable(i)
	for _, v := range victims {
		if k := slices.IndexFunc(n.Pods, func(q *PodInfo) bool { return q.UID == v.UID }); k >= 0 {
			leaving := *n.Pods[k]
			leaving.Terminating = true
			n.Pods[k] = &leaving
		}
	}
	if !slices.ContainsFunc(n.Nominated, func(q *PodInfo) bool { return q.UID == pi.UID }) {
		n.Nominated = append(n.Nominated, pi)
	}
	n.version++
}
