package agent_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/cninet"
	"github.com/slipway/slipway/node/containerd"
	"github.com/slipway/slipway/node/containerlog"
	"github.com/slipway/slipway/node/imagepull"
	"github.com/slipway/slipway/node/runtime"
	"github.com/slipway/slipway/node/sampleimage"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/storetest"
)

// TestMain lets the test binary serve as the containers' logging program,
// as the slipway binary does.
func TestMain(m *testing.M) {
	containerlog.ServeIfInvoked()
	storetest.Main(m)
}

const (
	testImage     = "localhost/slipway-test/busybox:v1"
	adminPassword = "admin-password-for-agent-tests"
	project       = "agent-test"
)

var (
	catalogue           = api.NewCatalogue()
	podsRes             = lookup(api.PodsResource)
	nodesRes            = lookup(api.NodesResource)
	leasesRes           = lookup(api.LeasesResource)
	secretsRes          = lookup(api.SecretsResource)
	projectsRes         = lookup(api.ProjectsResource)
	serviceaccountsRes  = lookup("serviceaccounts")
	clusterrolebindings = lookup("clusterrolebindings")
)

func lookup(plural string) *api.Resource {
	r, ok := catalogue.Lookup(plural)
	if !ok {
		panic(plural)
	}
	return r
}

// env is a real API server over a real PostgreSQL, a private containerd,
// a CNI bridge, and one node agent running against them.
type env struct {
	t      testing.TB
	dir    string
	ns     string
	bridge string
	logger *slog.Logger
	srv    *server.Server
	admin  *client.Client
	node   *client.Client // token of a service account bound to system:node
	daemon *containerd.Daemon
	// defaults runs the agent with its production intervals.
	defaults bool
	net      *cninet.Network
	nodeName string
	// puller pulls from the server's registry with the node's token.
	puller *imagepull.Puller
	// images, when set, is the agent's ImagePuller instead of puller.
	images agent.ImagePuller
	agent  *agent.Agent
	// builds, when set, runs the agent's build pods.
	builds agent.BuildRunner
	reg    *prometheus.Registry
	stop   func() // stops the running agent and waits for Run to return
	// disk, when set, replaces the agent's disk measurement (a test
	// simulates a full disk); nil measures the real filesystem.
	disk atomic.Pointer[func(path string) (agent.DiskUsage, error)]
}

func requirePeers(t testing.TB) {
	t.Helper()
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd", "containerd")
	testpeer.RequireBinary(t, "runc", "runc")
	testpeer.RequireBinary(t, "busybox-static", "/bin/busybox")
	testpeer.RequireBinary(t, "iptables", "iptables")
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat("/usr/lib/cni/" + p); err != nil {
			testpeer.Missing(t, "containernetworking-plugins", err)
		}
	}
}

