package scheduler

import (
	"context"
	"slices"
	"testing"

	"github.com/slipway/slipway/api"
)

func TestFilters(t *testing.T) {
	t.Parallel()
	notReady := func(n *api.Node) { n.Status.Conditions[0].Status = "False" }
	cordoned := func(n *api.Node) { n.Spec.Unschedulable = true }
	cases := []struct {
		name    string
		node    *api.Node
		bound   []*api.Pod
		pod     *api.Pod
		code    Code
		reasons []string
	}{
		{name: "fits", node: testNode("n", "2", "4Gi"), pod: testPod("p", "1", "1Gi"), code: Success},
		{name: "fits exactly", node: testNode("n", "2", "4Gi"), bound: []*api.Pod{testPod("a", "1", "3Gi", onNode("n"))},
			pod: testPod("p", "1", "1Gi"), code: Success},
		{name: "insufficient cpu", node: testNode("n", "2", "4Gi"), bound: []*api.Pod{testPod("a", "1500m", "", onNode("n"))},
			pod: testPod("p", "600m", "1Gi"), code: Unschedulable, reasons: []string{ReasonCPU}},
		{name: "insufficient cpu and memory", node: testNode("n", "1", "1Gi"),
			pod: testPod("p", "2", "2Gi"), code: Unschedulable, reasons: []string{ReasonCPU, ReasonMemory}},
		{name: "too many pods", node: testNode("n", "8", "8Gi", withMaxPods(1)), bound: []*api.Pod{testPod("a", "", "", onNode("n"))},
			pod: testPod("p", "", ""), code: Unschedulable, reasons: []string{ReasonPods}},
		{name: "finished pods hold nothing", node: testNode("n", "1", "1Gi"),
			bound: []*api.Pod{testPod("a", "1", "1Gi", onNode("n"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })},
			pod:   testPod("p", "1", "1Gi"), code: Success},
		{name: "not ready", node: testNode("n", "2", "4Gi", notReady), pod: testPod("p", "", ""),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonNotReady}},
		{name: "cordoned", node: testNode("n", "2", "4Gi", cordoned), pod: testPod("p", "", ""),
			code: UnschedulableAndUnresolvable, reasons: []string{ReasonUnschedulable}},
		{name: "selector matches", node: testNode("n", "2", "4Gi", withLabel("disk", "ssd")),
			pod: testPod("p", "", "", withSelector("disk", "ssd")), code: Success},
		{name: "selector value differs", node: testNode("n", "2", "4Gi", withLabel("disk", "hdd")),
			pod: testPod("p", "", "", withSelector("disk", "ssd")), code: UnschedulableAndUnresolvable, reasons: []string{ReasonSelector}},
		{name: "selector label missing", node: testNode("n", "2", "4Gi"),
			pod: testPod("p", "", "", withSelector("disk", "ssd")), code: UnschedulableAndUnresolvable, reasons: []string{ReasonSelector}},
		{name: "untolerated NoSchedule taint", node: testNode("n", "2", "4Gi", withTaint("dedicated", "gpu", "NoSchedule")),
			pod: testPod("p", "", ""), code: UnschedulableAndUnresolvable, reasons: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "untolerated NoExecute taint", node: testNode("n", "2", "4Gi", withTaint("maint", "", "NoExecute")),
			pod: testPod("p", "", ""), code: UnschedulableAndUnresolvable, reasons: []string{"node(s) had untolerated taint {maint: }"}},
		{name: "PreferNoSchedule does not filter", node: testNode("n", "2", "4Gi", withTaint("dedicated", "gpu", "PreferNoSchedule")),
			pod: testPod("p", "", ""), code: Success},
		{name: "Equal toleration", node: testNode("n", "2", "4Gi", withTaint("dedicated", "gpu", "NoSchedule")),
			pod: testPod("p", "", "", withToleration(api.Toleration{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"})), code: Success},
		{name: "Equal toleration, other value", node: testNode("n", "2", "4Gi", withTaint("dedicated", "gpu", "NoSchedule")),
			pod:  testPod("p", "", "", withToleration(api.Toleration{Key: "dedicated", Value: "db"})),
			code: UnschedulableAndUnresolvable, reasons: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "Exists toleration, empty effect matches all", node: testNode("n", "2", "4Gi", withTaint("dedicated", "gpu", "NoExecute")),
			pod: testPod("p", "", "", withToleration(api.Toleration{Key: "dedicated", Operator: "Exists"})), code: Success},
		{name: "toleration for another effect", node: testNode("n", "2", "4Gi", withTaint("dedicated", "gpu", "NoExecute")),
			pod:  testPod("p", "", "", withToleration(api.Toleration{Key: "dedicated", Operator: "Exists", Effect: "NoSchedule"})),
			code: UnschedulableAndUnresolvable, reasons: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "Exists with empty key tolerates everything", node: testNode("n", "2", "4Gi", withTaint("a", "b", "NoSchedule")),
			pod: testPod("p", "", "", withToleration(api.Toleration{Operator: "Exists"})), code: Success},
		{name: "host port taken", node: testNode("n", "2", "4Gi"), bound: []*api.Pod{testPod("a", "", "", onNode("n"), withHostPort(8080))},
			pod: testPod("p", "", "", withHostPort(8080)), code: Unschedulable, reasons: []string{ReasonPorts}},
		{name: "other host port free", node: testNode("n", "2", "4Gi"), bound: []*api.Pod{testPod("a", "", "", onNode("n"), withHostPort(8080))},
			pod: testPod("p", "", "", withHostPort(8081)), code: Success},
		{name: "host port on an OVN node", node: testNode("n", "2", "4Gi", onPodNetwork(api.PodNetworkOVN)),
			pod: testPod("p", "", "", withHostPort(8080)), code: UnschedulableAndUnresolvable, reasons: []string{ReasonNoHostPorts}},
		{name: "no host port on an OVN node", node: testNode("n", "2", "4Gi", onPodNetwork(api.PodNetworkOVN)),
			pod: testPod("p", "", ""), code: Success},
		{name: "host port on a bridge node", node: testNode("n", "2", "4Gi", onPodNetwork(api.PodNetworkBridge)),
			pod: testPod("p", "", "", withHostPort(8080)), code: Success},
	}
	a := NewAlgorithm(Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			snap := NewSnapshot([]*api.Node{tc.node}, tc.bound)
			s := a.Feasible(context.Background(), mustInfo(tc.pod), snap.Node("n"))
			if tc.code == Success {
				if !s.IsSuccess() {
					t.Fatalf("got %v, want success", s)
				}
				return
			}
			if s.IsSuccess() || s.Code != tc.code || !slices.Equal(s.Reasons, tc.reasons) {
				t.Fatalf("got %+v, want code %d reasons %q", s, tc.code, tc.reasons)
			}
		})
	}
}

func TestScorePolicies(t *testing.T) {
	t.Parallel()
	nodes := []*api.Node{testNode("empty", "4", "8Gi"), testNode("half", "4", "8Gi"), testNode("skewed", "4", "8Gi")}
	// After placing a 1 cpu / 1Gi pod: empty 1/4 cpu, 1/8 mem; half 3/4, 6/8
	// (fullest, balanced); skewed 4/4, 2/8.
	bound := []*api.Pod{testPod("a", "2", "5Gi", onNode("half")), testPod("b", "3", "1Gi", onNode("skewed"))}
	cases := []struct {
		policy Policy
		want   string
	}{
		{LeastAllocated, "empty"},
		{MostAllocated, "half"},
		{Balanced, "half"},
	}
	for _, tc := range cases {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			got := Schedule(context.Background(), NewSnapshot(nodes, bound), []*api.Pod{testPod("p", "1", "1Gi")}, Options{Policy: tc.policy})
			if got[0].Node != tc.want {
				t.Fatalf("placed on %q, want %q", got[0].Node, tc.want)
			}
		})
	}
}

