package agent_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/builder"
	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/podspec"
)

// executorRunner adapts the builder's executor to the agent, as node/host
// does.
type executorRunner struct{ ex *builder.Executor }

func (r executorRunner) RunBuild(ctx context.Context, pod podspec.Pod, deadline time.Duration) agent.BuildResult {
	res := r.ex.Run(ctx, pod, deadline)
	return agent.BuildResult{ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message.JSON()}
}

// TestBuildPods runs build pods through the API: the agent hands them to
// the executor, which pushes the image to the server's registry; the pod
// ends Succeeded with the result as its termination message, its log is
// the build's output, and the pushed image runs as a pod pulled from the
// registry. Deleting a running build pod stops the build and leaves nothing.
func TestBuildPods(t *testing.T) {
	repo := gittest.New(t) // also checks git is present
	e := newBuildEnv(t, 41)
	ctx := context.Background()
	registry := e.srv.RegistryHost()

	sha := repo.CommitDir("main", "static sample", filepath.Join("..", "..", "test", "samples", "static"))
	out := registry + "/" + project + "/site:latest"

	e.create(t, e.buildPod("site-1", repo.URI(), out))
	// Followed from the start, the log streams until the build has pushed.
	logSrv := httptest.NewServer(e.agent.Handler())
	defer logSrv.Close()
	var followed []byte
	testwait.Until(t, time.Minute, "follow the build log", func() error {
		resp, err := http.Get(logSrv.URL + "/containerLogs/" + project + "/site-1-build/build?follow=true")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		followed, err = io.ReadAll(resp.Body)
		return err
	})
	for _, want := range []string{"Cloning", "Running /usr/libexec/s2i/assemble", "Push successful", "completed in"} {
		if !strings.Contains(string(followed), want) {
			t.Errorf("the followed log lacks %q:\n%s", want, followed)
		}
	}
	p := e.waitPod(t, "site-1-build", 2*time.Minute, "build succeeds", func(p *api.Pod) error {
		if p.Status.Phase == api.PodFailed {
			t.Fatalf("build failed: %s", statusJSON(p))
		}
		if p.Status.Phase != api.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	term := p.Status.ContainerStatuses[0].State.Terminated
	var res api.BuildResult
	if term == nil || term.ExitCode != 0 || json.Unmarshal([]byte(term.Message), &res) != nil {
		t.Fatalf("terminated state = %+v", term)
	}
	if res.Commit != sha || res.Image != out || !strings.HasPrefix(res.OutputDigest, "sha256:") || res.Author != gittest.Author {
		t.Errorf("result = %+v", res)
	}
	logPath := e.agent.Runtime().LogPath(p.Metadata.UID, api.BuildContainerName)
	logBytes, _ := os.ReadFile(logPath)
	for _, want := range []string{"Cloning", "---> Installing application source", "Pushing image " + out, "Push successful"} {
		if !strings.Contains(string(logBytes), want) {
			t.Errorf("build log lacks %q:\n%s", want, logBytes)
		}
	}

	// The image comes back from the registry: drop the local copy and run it.
	if err := e.daemon.Client().ImageService().Delete(e.nsCtx(), out); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.pod("site", func(p *api.Pod) { p.Spec.Containers[0].Image = out }))
	app := e.waitPod(t, "site", time.Minute, "runs the built image", running)
	testwait.Until(t, 20*time.Second, "the built site answers", func() error {
		body, err := get(fmt.Sprintf("http://%s:8080/", app.Status.PodIP))
		if err == nil && !strings.Contains(body, "Hello from the Slipway static sample") {
			return fmt.Errorf("body %q", body)
		}
		return err
	})

	// Cancel: a build that never ends is deleted mid-assemble.
	slow := gittest.New(t)
	slow.Commit("main", "slow", map[string]string{"index.html": "x", ".s2i/bin/assemble": "#!/bin/sh\necho assembling\nsleep 600\n"})
	created := e.create(t, e.buildPod("site-2", slow.URI(), out))
	testwait.Until(t, time.Minute, "assemble runs", func() error {
		b, _ := os.ReadFile(e.agent.Runtime().LogPath(created.Metadata.UID, api.BuildContainerName))
		if !strings.Contains(string(b), "assembling") {
			return fmt.Errorf("log: %q", b)
		}
		return nil
	})
	if err := e.admin.Delete(ctx, podsRes, project, "site-2-build", nil); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 30*time.Second, "the cancelled build pod is gone from the node", func() error {
		pods, err := e.agent.Runtime().ListPods(ctx)
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.UID == created.Metadata.UID {
				return fmt.Errorf("pod still on the node: %+v", p)
			}
		}
		return nil
	})
	work, _ := os.ReadDir(filepath.Join(e.dir, "builds"))
	if len(work) != 0 {
		t.Errorf("the build's work dir is left: %d entries", len(work))
	}
}