// newEnv starts everything; subnet picks a distinct /24 for the pods.
func newEnv(t testing.TB, subnet int) *env {
	t.Helper()
	requirePeers(t)
	ctx := context.Background()
	e := &env{t: t, dir: t.TempDir(), logger: slog.New(slog.NewTextHandler(io.Discard, nil)), nodeName: fmt.Sprintf("node-%d", subnet)}
	if testing.Verbose() {
		e.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	e.ns = fmt.Sprintf("slipway-agent-test-%d-%d", os.Getpid(), subnet)
	e.bridge = fmt.Sprintf("slwa%d-%d", os.Getpid()%100000, subnet)
	testpeer.ReclaimLinks(t, "slwa")

	srv, err := server.Start(ctx, server.Config{
		Listen: "127.0.0.1:0", DataDir: filepath.Join(e.dir, "server"), DatabaseURL: storetest.NewDatabase(t),
		BootstrapPassword: adminPassword, BookmarkEvery: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	e.admin = e.login(t)
	if err := e.admin.Create(ctx, projectsRes, "", map[string]any{"metadata": map[string]any{"name": project}}, nil); err != nil {
		t.Fatal(err)
	}
	e.node = e.nodeClient(t, "node")

	d, err := containerd.Start(ctx, containerd.Config{Dir: filepath.Join(e.dir, "containerd"), Namespace: e.ns, Logger: e.logger})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	e.daemon = d
	t.Cleanup(e.cleanupNode)
	archive, err := sampleimage.Build(ctx, e.dir, sampleimage.Spec{Ref: testImage})
	if err != nil {
		t.Fatalf("build image: %v", err)
	}
	if _, err := sampleimage.Import(ctx, d.Client(), archive, ""); err != nil {
		t.Fatalf("import image: %v", err)
	}
	e.net, err = cninet.New(cninet.Config{Dir: filepath.Join(e.dir, "cni"), Bridge: e.bridge, NetworkName: e.bridge,
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.251.%d.0/24", subnet))}) // builder tests use 10.253/16
	if err != nil {
		t.Fatalf("cninet: %v", err)
	}
	ca, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	e.puller, err = imagepull.New(imagepull.Config{Client: d.Client(), Namespace: e.ns, Registry: srv.RegistryHost(),
		Token: e.node.Token, RootCAs: roots, Logger: e.logger})
	if err != nil {
		t.Fatal(err)
	}
	e.startAgent()
	return e
}

func (e *env) clientWithToken(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Server: e.srv.URL(), CAFile: e.srv.CAFile(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) login(t testing.TB) *client.Client {
	t.Helper()
	var res struct{ Token string }
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
	if err := e.clientWithToken(t, "").Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
		t.Fatalf("login: %v", err)
	}
	return e.clientWithToken(t, res.Token)
}

// nodeClient makes a service account bound to system:node and returns a
// client with its token, as an installation gives the node agent.
func (e *env) nodeClient(t testing.TB, name string) *client.Client {
	t.Helper()
	ctx := context.Background()
	if err := e.admin.Create(ctx, serviceaccountsRes, "slipway-system", map[string]any{"metadata": map[string]any{"name": name}}, nil); err != nil {
		t.Fatal(err)
	}
	spec := api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: "system:node"},
		Subjects: []api.Subject{{Kind: api.ServiceAccountSubject, Name: name, Project: "slipway-system"}}}
	if err := e.admin.Create(ctx, clusterrolebindings, "", map[string]any{"metadata": map[string]any{"name": "node-" + name}, "spec": spec}, nil); err != nil {
		t.Fatal(err)
	}
	var sa struct{ Token string }
	if err := e.admin.Do(ctx, "POST", "/api/v1/projects/slipway-system/serviceaccounts/"+name+"/token", "application/json", []byte(`{}`), &sa); err != nil {
		t.Fatal(err)
	}
	return e.clientWithToken(t, sa.Token)
}

// config is the agent's configuration in tests: short intervals and
// back-offs so the behaviour shows within seconds — unless the env runs
// with production defaults (benchmarks of idle cost).
func (e *env) config() agent.Config {
	if e.defaults {
		return agent.Config{
			NodeName: e.nodeName, Client: e.node,
			Runtime: runtime.Options{Client: e.daemon.Client(), Namespace: e.ns, Dir: filepath.Join(e.dir, "runtime"),
				Network: e.net, LogBinary: testpeer.LogBinary(e.t), Logger: e.logger},
			ContainerdVersion: e.daemon.Versions().Containerd, RuncVersion: e.daemon.Versions().Runc,
			DaemonEndpoint: "https://127.0.0.1:10250", Logger: e.logger,
		}
	}
	return agent.Config{
		NodeName: e.nodeName, Client: e.node,
		Runtime: runtime.Options{Client: e.daemon.Client(), Namespace: e.ns, Dir: filepath.Join(e.dir, "runtime"),
			Network: e.net, LogBinary: testpeer.LogBinary(e.t), Logger: e.logger},
		ContainerdVersion: e.daemon.Versions().Containerd, RuncVersion: e.daemon.Versions().Runc,
		Labels: map[string]string{"test": "yes"}, Taints: []api.Taint{{Key: "slipway.io/test", Effect: "PreferNoSchedule"}},
		Images:            e.imagePuller(),
		DaemonEndpoint:    "https://127.0.0.1:10250",
		HeartbeatInterval: time.Second, ResyncInterval: 2 * time.Second,
		RestartBackoff: 500 * time.Millisecond, MaxRestartBackoff: 4 * time.Second,
		OrphanGracePeriod: 2 * time.Second, RetryMax: 2 * time.Second,
		ContainerLogMaxSize: 16 << 10, ContainerLogMaxFiles: 2, LogCheckInterval: 100 * time.Millisecond,
		ImageGCInterval: 200 * time.Millisecond, StatsInterval: 300 * time.Millisecond, DeregistrationDelay: 300 * time.Millisecond,
		Builds: e.builds,
		MeasureDisk: func(path string) (agent.DiskUsage, error) {
			if f := e.disk.Load(); f != nil {
				return (*f)(path)
			}
			return agent.StatFS(path)
		},
		Logger: e.logger,
	}
}

func (e *env) imagePuller() agent.ImagePuller {
	if e.images != nil {
		return e.images
	}
	return e.puller
}

// startAgent starts a new Agent (a fresh process would do the same).
func (e *env) startAgent() {
	e.t.Helper()
	cfg := e.config()
	e.reg = prometheus.NewRegistry()
	cfg.Registerer = e.reg
	a, err := agent.New(cfg)
	if err != nil {
		e.t.Fatalf("agent.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	e.agent = a
	e.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			e.t.Errorf("agent.Run did not return 30 s after cancel")
		}
	}
}

// cleanupNode stops the agent, removes every pod it left and stops
// containerd.
func (e *env) cleanupNode() {
	if e.stop != nil {
		e.stop()
	}
	rt := e.agent.Runtime()
	ctx := context.Background()
	if pods, err := rt.ListPods(ctx); err == nil {
		for _, p := range pods {
			_ = rt.DeletePod(ctx, p.UID)
		}
	}
	_ = e.daemon.Stop(ctx)
	exec.Command("ip", "link", "del", e.bridge).Run()
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", e.ns))
	for _, d := range append(dirs, filepath.Join("/run/containerd/runc", e.ns)) {
		os.Remove(d)
	}
}

// podSpec is a pod bound to the env's node running the sample image.
func (e *env) pod(name string, mutate func(*api.Pod)) *api.Pod {
	grace := int64(2)
	p := &api.Pod{Kind: "Pod", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name, Project: project},
		Spec: api.PodSpec{NodeName: e.nodeName, TerminationGracePeriodSeconds: &grace,
			Containers: []api.Container{{Name: "web", Image: testImage,
				Ports: []api.ContainerPort{{Name: "http", ContainerPort: sampleimage.DefaultPort}}}}}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func (e *env) create(t testing.TB, p *api.Pod) *api.Pod {
	t.Helper()
	var out api.Pod
	if err := e.admin.Create(context.Background(), podsRes, project, p, &out); err != nil {
		t.Fatalf("create pod %s: %v", p.Metadata.Name, err)
	}
	return &out
}

func (e *env) get(t testing.TB, name string) *api.Pod {
	t.Helper()
	var p api.Pod
	if err := e.admin.Get(context.Background(), podsRes, project, name, &p); err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return &p
}

// waitPod polls the pod until cond accepts it.
func (e *env) waitPod(t testing.TB, name string, timeout time.Duration, what string, cond func(*api.Pod) error) *api.Pod {
	t.Helper()
	var last *api.Pod
	testwait.Until(t, timeout, "pod "+name+": "+what, func() error {
		last = e.get(t, name)
		return cond(last)
	})
	return last
}

func running(p *api.Pod) error {
	if p.Status.Phase != api.PodRunning || p.Status.PodIP == "" {
		return fmt.Errorf("phase %q, podIP %q, status %s", p.Status.Phase, p.Status.PodIP, statusJSON(p))
	}
	return nil
}

func ready(p *api.Pod) error {
	if err := running(p); err != nil {
		return err
	}
	if c := condition(p, api.PodReady); c == nil || c.Status != "True" {
		return fmt.Errorf("not ready: %s", statusJSON(p))
	}
	return nil
}

func condition(p *api.Pod, typ string) *api.Condition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func statusJSON(p *api.Pod) string {
	b, _ := json.Marshal(p.Status)
	return string(b)
}

var httpClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

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
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// waitServes waits until the pod answers with page. Without a readiness
// probe, ready means started: httpd may take a moment to listen.
func waitServes(t *testing.T, p *api.Pod, page string) {
	t.Helper()
	testwait.Until(t, 5*time.Second, "GET "+p.Metadata.Name, func() error {
		if body, err := get(podURL(p)); err != nil || body != page {
			return fmt.Errorf("%q %v, want %q", body, err, page)
		}
		return nil
	})
}

func podURL(p *api.Pod) string {
	return fmt.Sprintf("http://%s:%d/", p.Status.PodIP, sampleimage.DefaultPort)
}
