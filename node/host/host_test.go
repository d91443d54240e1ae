package host_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/cli"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/agent/execstream"
	"github.com/slipway/slipway/node/containerlog"
	"github.com/slipway/slipway/node/host"
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

const adminPassword = "host-test-admin-password"

func login(t *testing.T, srv *server.Server) *client.Client {
	t.Helper()
	anon, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile()})
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Token string }
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
	if err := anon.Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile(), Token: res.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A node as `slipway node` runs it: certificate from the cluster CA, logs
// and exec through the API server's proxy, and an endpoint that answers
// nobody but the API server.
func TestNodeLogsAndExecThroughTheAPI(t *testing.T) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd (Debian package containerd)", "containerd")
	testpeer.RequireBinary(t, "runc (Debian package runc)", "runc")
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testpeer.Missing(t, "containernetworking-plugins", err)
	}
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	srv, err := server.Start(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "server"),
		DatabaseURL: storetest.NewDatabase(t), BootstrapPassword: adminPassword, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	admin := login(t, srv)
	token, err := srv.ServiceAccountToken(ctx, "slipway-system", "node-hosttest", "system:node")
	if err != nil {
		t.Fatal(err)
	}
	nodeClient, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	bridge := fmt.Sprintf("slwh%d", os.Getpid()%100000)
	testpeer.ReclaimLinks(t, "slwh")
	ns := fmt.Sprintf("slipway-host-test-%d", os.Getpid())
	n, err := host.Start(ctx, host.Config{Name: "hosttest", Dir: filepath.Join(dir, "node"), Client: nodeClient,
		PodSubnet: "10.252.7.0/24", Bridge: bridge, Namespace: ns, LogBinary: testpeer.LogBinary(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Stop(ctx, true); err != nil {
			t.Errorf("stop node: %v", err)
		}
		exec.Command("ip", "link", "del", bridge).Run()
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
		for _, d := range append(dirs, filepath.Join("/run/containerd/runc", ns)) {
			os.Remove(d)
		}
	}()
	const image = "localhost/slipway-test/busybox:host"
	archive, err := sampleimage.Build(ctx, dir, sampleimage.Spec{Ref: image})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sampleimage.Import(ctx, n.Containerd().Client(), archive, ""); err != nil {
		t.Fatal(err)
	}
	cat := api.NewCatalogue()
	projects, _ := cat.Lookup("projects")
	pods, _ := cat.Lookup("pods")
	if err := admin.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	grace := int64(1)
	pod := api.Pod{Metadata: api.ObjectMeta{Name: "talker"}, Spec: api.PodSpec{NodeName: "hosttest", TerminationGracePeriodSeconds: &grace,
		Containers: []api.Container{{Name: "app", Image: image, Command: []string{"sh", "-c", "echo hello-from-pod; exec sleep 3600"}}}}}
	if err := admin.Create(ctx, pods, "shop", pod, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var p api.Pod
		if err := admin.Get(ctx, pods, "shop", "talker", &p); err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase == api.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running within 60 s: %+v", p.Status)
		}
		time.Sleep(50 * time.Millisecond) // bounded poll of a real system
	}

	// Logs through the API.
	var logs bytes.Buffer
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "hello-from-pod") {
		if time.Now().After(deadline) {
			t.Fatalf("log through the API: %q", logs.String())
		}
		logs.Reset()
		logs.Write(rawGet(t, srv, "/api/v1/projects/shop/pods/talker/log?tailLines=10"))
		time.Sleep(50 * time.Millisecond) // bounded poll of a real system
	}

	// Exec through the API: stdout, stderr and the exit code.
	body := rawPost(t, srv, "/api/v1/projects/shop/pods/talker/exec?command=sh&command=-c&command=echo+out%3B+echo+err+1>%262%3B+exit+3")
	var stdout, stderr bytes.Buffer
	code, err := execstream.Decode(bytes.NewReader(body), &stdout, &stderr)
	if err != nil || code != 3 || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Fatalf("exec: code %d, stdout %q, stderr %q, %v", code, stdout.String(), stderr.String(), err)
	}

	// The same through slip, as a user types it.
	slip := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := map[string]string{"SLIPCONFIG": filepath.Join(dir, "slipconfig")}
		app := &cli.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Now: time.Now,
			Getenv: func(k string) string { return env[k] }}
		code := app.Run(ctx, args)
		return code, out.String(), errOut.String()
	}
	if code, _, stderr := slip("login", srv.URL(), "--certificate-authority", srv.CAFile(), "-u", "admin", "-p", adminPassword); code != 0 {
		t.Fatalf("slip login: %d %s", code, stderr)
	}
	if code, stdout, stderr := slip("logs", "pod/talker", "-n", "shop", "--tail", "5"); code != 0 || !strings.Contains(stdout, "hello-from-pod") {
		t.Fatalf("slip logs: %d %q %q", code, stdout, stderr)
	}
	if code, stdout, stderr := slip("exec", "pod/talker", "-n", "shop", "--", "sh", "-c", "echo hi; exit 4"); code != 4 || stdout != "hi\n" {
		t.Fatalf("slip exec: %d %q %q", code, stdout, stderr)
	}

	// A deployment: the scheduler places its pods on this node, the node runs
	// them, and the service's endpoints follow their readiness.
	deployments, services, endpoints := mustLookup(cat, "deployments"), mustLookup(cat, "services"), mustLookup(cat, "endpoints")
	replicas := int32(2)
	dep := api.Deployment{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.DeploymentSpec{Replicas: &replicas,
		Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: map[string]string{"app": "web"}}, Spec: api.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []api.Container{{Name: "web", Image: image, Ports: []api.ContainerPort{{Name: "http", ContainerPort: sampleimage.DefaultPort}},
				ReadinessProbe: &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromString("http")}, PeriodSeconds: 1}}}}}}}
	if err := admin.Create(ctx, deployments, "shop", dep, nil); err != nil {
		t.Fatal(err)
	}
	svc := api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"},
		Ports: []api.ServicePort{{Port: 80, TargetPort: ptr(api.FromString("http"))}}}}
	if err := admin.Create(ctx, services, "shop", svc, nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(90 * time.Second)
	for {
		var ep api.Endpoints
		err := admin.Get(ctx, endpoints, "shop", "web", &ep)
		ready := 0
		for _, ss := range ep.Spec.Subsets {
			ready += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if a.NodeName != "hosttest" {
					t.Fatalf("endpoint on node %q", a.NodeName)
				}
			}
		}
		if err == nil && ready == 2 {
			break
		}
		if time.Now().After(deadline) {
			var d api.Deployment
			_ = admin.Get(ctx, deployments, "shop", "web", &d)
			t.Fatalf("service endpoints: %d ready (%v); deployment status %+v", ready, err, d.Status)
		}
		time.Sleep(100 * time.Millisecond) // bounded poll of a real system
	}

	// The node's endpoint refuses everyone but the API server.
	var node api.Node
	if err := admin.Get(ctx, mustLookup(cat, "nodes"), "", "hosttest", &node); err != nil || node.Status.Endpoint == nil {
		t.Fatalf("node endpoint: %+v, %v", node.Status, err)
	}
	if node.Status.NodeInfo.PodNetwork != api.PodNetworkBridge {
		t.Errorf("status.nodeInfo.podNetwork = %q, want %q", node.Status.NodeInfo.PodNetwork, api.PodNetworkBridge)
	}
	direct := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // probing the endpoint
	if resp, err := direct.Get(node.Status.Endpoint.URL + "/containerLogs/shop/talker/app"); err == nil {
		resp.Body.Close()
		t.Fatalf("the node endpoint answered a caller without the API server's certificate: %d", resp.StatusCode)
	}
}