func TestTaintPreferenceScore(t *testing.T) {
	t.Parallel()
	nodes := []*api.Node{testNode("a", "4", "8Gi", withTaint("spot", "", "PreferNoSchedule")), testNode("b", "4", "8Gi")}
	got := Schedule(context.Background(), NewSnapshot(nodes, nil), []*api.Pod{testPod("p", "1", "1Gi")}, Options{})
	if got[0].Node != "b" {
		t.Fatalf("placed on %q, want the untainted b", got[0].Node)
	}
	tol := withToleration(api.Toleration{Key: "spot", Operator: "Exists"})
	busy := []*api.Pod{testPod("x", "1", "1Gi", onNode("b"))}
	got = Schedule(context.Background(), NewSnapshot(nodes, busy), []*api.Pod{testPod("p", "1", "1Gi", tol)}, Options{})
	if got[0].Node != "a" {
		t.Fatalf("tolerating pod placed on %q, want the emptier a", got[0].Node)
	}
}

func TestSpreadAcrossNodesAndZones(t *testing.T) {
	t.Parallel()
	var nodes []*api.Node
	for i, z := range []string{"z1", "z1", "z1", "z2"} {
		nodes = append(nodes, testNode(string(rune('a'+i)), "16", "64Gi", withLabel(ZoneLabel, z)))
	}
	var pods []*api.Pod
	for i := range 8 {
		pods = append(pods, testPod("web-"+string(rune('0'+i)), "100m", "128Mi", withOwner("web")))
	}
	got := Schedule(context.Background(), NewSnapshot(nodes, nil), pods, Options{Policy: MostAllocated})
	zones := map[string]int{}
	perNode := map[string]int{}
	for _, p := range got {
		perNode[p.Node]++
		if p.Node == "d" {
			zones["z2"]++
		} else {
			zones["z1"]++
		}
	}
	// Even with best fit, replicas spread: z2's single node takes a fair
	// share of the zones, and no node is left empty.
	if zones["z2"] < 3 || len(perNode) != 4 {
		t.Fatalf("replicas per node %v, per zone %v: not spread", perNode, zones)
	}
}

