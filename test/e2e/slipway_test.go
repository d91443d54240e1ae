package e2e

import (
	"github.com/slipway/slipway/server/store/storetest"

	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/platform"
	"github.com/slipway/slipway/server/store/pgserver"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds cmd/<name> once per test run.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "slipway-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, cmd := range []string{"slipway", "slip", "slipway-container-log"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, cmd), "github.com/slipway/slipway/cmd/"+cmd).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", cmd, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func TestMain(m *testing.M) { storetest.Main(removeBinariesAfter{m}) }

// removeBinariesAfter runs the tests, then removes the binaries they built.
type removeBinariesAfter struct{ m *testing.M }

func (r removeBinariesAfter) Run() int {
	code := r.m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	return code
}

// dataDir is a data directory the postgres account can reach.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "slipway-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "data")
}

// upProcess is a running `slipway up`.
type upProcess struct {
	cmd  *exec.Cmd
	url  string
	ca   string
	data string
	// routerHTTP, routerHTTPS and routerMetrics are the router's loopback
	// ports.
	routerHTTP, routerHTTPS, routerMetrics int
	stderr                                 *strings.Builder
	exited                                 chan error
	// netns, when set, runs it in that network namespace (a machine of
	// its own; see multinode_test.go).
	netns string
}

var urlLine = regexp.MustCompile(`API:\s+(https://\S+)`)

func startUp(t *testing.T, data string, flags ...string) *upProcess {
	t.Helper()
	// The router serves on free loopback ports, never the machine's 80/443.
	return launchUp(t, &upProcess{data: data, routerHTTP: freeLoopbackPort(t), routerHTTPS: freeLoopbackPort(t),
		routerMetrics: freeLoopbackPort(t)}, flags...)
}

// restartUp starts `slipway up` again on prev's data directory and router
// ports (prev has ended).
func restartUp(t *testing.T, prev *upProcess, flags ...string) *upProcess {
	t.Helper()
	return launchUp(t, &upProcess{data: prev.data, routerHTTP: prev.routerHTTP, routerHTTPS: prev.routerHTTPS,
		routerMetrics: prev.routerMetrics}, flags...)
}

func launchUp(t *testing.T, p *upProcess, flags ...string) *upProcess {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgserver.DefaultBinDir, "postgres")); err != nil {
		testpeer.Missing(t, "PostgreSQL 15", err)
	}
	testpeer.RequireBinary(t, "HAProxy", "haproxy")
	if p.netns == "" && !slices.Contains(flags, "bridge") && platform.OVNInstalled() {
		lockHostOVN(t) // --network auto, the default, runs OVN
	}
	p.stderr, p.exited = &strings.Builder{}, make(chan error, 1)
	data := p.data
	args := []string{"up", "--data-dir", data, "--listen", "127.0.0.1:0", "--router-address", "127.0.0.1",
		"--router-http-port", strconv.Itoa(p.routerHTTP), "--router-https-port", strconv.Itoa(p.routerHTTPS),
		"--router-metrics-address", "127.0.0.1:" + strconv.Itoa(p.routerMetrics)}
	cmd := exec.Command(binary(t, "slipway"), append(args, flags...)...)
	if p.netns != "" {
		cmd = exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + p.netns, binary(t, "slipway")}, append(args, flags...)...)...)
	}
	cmd.Env = append(os.Environ(), "SLIPWAY_BOOTSTRAP_PASSWORD="+adminPassword)
	p.cmd = cmd
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.exited <- cmd.Wait() }()
	select {
	case p.url = <-found:
	case err := <-p.exited:
		t.Fatalf("slipway up exited during start-up: %v\n%s", err, p.stderr)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("slipway up printed no URL within 60 s\n%s", p.stderr)
	}
	p.ca = filepath.Join(data, "pki", "ca.crt")
	t.Cleanup(func() {
		// A test that ended early stops it as Ctrl-C would: a SIGKILL would
		// leave its PostgreSQL, containerd, pods and HAProxy running (they
		// outlive a killed slipway by design) for later tests to trip over.
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
	})
	return p
}