func (e *env) nsCtx() context.Context {
	return namespaces.WithNamespace(context.Background(), e.ns)
}

// newBuildEnv is newEnv whose agent runs build pods with the executor, and
// whose containerd holds the static builder image as slipway up imports it.
func newBuildEnv(t *testing.T, subnet int) *env {
	t.Helper()
	e := newEnv(t, subnet)
	ctx := context.Background()
	registry := e.srv.RegistryHost()
	// The static builder image, imported as slipway up does.
	dir := t.TempDir()
	if _, err := images.BuildAll(ctx, dir, images.Options{Only: []string{images.Static}}); err != nil {
		t.Fatal(err)
	}
	if _, err := images.Import(e.nsCtx(), e.daemon.Client(), dir, registry, ""); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(e.srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(caPEM)
	cfg := e.config()
	ex, err := builder.New(builder.Options{Runtime: cfg.Runtime, WorkDir: filepath.Join(e.dir, "builds"), RegistryCA: ca, Logger: e.logger})
	if err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.builds = executorRunner{ex}
	e.startAgent()
	return e
}

// TestBuildConfigToImage: the whole path through the real API server — a
// BuildConfig instantiated, the build controller's pod scheduled onto this
// node, its secrets resolved by the agent, the executor's push with the
// build's own token — ends with the Build Complete, its commit and digest
// recorded.
func TestBuildConfigToImage(t *testing.T) {
	repo := gittest.New(t)
	e := newBuildEnv(t, 42)
	ctx := context.Background()
	sha := repo.CommitDir("main", "static sample", filepath.Join("..", "..", "test", "samples", "static"))
	bcs, builds := lookup(api.BuildConfigsResource), lookup(api.BuildsResource)
	bc := api.BuildConfig{Metadata: api.ObjectMeta{Name: "site"}, Spec: api.BuildConfigSpec{CommonSpec: api.CommonSpec{
		Source: api.BuildSource{Git: &api.GitBuildSource{URI: repo.URI()}},
		Strategy: api.BuildStrategy{SourceStrategy: &api.SourceBuildStrategy{
			From: api.ImageReference{Kind: api.ImageStreamTagKind, Namespace: "slipway-system", Name: images.Static + ":latest"}}},
		Output: api.BuildOutput{To: &api.ImageReference{Kind: api.ImageStreamTagKind, Name: "site:latest"}},
	}}}
	if err := e.admin.Create(ctx, bcs, project, bc, nil); err != nil {
		t.Fatal(err)
	}
	var b api.Build
	if err := e.admin.Do(ctx, "POST", client.Path(bcs, project, "site", "instantiate"), "application/json", []byte(`{}`), &b); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 2*time.Minute, "build "+b.Metadata.Name+" completes", func() error {
		if err := e.admin.Get(ctx, builds, project, b.Metadata.Name, &b); err != nil {
			return err
		}
		switch b.Status.Phase {
		case api.BuildPhaseComplete:
			return nil
		case api.BuildPhaseFailed, api.BuildPhaseError, api.BuildPhaseCancelled:
			t.Fatalf("build ended %s: %s %s", b.Status.Phase, b.Status.Reason, b.Status.Message)
		}
		return fmt.Errorf("phase %s", b.Status.Phase)
	})
	if b.Status.Revision == nil || b.Status.Revision.Commit != sha || !strings.HasPrefix(b.Status.OutputDigest, "sha256:") {
		t.Errorf("build status = %+v", b.Status)
	}
}

