package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ctrclient "github.com/containerd/containerd/v2/client"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/sampleimage"
	"github.com/slipway/slipway/server/store/storetest"
)

// TestProcessRestartsUnderLoad runs the platform as separate processes —
// `slipway server` on a PostgreSQL, `slipway node`, `slipway router` —
// serves an app of two pods through a route under constant load, and
// meanwhile kills (SIGKILL) and starts again the API server, the node agent
// (its containerd outlives it and is replaced) and, after a reload for ten
// new routes, the router (its HAProxy outlives it and hands over). Not one
// request may fail, no stored object may be lost, and the pods must be the
// same ones (adopted, not restarted). Each step's duration goes to
// test/artifacts/e2e/resilience.txt.
func TestProcessRestartsUnderLoad(t *testing.T) { processRestartsUnderLoad(t, false) }

// TestProcessRestartsUnderLoadOVN is the same on the OVN network: the
// control plane is `slipway up --no-node --no-router --network ovn` (API
// server, controllers, OVN central, SDN controller) and the node joins
// through the Southbound database over TCP. The OVN daemons outlive the
// killed control plane and node — the route keeps reaching the pods
// through the node's datapath — and each restart adopts them: their pids
// do not change. A clean stop of both leaves no OVS/OVN process. Steps go
// to test/artifacts/e2e/resilience-ovn.txt.
func TestProcessRestartsUnderLoadOVN(t *testing.T) { processRestartsUnderLoad(t, true) }

