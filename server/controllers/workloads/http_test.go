package workloads_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/storetest"
)

// The scale and rollback subresources through a real API server, with the
// workload controllers running against its store.
func TestScaleAndRollbackOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const password = "admin-password-for-tests"
	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		DatabaseURL: storetest.NewDatabase(t), BootstrapPassword: password, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	anon, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile()})
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": password})
	if err := anon.Do(ctx, "POST", "/auth/login", "application/json", body, &login); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile(), Token: login.Token})
	if err != nil {
		t.Fatal(err)
	}
	h := newAgentHarness(t, srv.Store())
	deployments := h.res(api.DeploymentsResource)
	if err := c.Create(ctx, deployments, "shop", deployment("web", 2, imageV1, func(s *api.DeploymentSpec) {
		s.Triggers = []api.DeploymentTrigger{{Type: api.ImageChangeTrigger,
			ImageChange: &api.ImageChangeParams{From: "shop/web:latest", ContainerNames: []string{"app"}, Automatic: true}}}
	}), nil); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, h, "web", imageV1)
	scalePath := client.Path(deployments, "shop", "web", "scale")

	var scale api.Scale
	if err := c.Do(ctx, "GET", scalePath, "", nil, &scale); err != nil {
		t.Fatal(err)
	}
	if scale.Kind != "Scale" || *scale.Spec.Replicas != 2 || scale.Status.Replicas != 2 || scale.Status.Selector != "app=web" {
		t.Fatalf("scale %+v", scale)
	}
	// PUT with the current resourceVersion scales up. The controllers may
	// write the deployment's status between the GET and the PUT: then the PUT
	// conflicts and, as any client would, the test reads it again.
	var put []byte
	for attempt := 0; ; attempt++ {
		scale.Spec.Replicas = int32p(5)
		put, _ = json.Marshal(scale)
		err := c.Do(ctx, "PUT", scalePath, "application/json", put, &scale)
		if errors.Is(err, errdefs.ErrConflict) && attempt < 5 {
			if err := c.Do(ctx, "GET", scalePath, "", nil, &scale); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if *scale.Spec.Replicas != 5 {
		t.Fatalf("after PUT: %+v", scale.Spec)
	}
	waitRolledOut(t, h, "web", imageV1)
	// A stale resourceVersion conflicts; a missing replica count is invalid.
	if err := c.Do(ctx, "PUT", scalePath, "application/json", put, nil); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("stale PUT: %v", err)
	}
	if err := c.Do(ctx, "PUT", scalePath, "application/json", []byte(`{"spec":{}}`), nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("PUT without replicas: %v", err)
	}
	if err := c.Do(ctx, "PUT", scalePath, "application/json", []byte(`{"spec":{"replicas":1,"bogus":1}}`), nil); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Fatalf("PUT with an unknown field: %v", err)
	}
	// PATCH scales down.
	if err := c.Do(ctx, "PATCH", scalePath, "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), &scale); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, h, "web", imageV1)
	eventually(t, "scale status", func() error {
		if err := c.Do(ctx, "GET", scalePath, "", nil, &scale); err != nil {
			return err
		}
		if *scale.Spec.Replicas != 1 || scale.Status.Replicas != 1 {
			return fmt.Errorf("scale %+v %+v", scale.Spec, scale.Status)
		}
		return nil
	})

	// Roll out v2, then roll back over HTTP.
	if err := c.Patch(ctx, deployments, "shop", "web", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []api.Container{{Name: "app", Image: imageV2}}}}}}, false, nil); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, h, "web", imageV2)
	rollbackPath := client.Path(deployments, "shop", "web", "rollback")
	if err := c.Do(ctx, "POST", rollbackPath, "application/json", []byte(`{"toRevision":7}`), nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("rollback to a missing revision: %v", err)
	}
	var d api.Deployment
	if err := c.Do(ctx, "POST", rollbackPath, "application/json", []byte(`{"toRevision":1}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.Containers[0].Image != imageV1 || d.Spec.Triggers[0].ImageChange.Automatic || d.Metadata.Annotations[api.RollbackAnnotation] == "" {
		t.Fatalf("after rollback: image %s, trigger %+v, annotations %v", d.Spec.Template.Spec.Containers[0].Image,
			d.Spec.Triggers[0].ImageChange, d.Metadata.Annotations)
	}
	waitRolledOut(t, h, "web", imageV1)

	// Eviction over HTTP: refused with 429 while a budget needs the pod.
	if err := c.Create(ctx, h.res(api.PodDisruptionBudgetsResource), "shop", map[string]any{"metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}}, "minAvailable": "100%"}}, nil); err != nil {
		t.Fatal(err)
	}
	pod := readyPods(t, h, "web", 1)[0]
	evictPath := client.Path(h.res(api.PodsResource), "shop", pod, "eviction")
	if err := c.Do(ctx, "POST", evictPath, "application/json", []byte(`{}`), nil); !errors.Is(err, errdefs.ErrTooManyRequests) {
		t.Fatalf("eviction against a 100%% budget: %v", err)
	}
	if err := c.Do(ctx, "POST", evictPath, "application/json", []byte(`{"bogus":1}`), nil); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Fatalf("eviction with an unknown field: %v", err)
	}
	if err := c.Delete(ctx, h.res(api.PodDisruptionBudgetsResource), "shop", "web", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", evictPath, "application/json", []byte(`{}`), nil); err != nil {
		t.Fatalf("eviction without a budget: %v", err)
	}
}
