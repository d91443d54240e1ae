package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ctrclient "github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/sampleimage"
	"github.com/slipway/slipway/sdn/netconf"
)

// TestUpOVNIsolation runs `slipway up --network ovn` as root: real pods
// get addresses from the cluster CIDR, pass HTTP readiness probes (the
// host reaches them through the management port), reach a pod of their
// own project, and not one of another project.
func TestUpOVNIsolation(t *testing.T) {
	testpeer.RequireRoot(t)
	for _, bin := range []string{"ovsdb-server", "ovn-northd", "ovs-vswitchd", "ovn-controller", "ethtool", "nsenter"} {
		testpeer.RequireBinary(t, bin, bin)
	}
	ctx := context.Background()
	data := dataDir(t)
	start := time.Now()
	up := startUp(t, data, "--network", "ovn")
	defer up.stop(t)
	c := up.client(t)
	cat := api.NewCatalogue()
	lookup := func(plural string) *api.Resource { r, _ := cat.Lookup(plural); return r }

	const image = "localhost/slipway-e2e/busybox:v1"
	ctr, err := ctrclient.New(filepath.Join(data, "node", "containerd", "containerd.sock"), ctrclient.WithDefaultNamespace("slipway"))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	archive, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: image})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sampleimage.Import(ctx, ctr, archive, ""); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{"alpha", "beta"} {
		if err := c.Create(ctx, lookup("projects"), "", api.Project{Metadata: api.ObjectMeta{Name: p}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	probe := &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromInt(sampleimage.DefaultPort)}, PeriodSeconds: 1}
	pods := [][2]string{{"alpha", "a1"}, {"alpha", "a2"}, {"beta", "b1"}}
	for _, p := range pods {
		pod := api.Pod{Metadata: api.ObjectMeta{Name: p[1], Labels: map[string]string{"pod": p[1]}}, Spec: api.PodSpec{Containers: []api.Container{{
			Name: "web", Image: image, ImagePullPolicy: "Never", ReadinessProbe: probe}}}}
		if err := c.Create(ctx, lookup("pods"), p[0], pod, nil); err != nil {
			t.Fatal(err)
		}
	}
	cluster := netip.MustParsePrefix(netconf.DefaultClusterCIDR)
	running := map[string]api.Pod{}
	eventually(t, "pods running and ready on the OVN network", func() error {
		for _, p := range pods {
			var pod api.Pod
			if err := c.Get(ctx, lookup("pods"), p[0], p[1], &pod); err != nil {
				return err
			}
			ready := false
			for _, cond := range pod.Status.Conditions {
				ready = ready || cond.Type == api.PodReady && cond.Status == "True"
			}
			ip, err := netip.ParseAddr(pod.Status.PodIP)
			if err != nil || !cluster.Contains(ip) || !ready {
				return fmt.Errorf("pod %s: phase %s, ip %q, ready %v", p[1], pod.Status.Phase, pod.Status.PodIP, ready)
			}
			running[p[1]] = pod
		}
		return nil
	})

	url := func(name string) string {
		return fmt.Sprintf("http://%s/", net.JoinHostPort(running[name].Status.PodIP, fmt.Sprint(sampleimage.DefaultPort)))
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(url("b1"))
	if err != nil {
		t.Fatalf("host → b1: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != sampleimage.IndexHTML {
		t.Fatalf("host → b1: %q", body)
	}

	netnsOf := func(name string) string {
		return filepath.Join(data, "node", "pods", "netns", running[name].Metadata.UID)
	}
	get := func(from, to string) error {
		var conn net.Conn
		err := inNetNS(netnsOf(from), func() (err error) {
			conn, err = net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(url(to), "http://"), "/"), time.Second)
			return err
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
		b, err := io.ReadAll(conn)
		if err != nil || !strings.Contains(string(b), sampleimage.IndexHTML) {
			return fmt.Errorf("GET from %s to %s: %q, %v", from, to, b, err)
		}
		return nil
	}
	t.Logf("pods ready %s after start", time.Since(start))
	eventually(t, "a1 → a2 (same project)", func() error { return get("a1", "a2") })
	if err := get("b1", "a1"); err == nil {
		t.Fatal("b1 (beta) reached a1 (alpha)")
	}
	if err := get("a2", "b1"); err == nil {
		t.Fatal("a2 (alpha) reached b1 (beta)")
	}

	// A pod finds a service of its project by its short name: the node
	// wrote its resolv.conf, whose first nameserver is where OVN answers
	// NAME.PROJECT.svc.
	target := api.FromInt(sampleimage.DefaultPort)
	svc := api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{
		Selector: map[string]string{"pod": "a2"}, Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: &target}}}}
	if err := c.Create(ctx, lookup("services"), "alpha", svc, nil); err != nil {
		t.Fatal(err)
	}
	slip := newSlip(t, up).run
	if out, err := slip("exec", "-n", "alpha", "pod/a1", "--", "cat", "/etc/resolv.conf"); err != nil || !strings.Contains(out, "search alpha.svc svc") {
		t.Fatalf("a1's /etc/resolv.conf: %v\n%s", err, out)
	}
	var vip string
	eventually(t, "the service's cluster IP", func() error {
		var got api.Service
		if err := c.Get(ctx, lookup("services"), "alpha", "web", &got); err != nil {
			return err
		}
		vip = got.Status.ClusterIP
		if vip == "" {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	// busybox's nslookup reads the pod's resolv.conf (the image's static
	// busybox crashes in glibc's getaddrinfo, so its wget cannot be used;
	// the VIP itself is tested in sdn/node).
	eventually(t, "a1 resolves web (short name) and web.alpha.svc", func() error {
		for _, name := range []string{"web", "web.alpha.svc"} {
			out, err := slip("exec", "-n", "alpha", "pod/a1", "--", "nslookup", name)
			if err != nil || !strings.Contains(out, "Address: "+vip) {
				return fmt.Errorf("nslookup %s: %v: %s", name, err, out)
			}
		}
		return nil
	})

	// ovn-controller dies: the node restarts it (with ovs-vswitchd) and
	// traffic flows again.
	pidFile := filepath.Join(data, "node", "ovn", "ovn-controller.pid")
	readPID := func() int {
		b, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	old := readPID()
	if old <= 0 {
		t.Fatalf("no ovn-controller pid in %s", pidFile)
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	eventually(t, "ovn-controller restarted", func() error {
		if pid := readPID(); pid == old || pid <= 0 || syscall.Kill(pid, 0) != nil {
			return fmt.Errorf("pid %d (was %d)", pid, old)
		}
		return nil
	})
	t.Logf("ovn-controller back %s after the kill", time.Since(killed))
	eventually(t, "a1 → a2 after the restart", func() error { return get("a1", "a2") })
	t.Logf("a1 → a2 %s after the kill", time.Since(killed))
	if err := get("b1", "a1"); err == nil {
		t.Fatal("b1 (beta) reached a1 (alpha) after the restart")
	}
}

// inNetNS runs fn on a thread switched into the namespace at path.
func inNetNS(path string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		panic(fmt.Sprintf("setns back: %v", err))
	}
	return fnErr
}