func processRestartsUnderLoad(t *testing.T, ovn bool) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "HAProxy", "haproxy")
	reportName := "resilience.txt"
	if ovn {
		for _, bin := range []string{"ovsdb-server", "ovn-northd", "ovs-vswitchd", "ovn-controller", "ethtool", "nsenter"} {
			testpeer.RequireBinary(t, bin, bin)
		}
		reportName = "resilience-ovn.txt"
		lockHostOVN(t)
	}
	ctx := context.Background()
	report := newReport(t, reportName)
	dsn := storetest.NewDatabase(t)
	data := dataDir(t)

	apiPort := freeLoopbackPort(t)
	url := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	ca := filepath.Join(data, "server", "pki", "ca.crt")
	serverArgs := []string{"server", "--database-url", dsn, "--data-dir", filepath.Join(data, "server"), "--listen", "127.0.0.1:" + strconv.Itoa(apiPort)}
	nodeNetwork := []string{"--bridge", "slipres0", "--pod-subnet", "10.241.0.0/24"}
	if ovn {
		sb := "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t))
		serverArgs = append([]string{"up", "--no-node", "--no-router", "--network", "ovn", "--ovn-sb-listen", sb}, serverArgs[1:]...)
		nodeNetwork = []string{"--ovn-sb", "ssl:" + sb}
	}
	server := startDaemon(t, "slipway "+serverArgs[0], []string{"SLIPWAY_BOOTSTRAP_PASSWORD=" + adminPassword}, serverArgs...)
	admin := waitForAPI(t, url, ca)
	report.step("API server up")

	nodeToken := serviceAccountToken(t, admin, "node-e2e", "system:node")
	routerToken := serviceAccountToken(t, admin, "router-e2e", "system:router")
	nodeTokenFile, routerTokenFile := filepath.Join(data, "node.token"), filepath.Join(data, "router.token")
	for f, tok := range map[string]string{nodeTokenFile: nodeToken, routerTokenFile: routerToken} {
		if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	node := startDaemon(t, "slipway node", nil, append([]string{"node", "--server", url, "--certificate-authority", ca, "--token-file", nodeTokenFile,
		"--name", "n1", "--data-dir", filepath.Join(data, "node"), "--listen", "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t)),
		"--metrics-listen", "127.0.0.1:0"}, nodeNetwork...)...)
	routerDir, err := os.MkdirTemp("", "rt-") // short: HAProxy's sockets live here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(routerDir) })
	certFile := filepath.Join(routerDir, "default.pem")
	if err := os.WriteFile(certFile, selfSignedPEM(t, "*.apps.localhost"), 0o600); err != nil {
		t.Fatal(err)
	}
	routerHTTP := freeLoopbackPort(t)
	router := startDaemon(t, "slipway router", nil, "router", "--server", url, "--certificate-authority", ca, "--token-file", routerTokenFile,
		"--default-certificate", certFile, "--data-dir", filepath.Join(routerDir, "h"), "--address", "127.0.0.1",
		"--http-port", strconv.Itoa(routerHTTP), "--https-port", strconv.Itoa(freeLoopbackPort(t)), "--metrics-listen", "127.0.0.1:0")

	// The app's image, imported into the node's containerd.
	const image = "localhost/slipway-e2e/resilience:v1"
	eventually(t, "the node's containerd", func() error {
		_, err := os.Stat(filepath.Join(data, "node", "containerd", "containerd.sock"))
		return err
	})
	ctr, err := ctrclient.New(filepath.Join(data, "node", "containerd", "containerd.sock"), ctrclient.WithDefaultNamespace("slipway"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctr.Close() }) // after removeApp's cleanup
	archive, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: image})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sampleimage.Import(ctx, ctr, archive, ""); err != nil {
		t.Fatal(err)
	}
	report.step("node and router up, image imported")

	lookup := lookupResource
	create := func(plural, project string, obj any) {
		t.Helper()
		if err := admin.Create(ctx, lookup(plural), project, obj, nil); err != nil {
			t.Fatalf("create %s: %v", plural, err)
		}
	}
	get := deployWebApp(t, admin, image, routerHTTP)
	eventually(t, "the app answering through the route", get)
	// A node's clean stop keeps its pods running (a restart adopts them):
	// the test deletes them before it ends, so it leaves nothing behind.
	var removeOnce sync.Once
	removeApp := func() (err error) {
		removeOnce.Do(func() {
			if err = admin.Delete(ctx, lookup("deployments"), "shop", "web", nil); err != nil {
				return
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				cs, cerr := ctr.Containers(ctx)
				if cerr == nil && len(cs) == 0 {
					return
				}
				if time.Now().After(deadline) {
					err = fmt.Errorf("the node's containers not removed within 30 s: %d left, %v", len(cs), cerr)
					return
				}
				time.Sleep(100 * time.Millisecond) // bounded poll of the node
			}
		})
		return err
	}
	t.Cleanup(func() { _ = removeApp() }) // runs before the daemons stop
	eventually(t, "both pods ready", func() error { return deploymentReady(ctx, admin, 2) })
	report.step("app serving through the route")
	podsBefore := podNames(t, admin, lookup("pods"))

	load := startLoad(get, 4)
	pause := func() { time.Sleep(2 * time.Second) } // traffic on both sides of each event
	ovnPIDs := func() map[string]int { return nil }
	if ovn {
		ovnPIDs = func() map[string]int { return ovnDaemonPIDs(t, data) }
	}
	ovnBefore := ovnPIDs()

	pause()
	server.restart(syscall.SIGKILL)
	waitForAPI(t, url, ca)
	report.step("API server killed (SIGKILL) and back")
	pause()
	restarted := time.Now().Truncate(time.Second)
	node.restart(syscall.SIGKILL)
	eventually(t, "the restarted agent renewing its lease", func() error {
		var lease api.Lease
		if err := admin.Get(ctx, lookup("leases"), "", "node-n1", &lease); err != nil {
			return err
		}
		if r := lease.Spec.RenewTime; r == nil || r.Before(restarted) {
			return fmt.Errorf("lease last renewed %v, before the restart at %v", r, restarted)
		}
		return nodeReady(ctx, admin, lookup("nodes"), "n1")
	})
	report.step("node agent killed (SIGKILL) and back, renewing its lease, node Ready")
	if after := ovnPIDs(); !maps.Equal(after, ovnBefore) {
		t.Errorf("OVN daemons replaced, not adopted, across the kills: %v, then %v", ovnBefore, after)
	}
	pause()
	for i := range 10 {
		create("routes", "shop", api.Route{Metadata: api.ObjectMeta{Name: fmt.Sprintf("extra-%d", i)},
			Spec: api.RouteSpec{Host: fmt.Sprintf("extra-%d.resilience.test", i), To: api.RouteTargetReference{Kind: "Service", Name: "web"}}})
	}
	eventually(t, "the tenth new route admitted", func() error { return routeAdmitted(ctx, admin, lookup("routes"), "extra-9") })
	report.step("router reloaded for 10 new routes")
	pause()
	// The router's process dies; its HAProxy keeps serving, and the next
	// run takes the listeners over and lets the orphan finish.
	haproxyDir := filepath.Join(routerDir, "h")
	orphan := readPID(t, filepath.Join(haproxyDir, "haproxy.pid"))
	router.restart(syscall.SIGKILL)
	create("routes", "shop", api.Route{Metadata: api.ObjectMeta{Name: "after-restart"},
		Spec: api.RouteSpec{Host: "after.resilience.test", To: api.RouteTargetReference{Kind: "Service", Name: "web"}}})
	eventually(t, "the restarted router serving a new route, the old HAProxy gone", func() error {
		if err := routeAdmitted(ctx, admin, lookup("routes"), "after-restart"); err != nil {
			return err
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); err == nil {
			return fmt.Errorf("the killed router's haproxy (pid %d) still runs", orphan)
		}
		return nil
	})
	report.step("router killed (SIGKILL), restarted, took HAProxy's listeners over")
	pause()
	ok, failures := load.stop()
	report.step(fmt.Sprintf("load stopped: %d requests served", ok))
	server.alive()
	node.alive()
	router.alive()

	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed; first ones: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}
	if ok < 100 {
		t.Errorf("only %d requests served: the load did not run", ok)
	}
	after := podNames(t, admin, lookup("pods"))
	if strings.Join(after, ",") != strings.Join(podsBefore, ",") {
		t.Errorf("pods changed across the restarts: %v, then %v", podsBefore, after)
	}
	var d api.Deployment
	if err := admin.Get(ctx, lookup("deployments"), "shop", "web", &d); err != nil || d.Status.ReadyReplicas != 2 {
		t.Errorf("deployment after the restarts: %+v, %v", d.Status, err)
	}
	if after := ovnPIDs(); !maps.Equal(after, ovnBefore) {
		t.Errorf("OVN daemons restarted during the run: %v, then %v", ovnBefore, after)
	}
	if err := removeApp(); err != nil {
		t.Error(err)
	}
	if ovn {
		node.stop(syscall.SIGTERM)
		server.stop(syscall.SIGTERM)
		if left := ovnProcessesUnder(data); len(left) > 0 {
			t.Errorf("OVS/OVN processes left after a clean stop: %v", left)
		}
		report.step("node and control plane stopped (SIGTERM): no OVS/OVN process left")
	}
}

