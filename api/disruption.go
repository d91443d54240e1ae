package api

import (
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// PodDisruptionBudgetsResource is the plural of PodDisruptionBudget.
const PodDisruptionBudgetsResource = "poddisruptionbudgets"

// PodDisruptionBudget bounds voluntary disruptions (evictions by a drain)
// of the pods its selector picks, as in Kubernetes: an eviction is refused
// while it would leave fewer healthy pods than the budget wants.
type PodDisruptionBudget struct {
	Kind       string                    `json:"kind"`
	APIVersion string                    `json:"apiVersion"`
	Metadata   ObjectMeta                `json:"metadata"`
	Spec       PodDisruptionBudgetSpec   `json:"spec"`
	Status     PodDisruptionBudgetStatus `json:"status"`
}

// PodDisruptionBudgetSpec gives exactly one of minAvailable and
// maxUnavailable, each a count or a percentage of the selected pods.
type PodDisruptionBudgetSpec struct {
	Selector       *LabelSelector `json:"selector"`
	MinAvailable   *IntOrString   `json:"minAvailable,omitempty"`
	MaxUnavailable *IntOrString   `json:"maxUnavailable,omitempty"`
}

// PodDisruptionBudgetStatus is written by the eviction subresource when it
// admits an eviction. DisruptedPods lists pods whose eviction was admitted
// but which may still count as healthy (by name, with the admission time);
// they do not count towards the budget until they are gone or the entry is
// two minutes old.
type PodDisruptionBudgetStatus struct {
	ExpectedPods       int32                `json:"expectedPods"`
	CurrentHealthy     int32                `json:"currentHealthy"`
	DesiredHealthy     int32                `json:"desiredHealthy"`
	DisruptionsAllowed int32                `json:"disruptionsAllowed"`
	DisruptedPods      map[string]time.Time `json:"disruptedPods,omitempty"`
}

// Validate checks the spec; errors name fields under spec.
func (s *PodDisruptionBudgetSpec) Validate() error {
	if s.Selector == nil || len(s.Selector.MatchLabels) == 0 {
		return errdefs.Invalidf("spec.selector.matchLabels", "is required: the budget protects the pods it selects")
	}
	if err := validateLabelMap("spec.selector.matchLabels", s.Selector.MatchLabels); err != nil {
		return err
	}
	if (s.MinAvailable == nil) == (s.MaxUnavailable == nil) {
		return errdefs.Invalidf("spec.minAvailable", "give exactly one of spec.minAvailable and spec.maxUnavailable")
	}
	if _, err := validateIntOrPercent("spec.minAvailable", s.MinAvailable); err != nil {
		return err
	}
	_, err := validateIntOrPercent("spec.maxUnavailable", s.MaxUnavailable)
	return err
}

// Validate checks the status.
func (s *PodDisruptionBudgetStatus) Validate() error { return nil }

// DesiredHealthy is how many of expected selected pods must stay healthy.
func (s *PodDisruptionBudgetSpec) DesiredHealthy(expected int32) int32 {
	if s.MinAvailable != nil {
		n, _ := scaledValue(*s.MinAvailable, expected, true)
		return n
	}
	if s.MaxUnavailable != nil {
		n, _ := scaledValue(*s.MaxUnavailable, expected, true)
		return max(expected-n, 0)
	}
	return expected
}

func disruptionResources() []*Resource {
	return []*Resource{{Plural: PodDisruptionBudgetsResource, Kind: "PodDisruptionBudget", Scope: ProjectScoped, HasStatus: true,
		validateSpec: func(o *Object) error {
			if err := forbid(o.Data, "data", "PodDisruptionBudget"); err != nil {
				return err
			}
			return strictField[PodDisruptionBudgetSpec](o.Spec, "spec")
		},
		validateStatus: func(o *Object) error { return strictField[PodDisruptionBudgetStatus](o.Status, "status") }}}
}
