package builds_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/builder/webhook"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var catalogue = api.NewCatalogue()

func res(plural string) *api.Resource {
	r, ok := catalogue.Lookup(plural)
	if !ok {
		panic(plural)
	}
	return r
}

// env is a real API server (with its build controllers) and a project.
type env struct {
	*servertest.Env
	c       *client.Client
	project string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{Env: servertest.Start(t, server.Config{}), project: "shop"}
	e.c = e.Admin
	if err := e.c.Create(context.Background(), res(api.ProjectsResource), "", map[string]any{"metadata": map[string]any{"name": e.project}}, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// eventually polls cond until it holds, failing after 30 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what, cond)
}

func bcSpec(mod func(*api.BuildConfigSpec)) api.BuildConfigSpec {
	s := api.BuildConfigSpec{CommonSpec: api.CommonSpec{
		Source: api.BuildSource{Git: &api.GitBuildSource{URI: "https://git.example.com/shop/web.git", Ref: "main"}},
		Strategy: api.BuildStrategy{SourceStrategy: &api.SourceBuildStrategy{
			From: api.ImageReference{Kind: api.ImageStreamTagKind, Namespace: "slipway-system", Name: "s2i-static:latest"}}},
		Output: api.BuildOutput{To: &api.ImageReference{Kind: api.ImageStreamTagKind, Name: "web:latest"}},
	}}
	if mod != nil {
		mod(&s)
	}
	return s
}

func (e *env) createBC(t *testing.T, name string, spec api.BuildConfigSpec) {
	t.Helper()
	obj := api.BuildConfig{Metadata: api.ObjectMeta{Name: name}, Spec: spec}
	if err := e.c.Create(context.Background(), res(api.BuildConfigsResource), e.project, obj, nil); err != nil {
		t.Fatalf("create buildconfig %s: %v", name, err)
	}
}

func (e *env) instantiate(t *testing.T, name string) *api.Build {
	t.Helper()
	var b api.Build
	if err := e.c.Do(context.Background(), "POST", client.Path(res(api.BuildConfigsResource), e.project, name, "instantiate"), "application/json", []byte(`{}`), &b); err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	return &b
}

func (e *env) build(t *testing.T, name string) *api.Build {
	t.Helper()
	var b api.Build
	if err := e.c.Get(context.Background(), res(api.BuildsResource), e.project, name, &b); err != nil {
		t.Fatalf("get build %s: %v", name, err)
	}
	return &b
}

func (e *env) pod(name string) (*api.Pod, error) {
	var p api.Pod
	err := e.c.Get(context.Background(), res(api.PodsResource), e.project, name, &p)
	return &p, err
}

func (e *env) waitPhase(t *testing.T, build, phase string) *api.Build {
	t.Helper()
	var b *api.Build
	eventually(t, "build "+build+" "+phase, func() error {
		b = e.build(t, build)
		if b.Status.Phase != phase {
			return fmt.Errorf("phase %q (%s: %s)", b.Status.Phase, b.Status.Reason, b.Status.Message)
		}
		return nil
	})
	return b
}

func (e *env) waitPod(t *testing.T, build string) *api.Pod {
	t.Helper()
	var p *api.Pod
	eventually(t, "pod of "+build, func() (err error) {
		p, err = e.pod(api.BuildPodName(build))
		return err
	})
	return p
}

// setPod plays the node agent: it reports the build pod's phase and, when
// it ended, the build container's exit code and message.
func (e *env) setPod(t *testing.T, build, phase string, exit int32, message string) {
	t.Helper()
	eventually(t, "report pod status", func() error {
		p, err := e.pod(api.BuildPodName(build))
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		p.Status.Phase, p.Status.StartTime = phase, &now
		cs := api.ContainerStatus{Name: api.BuildContainerName, Image: p.Spec.Containers[0].Image}
		switch phase {
		case api.PodRunning:
			cs.State.Running = &api.ContainerStateRunning{StartedAt: &now}
		case api.PodSucceeded, api.PodFailed:
			cs.State.Terminated = &api.ContainerStateTerminated{ExitCode: exit, Message: message, FinishedAt: &now}
		}
		p.Status.ContainerStatuses = []api.ContainerStatus{cs}
		return e.c.UpdateStatus(context.Background(), res(api.PodsResource), e.project, p.Metadata.Name, p, nil)
	})
}

func TestInstantiateNumbersBuildsUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	e.createBC(t, "web", bcSpec(func(s *api.BuildConfigSpec) { s.RunPolicy = api.RunPolicyParallel }))
	const n = 12
	names := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b api.Build
			if err := e.c.Do(context.Background(), "POST", client.Path(res(api.BuildConfigsResource), e.project, "web", "instantiate"), "", nil, &b); err != nil {
				t.Errorf("instantiate: %v", err)
				return
			}
			names <- b.Metadata.Name
		}()
	}
	wg.Wait()
	close(names)
	var got []string
	for name := range names {
		got = append(got, name)
	}
	slices.Sort(got)
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("web-%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("builds %v, want %v", got, want)
	}
	var bc api.BuildConfig
	if err := e.c.Get(context.Background(), res(api.BuildConfigsResource), e.project, "web", &bc); err != nil {
		t.Fatal(err)
	}
	if bc.Status.LastVersion != n {
		t.Errorf("lastVersion %d, want %d", bc.Status.LastVersion, n)
	}
}

