package agent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/agent"
)

// testSecretEnv: env valueFrom.secretKeyRef is read from the API with the
// node's token when the container starts; until the Secret exists the pod
// waits with CreateContainerConfigError.
func (e *env) testSecretEnv(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("secret-env", func(p *api.Pod) {
		p.Spec.Containers[0].Env = []api.EnvVar{{Name: "PUSH_TOKEN",
			ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "creds", Key: "token"}}}}
	}))
	e.waitPod(t, "secret-env", 15*time.Second, "waiting for its secret", func(p *api.Pod) error {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
			p.Status.ContainerStatuses[0].State.Waiting.Reason != agent.ReasonConfigError ||
			!strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, `secret "creds" not found`) {
			return fmt.Errorf("%s", statusJSON(p))
		}
		return nil
	})
	secret := map[string]any{"metadata": map[string]any{"name": "creds"}, "data": map[string][]byte{"token": []byte("s3cr3t-value")}}
	if err := e.admin.Create(context.Background(), secretsRes, project, secret, nil); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "secret-env", 60*time.Second, "running", running)
	if out, _, code := e.execIn(t, "secret-env", "web", "", "sh", "-c", "echo $PUSH_TOKEN"); code != 0 || strings.TrimSpace(out) != "s3cr3t-value" {
		t.Errorf("echo $PUSH_TOKEN: %q exit %d", out, code)
	}
	e.deleteAndWaitGone(t, "secret-env")
}