// buildPod is a build pod as the build controller writes it, pushing to
// out with the admin token.
func (e *env) buildPod(name, uri, out string) *api.Pod {
	registry := e.srv.RegistryHost()
	b := api.Build{Kind: "Build", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name, Project: project}}
	b.Spec.Source = api.BuildSource{Type: "Git", Git: &api.GitBuildSource{URI: uri}}
	b.Spec.Strategy = api.BuildStrategy{Type: "Source", SourceStrategy: &api.SourceBuildStrategy{
		From: api.ImageReference{Kind: "DockerImage", Name: images.Ref(registry, images.Static)}}}
	b.Spec.Output = api.BuildOutput{To: &api.ImageReference{Kind: "DockerImage", Name: out}}
	raw, _ := json.Marshal(b)
	deadline := int64(300)
	return e.pod(api.BuildPodName(name), func(p *api.Pod) {
		p.Metadata.Labels = map[string]string{api.BuildLabel: name}
		p.Metadata.Annotations = map[string]string{api.BuildPodAnnotation: "true"}
		p.Spec.RestartPolicy = api.RestartNever
		p.Spec.ActiveDeadlineSeconds = &deadline
		p.Spec.Containers = []api.Container{{Name: api.BuildContainerName, Image: images.Ref(registry, images.Static),
			Env:       []api.EnvVar{{Name: builder.EnvBuild, Value: string(raw)}, {Name: builder.EnvPushToken, Value: e.admin.Token()}},
			Resources: api.ResourceRequirements{Limits: api.ResourceList{api.ResourceCPU: "1", api.ResourceMemory: "512Mi"}}}}
	})
}

// TestBuildInterruptedByAgentRestart: a build cannot survive its executor;
// a restarted agent reports it Failed instead of running it again.
func TestBuildInterruptedByAgentRestart(t *testing.T) {
	slow := gittest.New(t)
	e := newBuildEnv(t, 43)
	slow.Commit("main", "slow", map[string]string{"index.html": "x", ".s2i/bin/assemble": "#!/bin/sh\necho assembling\nsleep 600\n"})
	// slow-1's containers are still there when the agent comes back;
	// slow-2's are gone (a containerd that lost its state): the Running
	// status the previous agent reported tells the same.
	var uids []string
	for _, name := range []string{"slow-1", "slow-2"} {
		created := e.create(t, e.buildPod(name, slow.URI(), e.srv.RegistryHost()+"/"+project+"/slow:latest"))
		uids = append(uids, created.Metadata.UID)
		e.waitPod(t, name+"-build", time.Minute, "reported Running", func(p *api.Pod) error {
			if p.Status.Phase != api.PodRunning {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			return nil
		})
		testwait.Until(t, time.Minute, name+" assembles", func() error {
			b, _ := os.ReadFile(e.agent.Runtime().LogPath(created.Metadata.UID, api.BuildContainerName))
			if !strings.Contains(string(b), "assembling") {
				return fmt.Errorf("log: %q", b)
			}
			return nil
		})
	}
	e.stop()
	if err := e.agent.Runtime().DeletePod(e.nsCtx(), uids[1]); err != nil {
		t.Fatal(err)
	}
	e.startAgent()
	for _, name := range []string{"slow-1", "slow-2"} {
		p := e.waitPod(t, name+"-build", time.Minute, "reported Failed", func(p *api.Pod) error {
			if p.Status.Phase != api.PodFailed {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			return nil
		})
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 1 || !strings.Contains(term.Message, "interrupted") {
			t.Errorf("%s: terminated = %+v", name, term)
		}
	}
}
