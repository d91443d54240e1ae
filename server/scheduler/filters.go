package scheduler

import (
	"context"
	"fmt"

	"github.com/slipway/slipway/api"
)

// Reasons reported by the filters, counted in the unschedulable message.
const (
	ReasonNotReady      = "node(s) were not ready"
	ReasonUnschedulable = "node(s) were unschedulable"
	ReasonSelector      = "node(s) didn't match the pod's node selector"
	ReasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	ReasonNoHostPorts   = "node(s) had a pod network without host ports (OVN)"
	ReasonCPU           = "insufficient cpu"
	ReasonMemory        = "insufficient memory"
	ReasonPods          = "too many pods"
)

// Shared statuses: the common verdicts allocate nothing.
var (
	statusNotReady      = newStatus(UnschedulableAndUnresolvable, "NodeReady", ReasonNotReady)
	statusUnschedulable = newStatus(UnschedulableAndUnresolvable, "NodeReady", ReasonUnschedulable)
	statusSelector      = newStatus(UnschedulableAndUnresolvable, "NodeSelector", ReasonSelector)
	statusPorts         = newStatus(Unschedulable, "NodePorts", ReasonPorts)
	statusNoHostPorts   = newStatus(UnschedulableAndUnresolvable, "NodePorts", ReasonNoHostPorts)
	statusResources     = map[[3]bool]*Status{}
)

func init() {
	for _, cpu := range []bool{false, true} {
		for _, mem := range []bool{false, true} {
			for _, pods := range []bool{false, true} {
				var reasons []string
				if pods {
					reasons = append(reasons, ReasonPods)
				}
				if cpu {
					reasons = append(reasons, ReasonCPU)
				}
				if mem {
					reasons = append(reasons, ReasonMemory)
				}
				if len(reasons) > 0 {
					statusResources[[3]bool{cpu, mem, pods}] = newStatus(Unschedulable, "NodeResourcesFit", reasons...)
				}
			}
		}
	}
}

// DefaultFilters are the filters in the order they run; the first to fail
// decides a node's reason.
func DefaultFilters() []FilterPlugin {
	return []FilterPlugin{NodeReady{}, NodeSelector{}, TaintToleration{}, NodePorts{}, NodeResourcesFit{}}
}

// NodeReady admits nodes whose Ready condition is True and that are not
// cordoned (spec.unschedulable).
type NodeReady struct{}

func (NodeReady) Name() string { return "NodeReady" }

func (NodeReady) Filter(_ context.Context, _ *CycleState, _ *PodInfo, n *NodeInfo) *Status {
	switch {
	case !n.Ready:
		return statusNotReady
	case n.Unschedulable:
		return statusUnschedulable
	}
	return nil
}

// NodeSelector admits nodes whose labels include every pair of the pod's
// spec.nodeSelector.
type NodeSelector struct{}

func (NodeSelector) Name() string { return "NodeSelector" }

func (NodeSelector) Filter(_ context.Context, _ *CycleState, p *PodInfo, n *NodeInfo) *Status {
	labels := n.Node.Metadata.Labels
	for k, v := range p.Pod.Spec.NodeSelector {
		if got, ok := labels[k]; !ok || got != v {
			return statusSelector
		}
	}
	return nil
}

// TaintToleration admits nodes whose NoSchedule and NoExecute taints the
// pod tolerates. PreferNoSchedule taints only lower the score
// (TaintPreference).
type TaintToleration struct{}

func (TaintToleration) Name() string { return "TaintToleration" }

func (TaintToleration) Filter(_ context.Context, _ *CycleState, p *PodInfo, n *NodeInfo) *Status {
	for _, t := range n.Node.Spec.Taints {
		if t.Effect == "PreferNoSchedule" {
			continue
		}
		if !Tolerates(p.Pod.Spec.Tolerations, t) {
			return newStatus(UnschedulableAndUnresolvable, "TaintToleration",
				fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

// Tolerates reports whether one of the tolerations matches the taint: same
// key (an empty key with Exists matches every key), same value for Equal
// (the default operator), and the same effect or an empty one.
func Tolerates(tolerations []api.Toleration, t api.Taint) bool {
	for _, tol := range tolerations {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key != "" && tol.Key != t.Key {
			continue
		}
		switch tol.Operator {
		case "Exists":
			return true
		case "", "Equal":
			if tol.Key != "" && tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

// NodePorts admits nodes where none of the pod's host ports is taken, and
// whose pod network publishes host ports at all.
type NodePorts struct{}

func (NodePorts) Name() string { return "NodePorts" }

func (NodePorts) Filter(_ context.Context, _ *CycleState, p *PodInfo, n *NodeInfo) *Status {
	if len(p.HostPorts) > 0 && n.NoHostPorts {
		return statusNoHostPorts
	}
	for _, hp := range p.HostPorts {
		if n.PortInUse(hp) {
			return statusPorts
		}
	}
	return nil
}

// NodeResourcesFit admits nodes whose allocatable cpu, memory and pod count
// cover what the pods there request plus what this pod requests. Pods
// nominated to the node with at least this pod's priority count too: the
// space their preemption freed is theirs.
type NodeResourcesFit struct{}

func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (NodeResourcesFit) Filter(_ context.Context, _ *CycleState, p *PodInfo, n *NodeInfo) *Status {
	used := n.Requested
	for _, q := range n.Nominated {
		if q.Priority >= p.Priority && q.UID != p.UID {
			used.add(q.Requests)
		}
	}
	return fits(p.Requests, used, n.Allocatable)
}

// fits checks req on top of used against alloc.
func fits(req, used, alloc Resources) *Status {
	cpu := req.MilliCPU > 0 && used.MilliCPU+req.MilliCPU > alloc.MilliCPU
	mem := req.Memory > 0 && used.Memory+req.Memory > alloc.Memory
	pods := used.Pods+req.Pods > alloc.Pods
	if cpu || mem || pods {
		return statusResources[[3]bool{cpu, mem, pods}]
	}
	return nil
}
