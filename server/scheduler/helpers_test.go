package scheduler

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/slipway/slipway/api"
)

// testNode is a Ready node with the given allocatable cpu and memory.
func testNode(name, cpu, mem string, edits ...func(*api.Node)) *api.Node {
	n := &api.Node{Kind: "Node", APIVersion: "v1", Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{api.ResourceCPU: cpu, api.ResourceMemory: mem, api.ResourcePods: "110"},
			Conditions:  []api.Condition{{Type: api.NodeReady, Status: "True"}},
		}}
	for _, e := range edits {
		e(n)
	}
	return n
}

func withTaint(key, value, effect string) func(*api.Node) {
	return func(n *api.Node) {
		n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: key, Value: value, Effect: effect})
	}
}

func onPodNetwork(network string) func(*api.Node) {
	return func(n *api.Node) { n.Status.NodeInfo.PodNetwork = network }
}

func withLabel(k, v string) func(*api.Node) { return func(n *api.Node) { n.Metadata.Labels[k] = v } }

func withMaxPods(n int) func(*api.Node) {
	return func(node *api.Node) { node.Status.Allocatable[api.ResourcePods] = strconv.Itoa(n) }
}

var uidSeq atomic.Int64

// testPod is a pending pod requesting cpu and memory ("" for none).
func testPod(name, cpu, mem string, edits ...func(*api.Pod)) *api.Pod {
	req := api.ResourceList{}
	if cpu != "" {
		req[api.ResourceCPU] = cpu
	}
	if mem != "" {
		req[api.ResourceMemory] = mem
	}
	p := &api.Pod{Kind: "Pod", APIVersion: "v1",
		Metadata: api.ObjectMeta{Name: name, Project: "shop", UID: fmt.Sprintf("uid-%d", uidSeq.Add(1)), Labels: map[string]string{}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "localhost/shop/web:1",
			Resources: api.ResourceRequirements{Requests: req}}}}}
	for _, e := range edits {
		e(p)
	}
	return p
}

func onNode(node string) func(*api.Pod) { return func(p *api.Pod) { p.Spec.NodeName = node } }

func withPriority(prio int32) func(*api.Pod) { return func(p *api.Pod) { p.Spec.Priority = &prio } }

func withOwner(o string) func(*api.Pod) {
	return func(p *api.Pod) { p.Metadata.Labels[OwnerLabel] = o }
}

func withHostPort(port int32) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{ContainerPort: port, HostPort: port})
	}
}

func withToleration(t api.Toleration) func(*api.Pod) {
	return func(p *api.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func withSelector(k, v string) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Spec.NodeSelector == nil {
			p.Spec.NodeSelector = map[string]string{}
		}
		p.Spec.NodeSelector[k] = v
	}
}

func mustInfo(p *api.Pod) *PodInfo {
	pi, err := NewPodInfo(p)
	if err != nil {
		panic(err)
	}
	return pi
}

func ptrNow() *time.Time { t := time.Now(); return &t }
