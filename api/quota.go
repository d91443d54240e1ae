package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/quantity"
)

// ResourceQuota bounds what a project may use: the summed requests and
// limits of its live pods, and how many objects of some kinds it holds.
// The API server enforces it when pods and those objects are created; the
// status is informational.
type ResourceQuota struct {
	Kind       string              `json:"kind"`
	APIVersion string              `json:"apiVersion"`
	Metadata   ObjectMeta          `json:"metadata"`
	Spec       ResourceQuotaSpec   `json:"spec"`
	Status     ResourceQuotaStatus `json:"status,omitempty"`
}

// Quota keys: compute resources summed over the project's pods, and counts.
const (
	QuotaPods           = "pods"
	QuotaRequestsCPU    = "requests.cpu"
	QuotaRequestsMemory = "requests.memory"
	QuotaLimitsCPU      = "limits.cpu"
	QuotaLimitsMemory   = "limits.memory"
	QuotaCountPrefix    = "count/"
)

// quotaCounted are the resources a "count/<plural>" quota may bound.
var quotaCounted = []string{DeploymentsResource, ServicesResource, ConfigMapsResource, SecretsResource, BuildConfigsResource, BuildsResource}

// ResourceQuotaSpec holds the hard limits.
type ResourceQuotaSpec struct {
	Hard ResourceList `json:"hard"`
}

// ResourceQuotaStatus reports the limits and what the project used when
// the API server last admitted a write under the quota.
type ResourceQuotaStatus struct {
	Hard ResourceList `json:"hard,omitempty"`
	Used ResourceList `json:"used,omitempty"`
}

// Validate checks every key is a supported quota and every value a
// quantity of its kind.
func (s *ResourceQuotaSpec) Validate() error {
	if len(s.Hard) == 0 {
		return errdefs.Invalidf("spec.hard", "at least one limit is required")
	}
	return validateQuotaList("spec.hard", s.Hard)
}

// Validate checks the status like the spec.
func (s *ResourceQuotaStatus) Validate() error {
	if err := validateQuotaList("status.hard", s.Hard); err != nil {
		return err
	}
	return validateQuotaList("status.used", s.Used)
}

func validateQuotaList(field string, list ResourceList) error {
	for _, key := range sortedKeys(list) {
		if _, err := ParseQuota(key, list[key]); err != nil {
			return errdefs.Invalidf(fmt.Sprintf("%s[%s]", field, key), "%v", err)
		}
	}
	return nil
}

// ParseQuota parses the value of quota key: millicores for cpu keys, bytes
// for memory keys, a whole number for pods and counts.
func ParseQuota(key, value string) (int64, error) {
	switch {
	case key == QuotaRequestsCPU || key == QuotaLimitsCPU:
		n, err := quantity.MilliCPU(value)
		if err != nil {
			return 0, fmt.Errorf("%q is not a cpu quantity", value)
		}
		return n, nil
	case key == QuotaRequestsMemory || key == QuotaLimitsMemory:
		n, err := quantity.Bytes(value)
		if err != nil {
			return 0, fmt.Errorf("%q is not a memory quantity", value)
		}
		return n, nil
	case key == QuotaPods || strings.HasPrefix(key, QuotaCountPrefix) && slices.Contains(quotaCounted, strings.TrimPrefix(key, QuotaCountPrefix)):
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a whole number", value)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unsupported quota %q (pods, requests.cpu, requests.memory, limits.cpu, limits.memory, count/%s are)",
		key, strings.Join(quotaCounted, ", count/"))
}

// FormatQuota writes a parsed quota value back in the units a user would:
// "1792Mi", "2Gi", "500m", "2", "3".
func FormatQuota(key string, v int64) string {
	switch key {
	case QuotaRequestsCPU, QuotaLimitsCPU:
		return FormatMilliCPU(v)
	case QuotaRequestsMemory, QuotaLimitsMemory:
		return FormatBytes(v)
	}
	return strconv.FormatInt(v, 10)
}

// FormatMilliCPU writes millicores as whole cores when exact ("2"), else
// as millicores ("1500m").
func FormatMilliCPU(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	return strconv.FormatInt(m, 10) + "m"
}

// FormatBytes writes bytes in the largest binary unit that divides them.
func FormatBytes(b int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(b/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(b, 10)
}

// QuotaCountKey is the quota key that counts objects of a resource, and
// whether that resource can be counted.
func QuotaCountKey(plural string) (string, bool) {
	return QuotaCountPrefix + plural, slices.Contains(quotaCounted, plural)
}

// LimitRange sets per-container defaults and bounds for a project's pods.
type LimitRange struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Metadata   ObjectMeta     `json:"metadata"`
	Spec       LimitRangeSpec `json:"spec"`
}

