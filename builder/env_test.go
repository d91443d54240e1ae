package builder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/builder"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/cninet"
	"github.com/slipway/slipway/node/containerd"
	"github.com/slipway/slipway/node/containerlog"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
	"github.com/slipway/slipway/node/sampleimage"
)

// builderImages are built once per test binary (the Go toolchain image
// takes seconds) into imagesDir.
var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
	imagePaths map[string]string
)

// GoWarm is what `make images` precompiles into s2i-go (benchmarks use
// the shipped image; tests skip the minute it takes).
var GoWarm = []string{"net/http", "encoding/json", "html/template"}

func builderArchives(t testing.TB) map[string]string {
	t.Helper()
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "slipway-builder-images-")
		var opts images.Options
		if _, bench := t.(*testing.B); bench {
			opts.GoWarm = GoWarm
		}
		if imagesErr == nil {
			imagePaths, imagesErr = images.BuildAll(context.Background(), imagesDir, opts)
		}
	})
	if imagesErr != nil {
		t.Fatalf("build builder images: %v", imagesErr)
	}
	return imagePaths
}

// TestMain lets the test binary serve as the containers' logging program,
// as the slipway binary does.
func TestMain(m *testing.M) {
	containerlog.ServeIfInvoked()
	code := m.Run()
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
	os.Exit(code)
}

// env is a private containerd, a CNI bridge, a runtime and an executor.
type env struct {
	t      testing.TB
	dir    string
	ns     string
	bridge string
	daemon *containerd.Daemon
	rt     *runtime.Runtime
	ex     *builder.Executor
	rtOpts runtime.Options
	seq    atomic.Int32
	reg    *prometheus.Registry
}

var envSeq atomic.Int32

