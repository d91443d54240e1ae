package scheduler

import (
	"cmp"
	"maps"
	"slices"

	"github.com/slipway/slipway/api"
)

// Snapshot is an immutable view of the cluster: every node with the pods
// placed on it. A scheduling cycle plans over a snapshot and never changes
// it; placements are committed to the store, and the next cycle gets a
// new snapshot.
type Snapshot struct {
	nodes []*NodeInfo // sorted by name
	index map[string]int
	// zoneOwners counts each owner's pods per zone.
	zoneOwners map[string]map[string]int
}

// NewSnapshot builds a snapshot from nodes and pods. Pods bound to a node
// (spec.nodeName) count on it unless they have finished (Succeeded,
// Failed); pending pods with status.nominatedNodeName hold space there
// against lower priorities. Pods that fail to parse are ignored.
func NewSnapshot(nodes []*api.Node, pods []*api.Pod) *Snapshot {
	infos := make(map[string]*NodeInfo, len(nodes))
	for _, n := range nodes {
		infos[n.Metadata.Name] = NewNodeInfo(n)
	}
	for _, p := range pods {
		if Finished(p) {
			continue
		}
		name := p.Spec.NodeName
		nominated := name == ""
		if nominated {
			name = p.Status.NominatedNodeName
		}
		ni, ok := infos[name]
		if !ok || name == "" {
			continue
		}
		pi, err := NewPodInfo(p)
		if err != nil {
			continue
		}
		if nominated {
			ni.Nominated = append(ni.Nominated, pi)
		} else {
			ni.AddPod(pi)
		}
	}
	return newSnapshot(slices.Collect(maps.Values(infos)))
}

// newSnapshot takes ownership of nodes, which must not change afterwards.
func newSnapshot(nodes []*NodeInfo) *Snapshot {
	slices.SortFunc(nodes, func(a, b *NodeInfo) int { return cmp.Compare(a.Name, b.Name) })
	s := &Snapshot{nodes: nodes, index: make(map[string]int, len(nodes)), zoneOwners: map[string]map[string]int{}}
	for i, n := range nodes {
		s.index[n.Name] = i
		if n.Zone == "" {
			continue
		}
		for owner, c := range n.owners {
			m := s.zoneOwners[n.Zone]
			if m == nil {
				m = map[string]int{}
				s.zoneOwners[n.Zone] = m
			}
			m[owner] += c
		}
	}
	return s
}

// Nodes returns the nodes, sorted by name. Callers must not modify them.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// Node returns one node, or nil.
func (s *Snapshot) Node(name string) *NodeInfo {
	if i, ok := s.index[name]; ok {
		return s.nodes[i]
	}
	return nil
}

// Finished reports whether a pod has stopped for good and holds nothing.
func Finished(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}

// Pending reports whether a pod waits for the scheduler.
func Pending(p *api.Pod) bool {
	return p.Spec.NodeName == "" && p.Metadata.DeletionTimestamp == nil && !Finished(p)
}