func TestUnschedulableMessage(t *testing.T) {
	t.Parallel()
	nodes := []*api.Node{
		testNode("a", "4", "1Gi"), testNode("b", "4", "1Gi"),
		testNode("gpu", "4", "64Gi", withTaint("dedicated", "gpu", "NoSchedule")),
	}
	got := Schedule(context.Background(), NewSnapshot(nodes, nil), []*api.Pod{testPod("p", "1", "2Gi")}, Options{})
	want := "0/3 nodes are available: 2 insufficient memory, 1 node(s) had untolerated taint {dedicated: gpu}."
	if got[0].Node != "" || got[0].Diagnosis.Message() != want {
		t.Fatalf("got node %q, message %q; want %q", got[0].Node, got[0].Diagnosis.Message(), want)
	}
	if m := (&Diagnosis{}).Message(); m != "0/0 nodes are available: no nodes registered." {
		t.Fatalf("no nodes: %q", m)
	}
}

func TestEquivalenceClassCacheInvalidatedByPlacement(t *testing.T) {
	t.Parallel()
	// Identical pods share one class; each placement changes its node, so
	// the cached verdict for that node must not be reused.
	nodes := []*api.Node{testNode("a", "1", "1Gi"), testNode("b", "1", "1Gi")}
	pods := []*api.Pod{testPod("p1", "1", "1Gi"), testPod("p2", "1", "1Gi"), testPod("p3", "1", "1Gi")}
	got := Schedule(context.Background(), NewSnapshot(nodes, nil), pods, Options{})
	if got[0].Node == "" || got[1].Node == "" || got[0].Node == got[1].Node || got[2].Node != "" {
		t.Fatalf("placements %q %q %q: want two nodes then none", got[0].Node, got[1].Node, got[2].Node)
	}
	if mustInfo(pods[0]).Class != mustInfo(pods[1]).Class {
		t.Fatal("identical pods are in different classes")
	}
}

func TestSampling(t *testing.T) {
	t.Parallel()
	var nodes []*api.Node
	for i := range 1000 {
		nodes = append(nodes, testNode("n"+string(rune('a'+i%26))+string(rune('a'+i/26)), "4", "8Gi"))
	}
	a := NewAlgorithm(Options{SampleMin: 10, SampleFraction: 0.01})
	if got := a.sampleSize(1000); got != 10 {
		t.Fatalf("sample of 1000 nodes = %d, want 10", got)
	}
	if got := NewAlgorithm(Options{}).sampleSize(5000); got != 250 {
		t.Fatalf("default sample of 5000 nodes = %d, want 250 (5%%)", got)
	}
	if got := NewAlgorithm(Options{}).sampleSize(50); got != 50 {
		t.Fatalf("default sample of 50 nodes = %d, want all", got)
	}
	// Rotating starts spread identical pods over the whole cluster.
	var pods []*api.Pod
	for i := range 200 {
		pods = append(pods, testPod("p"+string(rune('a'+i%26))+string(rune('a'+i/26)), "100m", "100Mi"))
	}
	used := map[string]bool{}
	for _, p := range a.Schedule(context.Background(), NewSnapshot(nodes, nil), sortedInfos(pods)) {
		used[p.Node] = true
	}
	if len(used) < 150 {
		t.Fatalf("200 pods used only %d nodes", len(used))
	}
}

func sortedInfos(pods []*api.Pod) []*PodInfo {
	out := make([]*PodInfo, len(pods))
	for i, p := range pods {
		out[i] = mustInfo(p)
	}
	SortByPriority(out)
	return out
}

func TestPriorityOrder(t *testing.T) {
	t.Parallel()
	nodes := []*api.Node{testNode("a", "1", "1Gi")}
	pods := []*api.Pod{testPod("low", "1", "", withPriority(1)), testPod("high", "1", "", withPriority(10))}
	got := Schedule(context.Background(), NewSnapshot(nodes, nil), pods, Options{DisablePreemption: true})
	if got[0].Pod.Key.Name != "high" || got[0].Node != "a" || got[1].Node != "" {
		t.Fatalf("got %s→%q, %s→%q", got[0].Pod.Key.Name, got[0].Node, got[1].Pod.Key.Name, got[1].Node)
	}
}
