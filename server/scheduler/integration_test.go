package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/scheduler"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// cluster is a real store and service with a project.
type cluster struct {
	svc        *resource.Service
	cat        *api.Catalogue
	pods       *api.Resource
	nodes      *api.Resource
	project    context.Context
	background context.Context
}

func newCluster(tb testing.TB, project string) *cluster {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DSN: storetest.NewDatabase(tb), Logger: quiet, MaxConns: 32})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	c := &cluster{svc: resource.New(st, nil), cat: api.NewCatalogue(), background: ctx, project: store.WithProject(ctx, project)}
	c.pods, _ = c.cat.Lookup(api.PodsResource)
	c.nodes, _ = c.cat.Lookup(api.NodesResource)
	projects, _ := c.cat.Lookup("projects")
	if _, err := c.svc.Create(ctx, projects, &api.Object{Metadata: api.ObjectMeta{Name: project}}); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *cluster) addNode(tb testing.TB, name, cpu, mem string, maxPods int) {
	tb.Helper()
	obj, err := c.svc.Create(c.background, c.nodes, &api.Object{Metadata: api.ObjectMeta{Name: name}, Spec: json.RawMessage(`{}`)})
	if err != nil {
		tb.Fatal(err)
	}
	status := api.NodeStatus{
		Allocatable: api.ResourceList{api.ResourceCPU: cpu, api.ResourceMemory: mem, api.ResourcePods: fmt.Sprint(maxPods)},
		Conditions:  []api.Condition{{Type: api.NodeReady, Status: "True"}},
	}
	obj.Status, _ = json.Marshal(status)
	if _, err := c.svc.UpdateStatus(c.background, c.nodes, name, obj); err != nil {
		tb.Fatal(err)
	}
}

func (c *cluster) addPod(tb testing.TB, name, cpu, mem string) {
	tb.Helper()
	spec := api.PodSpec{Containers: []api.Container{{Name: "c", Image: "localhost/shop/web:1",
		Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: cpu, api.ResourceMemory: mem}}}}}
	b, _ := json.Marshal(spec)
	obj := &api.Object{Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{scheduler.OwnerLabel: "web"}}, Spec: b}
	if _, err := c.svc.Create(c.project, c.pods, obj); err != nil {
		tb.Fatal(err)
	}
}

// listPods returns every pod, decoded.
func (c *cluster) listPods(tb testing.TB) []*api.Pod {
	tb.Helper()
	var out []*api.Pod
	opts := api.ListOptions{}
	for {
		list, err := c.svc.List(c.project, c.pods, opts)
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range list.Items {
			p := &api.Pod{Metadata: o.Metadata}
			if err := json.Unmarshal(o.Spec, &p.Spec); err != nil {
				tb.Fatal(err)
			}
			if len(o.Status) > 0 {
				if err := json.Unmarshal(o.Status, &p.Status); err != nil {
					tb.Fatal(err)
				}
			}
			out = append(out, p)
		}
		if list.Continue == "" {
			return out
		}
		opts.Continue = list.Continue
	}
}

func (c *cluster) listNodes(tb testing.TB) []*api.Node {
	tb.Helper()
	list, err := c.svc.List(c.background, c.nodes, api.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []*api.Node
	for _, o := range list.Items {
		n := &api.Node{Metadata: o.Metadata}
		_ = json.Unmarshal(o.Spec, &n.Spec)
		_ = json.Unmarshal(o.Status, &n.Status)
		out = append(out, n)
	}
	return out
}

// verifyNoOverCommit checks every node's bound pods against its
// allocatable resources.
func verifyNoOverCommit(tb testing.TB, nodes []*api.Node, pods []*api.Pod) {
	tb.Helper()
	snap := scheduler.NewSnapshot(nodes, pods)
	for _, n := range snap.Nodes() {
		if r, a := n.Requested, n.Allocatable; r.MilliCPU > a.MilliCPU || r.Memory > a.Memory || r.Pods > a.Pods {
			tb.Fatalf("node %s over-committed: requested %+v of %+v", n.Name, r, a)
		}
	}
}

// eventually polls cond until it holds, failing the test after 30 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what, cond)
}