// ovnDaemonPIDs reads the pid files of the OVN central (under the control
// plane's data dir) and of the node's chassis.
func ovnDaemonPIDs(t *testing.T, data string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, f := range []string{"server/ovn/central/nb", "server/ovn/central/sb", "server/ovn/central/ovn-northd",
		"node/ovn/conf", "node/ovn/ovs-vswitchd", "node/ovn/ovn-controller"} {
		pids[f] = readPID(t, filepath.Join(data, f+".pid"))
	}
	return pids
}

// ovnProcessesUnder lists the OVS/OVN processes whose command line names
// a path under dir.
func ovnProcessesUnder(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); strings.HasPrefix(filepath.Base(argv0), "ov") {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

// loadRun is constant traffic from a few clients.
type loadRun struct {
	done     chan struct{}
	wg       sync.WaitGroup
	ok       atomic.Int64
	mu       sync.Mutex
	failures []string
}

func startLoad(get func() error, clients int) *loadRun {
	l := &loadRun{done: make(chan struct{})}
	for range clients {
		l.wg.Go(func() {
			for {
				select {
				case <-l.done:
					return
				default:
				}
				began := time.Now()
				if err := get(); err != nil {
					l.mu.Lock()
					l.failures = append(l.failures, began.Format("15:04:05.000")+"→"+time.Now().Format("15:04:05.000")+" "+err.Error())
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	return l
}

func (l *loadRun) stop() (ok int, failures []string) {
	close(l.done)
	l.wg.Wait()
	return int(l.ok.Load()), l.failures
}

// waitForAPI waits for the API server to answer a login and returns an
// admin client.
func waitForAPI(t *testing.T, url, ca string) *client.Client {
	t.Helper()
	var c *client.Client
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := &upProcess{url: url, ca: ca}
		tok, err := tryToken(p)
		if err == nil {
			if c, err = client.New(client.Config{Server: url, CAFile: ca, Token: tok}); err == nil {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("API server at %s not answering within 60 s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond) // bounded poll of a starting server
	}
}

// serviceAccountToken makes a service account in slipway-system bound to
// a cluster role and returns a token for it, as an installer does for
// agents and routers.
func serviceAccountToken(t *testing.T, admin *client.Client, name, role string) string {
	t.Helper()
	ctx := context.Background()
	cat := api.NewCatalogue()
	sa, _ := cat.Lookup(api.ServiceAccountsResource)
	crb, _ := cat.Lookup(api.ClusterRoleBindingsResource)
	if err := admin.Create(ctx, sa, "slipway-system", map[string]any{"metadata": map[string]any{"name": name}}, nil); err != nil {
		t.Fatal(err)
	}
	spec := api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: role},
		Subjects: []api.Subject{{Kind: api.ServiceAccountSubject, Name: name, Project: "slipway-system"}}}
	if err := admin.Create(ctx, crb, "", map[string]any{"metadata": map[string]any{"name": name}, "spec": spec}, nil); err != nil {
		t.Fatal(err)
	}
	var res struct{ Token string }
	if err := admin.Do(ctx, "POST", "/api/v1/projects/slipway-system/serviceaccounts/"+name+"/token", "application/json", []byte(`{}`), &res); err != nil {
		t.Fatal(err)
	}
	return res.Token
}

func podNames(t *testing.T, c *client.Client, pods *api.Resource) []string {
	t.Helper()
	var list api.List[api.Pod]
	if err := c.List(context.Background(), pods, "shop", api.ListOptions{}, &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		restarts := int32(0)
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
		out = append(out, fmt.Sprintf("%s(uid %s, restarts %d)", p.Metadata.Name, p.Metadata.UID, restarts))
	}
	return out
}

// deploymentReady checks that shop/web has want ready replicas.
func deploymentReady(ctx context.Context, c *client.Client, want int32) error {
	var d api.Deployment
	if err := c.Get(ctx, lookupResource("deployments"), "shop", "web", &d); err != nil {
		return err
	}
	if d.Status.ReadyReplicas != want {
		return fmt.Errorf("%d of %d replicas ready", d.Status.ReadyReplicas, want)
	}
	return nil
}

func nodeReady(ctx context.Context, c *client.Client, nodes *api.Resource, name string) error {
	var n api.Node
	if err := c.Get(ctx, nodes, "", name, &n); err != nil {
		return err
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == api.NodeReady && cond.Status == "True" {
			return nil
		}
	}
	return fmt.Errorf("node %s not Ready: %+v", name, n.Status.Conditions)
}

func routeAdmitted(ctx context.Context, c *client.Client, routes *api.Resource, name string) error {
	var r api.Route
	if err := c.Get(ctx, routes, "shop", name, &r); err != nil {
		return err
	}
	for _, in := range r.Status.Ingress {
		for _, cond := range in.Conditions {
			if cond.Type == api.RouteAdmitted && cond.Status == "True" {
				return nil
			}
		}
	}
	return errors.New("not admitted yet")
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// report records how long each step of an end-to-end test took, in
// test/artifacts/e2e/NAME at the repository's root.
type report struct {
	t     *testing.T
	path  string
	start time.Time
	last  time.Time
	lines []string
}

func newReport(t *testing.T, name string) *report {
	dir := filepath.Join("..", "artifacts", "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := &report{t: t, path: filepath.Join(dir, name), start: now, last: now}
	t.Cleanup(r.write)
	return r
}

func (r *report) step(what string) {
	now := time.Now()
	line := fmt.Sprintf("%8.2fs  +%6.2fs  %s", now.Sub(r.start).Seconds(), now.Sub(r.last).Seconds(), what)
	r.lines = append(r.lines, line)
	r.last = now
	r.t.Log(line)
}

func (r *report) write() {
	status := "passed"
	if r.t.Failed() {
		status = "FAILED"
	}
	text := fmt.Sprintf("%s (%s)\n%s\n", r.t.Name(), status, strings.Join(r.lines, "\n"))
	if err := os.WriteFile(r.path, []byte(text), 0o644); err != nil {
		r.t.Errorf("write report: %v", err)
	}
}

// TestUpKilledUnderLoad kills the whole `slipway up --network bridge`
// (SIGKILL: no chance to stop anything) while an app is under load through
// its route, and starts it again on the same data: HAProxy, containerd and
// PostgreSQL outlive the process and are taken over or replaced, the pods
// are adopted, and not one request fails.
func TestUpKilledUnderLoad(t *testing.T) { upKilledUnderLoad(t, false) }

// TestUpKilledUnderLoadOVN is the same with --network ovn: the OVN central
// and the node's chassis outlive the killed process and are adopted (their
// pids do not change), and the final Ctrl-C leaves no OVS/OVN process.
// Steps go to test/artifacts/e2e/up-killed-ovn.txt.
func TestUpKilledUnderLoadOVN(t *testing.T) { upKilledUnderLoad(t, true) }

func upKilledUnderLoad(t *testing.T, ovn bool) {
	testpeer.RequireRoot(t)
	ctx := context.Background()
	reportName, flags := "up-killed.txt", []string{"--network", "bridge"}
	if ovn {
		for _, bin := range []string{"ovsdb-server", "ovn-northd", "ovs-vswitchd", "ovn-controller", "ethtool", "nsenter"} {
			testpeer.RequireBinary(t, bin, bin)
		}
		reportName, flags = "up-killed-ovn.txt", []string{"--network", "ovn"}
	}
	report := newReport(t, reportName)
	up := startUp(t, dataDir(t), flags...)
	admin := up.client(t)
	report.step("slipway up started")

	const image = "localhost/slipway-e2e/killed:v1"
	ctr, err := ctrclient.New(filepath.Join(up.data, "node", "containerd", "containerd.sock"), ctrclient.WithDefaultNamespace("slipway"))
	if err != nil {
		t.Fatal(err)
	}
	archive, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: image})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sampleimage.Import(ctx, ctr, archive, ""); err != nil {
		t.Fatal(err)
	}
	ctr.Close()
	get := deployWebApp(t, admin, image, up.routerHTTP)
	eventually(t, "the app answering through the route", get)
	podsBefore := podNames(t, admin, lookupResource("pods"))
	report.step("app serving through the route")

	eventually(t, "both pods ready", func() error { return deploymentReady(ctx, admin, 2) })
	ovnPIDs := func() map[string]int { return nil }
	if ovn {
		ovnPIDs = func() map[string]int {
			pids := map[string]int{}
			for _, f := range []string{"ovn/central/nb", "ovn/central/sb", "ovn/central/ovn-northd", "node/ovn/conf", "node/ovn/ovs-vswitchd", "node/ovn/ovn-controller"} {
				pids[f] = readPID(t, filepath.Join(up.data, f+".pid"))
			}
			return pids
		}
	}
	ovnBefore := ovnPIDs()

	load := startLoad(get, 4)
	time.Sleep(2 * time.Second)
	if err := up.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-up.exited
	report.step("slipway up killed (SIGKILL)")
	time.Sleep(2 * time.Second) // the app keeps serving with nobody minding it
	up = restartUp(t, up, flags...)
	admin = up.client(t)
	report.step("slipway up started again")
	if err := admin.Create(ctx, lookupResource("routes"), "shop", api.Route{Metadata: api.ObjectMeta{Name: "after-restart"},
		Spec: api.RouteSpec{Host: "after.killed.test", To: api.RouteTargetReference{Kind: "Service", Name: "web"}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new router serving a new route", func() error {
		return routeAdmitted(ctx, admin, lookupResource("routes"), "after-restart")
	})
	eventually(t, "the restarted node Ready", func() error {
		return nodeReady(ctx, admin, lookupResource("nodes"), platformNodeName(t, admin))
	})
	time.Sleep(2 * time.Second)
	ok, failures := load.stop()
	report.step(fmt.Sprintf("load stopped: %d requests served", ok))
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed; first ones: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}
	if after := podNames(t, admin, lookupResource("pods")); strings.Join(after, ",") != strings.Join(podsBefore, ",") {
		t.Errorf("pods changed across the kill: %v, then %v", podsBefore, after)
	}
	if after := ovnPIDs(); !maps.Equal(after, ovnBefore) {
		t.Errorf("OVN daemons replaced, not adopted, across the kill: %v, then %v", ovnBefore, after)
	}
	up.stop(t)
	if ovn {
		if left := ovnProcessesUnder(up.data); len(left) > 0 {
			t.Errorf("OVS/OVN processes left after Ctrl-C: %v", left)
		}
		if postgresRunning(up.data) {
			t.Error("PostgreSQL still running after Ctrl-C")
		}
		report.step("slipway up stopped (SIGTERM): no OVS/OVN process or PostgreSQL left")
	}
}

// deployWebApp creates project shop with a two-pod deployment of image, its
// service and a route web.shop.test, and returns a check of one request
// through the router on routerHTTP.
func deployWebApp(t *testing.T, admin *client.Client, image string, routerHTTP int) func() error {
	t.Helper()
	ctx := context.Background()
	create := func(plural, project string, obj any) {
		t.Helper()
		if err := admin.Create(ctx, lookupResource(plural), project, obj, nil); err != nil {
			t.Fatalf("create %s: %v", plural, err)
		}
	}
	create("projects", "", api.Project{Metadata: api.ObjectMeta{Name: "shop"}})
	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	create("deployments", "shop", api.Deployment{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.DeploymentSpec{
		Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: labels},
		Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: labels}, Spec: api.PodSpec{Containers: []api.Container{{
			Name: "web", Image: image, ImagePullPolicy: "Never",
			Ports:          []api.ContainerPort{{Name: "http", ContainerPort: sampleimage.DefaultPort}},
			ReadinessProbe: &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromString("http")}, PeriodSeconds: 1},
		}}}}}})
	targetPort := api.FromString("http")
	create("services", "shop", api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{Selector: labels,
		Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: &targetPort}}}})
	create("routes", "shop", api.Route{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.RouteSpec{Host: "web.shop.test",
		To: api.RouteTargetReference{Kind: "Service", Name: "web"}}})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(routerHTTP))
		},
		MaxIdleConnsPerHost: 8,
	}}
	return func() error {
		resp, err := hc.Get("http://web.shop.test/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != sampleimage.IndexHTML {
			return fmt.Errorf("%d %q", resp.StatusCode, firstLine(string(body)))
		}
		return nil
	}
}

func lookupResource(plural string) *api.Resource {
	r, ok := api.NewCatalogue().Lookup(plural)
	if !ok {
		panic("no resource " + plural)
	}
	return r
}

// platformNodeName is the name of the one node slipway up runs.
func platformNodeName(t *testing.T, c *client.Client) string {
	t.Helper()
	var nodes api.List[api.Node]
	if err := c.List(context.Background(), lookupResource("nodes"), "", api.ListOptions{}, &nodes); err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v, %v", nodes.Items, err)
	}
	return nodes.Items[0].Metadata.Name
}
