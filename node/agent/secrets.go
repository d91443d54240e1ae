package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

var secretsRes = mustLookup(api.SecretsResource)

// errMissingSecret is a secretKeyRef whose Secret or key does not exist
// (and is not optional): the pod waits with CreateContainerConfigError.
var errMissingSecret = errors.New("missing secret")

// podSecrets reads the Secrets the pod's env valueFrom.secretKeyRef refer
// to, through the API with the node's token, when the pod starts: name →
// data (nil for a missing optional one).
func (a *Agent) podSecrets(ctx context.Context, pod *api.Pod) (map[string]map[string][]byte, error) {
	out := map[string]map[string][]byte{}
	for _, c := range pod.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			data, seen := out[ref.Name]
			if !seen {
				var s api.Secret
				err := a.cfg.Client.Get(ctx, secretsRes, pod.Metadata.Project, ref.Name, &s)
				switch {
				case errors.Is(err, errdefs.ErrNotFound):
				case err != nil:
					return nil, fmt.Errorf("read secret %q for env %s of container %s: %w", ref.Name, e.Name, c.Name, err)
				default:
					data = s.Data
				}
				out[ref.Name] = data
			}
			if _, ok := data[ref.Key]; !ok && !optional {
				if data == nil {
					return nil, fmt.Errorf("%w: env %s of container %s: secret %q not found", errMissingSecret, e.Name, c.Name, ref.Name)
				}
				return nil, fmt.Errorf("%w: env %s of container %s: secret %q has no key %q", errMissingSecret, e.Name, c.Name, ref.Name, ref.Key)
			}
		}
	}
	return out, nil
}

// envValue is an env var's value, resolved against the pod's secrets.
func envValue(e api.EnvVar, secrets map[string]map[string][]byte) string {
	if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
		return string(secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key])
	}
	return e.Value
}
