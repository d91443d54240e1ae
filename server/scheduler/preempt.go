package scheduler

import (
	"cmp"
	"context"
	"slices"
)

// preempt looks for the node where deleting the fewest, least important
// lower-priority pods lets pi fit. Only nodes that failed for reasons
// removing pods can fix (resources, ports) are candidates. Pods already
// terminating count as gone, so a pod waiting for its earlier victims is
// nominated again without new ones. It returns the node's index and the
// victims.
func (a *Algorithm) preempt(ctx context.Context, pl *plan, pi *PodInfo, statuses []*Status) (int, []*PodInfo, bool) {
	type candidate struct {
		index   int
		victims []*PodInfo
		maxPrio int32
		sum     int64
	}
	var best *candidate
	for i, s := range statuses {
		if s == nil || s.Code != Unschedulable {
			continue
		}
		victims, ok := a.victims(ctx, pl.nodes[i], pi)
		if !ok {
			continue
		}
		c := &candidate{index: i, victims: victims, maxPrio: -1 << 31}
		for _, v := range victims {
			c.maxPrio = max(c.maxPrio, v.Priority)
			c.sum += int64(v.Priority)
		}
		if best == nil || cmp.Or(
			cmp.Compare(c.maxPrio, best.maxPrio),
			cmp.Compare(len(c.victims), len(best.victims)),
			cmp.Compare(c.sum, best.sum)) < 0 {
			best = c
		}
	}
	if best == nil {
		return 0, nil, false
	}
	return best.index, best.victims, true
}

// victims returns the smallest set of lower-priority pods on node whose
// removal lets pi fit: remove every lower-priority pod, then give back the
// most important ones while pi still fits.
func (a *Algorithm) victims(ctx context.Context, node *NodeInfo, pi *PodInfo) ([]*PodInfo, bool) {
	trial := node.Clone()
	var candidates []*PodInfo
	for _, q := range node.Pods {
		switch {
		case q.Terminating:
			trial.RemovePod(q)
		case q.Pod != nil && q.Priority < pi.Priority:
			// q.Pod is nil for another scheduler's reservation, whose pod
			// and priority this scheduler does not know: never a victim.
			trial.RemovePod(q)
			candidates = append(candidates, q)
		}
	}
	if !a.Feasible(ctx, pi, trial).IsSuccess() {
		return nil, false
	}
	// Most important first: they are the ones to keep.
	slices.SortStableFunc(candidates, func(x, y *PodInfo) int { return cmp.Compare(y.Priority, x.Priority) })
	var victims []*PodInfo
	for _, q := range candidates {
		trial.AddPod(q)
		if !a.Feasible(ctx, pi, trial).IsSuccess() {
			trial.RemovePod(q)
			victims = append(victims, q)
		}
	}
	return victims, true
}