// lockHostOVN holds, until the test ends, a machine-wide lock for running
// an OVN chassis in the host network namespace. Two chassis there collide
// (both datapaths own the br-int and ovs-netdev taps and the slw-mgmt
// management port), so test runs of several sessions on one machine take
// turns. Taking it again in the same test (a restart) is a no-op.
func lockHostOVN(t *testing.T) {
	t.Helper()
	hostOVNLocks.Lock()
	defer hostOVNLocks.Unlock()
	if hostOVNLocks.held[t.Name()] {
		return
	}
	f, err := os.OpenFile("/run/lock/slipway-e2e-host-ovn.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock the host's OVN: %v", err)
	}
	if waited := time.Since(began); waited > time.Second {
		t.Logf("waited %s for another test run's OVN chassis on this machine", waited.Round(time.Second))
	}
	if hostOVNLocks.held == nil {
		hostOVNLocks.held = map[string]bool{}
	}
	hostOVNLocks.held[t.Name()] = true
	t.Cleanup(func() {
		hostOVNLocks.Lock()
		delete(hostOVNLocks.held, t.Name())
		hostOVNLocks.Unlock()
		f.Close() // releases the lock
	})
}

var hostOVNLocks struct {
	sync.Mutex
	held map[string]bool
}

// adminPassword is the bootstrap admin's password in these tests.
const adminPassword = "e2e-admin-password"

// token logs in as the bootstrap admin.
func (p *upProcess) token(t *testing.T) string {
	t.Helper()
	tok, err := tryToken(p)
	if err != nil {
		t.Fatalf("log in as admin: %v", err)
	}
	return tok
}

func tryToken(p *upProcess) (string, error) {
	anon, err := client.New(client.Config{Server: p.url, CAFile: p.ca})
	if err != nil {
		return "", err
	}
	var res struct{ Token string }
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
	if err := anon.Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
		return "", err
	}
	return res.Token, nil
}

// client is an API client of the bootstrap admin.
func (p *upProcess) client(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Server: p.url, CAFile: p.ca, Token: p.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stop sends SIGTERM and requires a clean exit within a bound.
func (p *upProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("slipway up exited with %v after SIGTERM\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("slipway up did not stop within 30 s of SIGTERM\n%s", p.stderr)
	}
}

// eventually is eventuallyWithin 30 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, what, cond)
}

