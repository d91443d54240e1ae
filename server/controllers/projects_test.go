package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/controllers"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // bounded poll of a real system
	}
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
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Config{DSN: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := api.NewCatalogue()
	svc := resource.New(st, nil)
	lookup := func(p string) *api.Resource { r, _ := cat.Lookup(p); return r }
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