func TestBuildPodContractAndCompletion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	secret := map[string]any{"metadata": map[string]any{"name": "repo"}, "type": api.SecretTypeBasicAuth,
		"data": map[string][]byte{"username": []byte("git"), "password": []byte("t0ken")}}
	if err := e.c.Create(ctx, res(api.SecretsResource), e.project, secret, nil); err != nil {
		t.Fatal(err)
	}
	e.createBC(t, "web", bcSpec(func(s *api.BuildConfigSpec) {
		s.Source.SourceSecret = &api.LocalObjectReference{Name: "repo"}
		s.Strategy.SourceStrategy.Env = []api.EnvVar{{Name: "MODE", Value: "prod"}}
	}))
	b := e.instantiate(t, "web")
	if b.Metadata.Name != "web-1" {
		t.Fatalf("first build %q, want web-1", b.Metadata.Name)
	}
	if !strings.HasSuffix(b.Spec.Output.To.Name, "/shop/web:latest") || b.Spec.Output.To.Kind != api.DockerImageKind {
		t.Errorf("output %+v, want HOST/shop/web:latest", b.Spec.Output.To)
	}
	pod := e.waitPod(t, "web-1")
	c := pod.Spec.Containers[0]
	if pod.Spec.RestartPolicy != api.RestartNever || pod.Metadata.Labels[api.BuildLabel] != "web-1" || pod.Metadata.Labels[api.BuildConfigLabel] != "web" ||
		pod.Metadata.Annotations[api.BuildPodAnnotation] != "true" || len(pod.Spec.Containers) != 1 || c.Name != "build" ||
		!strings.HasSuffix(c.Image, "/slipway-system/s2i-static:latest") || pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds != 1800 ||
		c.Resources.Limits["cpu"] != "1" || c.Resources.Limits["memory"] != "1Gi" {
		t.Errorf("build pod breaks the contract: %+v", pod)
	}
	env := map[string]api.EnvVar{}
	for _, v := range c.Env {
		env[v.Name] = v
	}
	var inPod api.Build
	if err := json.Unmarshal([]byte(env["BUILD"].Value), &inPod); err != nil || inPod.Metadata.Name != "web-1" || inPod.Spec.Strategy.SourceStrategy.Env[0].Name != "MODE" {
		t.Errorf("BUILD env %q: %v", env["BUILD"].Value, err)
	}
	if r := env["SLIPWAY_PUSH_TOKEN"].ValueFrom; r == nil || r.SecretKeyRef.Name != "web-1-push" || r.SecretKeyRef.Key != "token" {
		t.Errorf("SLIPWAY_PUSH_TOKEN = %+v", env["SLIPWAY_PUSH_TOKEN"])
	}
	if r := env["SOURCE_TOKEN"].ValueFrom; r == nil || r.SecretKeyRef.Name != "repo" || r.SecretKeyRef.Key != "password" {
		t.Errorf("SOURCE_TOKEN = %+v", env["SOURCE_TOKEN"])
	}
	var push api.Secret
	if err := e.c.Get(ctx, res(api.SecretsResource), e.project, "web-1-push", &push); err != nil || len(push.Data["token"]) == 0 {
		t.Fatalf("push secret: %v %+v", err, push)
	}
	// The push token authenticates as the project's builder, which may read
	// the build but not the project's other secrets.
	builder := e.Client(t, string(push.Data["token"]))
	if err := builder.Get(ctx, res(api.BuildsResource), e.project, "web-1", nil); err != nil {
		t.Errorf("the push token cannot read its build: %v", err)
	}
	if err := builder.Get(ctx, res(api.SecretsResource), e.project, "repo", nil); err == nil {
		t.Error("the push token reads secrets")
	}
	if err := builder.Get(ctx, res(api.BuildsResource), "other", "x", nil); err == nil || !strings.Contains(err.Error(), "cannot") {
		t.Errorf("the push token reaches another project: %v", err)
	}
	e.waitPhase(t, "web-1", api.BuildPhasePending)
	e.setPod(t, "web-1", api.PodRunning, 0, "")
	running := e.waitPhase(t, "web-1", api.BuildPhaseRunning)
	if running.Status.StartTimestamp == nil {
		t.Error("no startTimestamp")
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	result, _ := json.Marshal(api.BuildResult{Commit: "0123456789abcdef", Author: "Ada <ada@example.com>", Message: "Fix", OutputDigest: digest, Image: "localhost:1/shop/web@" + digest})
	e.setPod(t, "web-1", api.PodSucceeded, 0, string(result))
	done := e.waitPhase(t, "web-1", api.BuildPhaseComplete)
	if done.Status.Revision == nil || done.Status.Revision.Commit != "0123456789abcdef" || done.Status.Revision.Author != "Ada <ada@example.com>" ||
		done.Status.OutputDigest != digest || done.Status.CompletionTimestamp == nil || done.Status.Cause == nil || done.Status.Cause.Type != api.ManualBuildTrigger {
		t.Errorf("complete build status %+v", done.Status)
	}
	eventually(t, "push secret removed", func() error {
		if err := e.c.Get(ctx, res(api.SecretsResource), e.project, "web-1-push", nil); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if err := builder.Get(ctx, res(api.BuildsResource), e.project, "web-1", nil); err == nil {
		t.Error("the push token still works after the build")
	}
}

func TestBuildFailsCancelsAndMissesItsDeadline(t *testing.T) {
	e := newEnv(t)
	e.createBC(t, "web", bcSpec(func(s *api.BuildConfigSpec) { s.RunPolicy = api.RunPolicyParallel }))
	e.instantiate(t, "web") // web-1 fails
	e.instantiate(t, "web") // web-2 is cancelled
	e.waitPod(t, "web-1")
	e.waitPod(t, "web-2")
	e.setPod(t, "web-1", api.PodFailed, 3, `{"error":"assemble exited with 3"}`)
	failed := e.waitPhase(t, "web-1", api.BuildPhaseFailed)
	if failed.Status.Message != "assemble exited with 3" {
		t.Errorf("failed build message %q", failed.Status.Message)
	}
	if err := e.c.Patch(context.Background(), res(api.BuildsResource), e.project, "web-2", map[string]any{"spec": map[string]any{"cancelled": true}}, false, nil); err != nil {
		t.Fatal(err)
	}
	cancelled := e.waitPhase(t, "web-2", api.BuildPhaseCancelled)
	e.metricsHave(t, `slipway_builds_started_total{cause="Manual"} 2`, `slipway_builds_finished_total{phase="Failed"} 1`,
		`slipway_builds_finished_total{phase="Cancelled"} 1`)
	if cancelled.Status.Reason != api.BuildReasonCancelled {
		t.Errorf("cancel reason %q", cancelled.Status.Reason)
	}
	eventually(t, "cancelled build's pod deleted", func() error {
		if _, err := e.pod("web-2-build"); err == nil {
			return fmt.Errorf("pod still there")
		}
		return nil
	})
	// A deadline of one second passes while the pod waits for a node.
	e.createBC(t, "slow", bcSpec(func(s *api.BuildConfigSpec) { d := int64(1); s.CompletionDeadlineSeconds = &d }))
	e.instantiate(t, "slow")
	late := e.waitPhase(t, "slow-1", api.BuildPhaseFailed)
	if late.Status.Reason != api.BuildReasonDeadlineExceeded {
		t.Errorf("deadline reason %q (%s)", late.Status.Reason, late.Status.Message)
	}
}

func TestRunPolicies(t *testing.T) {
	e := newEnv(t)
	// Serial: one at a time, in order.
	e.createBC(t, "serial", bcSpec(nil))
	e.instantiate(t, "serial")
	e.instantiate(t, "serial")
	e.waitPod(t, "serial-1")
	waiting := e.waitPhase(t, "serial-2", api.BuildPhaseNew)
	if _, err := e.pod("serial-2-build"); err == nil {
		t.Fatal("serial-2 runs while serial-1 runs")
	}
	if !strings.Contains(waiting.Status.Message, "serial-1") {
		t.Errorf("waiting message %q", waiting.Status.Message)
	}
	e.setPod(t, "serial-1", api.PodSucceeded, 0, "")
	e.waitPhase(t, "serial-1", api.BuildPhaseComplete)
	e.waitPod(t, "serial-2")

	// SerialLatestOnly: the queued builds behind the running one are
	// cancelled but the newest.
	e.createBC(t, "latest", bcSpec(func(s *api.BuildConfigSpec) { s.RunPolicy = api.RunPolicySerialLatestOnly }))
	e.instantiate(t, "latest")
	e.waitPod(t, "latest-1")
	e.instantiate(t, "latest")
	e.instantiate(t, "latest")
	e.waitPhase(t, "latest-2", api.BuildPhaseCancelled)
	e.waitPhase(t, "latest-3", api.BuildPhaseNew)
	e.setPod(t, "latest-1", api.PodSucceeded, 0, "")
	e.waitPod(t, "latest-3")

	// Parallel: all at once.
	e.createBC(t, "par", bcSpec(func(s *api.BuildConfigSpec) { s.RunPolicy = api.RunPolicyParallel }))
	e.instantiate(t, "par")
	e.instantiate(t, "par")
	e.waitPod(t, "par-1")
	e.waitPod(t, "par-2")
}

func TestHistoryIsPruned(t *testing.T) {
	e := newEnv(t)
	one := int32(1)
	e.createBC(t, "web", bcSpec(func(s *api.BuildConfigSpec) { s.SuccessfulBuildsHistoryLimit = &one }))
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		e.instantiate(t, "web")
		e.waitPod(t, name)
		e.setPod(t, name, api.PodSucceeded, 0, "")
		e.waitPhase(t, name, api.BuildPhaseComplete)
	}
	eventually(t, "history pruned to one build", func() error {
		var list api.List[api.Build]
		if err := e.c.List(context.Background(), res(api.BuildsResource), e.project, api.ListOptions{}, &list); err != nil {
			return err
		}
		var names []string
		for _, b := range list.Items {
			names = append(names, b.Metadata.Name)
		}
		if !slices.Equal(names, []string{"web-3"}) {
			return fmt.Errorf("builds %v", names)
		}
		return nil
	})
}

func TestBinarySourceUpload(t *testing.T) {
	e := newEnv(t)
	e.createBC(t, "web", bcSpec(nil))
	var archive bytes.Buffer
	zw := gzip.NewWriter(&archive)
	zw.Write([]byte("pretend this is a tar"))
	zw.Close()
	var b api.Build
	if err := e.c.Do(context.Background(), "POST", client.Path(res(api.BuildConfigsResource), e.project, "web", "instantiate")+"?commit=abcdef12",
		"application/gzip", archive.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.Source.Type != api.BuildSourceBinary || b.Spec.Source.Binary == nil || b.Spec.Source.Binary.Size != int64(archive.Len()) ||
		b.Spec.Revision == nil || b.Spec.Revision.Commit != "abcdef12" {
		t.Fatalf("binary build spec %+v", b.Spec)
	}
	body, err := e.c.Stream(context.Background(), "GET", client.Path(res(api.BuildsResource), e.project, b.Metadata.Name, "source"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if !bytes.Equal(got, archive.Bytes()) {
		t.Fatalf("source %d bytes, uploaded %d", len(got), archive.Len())
	}
	pod := e.waitPod(t, b.Metadata.Name)
	var inPod api.Build
	for _, v := range pod.Spec.Containers[0].Env {
		if v.Name == "BUILD" {
			_ = json.Unmarshal([]byte(v.Value), &inPod)
		}
	}
	if bin := inPod.Spec.Source.Binary; bin == nil || bin.URL != "https://"+e.Server.RegistryHost()+"/api/v1/projects/shop/builds/"+b.Metadata.Name+"/source" {
		t.Errorf("the build pod is not told where its source is: %+v", inPod.Spec.Source)
	}
	err = e.c.Do(context.Background(), "POST", client.Path(res(api.BuildConfigsResource), e.project, "web", "instantiate"), "application/gzip", []byte("not gzip"), nil)
	if err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("a non-gzip upload: %v", err)
	}
}

// TestWebhooks is the webhook matrix: signature ok/bad, ref match and
// mismatch, ping, replay, wrong secret (401, the same as for a missing
// BuildConfig).
func TestWebhooks(t *testing.T) {
	e := newEnv(t)
	e.createBC(t, "web", bcSpec(func(s *api.BuildConfigSpec) {
		s.RunPolicy = api.RunPolicyParallel
		s.Triggers = []api.BuildTriggerPolicy{
			{Type: api.GitHubWebHookBuildTrigger, GitHubWebHook: &api.WebHookTrigger{Secret: "gh-url-secret", SigningSecret: "hmac-key"}},
			{Type: api.GitLabWebHookBuildTrigger, GitLabWebHook: &api.WebHookTrigger{SecretReference: &api.LocalObjectReference{Name: "hooks"}, SigningSecret: "gl-token"}},
			{Type: api.GenericWebHookBuildTrigger, GenericWebHook: &api.WebHookTrigger{Secret: "generic-secret"}},
		}
	}))
	if err := e.c.Create(context.Background(), res(api.SecretsResource), e.project, map[string]any{"metadata": map[string]any{"name": "hooks"},
		"data": map[string][]byte{api.WebHookSecretKey: []byte("gl-url-secret")}}, nil); err != nil {
		t.Fatal(err)
	}
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	push := func(ref, commit string) []byte {
		b, _ := json.Marshal(map[string]any{"ref": ref, "after": commit, "repository": map[string]any{"default_branch": "main"},
			"head_commit": map[string]any{"id": commit, "message": "msg " + commit, "author": map[string]any{"name": "Ada"}}})
		return b
	}
	post := func(path string, h map[string]string, body []byte) (int, string) {
		req, _ := http.NewRequest("POST", e.Server.URL()+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	gh := func(event, delivery string, body []byte, key string) map[string]string {
		h := map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
		if key != "" {
			h["X-Hub-Signature-256"] = webhook.Sign(key, body)
		}
		return h
	}
	ghURL := api.WebhookPath(e.project, "web", "gh-url-secret", "github")
	mainPush := push("refs/heads/main", "aaaa1111")
	tests := []struct {
		name      string
		path      string
		header    map[string]string
		body      []byte
		wantCode  int
		wantBuild string // the build the delivery starts
		wantIn    string // text of the answer
	}{
		{"github ping", ghURL, gh("ping", "d-ping", []byte(`{}`), "hmac-key"), []byte(`{}`), 200, "", "ping"},
		{"github push signed", ghURL, gh("push", "d-1", mainPush, "hmac-key"), mainPush, 200, "web-1", ""},
		{"github replay", ghURL, gh("push", "d-1", mainPush, "hmac-key"), mainPush, 200, "", "already"},
		{"github bad signature", ghURL, gh("push", "d-2", mainPush, "wrong-key"), mainPush, 401, "", "X-Hub-Signature-256"},
		{"github unsigned", ghURL, gh("push", "d-3", mainPush, ""), mainPush, 401, "", "X-Hub-Signature-256"},
		{"github other ref", ghURL, gh("push", "d-4", push("refs/heads/dev", "bbbb2222"), "hmac-key"), push("refs/heads/dev", "bbbb2222"), 200, "", "does not match"},
		{"gitlab push", api.WebhookPath(e.project, "web", "gl-url-secret", "gitlab"),
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gl-token", "X-Gitlab-Event-UUID": "u-1"},
			[]byte(`{"ref":"refs/heads/main","checkout_sha":"cccc3333","commits":[]}`), 200, "web-2", ""},
		{"gitlab wrong token", api.WebhookPath(e.project, "web", "gl-url-secret", "gitlab"),
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, []byte(`{"ref":"refs/heads/main","checkout_sha":"cccc3333"}`), 401, "", "X-Gitlab-Token"},
		{"generic", api.WebhookPath(e.project, "web", "generic-secret", "generic"), nil, nil, 200, "web-3", ""},
		{"github secret on the gitlab URL", api.WebhookPath(e.project, "web", "gh-url-secret", "gitlab"),
			map[string]string{"X-Gitlab-Event": "Push Hook"}, []byte(`{}`), 401, "", ""},
	}
	for _, tc := range tests {
		code, body := post(tc.path, tc.header, tc.body)
		if code != tc.wantCode || !strings.Contains(body, tc.wantIn) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.wantCode, tc.wantIn)
			continue
		}
		if tc.wantBuild != "" {
			var b api.Build
			if err := json.Unmarshal([]byte(body), &b); err != nil || b.Metadata.Name != tc.wantBuild {
				t.Errorf("%s: started %q (%v), want %s", tc.name, b.Metadata.Name, err, tc.wantBuild)
			}
		}
	}
	// A wrong secret and a missing BuildConfig get the same answer.
	wrongCode, wrongBody := post(api.WebhookPath(e.project, "web", "not-the-secret", "github"), gh("push", "x", mainPush, "hmac-key"), mainPush)
	missingCode, missingBody := post(api.WebhookPath(e.project, "nope", "gh-url-secret", "github"), gh("push", "x", mainPush, "hmac-key"), mainPush)
	otherProjectCode, otherProjectBody := post(api.WebhookPath("elsewhere", "web", "gh-url-secret", "github"), gh("push", "x", mainPush, "hmac-key"), mainPush)
	if wrongCode != 401 || missingCode != 401 || otherProjectCode != 401 || wrongBody != missingBody || wrongBody != otherProjectBody {
		t.Errorf("wrong secret %d %s; missing buildconfig %d %s; missing project %d %s", wrongCode, wrongBody, missingCode, missingBody, otherProjectCode, otherProjectBody)
	}
	b1 := e.build(t, "web-1")
	if b1.Spec.Revision == nil || b1.Spec.Revision.Commit != "aaaa1111" || b1.Spec.TriggeredBy[0].Type != api.GitHubWebHookBuildTrigger || b1.Spec.TriggeredBy[0].DeliveryID != "d-1" {
		t.Errorf("webhook build spec %+v", b1.Spec)
	}
	var bc api.BuildConfig
	if err := e.c.Get(context.Background(), res(api.BuildConfigsResource), e.project, "web", &bc); err != nil {
		t.Fatal(err)
	}
	if bc.Status.LastVersion != 3 {
		t.Errorf("lastVersion %d, want 3", bc.Status.LastVersion)
	}
	var results []string
	for _, d := range bc.Status.WebhookDeliveries {
		results = append(results, d.Type+":"+d.Result)
		if d.Result == api.DeliveryIgnored && d.Reason == "" {
			t.Errorf("ignored delivery without reason: %+v", d)
		}
	}
	want := []string{"GitHub:Ignored", "GitHub:Triggered", "GitHub:Duplicate", "GitHub:Rejected", "GitHub:Rejected", "GitHub:Ignored",
		"GitLab:Triggered", "GitLab:Rejected", "Generic:Triggered"}
	if !slices.Equal(results, want) {
		t.Errorf("deliveries %v, want %v", results, want)
	}
	e.metricsHave(t,
		`slipway_webhook_deliveries_total{result="Triggered",type="GitHub"} 1`,
		`slipway_webhook_deliveries_total{result="Duplicate",type="GitHub"} 1`,
		`slipway_webhook_deliveries_total{result="Rejected",type="GitHub"} 2`,
		`slipway_webhook_deliveries_total{result="Ignored",type="GitHub"} 2`,
		`slipway_builds_started_total{cause="GitLab"} 1`)
}

// setTag plays the registry: it points tag of image project/name at digest.
func (e *env) setTag(t *testing.T, project, name, tag, digest string) {
	t.Helper()
	ctx := context.Background()
	images := res(api.ImagesResource)
	var img api.Image
	if err := e.c.Get(ctx, images, project, name, &img); err != nil {
		if err := e.c.Create(ctx, images, project, map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{}}, &img); err != nil {
			t.Fatalf("create image %s/%s: %v", project, name, err)
		}
	}
	img.Status.Tags = []api.ImageTag{{Tag: tag, Digest: digest, Image: e.Server.RegistryHost() + "/" + project + "/" + name + "@" + digest, Created: time.Now().UTC()}}
	if err := e.c.UpdateStatus(ctx, images, project, name, &img, nil); err != nil {
		t.Fatalf("tag %s/%s:%s: %v", project, name, tag, err)
	}
}

func TestImageTriggers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	digestA, digestB := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	// A deployment following web:latest automatically rolls to each new
	// digest; one whose trigger is off stays.
	for _, d := range []struct {
		name string
		auto bool
	}{{"follows", true}, {"pinned", false}} {
		labels := map[string]string{"app": d.name}
		dep := api.Deployment{Metadata: api.ObjectMeta{Name: d.name}, Spec: api.DeploymentSpec{
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "localhost/placeholder:v0"}}}},
			Triggers: []api.DeploymentTrigger{{Type: api.ImageChangeTrigger,
				ImageChange: &api.ImageChangeParams{From: "web:latest", ContainerNames: []string{"app"}, Automatic: d.auto}}},
		}}
		if err := e.c.Create(ctx, res(api.DeploymentsResource), e.project, dep, nil); err != nil {
			t.Fatal(err)
		}
	}
	image := func(name string) string {
		var d api.Deployment
		if err := e.c.Get(ctx, res(api.DeploymentsResource), e.project, name, &d); err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}
	for _, digest := range []string{digestA, digestB} {
		e.setTag(t, e.project, "web", "latest", digest)
		want := e.Server.RegistryHost() + "/shop/web@" + digest
		// Rolled to it: the template names it and the deployment
		// controller has seen that template (its revision exists, so the
		// rollback below has it to return to).
		eventually(t, "deployment rolled to "+digest, func() error {
			var d api.Deployment
			if err := e.c.Get(ctx, res(api.DeploymentsResource), e.project, "follows", &d); err != nil {
				return err
			}
			if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
				return fmt.Errorf("image %s, want %s", got, want)
			}
			if d.Status.ObservedGeneration < d.Metadata.Generation {
				return fmt.Errorf("generation %d not observed yet (%d)", d.Metadata.Generation, d.Status.ObservedGeneration)
			}
			return nil
		})
	}
	if got := image("pinned"); got != "localhost/placeholder:v0" {
		t.Errorf("a deployment without an automatic trigger moved to %s", got)
	}
	// A rollback turns the automatic trigger off: the next digest leaves
	// the deployment alone until the trigger is automatic again.
	digestC := "sha256:" + strings.Repeat("c", 64)
	rolledBack := e.Server.RegistryHost() + "/shop/web@" + digestA
	if err := e.c.Do(ctx, "POST", client.Path(res(api.DeploymentsResource), e.project, "follows", "rollback"), "application/json", []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rolled back", func() error {
		if got := image("follows"); got != rolledBack {
			return fmt.Errorf("image %s, want %s", got, rolledBack)
		}
		return nil
	})
	// A witness following the same tag shows when the new digest has been
	// handled (one reconcile handles every follower of the tag).
	labels := map[string]string{"app": "witness"}
	witness := api.Deployment{Metadata: api.ObjectMeta{Name: "witness"}, Spec: api.DeploymentSpec{
		Selector: &api.LabelSelector{MatchLabels: labels},
		Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: labels},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "localhost/placeholder:v0"}}}},
		Triggers: []api.DeploymentTrigger{{Type: api.ImageChangeTrigger,
			ImageChange: &api.ImageChangeParams{From: "web:latest", ContainerNames: []string{"app"}, Automatic: true}}},
	}}
	if err := e.c.Create(ctx, res(api.DeploymentsResource), e.project, witness, nil); err != nil {
		t.Fatal(err)
	}
	e.setTag(t, e.project, "web", "latest", digestC)
	eventually(t, "the witness follows the new digest", func() error {
		if got, want := image("witness"), e.Server.RegistryHost()+"/shop/web@"+digestC; got != want {
			return fmt.Errorf("image %s, want %s", got, want)
		}
		return nil
	})
	if got := image("follows"); got != rolledBack {
		t.Fatalf("a rolled-back deployment followed the tag to %s", got)
	}
	var d api.Deployment
	if err := e.c.Get(ctx, res(api.DeploymentsResource), e.project, "follows", &d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Triggers[0].ImageChange.Automatic = true
	if err := e.c.Update(ctx, res(api.DeploymentsResource), e.project, "follows", &d, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "automatic again: follows the current digest", func() error {
		if got, want := image("follows"), e.Server.RegistryHost()+"/shop/web@"+digestC; got != want {
			return fmt.Errorf("image %s, want %s", got, want)
		}
		return nil
	})

	// A new builder image rebuilds the BuildConfigs built on it; the first
	// digest a trigger sees is only recorded.
	if err := e.c.Create(ctx, res(api.ProjectsResource), "", map[string]any{"metadata": map[string]any{"name": "slipway-system"}}, nil); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	e.setTag(t, "slipway-system", "s2i-static", "latest", digestA)
	e.createBC(t, "site", bcSpec(func(s *api.BuildConfigSpec) {
		s.Triggers = []api.BuildTriggerPolicy{{Type: api.ImageChangeBuildTrigger, ImageChange: &api.BuildImageChangeTrigger{}}}
	}))
	eventually(t, "first builder digest recorded", func() error {
		var bc api.BuildConfig
		if err := e.c.Get(ctx, res(api.BuildConfigsResource), e.project, "site", &bc); err != nil {
			return err
		}
		if len(bc.Status.ImageChangeTriggers) != 1 || bc.Status.ImageChangeTriggers[0].LastTriggeredImageID != digestA {
			return fmt.Errorf("status %+v", bc.Status)
		}
		if bc.Status.LastVersion != 0 {
			t.Fatalf("the first builder digest started a build")
		}
		return nil
	})
	e.setTag(t, "slipway-system", "s2i-static", "latest", digestB)
	eventually(t, "rebuild on the new builder", func() error {
		var b api.Build
		if err := e.c.Get(ctx, res(api.BuildsResource), e.project, "site-1", &b); err != nil {
			return err
		}
		if c := b.Spec.TriggeredBy[0]; c.Type != api.ImageChangeBuildTrigger || c.ImageID != digestB {
			t.Fatalf("cause %+v", c)
		}
		return nil
	})
}