// LimitRangeSpec lists the limits by type.
type LimitRangeSpec struct {
	Limits []LimitRangeItem `json:"limits"`
}

// LimitTypeContainer is the only limit type Slipway supports.
const LimitTypeContainer = "Container"

// LimitRangeItem bounds each container: a container without a limit gets
// Default, one without a request gets DefaultRequest (or its limit), and
// every request and limit must lie within Min and Max.
type LimitRangeItem struct {
	Type           string       `json:"type"`
	Default        ResourceList `json:"default,omitempty"`
	DefaultRequest ResourceList `json:"defaultRequest,omitempty"`
	Max            ResourceList `json:"max,omitempty"`
	Min            ResourceList `json:"min,omitempty"`
}

// Validate checks types, resource names, quantities and that the bounds
// are consistent (min ≤ defaultRequest ≤ default ≤ max).
func (s *LimitRangeSpec) Validate() error {
	if len(s.Limits) == 0 {
		return errdefs.Invalidf("spec.limits", "at least one limit is required")
	}
	for i, it := range s.Limits {
		field := fmt.Sprintf("spec.limits[%d]", i)
		if it.Type != LimitTypeContainer {
			return errdefs.Invalidf(field+".type", "must be Container, got %q", it.Type)
		}
		lists := []struct {
			name string
			list ResourceList
		}{{"min", it.Min}, {"defaultRequest", it.DefaultRequest}, {"default", it.Default}, {"max", it.Max}}
		for _, l := range lists {
			for _, name := range sortedKeys(l.list) {
				if _, err := ParseResource(name, l.list[name]); err != nil {
					return errdefs.Invalidf(fmt.Sprintf("%s.%s.%s", field, l.name, name), "%v", err)
				}
			}
		}
		// Each list must not exceed any later one: min ≤ defaultRequest ≤ default ≤ max.
		for a := range lists {
			for b := a + 1; b < len(lists); b++ {
				for _, name := range []string{ResourceCPU, ResourceMemory} {
					lo, hi := lists[a].list[name], lists[b].list[name]
					if lo == "" || hi == "" {
						continue
					}
					l, _ := ParseResource(name, lo)
					h, _ := ParseResource(name, hi)
					if l > h {
						return errdefs.Invalidf(fmt.Sprintf("%s.%s.%s", field, lists[a].name, name), "%s exceeds %s %s", lo, lists[b].name, hi)
					}
				}
			}
		}
	}
	return nil
}

// ParseResource parses a container resource quantity: millicores for cpu,
// bytes for memory.
func ParseResource(name, q string) (int64, error) {
	switch name {
	case ResourceCPU:
		n, err := quantity.MilliCPU(q)
		if err != nil {
			return 0, fmt.Errorf("%q is not a cpu quantity", q)
		}
		return n, nil
	case ResourceMemory:
		n, err := quantity.Bytes(q)
		if err != nil {
			return 0, fmt.Errorf("%q is not a memory quantity", q)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unsupported resource %q (cpu and memory are)", name)
}

func sortedKeys(m ResourceList) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Plural names of quotas and limit ranges.
const (
	ResourceQuotasResource = "resourcequotas"
	LimitRangesResource    = "limitranges"
)

func quotaResources() []*Resource {
	specOnly := func(kind string, o *Object) error {
		if err := forbid(o.Data, "data", kind); err != nil {
			return err
		}
		if len(o.Spec) == 0 || string(o.Spec) == "null" {
			return errdefs.Invalidf("spec", "is required")
		}
		return nil
	}
	return []*Resource{
		{Plural: ResourceQuotasResource, Kind: "ResourceQuota", Scope: ProjectScoped, HasStatus: true,
			validateSpec: func(o *Object) error {
				if err := specOnly("ResourceQuota", o); err != nil {
					return err
				}
				return strictField[ResourceQuotaSpec](o.Spec, "spec")
			},
			validateStatus: func(o *Object) error { return strictField[ResourceQuotaStatus](o.Status, "status") }},
		{Plural: LimitRangesResource, Kind: "LimitRange", Scope: ProjectScoped,
			validateSpec: func(o *Object) error {
				if err := specOnly("LimitRange", o); err != nil {
					return err
				}
				if err := forbid(o.Status, "status", "LimitRange"); err != nil {
					return err
				}
				return strictField[LimitRangeSpec](o.Spec, "spec")
			}},
	}
}
