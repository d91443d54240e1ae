package api

import (
	"fmt"

	"github.com/slipway/slipway/api/errdefs"
)

// ConfigMap holds configuration data for a project's workloads, shaped like
// Kubernetes' ConfigMap (its payload is "data", not "spec").
type ConfigMap struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Metadata   ObjectMeta    `json:"metadata"`
	Data       ConfigMapData `json:"data,omitempty"`
}

// ConfigMapData maps keys to values.
type ConfigMapData map[string]string

// MaxConfigMapBytes bounds the total size of a ConfigMap's data.
const MaxConfigMapBytes = 1 << 20

// Validate checks keys and the total size.
func (d *ConfigMapData) Validate() error {
	size := 0
	for k, v := range *d {
		if k == "" || len(k) > 253 {
			return errdefs.Invalidf("data", "key %q must be 1 to 253 characters", k)
		}
		for _, c := range k {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return errdefs.Invalidf(fmt.Sprintf("data[%s]", k), "key may contain only alphanumerics, '-', '_' and '.'")
			}
		}
		size += len(k) + len(v)
	}
	if size > MaxConfigMapBytes {
		return errdefs.Invalidf("data", "total size %d bytes exceeds %d", size, MaxConfigMapBytes)
	}
	return nil
}

// ConfigMapsResource is the plural name of config maps.
const ConfigMapsResource = "configmaps"

func configMapResource() *Resource {
	return &Resource{
		Plural: ConfigMapsResource,
		Kind:   "ConfigMap",
		Scope:  ProjectScoped,
		validateSpec: func(obj *Object) error {
			if err := forbid(obj.Spec, "spec", "ConfigMap"); err != nil {
				return err
			}
			if err := forbid(obj.Status, "status", "ConfigMap"); err != nil {
				return err
			}
			return strictField[ConfigMapData](obj.Data, "data")
		},
	}
}
