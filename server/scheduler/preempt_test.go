package scheduler

import (
	"context"
	"slices"
	"testing"

	"github.com/slipway/slipway/api"
)

func victimNames(p Placement) []string {
	var out []string
	for _, v := range p.Victims {
		out = append(out, v.Key.Name)
	}
	slices.Sort(out)
	return out
}

func TestPreemption(t *testing.T) {
	t.Parallel()
	leaving := func(p *api.Pod) { p.Metadata.DeletionTimestamp = ptrNow() }
	cases := []struct {
		name      string
		nodes     []*api.Node
		bound     []*api.Pod
		pod       *api.Pod
		nominated string
		victims   []string
	}{
		{name: "evicts the lowest priority pod that frees enough",
			nodes: []*api.Node{testNode("a", "2", "4Gi")},
			bound: []*api.Pod{testPod("p1", "1", "", onNode("a"), withPriority(1)), testPod("p5", "1", "", onNode("a"), withPriority(5))},
			pod:   testPod("hi", "1", "", withPriority(10)), nominated: "a", victims: []string{"p1"}},
		{name: "never evicts equal or higher priority",
			nodes: []*api.Node{testNode("a", "1", "4Gi")},
			bound: []*api.Pod{testPod("eq", "1", "", onNode("a"), withPriority(10))},
			pod:   testPod("hi", "1", "", withPriority(10))},
		{name: "chooses the node whose victims matter least",
			nodes: []*api.Node{testNode("a", "1", "4Gi"), testNode("b", "1", "4Gi")},
			bound: []*api.Pod{testPod("a5", "1", "", onNode("a"), withPriority(5)), testPod("b2", "1", "", onNode("b"), withPriority(2))},
			pod:   testPod("hi", "1", "", withPriority(10)), nominated: "b", victims: []string{"b2"}},
		{name: "prefers fewer victims at equal priority",
			nodes: []*api.Node{testNode("a", "2", "4Gi"), testNode("b", "2", "4Gi")},
			bound: []*api.Pod{testPod("a1", "1", "", onNode("a"), withPriority(1)), testPod("a2", "1", "", onNode("a"), withPriority(1)),
				testPod("b1", "2", "", onNode("b"), withPriority(1))},
			pod: testPod("hi", "2", "", withPriority(10)), nominated: "b", victims: []string{"b1"}},
		{name: "does not preempt where selector fails",
			nodes: []*api.Node{testNode("a", "1", "4Gi")},
			bound: []*api.Pod{testPod("low", "1", "", onNode("a"), withPriority(1))},
			pod:   testPod("hi", "1", "", withPriority(10), withSelector("disk", "ssd"))},
		{name: "frees a host port",
			nodes: []*api.Node{testNode("a", "4", "4Gi")},
			bound: []*api.Pod{testPod("low", "", "", onNode("a"), withPriority(1), withHostPort(80)), testPod("other", "", "", onNode("a"))},
			pod:   testPod("hi", "", "", withPriority(10), withHostPort(80)), nominated: "a", victims: []string{"low"}},
		{name: "waits for victims already leaving",
			nodes: []*api.Node{testNode("a", "1", "4Gi")},
			bound: []*api.Pod{testPod("going", "1", "", onNode("a"), withPriority(1), leaving)},
			pod:   testPod("hi", "1", "", withPriority(10)), nominated: "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Schedule(context.Background(), NewSnapshot(tc.nodes, tc.bound), []*api.Pod{tc.pod}, Options{})[0]
			if got.Node != "" {
				t.Fatalf("placed on %s; want no fit", got.Node)
			}
			if got.Nominated != tc.nominated || !slices.Equal(victimNames(got), tc.victims) {
				t.Fatalf("nominated %q victims %v; want %q %v", got.Nominated, victimNames(got), tc.nominated, tc.victims)
			}
		})
	}
}

func TestNominatedPodHoldsItsSpace(t *testing.T) {
	t.Parallel()
	nodes := []*api.Node{testNode("a", "1", "4Gi")}
	hi := testPod("hi", "1", "", withPriority(10), func(p *api.Pod) { p.Status.NominatedNodeName = "a" })
	low := testPod("low", "1", "", withPriority(1))
	got := Schedule(context.Background(), NewSnapshot(nodes, []*api.Pod{hi}), []*api.Pod{low}, Options{DisablePreemption: true})
	if got[0].Node != "" {
		t.Fatalf("low-priority pod took the space nominated for hi: %s", got[0].Node)
	}
	got = Schedule(context.Background(), NewSnapshot(nodes, []*api.Pod{hi}), []*api.Pod{hi}, Options{})
	if got[0].Node != "a" {
		t.Fatalf("nominated pod itself not placed: %+v", got[0])
	}
}
