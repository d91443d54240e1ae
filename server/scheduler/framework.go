package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Code classifies a filter's verdict.
type Code int

const (
	// Success: the pod may run on the node.
	Success Code = iota
	// Unschedulable: the pod does not fit now, but could if pods were
	// removed from the node (preemption may help).
	Unschedulable
	// UnschedulableAndUnresolvable: removing pods would not help (selector,
	// taints, a node that is not ready).
	UnschedulableAndUnresolvable
)

// Status is a filter's verdict; nil means Success. Statuses are immutable
// and may be shared.
type Status struct {
	Code Code
	// Plugin is the filter that said no.
	Plugin string
	// Reasons are short phrases counted across nodes in the unschedulable
	// message ("insufficient memory").
	Reasons []string
}

// IsSuccess reports whether s lets the pod through.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

func (s *Status) String() string {
	if s.IsSuccess() {
		return "success"
	}
	return s.Plugin + ": " + strings.Join(s.Reasons, ", ")
}

func newStatus(code Code, plugin string, reasons ...string) *Status {
	return &Status{Code: code, Plugin: plugin, Reasons: reasons}
}

// CycleState is what one scheduling cycle shares between plugins: the
// plan being built over the snapshot (the nodes with the placements made
// so far in this cycle). Plugins must not modify it.
type CycleState struct {
	plan *plan
}

// ZoneOwnerCount is how many pods of owner the zone holds in the plan.
func (s *CycleState) ZoneOwnerCount(zone, owner string) int {
	return s.plan.zoneOwners[zone][owner]
}

// Plugin is a named part of the scheduling pipeline.
type Plugin interface {
	Name() string
}

// FilterPlugin decides whether a pod may run on a node. Filter must depend
// only on the pod's equivalence class (PodInfo.Class) and the node, so its
// result can be cached per class; it is called on hot paths and must be
// cheap (no I/O, no allocation on success).
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// ScorePlugin rates a feasible node from 0 (worst) to MaxNodeScore. Like
// Filter, Score must depend only on the pod's class and the node (its
// result is cached); scores that depend on other nodes belong in a
// NormalizeScorePlugin.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) int64
}

// NormalizeScorePlugin rates the sampled feasible nodes relative to each
// other, adding to scores[i] (0..MaxNodeScore times weight) for nodes[i].
// It runs for every pod, uncached.
type NormalizeScorePlugin interface {
	Plugin
	ScoreNodes(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo, scores []int64)
}

// MaxNodeScore is the best score a plugin gives.
const MaxNodeScore = 100

// Diagnosis collects why a pod fits on no node.
type Diagnosis struct {
	Nodes int
	// Counts is how many nodes gave each reason.
	Counts map[string]int
}

func (d *Diagnosis) add(s *Status) {
	if d.Counts == nil {
		d.Counts = map[string]int{}
	}
	for _, r := range s.Reasons {
		d.Counts[r]++
	}
}

// Message renders the diagnosis as users read it:
// "0/3 nodes are available: 2 insufficient memory, 1 node(s) had
// untolerated taint {dedicated: gpu}." Reasons are ordered by how many
// nodes gave them, then by name.
func (d *Diagnosis) Message() string {
	if d.Nodes == 0 {
		return "0/0 nodes are available: no nodes registered."
	}
	reasons := slices.Collect(maps.Keys(d.Counts))
	slices.SortFunc(reasons, func(a, b string) int {
		return cmp.Or(cmp.Compare(d.Counts[b], d.Counts[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", d.Counts[r], r)
	}
	return fmt.Sprintf("0/%d nodes are available: %s.", d.Nodes, strings.Join(parts, ", "))
}