func newEnv(t testing.TB) *env {
	t.Helper()
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd", "containerd")
	testpeer.RequireBinary(t, "runc", "runc")
	testpeer.RequireBinary(t, "busybox-static", "/bin/busybox")
	testpeer.RequireBinary(t, "git", "git")
	testpeer.RequireBinary(t, "iptables", "iptables")
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat("/usr/lib/cni/" + p); err != nil {
			testpeer.Missing(t, "containernetworking-plugins", err)
		}
	}
	archives := builderArchives(t)
	n := envSeq.Add(1)
	e := &env{t: t, dir: t.TempDir()}
	e.ns = fmt.Sprintf("slipway-build-test-%d-%d", os.Getpid(), n)
	e.bridge = fmt.Sprintf("slwb%d-%d", os.Getpid()%100000, n)
	testpeer.ReclaimLinks(t, "slwb")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	d, err := containerd.Start(context.Background(), containerd.Config{Dir: filepath.Join(e.dir, "containerd"), Namespace: e.ns, Logger: logger})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	e.daemon = d
	t.Cleanup(func() {
		d.Stop(context.Background())
		exec.Command("ip", "link", "del", e.bridge).Run()
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", e.ns))
		for _, d := range append(dirs, filepath.Join("/run/containerd/runc", e.ns)) {
			os.Remove(d)
		}
	})
	for _, a := range archives {
		if _, err := sampleimage.Import(e.ctx(), d.Client(), a, ""); err != nil {
			t.Fatalf("import %s: %v", a, err)
		}
	}
	network, err := cninet.New(cninet.Config{
		Dir: filepath.Join(e.dir, "cni"), Bridge: e.bridge, NetworkName: e.bridge,
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.253.%d.0/24", n%250)),
	})
	if err != nil {
		t.Fatalf("cninet.New: %v", err)
	}
	e.rtOpts = runtime.Options{Client: d.Client(), Namespace: e.ns, Dir: filepath.Join(e.dir, "runtime"), Network: network,
		LogBinary: testpeer.LogBinary(t), Logger: logger}
	if e.rt, err = runtime.New(e.rtOpts); err != nil {
		t.Fatal(err)
	}
	e.reg = prometheus.NewRegistry()
	if e.ex, err = builder.New(builder.Options{Runtime: e.rtOpts, WorkDir: filepath.Join(e.dir, "work"), Registerer: e.reg, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) ctx() context.Context {
	return namespaces.WithNamespace(context.Background(), e.ns)
}

// buildSpec describes a build to run.
type buildSpec struct {
	name        string // BuildConfig name; the build is <name>-<n>
	builder     string // images.Static, …
	uri, ref    string
	contextDir  string
	incremental bool
	env         map[string]string
	memory      string
	deadline    int64
	podEnv      map[string]string // SOURCE_TOKEN…
	binaryURL   string            // a Binary source's archive instead of uri
	scripts     string            // the strategy's scripts URL
}

// buildResult is a finished build with its log.
type buildResult struct {
	builder.Result
	log   string
	uid   string
	image string
}

func (e *env) buildPod(b buildSpec) (podspec.Pod, string) {
	n := e.seq.Add(1)
	buildName := fmt.Sprintf("%s-%d", b.name, n)
	out := "slipway-test/shop/" + b.name + ":latest"
	var env []map[string]string
	for k, v := range b.env {
		env = append(env, map[string]string{"name": k, "value": v})
	}
	obj := map[string]any{
		"metadata": map[string]any{"name": buildName, "project": "shop"},
		"spec": map[string]any{
			"source": map[string]any{"type": "Git", "git": map[string]any{"uri": b.uri, "ref": b.ref}, "contextDir": b.contextDir},
			"strategy": map[string]any{"type": "Source", "sourceStrategy": map[string]any{
				"from":        map[string]any{"kind": "DockerImage", "name": images.Ref("", b.builder)},
				"env":         env,
				"incremental": b.incremental,
				"scripts":     b.scripts,
			}},
			"output": map[string]any{"to": map[string]any{"kind": "DockerImage", "name": out}},
		},
	}
	if b.deadline > 0 {
		obj["spec"].(map[string]any)["completionDeadlineSeconds"] = b.deadline
	}
	if b.binaryURL != "" {
		obj["spec"].(map[string]any)["source"] = map[string]any{"type": "Binary", "binary": map[string]any{"url": b.binaryURL}, "contextDir": b.contextDir}
	}
	raw, _ := json.Marshal(obj)
	memory := b.memory
	if memory == "" {
		memory = "1Gi"
	}
	c := podspec.Container{Name: builder.ContainerName, Image: images.Ref("", b.builder),
		Env:       []podspec.EnvVar{{Name: builder.EnvBuild, Value: string(raw)}, {Name: builder.EnvPushToken, Value: "push-token"}},
		Resources: podspec.ResourceRequirements{Limits: podspec.ResourceList{CPU: "2", Memory: memory}}}
	for k, v := range b.podEnv {
		c.Env = append(c.Env, podspec.EnvVar{Name: k, Value: v})
	}
	return podspec.Pod{UID: fmt.Sprintf("build-%d-%d", os.Getpid(), n), Project: "shop", Name: buildName + "-build",
		Containers: []podspec.Container{c}}, out
}

// build runs a build to its end, reads its log and deletes the pod, as the
// node agent does.
func (e *env) build(t testing.TB, b buildSpec) buildResult {
	t.Helper()
	pod, out := e.buildPod(b)
	res := e.ex.Run(context.Background(), pod, 0)
	logBytes, _ := os.ReadFile(e.rt.LogPath(pod.UID, builder.ContainerName))
	if err := e.rt.DeletePod(context.Background(), pod.UID); err != nil {
		t.Errorf("delete build pod: %v", err)
	}
	return buildResult{Result: res, log: string(logBytes), uid: pod.UID, image: out}
}

// serve runs image as a pod and returns the body of GET path once it
// answers (or the last error after timeout).
func (e *env) serve(t testing.TB, image string, paths ...string) []string {
	t.Helper()
	uid := fmt.Sprintf("app-%d-%d", os.Getpid(), e.seq.Add(1))
	ps, err := e.rt.RunPod(context.Background(), podspec.Pod{UID: uid, Project: "shop", Name: uid,
		Containers: []podspec.Container{{Name: "app", Image: image, Env: []podspec.EnvVar{{Name: "PORT", Value: "8080"}}}}})
	if err != nil {
		t.Fatalf("run %s: %v", image, err)
	}
	defer e.rt.DeletePod(context.Background(), uid)
	var bodies []string
	for _, p := range paths {
		var body string
		testwait.Until(t, 20*time.Second, "GET "+p+" from "+image, func() (err error) {
			body, err = get(fmt.Sprintf("http://%s:8080%s", ps.IP, p))
			return err
		})
		bodies = append(bodies, body)
	}
	return bodies
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// errStatus is a non-200 answer.
type errStatus struct{ code int }

func (e errStatus) Error() string { return fmt.Sprintf("status %d", e.code) }

func get(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errStatus{resp.StatusCode}
	}
	return string(b), nil
}

func samplesDir(name string) string {
	return filepath.Join("..", "test", "samples", name)
}

func mustContain(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// metric is the value of a counter or a histogram's sample count with the
// given label value ("" for none).
func (e *env) metric(t testing.TB, name, label string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					match = true
				}
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
		}
	}
	return 0
}
