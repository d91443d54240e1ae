package workloads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

// disruptedPodTTL is how long an admitted eviction counts against a budget
// while its pod still looks healthy (it is being deleted, or the delete
// never happened).
const disruptedPodTTL = 2 * time.Minute

// Evict deletes a pod unless that would break a PodDisruptionBudget that
// selects it (POST …/pods/{name}/eviction, what `slip adm drain` calls).
// A pod that is not ready may always go: it does not count as healthy.
// A refused eviction fails with TooManyRequests naming the budget; the
// caller retries later. Admitted evictions are recorded in each budget's
// status with a compare-and-swap, so concurrent evictions (two drains)
// cannot both take the budget's last disruption.
func (o *Operations) Evict(ctx context.Context, name string) (*api.Object, error) {
	pods, _ := o.Catalogue.Lookup(api.PodsResource)
	for attempt := 0; ; attempt++ {
		obj, err := o.Service.Get(ctx, pods, name)
		if err != nil {
			return nil, err
		}
		if obj.Metadata.DeletionTimestamp != nil {
			return obj, nil // going already
		}
		pod, err := decodeAs[api.Pod](obj)
		if err != nil {
			return nil, err
		}
		err = o.admitEviction(ctx, pod)
		if errors.Is(err, errdefs.ErrConflict) && attempt < maxConflictRetries {
			continue // a budget changed under us: count again
		}
		if err != nil {
			return nil, err
		}
		deleted, _, err := o.Service.Delete(ctx, pods, name, "")
		if err != nil {
			return nil, fmt.Errorf("evict pod %q: %w", name, err)
		}
		return deleted, nil
	}
}

// admitEviction checks every budget selecting pod and records the
// eviction in their statuses.
func (o *Operations) admitEviction(ctx context.Context, pod *api.Pod) error {
	pods, _ := o.Catalogue.Lookup(api.PodsResource)
	budgets, _ := o.Catalogue.Lookup(api.PodDisruptionBudgetsResource)
	list, err := o.Service.List(ctx, budgets, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list disruption budgets: %w", err)
	}
	var selecting []*api.Object
	var specs []api.PodDisruptionBudgetSpec
	for _, b := range list.Items {
		var spec api.PodDisruptionBudgetSpec
		if json.Unmarshal(b.Spec, &spec) != nil || !spec.Selector.Matches(pod.Metadata.Labels) {
			continue
		}
		selecting, specs = append(selecting, b), append(specs, spec)
	}
	if len(selecting) == 0 {
		return nil
	}
	if _, ready := podReadySince(pod); !ready {
		return nil // an unhealthy pod does not count towards any budget
	}
	all, err := o.Service.List(ctx, pods, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	now := o.now()
	for i, b := range selecting {
		next, err := budgetAfterEviction(b, &specs[i], all.Items, pod.Metadata.Name, now)
		if err != nil {
			return err
		}
		if _, err := o.Service.UpdateStatus(ctx, budgets, b.Metadata.Name, next); err != nil {
			return fmt.Errorf("record eviction in disruption budget %q: %w", b.Metadata.Name, err)
		}
	}
	return nil
}

// budgetAfterEviction counts the budget's pods and returns it with the
// eviction of evicted recorded, or TooManyRequests when the budget allows
// no disruption now.
func budgetAfterEviction(b *api.Object, spec *api.PodDisruptionBudgetSpec, pods []*api.Object, evicted string, now time.Time) (*api.Object, error) {
	var st api.PodDisruptionBudgetStatus
	if len(b.Status) > 0 {
		if err := json.Unmarshal(b.Status, &st); err != nil {
			return nil, fmt.Errorf("disruption budget %q status: %w", b.Metadata.Name, err)
		}
	}
	// Expected counts every selected pod that has not finished, deleting
	// ones included, plus admitted evictions whose pod is already gone
	// (until the entry expires): a pod evicted a moment ago must not shrink
	// a percentage budget before its replacement exists.
	disrupted := map[string]time.Time{}
	for name, at := range st.DisruptedPods {
		if now.Sub(at) < disruptedPodTTL {
			disrupted[name] = at
		}
	}
	var expected, healthy int32
	seen := map[string]bool{}
	for _, obj := range pods {
		p, err := decodeAs[api.Pod](obj)
		if err != nil || !spec.Selector.Matches(p.Metadata.Labels) {
			continue
		}
		if p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
			continue
		}
		seen[p.Metadata.Name] = true
		expected++
		if _, ok := disrupted[p.Metadata.Name]; ok {
			continue // admitted before, not gone yet
		}
		if _, ready := podReadySince(p); ready && p.Metadata.DeletionTimestamp == nil {
			healthy++
		}
	}
	for name := range disrupted {
		if !seen[name] {
			expected++
		}
	}
	desired := spec.DesiredHealthy(expected)
	st.ExpectedPods, st.CurrentHealthy, st.DesiredHealthy = expected, healthy, desired
	st.DisruptionsAllowed = max(healthy-desired, 0)
	if st.DisruptionsAllowed == 0 {
		return nil, fmt.Errorf("cannot evict pod %q: disruption budget %q needs %d healthy pods and %d are; try again once more are ready: %w",
			evicted, b.Metadata.Name, desired, healthy, errdefs.ErrTooManyRequests)
	}
	st.DisruptionsAllowed--
	disrupted[evicted] = now.UTC().Truncate(time.Second)
	st.DisruptedPods = maps.Clone(disrupted)
	next := *b
	next.Status, _ = json.Marshal(st)
	return &next, nil
}