func mustLookup(cat *api.Catalogue, plural string) *api.Resource {
	r, _ := cat.Lookup(plural)
	return r
}

var adminToken string

func authedRequest(t *testing.T, srv *server.Server, method, path string) *http.Response {
	t.Helper()
	if adminToken == "" {
		anon, _ := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile()})
		var res struct{ Token string }
		body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
		if err := anon.Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
			t.Fatal(err)
		}
		adminToken = res.Token
	}
	req, _ := http.NewRequest(method, srv.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own server
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func rawGet(t *testing.T, srv *server.Server, path string) []byte {
	resp := authedRequest(t, srv, "GET", path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

func rawPost(t *testing.T, srv *server.Server, path string) []byte {
	resp := authedRequest(t, srv, "POST", path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// Pods keep running while the API server is away, and the node catches up
// when it is back.
func TestPodsSurviveTheAPIServer(t *testing.T) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd (Debian package containerd)", "containerd")
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testpeer.Missing(t, "containernetworking-plugins", err)
	}
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	dsn := storetest.NewDatabase(t)
	scfg := server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "server"), DatabaseURL: dsn,
		BootstrapPassword: adminPassword, Logger: quiet}
	srv, err := server.Start(ctx, scfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg.Listen = srv.Addr() // the restarted server comes back on the same address
	token, err := srv.ServiceAccountToken(ctx, "slipway-system", "node-survivor", "system:node")
	if err != nil {
		t.Fatal(err)
	}
	nodeClient, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	bridge := fmt.Sprintf("slws%d", os.Getpid()%100000)
	testpeer.ReclaimLinks(t, "slws")
	ns := fmt.Sprintf("slipway-survivor-%d", os.Getpid())
	n, err := host.Start(ctx, host.Config{Name: "survivor", Dir: filepath.Join(dir, "node"), Client: nodeClient,
		PodSubnet: "10.252.8.0/24", Bridge: bridge, Namespace: ns, LogBinary: testpeer.LogBinary(t), Logger: quiet,
		Agent: agent.Config{RetryMax: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = n.Stop(ctx, true)
		exec.Command("ip", "link", "del", bridge).Run()
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
		for _, d := range append(dirs, filepath.Join("/run/containerd/runc", ns)) {
			os.Remove(d)
		}
	}()
	const image = "localhost/slipway-test/busybox:survivor"
	archive, err := sampleimage.Build(ctx, dir, sampleimage.Spec{Ref: image})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sampleimage.Import(ctx, n.Containerd().Client(), archive, ""); err != nil {
		t.Fatal(err)
	}
	cat := api.NewCatalogue()
	projects, pods := mustLookup(cat, "projects"), mustLookup(cat, "pods")
	admin := login(t, srv)
	if err := admin.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	grace := int64(1)
	pod := api.Pod{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.PodSpec{NodeName: "survivor", TerminationGracePeriodSeconds: &grace,
		Containers: []api.Container{{Name: "app", Image: image, Ports: []api.ContainerPort{{ContainerPort: sampleimage.DefaultPort}}}}}}
	if err := admin.Create(ctx, pods, "shop", pod, nil); err != nil {
		t.Fatal(err)
	}
	var url string
	waitFor(t, "pod serving", func() error {
		var p api.Pod
		if err := admin.Get(ctx, pods, "shop", "web", &p); err != nil {
			return err
		}
		if p.Status.PodIP == "" {
			return fmt.Errorf("no IP yet (%s)", p.Status.Phase)
		}
		url = fmt.Sprintf("http://%s:%d/", p.Status.PodIP, sampleimage.DefaultPort)
		return httpOK(url)
	})

	// The API server goes away: the pod keeps serving.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := httpOK(url); err != nil {
			t.Fatalf("pod stopped serving while the API server was down: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // sampling the pod over two seconds
	}

	// It comes back: the node catches up and acts on what changed.
	srv, err = server.Start(ctx, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	admin = login(t, srv)
	if err := httpOK(url); err != nil {
		t.Fatalf("pod stopped serving across the API server's restart: %v", err)
	}
	if err := admin.Delete(ctx, pods, "shop", "web", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod deleted by the node after the API server came back", func() error {
		if err := admin.Get(ctx, pods, "shop", "web", nil); err == nil {
			return fmt.Errorf("still there")
		}
		if err := httpOK(url); err == nil {
			return fmt.Errorf("still serving")
		}
		return nil
	})
}

func httpOK(url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60 s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond) // bounded poll of a real system
	}
}

func ptr[T any](v T) *T { return &v }
