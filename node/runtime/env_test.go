package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/cninet"
	"github.com/slipway/slipway/node/containerd"
	"github.com/slipway/slipway/node/containerlog"
	"github.com/slipway/slipway/node/netns"
	"github.com/slipway/slipway/node/runtime"
	"github.com/slipway/slipway/node/sampleimage"
)

const testImage = "localhost/slipway-test/busybox:v1"

// TestMain lets the test binary serve as the containers' logging program,
// as the slipway binary does.
func TestMain(m *testing.M) {
	containerlog.ServeIfInvoked()
	os.Exit(m.Run())
}

// env is one private containerd, CNI bridge and Runtime for a test.
type env struct {
	t      testing.TB
	dir    string
	ns     string
	bridge string
	daemon *containerd.Daemon
	net    *cninet.Network
	rt     *runtime.Runtime
	logger *slog.Logger
	rtDir  string
	cniDir string
}

// newEnv starts containerd and wires a runtime to it. subnetIndex picks a
// distinct /24 so that environments of one run never overlap.
func newEnv(t testing.TB, subnetIndex int) *env {
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
	ctx := context.Background()
	e := &env{t: t, dir: t.TempDir(), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		e.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e.ns = fmt.Sprintf("slipway-test-%d-%d", os.Getpid(), subnetIndex)
	e.bridge = fmt.Sprintf("slwt%d-%d", os.Getpid()%100000, subnetIndex)
	testpeer.ReclaimLinks(t, "slwt")
	e.rtDir = filepath.Join(e.dir, "runtime")
	e.cniDir = filepath.Join(e.dir, "cni")
	e.startDaemon()
	t.Cleanup(func() {
		if e.daemon != nil {
			// A test that failed half-way leaves pods: without their
			// deletion, shims would outlive containerd.
			if e.rt != nil {
				pods, _ := e.rt.ListPods(context.Background())
				for _, p := range pods {
					_ = e.rt.DeletePod(context.Background(), p.UID)
				}
			}
			e.daemon.Stop(context.Background())
		}
		exec.Command("ip", "link", "del", e.bridge).Run()
		// containerd leaves one empty directory per namespace outside its
		// root (FIELD-NOTES 1.5); remove them so test runs do not pile up.
		// rmdir only removes empty directories, so nothing live is touched.
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", e.ns))
		for _, d := range append(dirs, filepath.Join("/run/containerd/runc", e.ns)) {
			os.Remove(d)
		}
	})

	archive, err := sampleimage.Build(ctx, e.dir, sampleimage.Spec{Ref: testImage})
	if err != nil {
		t.Fatalf("build image: %v", err)
	}
	if _, err := sampleimage.Import(e.ctx(), e.daemon.Client(), archive, ""); err != nil {
		t.Fatalf("import image: %v", err)
	}
	e.net, err = cninet.New(cninet.Config{
		Dir: e.cniDir, Bridge: e.bridge, NetworkName: e.bridge,
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.254.%d.0/24", subnetIndex)),
	})
	if err != nil {
		t.Fatalf("cninet.New: %v", err)
	}
	e.rt = e.newRuntime()
	return e
}

func (e *env) startDaemon() {
	e.t.Helper()
	d, err := containerd.Start(context.Background(), containerd.Config{
		Dir: filepath.Join(e.dir, "containerd"), Namespace: e.ns, Logger: e.logger,
	})
	if err != nil {
		e.t.Fatalf("start containerd: %v", err)
	}
	e.daemon = d
}

// newRuntime makes a Runtime as a restarted agent would: from options only.
func (e *env) newRuntime() *runtime.Runtime {
	e.t.Helper()
	rt, err := runtime.New(runtime.Options{
		Client: e.daemon.Client(), Namespace: e.ns, Dir: e.rtDir, Network: e.net, Logger: e.logger, LogBinary: testpeer.LogBinary(e.t),
	})
	if err != nil {
		e.t.Fatalf("runtime.New: %v", err)
	}
	return rt
}

func (e *env) ctx() context.Context {
	return namespaces.WithNamespace(context.Background(), e.ns)
}

var httpClient = &http.Client{Timeout: time.Second}

// get fetches url and returns the body if the status is 200.
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
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// waitExited polls the pod until the named container has exited.
func (e *env) waitExited(t testing.TB, uid, name string, timeout time.Duration) runtime.ContainerStatus {
	t.Helper()
	var st runtime.ContainerStatus
	testwait.Until(t, timeout, "container "+name+" exits", func() error {
		ps, err := e.rt.PodStatus(context.Background(), uid)
		if err != nil {
			return err
		}
		for _, c := range ps.Containers {
			if c.Name == name {
				st = c
				if c.State == runtime.StateExited {
					return nil
				}
				return fmt.Errorf("state %s", c.State)
			}
		}
		return fmt.Errorf("container %s not listed", name)
	})
	return st
}

// readLog returns a container's log file.
func (e *env) readLog(t testing.TB, uid, name string) string {
	t.Helper()
	b, err := os.ReadFile(e.rt.LogPath(uid, name))
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	return string(b)
}

// assertGone checks that nothing of the pod is left: containers, tasks,
// snapshots, shims, cgroups, the netns and its mount, the address lease,
// libcni's cache, iptables rules and logs. Shims exit asynchronously, so
// that check polls.
func (e *env) assertGone(t testing.TB, uid string, containerNames ...string) {
	t.Helper()
	ctx := e.ctx()
	c := e.daemon.Client()
	cs, err := c.Containers(ctx, fmt.Sprintf("labels.%q==%s", runtime.LabelPodUID, uid))
	if err != nil || len(cs) != 0 {
		t.Errorf("containers left: %d (%v)", len(cs), err)
	}
	ids := map[string]bool{}
	for _, n := range containerNames {
		ids[runtime.ContainerID(uid, n)] = true
	}
	err = c.SnapshotService("").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if ids[info.Name] {
			t.Errorf("snapshot %s left", info.Name)
		}
		return nil
	})
	if err != nil {
		t.Errorf("walk snapshots: %v", err)
	}
	nsPath := e.rt.NetnsPath(uid)
	if _, err := os.Stat(nsPath); err == nil || netns.Exists(nsPath) {
		t.Errorf("netns %s left", nsPath)
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mountinfo), nsPath) {
		t.Errorf("netns mount %s left", nsPath)
	}
	for id := range ids {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", e.ns, id)); err == nil {
			t.Errorf("memory cgroup of %s left", id)
		}
		if _, err := os.Stat(filepath.Join("/run/containerd/runc", e.ns, id)); err == nil {
			t.Errorf("runc state of %s left", id)
		}
	}
	leases, _ := filepath.Glob(filepath.Join(e.cniDir, "ipam", e.bridge, "10.*"))
	for _, l := range leases {
		if b, _ := os.ReadFile(l); strings.Contains(string(b), uid) {
			t.Errorf("address lease %s left", l)
		}
	}
	cached, _ := filepath.Glob(filepath.Join(e.cniDir, "cache", "results", "*"+uid+"*"))
	if len(cached) != 0 {
		t.Errorf("libcni cache left: %v", cached)
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Errorf("iptables-save: %v", err)
		}
		if strings.Contains(string(out), uid) {
			t.Errorf("iptables %s rules of pod left", table)
		}
	}
	if _, err := os.Stat(filepath.Dir(e.rt.LogPath(uid, "x"))); err == nil {
		t.Errorf("log dir left")
	}
	testwait.Until(t, 5*time.Second, "shims of the pod exit", func() error {
		for id := range ids {
			if pids := shimPIDs(e.daemon.Address(), id); len(pids) != 0 {
				return fmt.Errorf("shim of %s still running: %v", id, pids)
			}
		}
		return nil
	})
}

// shimPIDs finds containerd-shim processes serving container id for the
// daemon at address.
func shimPIDs(address, id string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.Contains(args[0], "containerd-shim") {
			continue
		}
		joined := " " + strings.Join(args, " ") + " "
		if strings.Contains(joined, " "+address+" ") && strings.Contains(joined, " -id "+id+" ") {
			pids = append(pids, en.Name())
		}
	}
	return pids
}
