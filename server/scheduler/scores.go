package scheduler

import (
	"context"
	"fmt"
)

// Policy chooses how resource use ranks nodes.
type Policy string

const (
	// LeastAllocated prefers the emptiest nodes (Borg's worst fit): load is
	// spread and bursts have room. The default.
	LeastAllocated Policy = "LeastAllocated"
	// MostAllocated prefers the fullest nodes that fit (best fit): empty
	// nodes stay free for large pods and can be drained.
	MostAllocated Policy = "MostAllocated"
	// Balanced prefers nodes whose cpu and memory use would be closest to
	// each other, so neither runs out while the other idles.
	Balanced Policy = "Balanced"
)

// ParsePolicy checks a policy name ("" is LeastAllocated).
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case "":
		return LeastAllocated, nil
	case LeastAllocated, MostAllocated, Balanced:
		return p, nil
	}
	return "", fmt.Errorf("unknown scheduling policy %q (LeastAllocated, MostAllocated or Balanced)", s)
}

// ResourceScore rates a node by its cpu and memory use after placing the
// pod, according to the policy.
type ResourceScore struct{ Policy Policy }

func (ResourceScore) Name() string { return "ResourceScore" }

func (r ResourceScore) Score(_ context.Context, _ *CycleState, p *PodInfo, n *NodeInfo) int64 {
	cpu := fraction(n.scoreRequested.MilliCPU+p.scoreRequests.MilliCPU, n.Allocatable.MilliCPU)
	mem := fraction(n.scoreRequested.Memory+p.scoreRequests.Memory, n.Allocatable.Memory)
	switch r.Policy {
	case MostAllocated:
		return int64((cpu + mem) / 2 * MaxNodeScore)
	case Balanced:
		d := cpu - mem
		if d < 0 {
			d = -d
		}
		return int64((1 - d) * MaxNodeScore)
	default:
		return int64((2 - cpu - mem) / 2 * MaxNodeScore)
	}
}

// fraction is used/total capped to [0, 1] (an empty node of size 0 is full).
func fraction(used, total int64) float64 {
	if total <= 0 || used >= total {
		return 1
	}
	return float64(used) / float64(total)
}

// TaintPreference lowers the score of nodes with PreferNoSchedule taints
// the pod does not tolerate: each one halves what is left.
type TaintPreference struct{}

func (TaintPreference) Name() string { return "TaintPreference" }

func (TaintPreference) Score(_ context.Context, _ *CycleState, p *PodInfo, n *NodeInfo) int64 {
	score := int64(MaxNodeScore)
	for _, t := range n.Node.Spec.Taints {
		if t.Effect == "PreferNoSchedule" && !Tolerates(p.Pod.Spec.Tolerations, t) {
			score /= 2
		}
	}
	return score
}

// Spread rates nodes by how few replicas of the pod's owner (OwnerLabel)
// they and their zones (ZoneLabel) already hold, relative to the other
// candidates: the node with the most scores 0, one with none
// MaxNodeScore. Zones weigh two thirds when the nodes have zones, as in
// Kubernetes' selector spreading. Pods without an owner are not spread.
type Spread struct{}

func (Spread) Name() string { return "Spread" }

func (Spread) ScoreNodes(_ context.Context, state *CycleState, p *PodInfo, nodes []*NodeInfo, scores []int64) {
	if p.Owner == "" {
		return
	}
	var maxNode, maxZone int
	zoned := false
	for _, n := range nodes {
		maxNode = max(maxNode, n.OwnerCount(p.Owner))
		if n.Zone != "" {
			zoned = true
			maxZone = max(maxZone, state.ZoneOwnerCount(n.Zone, p.Owner))
		}
	}
	for i, n := range nodes {
		nodeScore := int64(MaxNodeScore)
		if maxNode > 0 {
			nodeScore = int64(MaxNodeScore * (maxNode - n.OwnerCount(p.Owner)) / maxNode)
		}
		if !zoned {
			scores[i] += nodeScore
			continue
		}
		zoneScore := int64(0) // nodes without a zone lose to zoned ones
		if n.Zone != "" {
			zoneScore = MaxNodeScore
			if maxZone > 0 {
				zoneScore = int64(MaxNodeScore * (maxZone - state.ZoneOwnerCount(n.Zone, p.Owner)) / maxZone)
			}
		}
		scores[i] += (nodeScore + 2*zoneScore) / 3
	}
}