// eventuallyWithin polls cond until it returns nil, failing the test when
// within passes first.
func eventuallyWithin(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	testwait.Every(t, within, 50*time.Millisecond, what, cond) // slip runs are not free
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// postgresRunning reports whether a postgres process serves data.
func postgresRunning(data string) bool {
	b, err := os.ReadFile(filepath.Join(data, "postgres", "postmaster.pid"))
	if err != nil {
		return false
	}
	pid := strings.SplitN(string(b), "\n", 2)[0]
	_, err = os.Stat("/proc/" + strings.TrimSpace(pid))
	return err == nil
}

// Everything written before a clean stop is there after a restart on the
// same data directory, and watches resume across it.
func TestUpRestartKeepsEveryObject(t *testing.T) {
	ctx := context.Background()
	data := dataDir(t)
	cat := api.NewCatalogue()
	projects, _ := cat.Lookup("projects")
	configmaps, _ := cat.Lookup("configmaps")

	up := startUp(t, data)
	c := up.client(t)
	want := map[string]string{} // name → resourceVersion
	for i := 0; i < 20; i++ {
		var p api.Project
		if err := c.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{
			"name": fmt.Sprintf("p%02d", i), "labels": map[string]string{"n": fmt.Sprint(i)}}, "spec": map[string]any{"displayName": fmt.Sprintf("Project %d", i)}}, &p); err != nil {
			t.Fatal(err)
		}
		want[p.Metadata.Name] = p.Metadata.ResourceVersion
	}
	var cm api.ConfigMap
	if err := c.Create(ctx, configmaps, "p01", map[string]any{"metadata": map[string]any{"name": "settings"}, "data": map[string]string{"k": "v"}}, &cm); err != nil {
		t.Fatal(err)
	}
	var held api.Project
	if err := c.Patch(ctx, projects, "", "p02", []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`), false, &held); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, projects, "", "p02", &held); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, projects, "", "p03", nil); err != nil {
		t.Fatal(err)
	}
	// The project controller deletes p03 once its (empty) contents are gone.
	eventually(t, "p03 deleted", func() error {
		if err := c.Get(ctx, projects, "", "p03", nil); !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	var before api.List[api.Project]
	if err := c.List(ctx, projects, "", api.ListOptions{}, &before); err != nil {
		t.Fatal(err)
	}
	up.stop(t)
	if postgresRunning(data) {
		t.Fatal("PostgreSQL still running after slipway up stopped")
	}

	up = startUp(t, data)
	c = up.client(t)
	var after api.List[api.Project]
	if err := c.List(ctx, projects, "", api.ListOptions{}, &after); err != nil {
		t.Fatal(err)
	}
	if len(after.Items) != len(before.Items) {
		t.Fatalf("after restart: %d projects at revision %s, before: %d at %s",
			len(after.Items), after.Metadata.ResourceVersion, len(before.Items), before.Metadata.ResourceVersion)
	}
	for i, p := range after.Items {
		b := before.Items[i]
		if p.Metadata.Name != b.Metadata.Name || p.Metadata.UID != b.Metadata.UID || p.Spec != b.Spec ||
			p.Metadata.Labels["n"] != b.Metadata.Labels["n"] || !p.Metadata.CreationTimestamp.Equal(*b.Metadata.CreationTimestamp) {
			t.Fatalf("project %d changed across the restart: %+v, was %+v", i, p, b)
		}
	}
	if err := c.Get(ctx, projects, "", "p03", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("deleted project back after restart: %v", err)
	}
	var heldAfter api.Project
	if err := c.Get(ctx, projects, "", "p02", &heldAfter); err != nil || heldAfter.Metadata.DeletionTimestamp == nil {
		t.Fatalf("project held by a finalizer: %+v, %v", heldAfter.Metadata, err)
	}
	var cmAfter api.ConfigMap
	if err := c.Get(ctx, configmaps, "p01", "settings", &cmAfter); err != nil || cmAfter.Data["k"] != "v" {
		t.Fatalf("configmap after restart: %+v, %v", cmAfter, err)
	}

	// A watch from a revision before the restart replays what came after
	// it: among others, p03's deletion.
	w, err := c.Watch(ctx, projects, "", api.ListOptions{ResourceVersion: want["p19"]})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		var o api.Object
		_ = json.Unmarshal(ev.Object, &o)
		if ev.Type == api.Deleted && o.Metadata.Name == "p03" {
			break
		}
		if ev.Type == api.Bookmark {
			t.Fatal("caught up without seeing p03's deletion")
		}
	}

	// The node `slipway up` runs as root reports on the API's /metrics.
	if os.Geteuid() == 0 {
		eventually(t, "node metrics on /metrics", func() error {
			body, err := c.Stream(ctx, "GET", "/metrics", "", nil)
			if err != nil {
				return err
			}
			defer body.Close()
			text, err := io.ReadAll(body)
			if err != nil || !strings.Contains(string(text), "slipway_node_pods_running") {
				return fmt.Errorf("no slipway_node_pods_running in /metrics (%d bytes, %v)", len(text), err)
			}
			return nil
		})
		// And its usage summary, what `slip adm top nodes` prints.
		eventually(t, "the node's usage through GET /api/v1/nodes/{name}/stats", func() error {
			var nodes api.List[api.Node]
			nodeRes, _ := cat.Lookup("nodes")
			if err := c.List(ctx, nodeRes, "", api.ListOptions{}, &nodes); err != nil || len(nodes.Items) == 0 {
				return fmt.Errorf("nodes %v, %v", nodes.Items, err)
			}
			var st api.NodeStats
			if err := c.Do(ctx, "GET", "/api/v1/nodes/"+nodes.Items[0].Metadata.Name+"/stats", "", nil, &st); err != nil {
				return err
			}
			if st.Usage.CPUMillicores <= 0 || st.Usage.MemoryBytes <= 0 {
				return fmt.Errorf("usage %+v", st)
			}
			return nil
		})
	}
	up.stop(t)
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "root", errors.New("the node's metrics need a node, and a node needs root"))
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary(t, "slipway"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "slipway ") {
		t.Fatalf("slipway version: %s, %v", out, err)
	}
	out, err = exec.Command(binary(t, "slipway"), "server").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--database-url is required") {
		t.Fatalf("slipway server without a database: %s, %v", out, err)
	}
}

// slipCLI runs the slip binary with a configuration directory of its own.
type slipCLI struct {
	t      *testing.T
	config string
	up     *upProcess
}

// newSlip returns a slip logged in to up with its admin token.
func newSlip(t *testing.T, up *upProcess) *slipCLI {
	t.Helper()
	s := &slipCLI{t: t, config: t.TempDir(), up: up}
	s.must("login", up.url, "--token", up.token(t), "--certificate-authority", up.ca)
	return s
}

// run runs slip and returns its combined output.
func (s *slipCLI) run(args ...string) (string, error) {
	cmd := exec.Command(binary(s.t, "slip"), args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+s.config, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs slip and ends the test, with slipway up's last lines, when
// the command fails.
func (s *slipCLI) must(args ...string) string {
	s.t.Helper()
	out, err := s.run(args...)
	if err != nil {
		s.t.Fatalf("slip %s: %v\n%s\nslipway up:\n%s", strings.Join(args, " "), err, out, tail(s.up.stderr.String(), 4000))
	}
	return out
}
