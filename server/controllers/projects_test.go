package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/server/controllers"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testwait.Until(t, 20*time.Second, what, cond)
}

func TestProjectLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Config{DSN: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := api.NewCatalogue()
	svc := resource.New(st, nil)
	projects, _ := cat.Lookup("projects")
	configmaps, _ := cat.Lookup("configmaps")
	c := &reconcile.Controller{Name: "projects", Resource: projects, Service: svc, Logger: quiet,
		Reconciler: &controllers.Projects{Service: svc, Catalogue: cat, Logger: quiet}}
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	phase := func(name string) (api.ProjectPhase, error) {
		obj, err := svc.Get(ctx, projects, name)
		if err != nil {
			return "", err
		}
		var s api.ProjectStatus
		_ = json.Unmarshal(obj.Status, &s)
		return s.Phase, nil
	}
	for _, name := range []string{"shop", "other"} {
		if _, err := svc.Create(ctx, projects, &api.Object{Metadata: api.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "new project Active", func() error {
		if p, err := phase("shop"); err != nil || p != api.ProjectActive {
			return errors.New(string(p))
		}
		return nil
	})
	shop := store.WithProject(ctx, "shop")
	for _, name := range []string{"a", "b", "held"} {
		obj := &api.Object{Metadata: api.ObjectMeta{Name: name}}
		if name == "held" {
			obj.Metadata.Finalizers = []string{"example.com/hold"}
		}
		if _, err := svc.Create(shop, configmaps, obj); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Create(store.WithProject(ctx, "other"), configmaps, &api.Object{Metadata: api.ObjectMeta{Name: "a"}}); err != nil {
		t.Fatal(err)
	}

	if _, deleted, err := svc.Delete(ctx, projects, "shop", ""); err != nil || deleted {
		t.Fatalf("delete project: deleted=%v, %v (want held by its contents finalizer)", deleted, err)
	}
	eventually(t, "project Terminating with only the held object left", func() error {
		if p, err := phase("shop"); err != nil || p != api.ProjectTerminating {
			return errors.New("phase " + string(p))
		}
		list, err := svc.List(shop, configmaps, api.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) != 1 || list.Items[0].Metadata.Name != "held" || list.Items[0].Metadata.DeletionTimestamp == nil {
			return errors.New("contents not deleted yet")
		}
		return nil
	})
	// The project waits for its contents' own finalizers.
	if _, err := svc.Get(ctx, projects, "shop"); err != nil {
		t.Fatalf("project went before its contents: %v", err)
	}
	if _, err := svc.Patch(shop, configmaps, "held", []byte(`{"metadata":{"finalizers":null}}`), false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "project gone", func() error {
		if _, err := svc.Get(ctx, projects, "shop"); !errors.Is(err, errdefs.ErrNotFound) {
			return errors.New("still there")
		}
		return nil
	})
	// Another project's objects are untouched.
	if _, err := svc.Get(store.WithProject(ctx, "other"), configmaps, "a"); err != nil {
		t.Fatalf("other project's configmap: %v", err)
	}
}

func TestPodTerminationReleasesPodsNoNodeRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	svc, cat, lookup, quiet := openService(t, ctx)
	c := &reconcile.Controller{Name: "pod-termination", Resource: lookup("pods"), Service: svc, Logger: quiet,
		Reconciler: &controllers.PodTermination{Service: svc, Catalogue: cat}}
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	if _, err := svc.Create(ctx, lookup("projects"), &api.Object{Metadata: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, lookup("nodes"), &api.Object{Metadata: api.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	shop := store.WithProject(ctx, "shop")
	for name, node := range map[string]string{"unbound": "", "on-n1": "n1", "on-gone": "gone"} {
		spec, _ := json.Marshal(api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "app", Image: "localhost:8443/shop/app:1"}}})
		obj, err := svc.Create(shop, lookup("pods"), &api.Object{Metadata: api.ObjectMeta{Name: name}, Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(obj.Metadata.Finalizers, api.PodTerminationFinalizer) {
			t.Fatalf("pod %s has no termination finalizer: %v", name, obj.Metadata.Finalizers)
		}
		if _, _, err := svc.Delete(shop, lookup("pods"), name, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"unbound", "on-gone"} {
		eventually(t, name+" released", func() error {
			if _, err := svc.Get(shop, lookup("pods"), name); !errors.Is(err, errdefs.ErrNotFound) {
				return fmt.Errorf("still there: %v", err)
			}
			return nil
		})
	}
	// A pod on an existing node waits for its node agent.
	if obj, err := svc.Get(shop, lookup("pods"), "on-n1"); err != nil || obj.Metadata.DeletionTimestamp == nil {
		t.Fatalf("pod on a live node: %v, %v", obj, err)
	}
}

// openService opens a fresh database behind a resource service, for the
// controllers' tests; lookup finds a resource of the catalogue by plural.
func openService(t *testing.T, ctx context.Context) (*resource.Service, *api.Catalogue, func(plural string) *api.Resource, *slog.Logger) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Config{DSN: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	cat := api.NewCatalogue()
	lookup := func(p string) *api.Resource { r, _ := cat.Lookup(p); return r }
	return resource.New(st, nil), cat, lookup, quiet
}

func TestNodeLifecycleEvictsAtALimitedRate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	svc, cat, lookup, quiet := openService(t, ctx)
	lifecycle := &controllers.NodeLifecycle{Service: svc, Catalogue: cat, Logger: quiet,
		EvictionTimeout: 500 * time.Millisecond, EvictionsPerSecond: 2, EvictionBurst: 2}
	c := &reconcile.Controller{Name: "node-lifecycle", Resource: lookup("nodes"), Service: svc, Logger: quiet, Reconciler: lifecycle}

	now := time.Now().UTC().Truncate(time.Second)
	ready := []api.Condition{{Type: api.NodeReady, Status: "True", LastTransitionTime: &now}}
	for _, n := range []struct {
		name  string
		alive bool
	}{{"alive", true}, {"dead", false}} {
		if _, err := svc.Create(ctx, lookup("nodes"), &api.Object{Metadata: api.ObjectMeta{Name: n.name}}); err != nil {
			t.Fatal(err)
		}
		status, _ := json.Marshal(api.NodeStatus{Conditions: ready})
		if _, err := svc.Patch(ctx, lookup("nodes"), n.name, []byte(`{"status":`+string(status)+`}`), true); err != nil {
			t.Fatal(err)
		}
		renew := now
		if !n.alive {
			renew = now.Add(-time.Hour)
		}
		spec, _ := json.Marshal(api.LeaseSpec{HolderIdentity: n.name, LeaseDurationSeconds: 3600, RenewTime: &renew})
		if !n.alive {
			spec, _ = json.Marshal(api.LeaseSpec{HolderIdentity: n.name, LeaseDurationSeconds: 40, RenewTime: &renew})
		}
		if _, err := svc.Create(ctx, lookup("leases"), &api.Object{Metadata: api.ObjectMeta{Name: controllers.LeaseName(n.name)}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Create(ctx, lookup("projects"), &api.Object{Metadata: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	shop := store.WithProject(ctx, "shop")
	for i := 0; i < 6; i++ {
		node := "dead"
		if i == 5 {
			node = "alive"
		}
		spec, _ := json.Marshal(api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "app", Image: "localhost:8443/shop/app:1"}}})
		if _, err := svc.Create(shop, lookup("pods"), &api.Object{Metadata: api.ObjectMeta{Name: fmt.Sprint("p", i)}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	eventually(t, "dead node NotReady", func() error {
		obj, err := svc.Get(ctx, lookup("nodes"), "dead")
		if err != nil {
			return err
		}
		var status api.NodeStatus
		_ = json.Unmarshal(obj.Status, &status)
		if len(status.Conditions) == 0 || status.Conditions[0].Status != "Unknown" {
			return fmt.Errorf("conditions %+v", status.Conditions)
		}
		return nil
	})
	eventually(t, "the dead node's pods evicted", func() error {
		list, err := svc.List(shop, lookup("pods"), api.ListOptions{})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if p.Metadata.Name != "p5" && p.Metadata.DeletionTimestamp == nil {
				return fmt.Errorf("%s not evicted yet", p.Metadata.Name)
			}
		}
		return nil
	})
	// Five evictions at 2/s after a burst of 2 take more than a second.
	if took := time.Since(start); took < time.Second {
		t.Fatalf("5 evictions in %s: the rate limit did not hold", took)
	}
	if obj, err := svc.Get(shop, lookup("pods"), "p5"); err != nil || obj.Metadata.DeletionTimestamp != nil {
		t.Fatalf("a pod of the live node was touched: %v", err)
	}
}

// When most nodes stop heartbeating at once, a partition is likelier than
// dead machines: nothing is evicted.
func TestNodeLifecycleHoldsBackDuringAPartition(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	svc, cat, lookup, quiet := openService(t, ctx)
	lifecycle := &controllers.NodeLifecycle{Service: svc, Catalogue: cat, Logger: quiet, EvictionTimeout: 200 * time.Millisecond}
	c := &reconcile.Controller{Name: "node-lifecycle", Resource: lookup("nodes"), Service: svc, Logger: quiet, Reconciler: lifecycle}
	if _, err := svc.Create(ctx, lookup("projects"), &api.Object{Metadata: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprint("n", i)
		if _, err := svc.Create(ctx, lookup("nodes"), &api.Object{Metadata: api.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(api.PodSpec{NodeName: name, Containers: []api.Container{{Name: "app", Image: "localhost:8443/shop/app:1"}}})
		if _, err := svc.Create(store.WithProject(ctx, "shop"), lookup("pods"), &api.Object{Metadata: api.ObjectMeta{Name: name}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	eventually(t, "all nodes NotReady", func() error {
		for i := 0; i < 3; i++ {
			obj, err := svc.Get(ctx, lookup("nodes"), fmt.Sprint("n", i))
			if err != nil || !strings.Contains(string(obj.Status), "Unknown") {
				return fmt.Errorf("n%d not yet NotReady", i)
			}
		}
		return nil
	})
	// Well past the eviction timeout, the pods are all still there.
	time.Sleep(2 * time.Second) // observing that nothing happens, bounded
	list, err := svc.List(store.WithProject(ctx, "shop"), lookup("pods"), api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Metadata.DeletionTimestamp != nil {
			t.Fatalf("pod %s evicted during a partition", p.Metadata.Name)
		}
	}
}

// A node that stops heartbeating takes its pods out of the services'
// endpoints at once: their Ready condition turns False (NodeNotReady)
// when the node turns NotReady, long before they are evicted; the pods
// of other nodes are untouched.
func TestNodeLifecycleMarksPodsNotReady(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	svc, cat, lookup, quiet := openService(t, ctx)
	lifecycle := &controllers.NodeLifecycle{Service: svc, Catalogue: cat, Logger: quiet, EvictionTimeout: time.Hour}
	c := &reconcile.Controller{Name: "node-lifecycle", Resource: lookup("nodes"), Service: svc, Logger: quiet, Reconciler: lifecycle}
	if _, err := svc.Create(ctx, lookup("projects"), &api.Object{Metadata: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	shop := store.WithProject(ctx, "shop")
	now := time.Now().UTC().Truncate(time.Second)
	for _, n := range []string{"alive", "dead"} {
		if _, err := svc.Create(ctx, lookup("nodes"), &api.Object{Metadata: api.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
		status, _ := json.Marshal(api.NodeStatus{Conditions: []api.Condition{{Type: api.NodeReady, Status: "True", LastTransitionTime: &now}}})
		if _, err := svc.Patch(ctx, lookup("nodes"), n, []byte(`{"status":`+string(status)+`}`), true); err != nil {
			t.Fatal(err)
		}
		renew := now
		if n == "dead" {
			renew = now.Add(-time.Hour)
		}
		spec, _ := json.Marshal(api.LeaseSpec{HolderIdentity: n, LeaseDurationSeconds: 40, RenewTime: &renew})
		if _, err := svc.Create(ctx, lookup("leases"), &api.Object{Metadata: api.ObjectMeta{Name: controllers.LeaseName(n)}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		spec, _ = json.Marshal(api.PodSpec{NodeName: n, Containers: []api.Container{{Name: "app", Image: "localhost:8443/shop/app:1"}}})
		if _, err := svc.Create(shop, lookup("pods"), &api.Object{Metadata: api.ObjectMeta{Name: "on-" + n}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		podStatus, _ := json.Marshal(api.PodStatus{Phase: api.PodRunning, PodIP: "10.0.0.1",
			Conditions: []api.Condition{{Type: api.PodReady, Status: "True", LastTransitionTime: &now}}})
		if _, err := svc.Patch(shop, lookup("pods"), "on-"+n, []byte(`{"status":`+string(podStatus)+`}`), true); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	podReady := func(name string) (*api.Condition, error) {
		obj, err := svc.Get(shop, lookup("pods"), name)
		if err != nil {
			return nil, err
		}
		var status api.PodStatus
		_ = json.Unmarshal(obj.Status, &status)
		for _, c := range status.Conditions {
			if c.Type == api.PodReady {
				return &c, nil
			}
		}
		return nil, fmt.Errorf("pod %s has no Ready condition: %s", name, obj.Status)
	}
	eventually(t, "the dead node's pod not ready", func() error {
		cond, err := podReady("on-dead")
		if err != nil {
			return err
		}
		if cond.Status != "False" || cond.Reason != "NodeNotReady" {
			return fmt.Errorf("Ready %+v", cond)
		}
		return nil
	})
	if cond, err := podReady("on-alive"); err != nil || cond.Status != "True" {
		t.Fatalf("the live node's pod: %+v, %v", cond, err)
	}
	if obj, err := svc.Get(shop, lookup("pods"), "on-dead"); err != nil || obj.Metadata.DeletionTimestamp != nil {
		t.Fatalf("the dead node's pod evicted before the eviction timeout: %v", err)
	}
}

// An agent that restarts after its lease expired posts Ready before it
// renews the lease: that fresh status must stand (the node flapped to
// NotReady in the multinode e2e, and a scale-up in that moment skipped it),
// while a Ready status as stale as the lease does not keep a node alive.
func TestNodeLifecycleKeepsAFreshReadyStatus(t *testing.T) {
	ctx := context.Background()
	svc, cat, lookup, quiet := openService(t, ctx)
	lifecycle := &controllers.NodeLifecycle{Service: svc, Catalogue: cat, Logger: quiet}

	now := time.Now().UTC().Truncate(time.Second)
	expired := now.Add(-time.Hour)
	for _, n := range []struct {
		name      string
		heartbeat time.Time // of the Ready=True status
		want      string
	}{
		{"restarted", now, "True"},
		{"dead", expired, "Unknown"},
	} {
		if _, err := svc.Create(ctx, lookup("nodes"), &api.Object{Metadata: api.ObjectMeta{Name: n.name}}); err != nil {
			t.Fatal(err)
		}
		status, _ := json.Marshal(api.NodeStatus{Conditions: []api.Condition{
			{Type: api.NodeReady, Status: "True", LastTransitionTime: &n.heartbeat, LastHeartbeatTime: &n.heartbeat}}})
		if _, err := svc.Patch(ctx, lookup("nodes"), n.name, []byte(`{"status":`+string(status)+`}`), true); err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(api.LeaseSpec{HolderIdentity: n.name, LeaseDurationSeconds: 40, RenewTime: &expired})
		if _, err := svc.Create(ctx, lookup("leases"), &api.Object{Metadata: api.ObjectMeta{Name: controllers.LeaseName(n.name)}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		if _, err := lifecycle.Reconcile(ctx, reconcile.Request{Name: n.name}); err != nil {
			t.Fatal(err)
		}
		obj, err := svc.Get(ctx, lookup("nodes"), n.name)
		if err != nil {
			t.Fatal(err)
		}
		var got api.NodeStatus
		_ = json.Unmarshal(obj.Status, &got)
		if len(got.Conditions) != 1 || got.Conditions[0].Status != n.want {
			t.Errorf("node %s (lease expired, Ready heartbeat %s ago): conditions %+v, want Ready=%s",
				n.name, now.Sub(n.heartbeat), got.Conditions, n.want)
		}
	}
}
