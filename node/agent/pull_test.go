package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/sampleimage"
)

// testRegistryPull pushes an image to the API server's registry with a
// standard client, then runs a pod of it: the agent pulls it with the
// node's token over TLS with the cluster CA.
func (e *env) testRegistryPull(t *testing.T) {
	t.Parallel()
	skopeo := testpeer.RequireBinary(t, "skopeo", "skopeo")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const page = "pulled from the registry\n"
	archive, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: "localhost/sample/pulled:v1",
		Files: map[string][]byte{"/www/index.html": []byte(page)}})
	if err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	ca, err := os.ReadFile(e.srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := e.srv.RegistryHost() + "/" + project + "/pulled:v1"
	if out, err := exec.CommandContext(ctx, skopeo, "--insecure-policy", "copy", "--dest-creds", "x:"+e.admin.Token(),
		"--dest-cert-dir", certs, "oci-archive:"+archive, "docker://"+ref).CombinedOutput(); err != nil {
		t.Fatalf("push %s: %v\n%s", ref, err, out)
	}
	e.create(t, e.pod("pulled", func(p *api.Pod) { p.Spec.Containers[0].Image = ref }))
	p := e.waitPod(t, "pulled", 60*time.Second, "ready", ready)
	waitServes(t, p, page)
	if cs := p.Status.ContainerStatuses[0]; cs.Image != ref {
		t.Fatalf("container image %q, want %q", cs.Image, ref)
	}
	e.deleteAndWaitGone(t, "pulled")

	// The tag moves to a new image: IfNotPresent keeps the node's copy,
	// Always fetches the new one.
	const page2 = "the tag moved\n"
	archive2, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: "localhost/sample/pulled:v1b",
		Files: map[string][]byte{"/www/index.html": []byte(page2)}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, skopeo, "--insecure-policy", "copy", "--dest-creds", "x:"+e.admin.Token(),
		"--dest-cert-dir", certs, "oci-archive:"+archive2, "docker://"+ref).CombinedOutput(); err != nil {
		t.Fatalf("push %s again: %v\n%s", ref, err, out)
	}
	for _, tc := range []struct{ name, policy, page string }{{"pulled-cached", "IfNotPresent", page}, {"pulled-always", "Always", page2}} {
		e.create(t, e.pod(tc.name, func(p *api.Pod) { p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = ref, tc.policy }))
		p := e.waitPod(t, tc.name, 60*time.Second, "ready", ready)
		waitServes(t, p, tc.page)
		e.deleteAndWaitGone(t, tc.name)
	}

	// Concurrent pulls of one reference (several pods starting at once)
	// share one download and all succeed.
	ref2 := e.srv.RegistryHost() + "/" + project + "/pulled:v2"
	if out, err := exec.CommandContext(ctx, skopeo, "--insecure-policy", "copy", "--dest-creds", "x:"+e.admin.Token(),
		"--dest-cert-dir", certs, "oci-archive:"+archive, "docker://"+ref2).CombinedOutput(); err != nil {
		t.Fatalf("push %s: %v\n%s", ref2, err, out)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- e.puller.Pull(ctx, ref2) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent pull: %v", err)
		}
	}
	if _, err := e.daemon.Client().GetImage(namespaces.WithNamespace(ctx, e.ns), ref2); err != nil {
		t.Fatalf("pulled image not in containerd: %v", err)
	}
	// An image of another registry is not the puller's to fetch.
	if e.puller.Handles("registry.example.com/x/y:1") {
		t.Fatal("the puller claims another registry's image")
	}
}
