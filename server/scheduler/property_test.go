package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/slipway/slipway/api"
)

// randomCluster builds nodes with random sizes, labels, taints, readiness
// and pre-bound pods, and a set of random pending pods.
func randomCluster(r *rand.Rand) ([]*api.Node, []*api.Pod, []*api.Pod) {
	var nodes []*api.Node
	for i := range 1 + r.IntN(40) {
		n := testNode(fmt.Sprintf("n%d", i), fmt.Sprintf("%dm", 500+r.IntN(8000)), fmt.Sprintf("%dMi", 256+r.IntN(16000)),
			withMaxPods(1+r.IntN(20)), withLabel(ZoneLabel, fmt.Sprintf("z%d", r.IntN(3))))
		if r.IntN(4) == 0 {
			n.Metadata.Labels["disk"] = "ssd"
		}
		switch r.IntN(8) {
		case 0:
			withTaint("dedicated", "gpu", "NoSchedule")(n)
		case 1:
			withTaint("spot", "", "PreferNoSchedule")(n)
		case 2:
			n.Status.Conditions[0].Status = "False"
		case 3:
			n.Spec.Unschedulable = true
		}
		nodes = append(nodes, n)
	}
	randomPod := func(name string) *api.Pod {
		cpu, mem := "", ""
		if r.IntN(5) > 0 {
			cpu = fmt.Sprintf("%dm", r.IntN(2000))
		}
		if r.IntN(5) > 0 {
			mem = fmt.Sprintf("%dMi", r.IntN(3000))
		}
		p := testPod(name, cpu, mem, withPriority(int32(r.IntN(3))), withOwner(fmt.Sprintf("o%d", r.IntN(4))))
		if r.IntN(4) == 0 {
			withHostPort(int32(8000 + r.IntN(3)))(p)
		}
		if r.IntN(6) == 0 {
			withSelector("disk", "ssd")(p)
		}
		if r.IntN(5) == 0 {
			withToleration(api.Toleration{Key: "dedicated", Operator: "Exists"})(p)
		}
		return p
	}
	var bound []*api.Pod
	for i := range r.IntN(30) {
		p := randomPod(fmt.Sprintf("b%d", i))
		p.Spec.NodeName = nodes[r.IntN(len(nodes))].Metadata.Name
		// Only keep pre-bound pods that fit, so the starting state is valid.
		snap := NewSnapshot(nodes, bound)
		if NewAlgorithm(Options{}).Feasible(context.Background(), mustInfo(p), snap.Node(p.Spec.NodeName)).IsSuccess() {
			bound = append(bound, p)
		}
	}
	var pending []*api.Pod
	for i := range r.IntN(200) {
		pending = append(pending, randomPod(fmt.Sprintf("p%d", i)))
	}
	return nodes, bound, pending
}

// checkNoOverCommit fails if any node's pods request more than it has or
// share a host port.
func checkNoOverCommit(t *testing.T, nodes []*api.Node, pods []*api.Pod) {
	t.Helper()
	byName := map[string]*api.Node{}
	for _, n := range nodes {
		byName[n.Metadata.Name] = n
	}
	used := map[string]*Resources{}
	ports := map[string]map[hostPort]string{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || Finished(p) {
			continue
		}
		pi := mustInfo(p)
		u := used[p.Spec.NodeName]
		if u == nil {
			u = &Resources{}
			used[p.Spec.NodeName] = u
			ports[p.Spec.NodeName] = map[hostPort]string{}
		}
		u.add(pi.Requests)
		for _, hp := range pi.HostPorts {
			if other, ok := ports[p.Spec.NodeName][hp]; ok {
				t.Fatalf("node %s: host port %s used by %s and %s", p.Spec.NodeName, hp, other, pi.Key)
			}
			ports[p.Spec.NodeName][hp] = pi.Key.String()
		}
	}
	for name, u := range used {
		n, ok := byName[name]
		if !ok {
			t.Fatalf("pods bound to unknown node %s", name)
		}
		alloc := allocatable(n)
		if u.MilliCPU > alloc.MilliCPU || u.Memory > alloc.Memory || u.Pods > alloc.Pods {
			t.Fatalf("node %s over-committed: requested %+v, allocatable %+v", name, *u, alloc)
		}
	}
}

func TestPropertyNoOverCommit(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*7919))
			nodes, bound, pending := randomCluster(r)
			opts := Options{Policy: []Policy{LeastAllocated, MostAllocated, Balanced}[seed%3],
				SampleMin: 1 + r.IntN(10), SampleFraction: r.Float64() / 4, DisablePreemption: true}
			snap := NewSnapshot(nodes, bound)
			placements := Schedule(context.Background(), snap, pending, opts)
			a := NewAlgorithm(opts)
			all := append([]*api.Pod(nil), bound...)
			for _, pl := range placements {
				if pl.Node == "" {
					continue
				}
				// Every placement passes every filter on the node as it was
				// before this pod (the previously placed pods included).
				at := NewSnapshot(nodes, all)
				if s := a.Feasible(context.Background(), pl.Pod, at.Node(pl.Node)); !s.IsSuccess() {
					t.Fatalf("pod %s placed on %s, which fails %v", pl.Pod.Key, pl.Node, s)
				}
				p := *pl.Pod.Pod
				p.Spec.NodeName = pl.Node
				all = append(all, &p)
			}
			checkNoOverCommit(t, nodes, all)
			if len(snap.Nodes()) != len(nodes) {
				t.Fatal("snapshot changed")
			}
			for _, n := range snap.Nodes() {
				if n.Requested != NewSnapshot(nodes, bound).Node(n.Name).Requested {
					t.Fatalf("snapshot node %s was modified by the plan", n.Name)
				}
			}
		})
	}
}
