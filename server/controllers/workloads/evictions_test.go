package workloads_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/controllers/workloads"
)

// readyPods waits until the deployment has n ready, live pods and returns
// their names.
func readyPods(t *testing.T, h *harness, deployment string, n int) []string {
	t.Helper()
	var names []string
	eventually(t, fmt.Sprintf("%d ready pods of %s", n, deployment), func() error {
		names = names[:0]
		for _, p := range list[api.Pod](h, api.PodsResource, api.DeploymentLabel+"="+deployment) {
			if p.Metadata.DeletionTimestamp == nil && isReady(p) {
				names = append(names, p.Metadata.Name)
			}
		}
		if len(names) != n {
			return fmt.Errorf("%d ready: %v", len(names), names)
		}
		return nil
	})
	return names
}

func TestEvictionRespectsDisruptionBudget(t *testing.T) {
	h := newHarness(t, newStore(t), nil)
	ops := &workloads.Operations{Service: h.svc, Catalogue: h.cat}
	h.create(api.DeploymentsResource, deployment("web", 3, "web:1", nil))
	h.create(api.DeploymentsResource, deployment("worker", 1, "worker:1", nil))
	h.create(api.PodDisruptionBudgetsResource, map[string]any{"metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}}, "minAvailable": 2}})
	pods := readyPods(t, h, "web", 3)
	readyPods(t, h, "worker", 1)

	// Replacements stay unready, so the budget is what holds the line.
	h.setDecide(func(*api.Pod) outcome { return runNotReady })
	if _, err := ops.Evict(h.ctx, pods[0]); err != nil {
		t.Fatalf("first eviction (3 healthy, 2 needed): %v", err)
	}
	_, err := ops.Evict(h.ctx, pods[1])
	if !errors.Is(err, errdefs.ErrTooManyRequests) || !strings.Contains(err.Error(), `disruption budget "web" needs 2 healthy pods and 2 are`) {
		t.Fatalf("second eviction: %v, want TooManyRequests naming the budget", err)
	}
	if p, err := get[api.Pod](h, api.PodsResource, pods[1]); err != nil || p.Metadata.DeletionTimestamp != nil {
		t.Fatalf("refused eviction touched the pod: %v %+v", err, p)
	}
	budget, err := get[api.PodDisruptionBudget](h, api.PodDisruptionBudgetsResource, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := budget.Status.DisruptedPods[pods[0]]; !ok || budget.Status.DesiredHealthy != 2 {
		t.Fatalf("budget status %+v: want %s recorded and 2 desired", budget.Status, pods[0])
	}

	// An unready pod may always go; a pod no budget selects too.
	for _, p := range list[api.Pod](h, api.PodsResource, api.DeploymentLabel+"=web") {
		if p.Metadata.DeletionTimestamp == nil && !isReady(p) {
			if _, err := ops.Evict(h.ctx, p.Metadata.Name); err != nil {
				t.Fatalf("evict unready %s: %v", p.Metadata.Name, err)
			}
		}
	}
	worker := readyPods(t, h, "worker", 1)
	if _, err := ops.Evict(h.ctx, worker[0]); err != nil {
		t.Fatalf("evict a pod without budget: %v", err)
	}

	// Once a replacement is ready again, the next eviction is admitted.
	h.setDecide(func(*api.Pod) outcome { return runReady })
	for _, p := range list[api.Pod](h, api.PodsResource, api.DeploymentLabel+"=web") {
		if p.Metadata.DeletionTimestamp == nil && !isReady(p) {
			h.setReady(p.Metadata.Name, true)
		}
	}
	readyPods(t, h, "web", 3)
	if _, err := ops.Evict(h.ctx, pods[1]); err != nil {
		t.Fatalf("eviction after recovery: %v", err)
	}
}

// Two drains racing for a budget's last disruption: exactly one wins.
func TestConcurrentEvictionsTakeOneDisruption(t *testing.T) {
	h := newHarness(t, newStore(t), nil)
	ops := &workloads.Operations{Service: h.svc, Catalogue: h.cat}
	h.create(api.DeploymentsResource, deployment("web", 4, "web:1", nil))
	h.create(api.PodDisruptionBudgetsResource, map[string]any{"metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}}, "maxUnavailable": "25%"}})
	pods := readyPods(t, h, "web", 4)
	h.setDecide(func(*api.Pod) outcome { return runNotReady })
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, name := range pods {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = ops.Evict(h.ctx, name) }()
	}
	wg.Wait()
	admitted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			admitted++
		case !errors.Is(err, errdefs.ErrTooManyRequests):
			t.Errorf("evict %s: %v", pods[i], err)
		}
	}
	if admitted != 1 {
		t.Fatalf("%d evictions admitted, want exactly 1 (maxUnavailable 25%% of 4): %v", admitted, errs)
	}
}

func TestDisruptionBudgetValidation(t *testing.T) {
	h := newHarness(t, newStore(t), nil)
	for _, tc := range []struct {
		spec  map[string]any
		field string
	}{
		{map[string]any{"minAvailable": 1}, "spec.selector.matchLabels"},
		{map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}}}, "spec.minAvailable"},
		{map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}}, "minAvailable": 1, "maxUnavailable": 1}, "spec.minAvailable"},
		{map[string]any{"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}}, "maxUnavailable": "150%"}, "spec.maxUnavailable"},
	} {
		obj, err := api.DecodeObject(mustJSON(map[string]any{"metadata": map[string]any{"name": "b"}, "spec": tc.spec}))
		if err == nil {
			_, err = h.svc.Create(h.ctx, h.res(api.PodDisruptionBudgetsResource), obj)
		}
		if !errors.Is(err, errdefs.ErrInvalid) || errdefs.FieldOf(err) != tc.field {
			t.Errorf("spec %v: %v (field %q), want Invalid on %s", tc.spec, err, errdefs.FieldOf(err), tc.field)
		}
	}
}

func mustJSON(v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return raw
}