func condition(p *api.Pod, typ string) *api.Condition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// TestTwoSchedulers runs two schedulers over one store placing pods that
// exactly fill five nodes: every pod is bound once, no node is
// over-committed, and the pods that cannot fit say why.
func TestTwoSchedulers(t *testing.T) {
	c := newCluster(t, "shop")
	for i := range 5 {
		c.addNode(t, fmt.Sprintf("node-%d", i), "4", "16Gi", 40)
	}
	const fit, extra = 200, 5
	for i := range fit + extra {
		c.addPod(t, fmt.Sprintf("web-%03d", i), "100m", "256Mi")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var regs []*prometheus.Registry
	for i := range 2 {
		reg := prometheus.NewRegistry()
		regs = append(regs, reg)
		s, err := scheduler.New(scheduler.Config{Service: c.svc, Catalogue: c.cat, Logger: quiet, Registerer: reg,
			BatchSize: 16 + 16*i, RetryInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	want := "0/5 nodes are available: 5 insufficient cpu, 5 too many pods."
	eventually(t, "all fitting pods bound, the rest unschedulable", func() error {
		bound, told := 0, 0
		for _, p := range c.listPods(t) {
			if p.Spec.NodeName != "" {
				bound++
				if cond := condition(p, api.PodScheduled); cond == nil || cond.Status != "True" {
					return fmt.Errorf("pod %s bound without PodScheduled=True", p.Metadata.Name)
				}
			} else if cond := condition(p, api.PodScheduled); cond != nil && cond.Reason == "Unschedulable" && cond.Message == want {
				told++
			}
		}
		if bound > fit {
			verifyNoOverCommit(t, c.listNodes(t), c.listPods(t))
			t.Fatalf("%d pods bound to nodes that hold %d", bound, fit)
		}
		if bound != fit || told != extra {
			return fmt.Errorf("%d bound, %d told unschedulable", bound, told)
		}
		return nil
	})
	verifyNoOverCommit(t, c.listNodes(t), c.listPods(t))
	var scheduled float64
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "slipway_scheduler_pods_scheduled_total" {
				scheduled += mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
	}
	if scheduled != fit {
		t.Fatalf("the schedulers report %v bindings for %d pods: a pod was bound twice", scheduled, fit)
	}
}

// TestPreemptionThroughTheStore checks that a high-priority pod evicts a
// lower-priority one through the service and is nominated.
func TestPreemptionThroughTheStore(t *testing.T) {
	c := newCluster(t, "shop")
	c.addNode(t, "node-0", "1", "4Gi", 110)
	c.addPod(t, "low", "1", "1Gi")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := scheduler.New(scheduler.Config{Service: c.svc, Catalogue: c.cat, Logger: quiet, RetryInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	eventually(t, "low bound", func() error {
		for _, p := range c.listPods(t) {
			if p.Spec.NodeName == "" {
				return fmt.Errorf("%s pending", p.Metadata.Name)
			}
		}
		return nil
	})
	prio := int32(100)
	spec, _ := json.Marshal(api.PodSpec{Priority: &prio, Containers: []api.Container{{Name: "c", Image: "localhost/shop/web:1",
		Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "1"}}}}})
	if _, err := c.svc.Create(c.project, c.pods, &api.Object{Metadata: api.ObjectMeta{Name: "high"}, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "low deleted and high nominated", func() error {
		for _, p := range c.listPods(t) {
			switch p.Metadata.Name {
			case "low":
				if p.Metadata.DeletionTimestamp == nil {
					return fmt.Errorf("low not being deleted")
				}
			case "high":
				if p.Status.NominatedNodeName != "node-0" {
					return fmt.Errorf("high nominated %q", p.Status.NominatedNodeName)
				}
			}
		}
		return nil
	})
	// The pod controller is not running: release low's finalizer as it would.
	if _, err := c.svc.Patch(c.project, c.pods, "low", []byte(`{"metadata":{"finalizers":null}}`), false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "high bound", func() error {
		for _, p := range c.listPods(t) {
			if p.Metadata.Name == "high" && p.Spec.NodeName == "node-0" {
				return nil
			}
		}
		return fmt.Errorf("high not bound")
	})
}