func TestBuildQuota(t *testing.T) {
	e := newEnv(t)
	q := api.ResourceQuota{Metadata: api.ObjectMeta{Name: "builds"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"count/builds": "1"}}}
	if err := e.c.Create(context.Background(), res(api.ResourceQuotasResource), e.project, q, nil); err != nil {
		t.Fatal(err)
	}
	e.createBC(t, "web", bcSpec(nil))
	e.instantiate(t, "web")
	err := e.c.Do(context.Background(), "POST", client.Path(res(api.BuildConfigsResource), e.project, "web", "instantiate"), "", nil, nil)
	if err == nil || !strings.Contains(err.Error(), `exceeded quota "builds"`) {
		t.Fatalf("a build over quota: %v", err)
	}
}

func TestDeletingABuildConfigDeletesItsBuilds(t *testing.T) {
	e := newEnv(t)
	e.createBC(t, "web", bcSpec(nil))
	e.instantiate(t, "web")
	e.waitPod(t, "web-1")
	if err := e.c.Delete(context.Background(), res(api.BuildConfigsResource), e.project, "web", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "builds, pods and push secrets gone", func() error {
		for _, check := range []struct {
			r    *api.Resource
			name string
		}{{res(api.BuildConfigsResource), "web"}, {res(api.BuildsResource), "web-1"}, {res(api.PodsResource), "web-1-build"}, {res(api.SecretsResource), "web-1-push"}} {
			if err := e.c.Get(context.Background(), check.r, e.project, check.name, nil); err == nil {
				return fmt.Errorf("%s %s still there", check.r.Kind, check.name)
			}
		}
		return nil
	})
}

// metricsHave waits until the server's /metrics holds every line (a
// counter moves just after the write that shows its cause).
func (e *env) metricsHave(t *testing.T, lines ...string) {
	t.Helper()
	eventually(t, "metrics", func() error {
		body, err := e.c.Stream(context.Background(), "GET", "/metrics", "", nil)
		if err != nil {
			return err
		}
		text, _ := io.ReadAll(body)
		body.Close()
		for _, l := range lines {
			if !strings.Contains(string(text), l) {
				return fmt.Errorf("/metrics lacks %s", l)
			}
		}
		return nil
	})
}
