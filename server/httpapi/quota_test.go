package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/store"
)

func quotaPod(name string, res api.ResourceRequirements) api.Pod {
	return api.Pod{Metadata: api.ObjectMeta{Name: name}, Spec: api.PodSpec{Containers: []api.Container{
		{Name: "app", Image: "localhost:8443/shop/app:1", Resources: res}}}}
}

func newShop(t *testing.T, e *env) {
	t.Helper()
	if err := e.client.Create(context.Background(), projects, "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
}

// A LimitRange fills in what a container leaves out and bounds what it states.
func TestLimitRangeDefaultsAndBounds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	newShop(t, e)
	pods, limitranges := mustLookup("pods"), mustLookup("limitranges")
	lr := api.LimitRange{Metadata: api.ObjectMeta{Name: "limits"}, Spec: api.LimitRangeSpec{Limits: []api.LimitRangeItem{{
		Type:           api.LimitTypeContainer,
		Default:        api.ResourceList{"cpu": "500m", "memory": "256Mi"},
		DefaultRequest: api.ResourceList{"cpu": "100m", "memory": "128Mi"},
		Max:            api.ResourceList{"memory": "1Gi"},
		Min:            api.ResourceList{"cpu": "50m"},
	}}}}
	if err := e.client.Create(ctx, limitranges, "shop", lr, nil); err != nil {
		t.Fatal(err)
	}
	var got api.Pod
	if err := e.client.Create(ctx, pods, "shop", quotaPod("plain", api.ResourceRequirements{}), &got); err != nil {
		t.Fatal(err)
	}
	r := got.Spec.Containers[0].Resources
	if r.Limits["cpu"] != "500m" || r.Limits["memory"] != "256Mi" || r.Requests["cpu"] != "100m" || r.Requests["memory"] != "128Mi" {
		t.Errorf("defaults not applied: %+v", r)
	}
	// A stated limit without a request gets the default request, not the limit.
	if err := e.client.Create(ctx, pods, "shop", quotaPod("half", api.ResourceRequirements{Limits: api.ResourceList{"memory": "512Mi"}}), &got); err != nil {
		t.Fatal(err)
	}
	if r := got.Spec.Containers[0].Resources; r.Limits["memory"] != "512Mi" || r.Requests["memory"] != "128Mi" {
		t.Errorf("partial defaults: %+v", r)
	}
	tests := []struct {
		name    string
		res     api.ResourceRequirements
		wantMsg string
	}{
		{"above max", api.ResourceRequirements{Limits: api.ResourceList{"memory": "2Gi"}},
			`container "app": memory limit 2Gi is above the maximum 1Gi of limit range "limits"`},
		{"below min", api.ResourceRequirements{Requests: api.ResourceList{"cpu": "10m"}},
			`container "app": cpu request 10m is below the minimum 50m of limit range "limits"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.client.Create(ctx, pods, "shop", quotaPod(strings.ReplaceAll(tc.name, " ", "-"), tc.res), nil)
			if !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(statusOf(err).Message, tc.wantMsg) {
				t.Fatalf("got %v, want Forbidden with %q", err, tc.wantMsg)
			}
		})
	}
}

// A quota refuses the pod that would exceed it, naming the quota and the
// figures, and admits it again once another pod is gone.
func TestResourceQuotaRefusesPodsBeyondIt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	newShop(t, e)
	pods, quotas := mustLookup("pods"), mustLookup("resourcequotas")
	q := api.ResourceQuota{Metadata: api.ObjectMeta{Name: "compute"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{
		"requests.memory": "2Gi", "pods": "10"}}}
	if err := e.client.Create(ctx, quotas, "shop", q, nil); err != nil {
		t.Fatal(err)
	}
	mem := func(q string) api.ResourceRequirements {
		return api.ResourceRequirements{Requests: api.ResourceList{"memory": q}}
	}
	for i, q := range []string{"512Mi", "512Mi", "512Mi", "256Mi"} {
		if err := e.client.Create(ctx, pods, "shop", quotaPod(fmt.Sprintf("p%d", i), mem(q)), nil); err != nil {
			t.Fatal(err)
		}
	}
	err := e.client.Create(ctx, pods, "shop", quotaPod("extra", mem("512Mi")), nil)
	want := `exceeded quota "compute" in project "shop": requested requests.memory=512Mi, used 1792Mi, limited to 2Gi`
	if !errors.Is(err, errdefs.ErrForbidden) || statusOf(err).Message != want {
		t.Fatalf("pod beyond the quota: %v\nwant Forbidden: %s", err, want)
	}
	err = e.client.Create(ctx, pods, "shop", quotaPod("unstated", api.ResourceRequirements{}), nil)
	if !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(statusOf(err).Message, `container "app" must state resources.requests.memory`) {
		t.Fatalf("pod without a memory request under a memory quota: %v", err)
	}
	if err := e.client.Delete(ctx, pods, "shop", "p0", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Create(ctx, pods, "shop", quotaPod("extra", mem("512Mi")), nil); err != nil {
		t.Fatalf("pod within the quota after a delete: %v", err)
	}
	var got api.ResourceQuota
	if err := e.client.Get(ctx, quotas, "shop", "compute", &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Used["requests.memory"] != "1792Mi" || got.Status.Used["pods"] != "4" || got.Status.Hard["requests.memory"] != "2Gi" {
		t.Errorf("status = %+v", got.Status)
	}
}

func TestResourceQuotaCountsObjects(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	newShop(t, e)
	quotas := mustLookup("resourcequotas")
	q := api.ResourceQuota{Metadata: api.ObjectMeta{Name: "objects"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"count/configmaps": "2"}}}
	if err := e.client.Create(ctx, quotas, "shop", q, nil); err != nil {
		t.Fatal(err)
	}
	cm := func(name string) map[string]any { return map[string]any{"metadata": map[string]any{"name": name}} }
	for _, name := range []string{"a", "b"} {
		if err := e.client.Create(ctx, configmaps, "shop", cm(name), nil); err != nil {
			t.Fatal(err)
		}
	}
	err := e.client.Create(ctx, configmaps, "shop", cm("c"), nil)
	want := `exceeded quota "objects" in project "shop": requested count/configmaps=1, used 2, limited to 2`
	if !errors.Is(err, errdefs.ErrForbidden) || statusOf(err).Message != want {
		t.Fatalf("third config map: %v\nwant Forbidden: %s", err, want)
	}
	// Updates are not creations: an existing config map still changes.
	if err := e.client.Patch(ctx, configmaps, "shop", "a", []byte(`{"data":{"k":"v"}}`), false, nil); err != nil {
		t.Fatal(err)
	}
}

// Quotas bound the project's own users: edit neither writes nor reads them.
func TestQuotasAreTheClusterAdminsToSet(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	newShop(t, e)
	quotas := mustLookup("resourcequotas")
	q := api.ResourceQuota{Metadata: api.ObjectMeta{Name: "compute"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"pods": "3"}}}
	if err := e.client.Create(ctx, quotas, "shop", q, nil); err != nil {
		t.Fatal(err)
	}
	e.createUser(t, "ed", "ed-password")
	bind(t, e.client, "shop", "editors", "edit", user("ed"))
	ed := e.login(t, "ed", "ed-password")
	q.Metadata.Name = "mine"
	if err := ed.Create(ctx, quotas, "shop", q, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("edit created a quota: %v", err)
	}
	if err := ed.Get(ctx, quotas, "shop", "compute", nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("edit read a quota: %v", err)
	}
	// Invalid quotas are refused naming the field.
	bad := api.ResourceQuota{Metadata: api.ObjectMeta{Name: "bad"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"requests.memory": "lots"}}}
	err := e.client.Create(ctx, quotas, "shop", bad, nil)
	if !errors.Is(err, errdefs.ErrInvalid) || statusOf(err).Details == nil || statusOf(err).Details.Field != "spec.hard[requests.memory]" {
		t.Fatalf("invalid quota: %v", err)
	}
}
