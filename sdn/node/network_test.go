package node_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/netns"
	"github.com/slipway/slipway/sdn/controller"
	"github.com/slipway/slipway/sdn/netconf"
	"github.com/slipway/slipway/sdn/node"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var cat = api.NewCatalogue()

func res(plural string) *api.Resource { r, _ := cat.Lookup(plural); return r }

func requirePeers(t testing.TB) {
	t.Helper()
	testpeer.RequireRoot(t)
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovn-northd", "ovs-vswitchd", "ovn-controller", "ip", "ethtool", "ping", "nsenter"} {
		testpeer.RequireBinary(t, bin, bin)
	}
	for _, f := range []string{ovnstack.NorthboundSchema, ovnstack.SouthboundSchema, ovnstack.VSwitchSchema} {
		if _, err := os.Stat(f); err != nil {
			testpeer.Missing(t, "OVS/OVN schema", err)
		}
	}
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func eventually(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
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

// serve answers "hi <name>" on each port inside the namespace until the
// test ends.
func serve(t testing.TB, nsPath, name string, ports ...int) {
	t.Helper()
	for _, port := range ports {
		var ln net.Listener
		if err := inNetNS(nsPath, func() (err error) { ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); return err }); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		t.Cleanup(func() { ln.Close(); wg.Wait() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("hi " + name))
				c.Close()
			}
		})
	}
}

// tcp connects from the namespace and reads the greeting.
func tcp(nsPath string, to netip.Addr, port int, timeout time.Duration) error {
	_, err := greet(nsPath, to, port, timeout)
	return err
}

// greet connects from the namespace and returns the greeting.
func greet(nsPath string, to netip.Addr, port int, timeout time.Duration) (string, error) {
	var c net.Conn
	err := inNetNS(nsPath, func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(to, uint16(port)).String(), timeout)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(b), "hi ") {
		return "", fmt.Errorf("read %q: %v", b, err)
	}
	return string(b), nil
}

func ping(nsPath string, to netip.Addr) error {
	out, err := exec.Command("nsenter", "--net="+nsPath, "--", "ping", "-c1", "-W1", to.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %v: %s", to, err, out)
	}
	return nil
}

type stack struct {
	admin   *client.Client
	nb      *ovsdb.Client
	conf    *ovsdb.Client
	network *node.Network
	hostNS  string
	podDir  string
	pods    map[string]*api.Pod // by uid, as the node sees them
	mu      sync.Mutex
}

// lookup finds a pod by uid through the API, like the node agent's cache.
func (s *stack) lookup(uid string) (*api.Pod, bool) {
	for _, project := range []string{"alpha", "beta"} {
		var list api.List[api.Pod]
		if err := s.admin.List(context.Background(), res(api.PodsResource), project, api.ListOptions{}, &list); err != nil {
			continue
		}
		for i := range list.Items {
			if list.Items[i].Metadata.UID == uid {
				return &list.Items[i], true
			}
		}
	}
	return nil, false
}

func (s *stack) runPod(t testing.TB, project, name string, labels map[string]string) (string, netip.Addr, string) {
	t.Helper()
	ctx := context.Background()
	var p api.Pod
	err := s.admin.Create(ctx, res(api.PodsResource), project, api.Pod{Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "app", Image: "localhost:8443/" + project + "/app:1"}}}}, &p)
	if err != nil {
		t.Fatal(err)
	}
	nsPath := filepath.Join(s.podDir, name)
	if err := netns.Create(nsPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(nsPath) })
	ip, err := s.network.Attach(ctx, p.Metadata.UID, nsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.Metadata.UID, ip, nsPath
}

// TestIsolation runs a real API server, OVN central, one chassis in its
// own network namespace and the SDN controller, attaches pods of two
// projects through the node Network, and checks: same-project pods talk
// (ping and TCP), other projects are blocked both ways, the host reaches
// every pod through the management port, a NetworkPolicy opens one port
// to the other project, a service VIP balances over its endpoints for its
// own project and follows them, and detaching removes the bridge port.
// newStack starts a real API server, OVN central, one chassis (node n1) in
// its own network namespace, the SDN controller and the node Network, with
// projects alpha and beta (labelled team=b) and n1's management port.
func newStack(t testing.TB) *stack {
	requirePeers(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	dir := t.TempDir()
	nodeNS := "slw-" + suffix + "-n1"
	run(t, "ip", "netns", "add", nodeNS)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", nodeNS).Run() })
	run(t, "ip", "-n", nodeNS, "link", "set", "lo", "up")
	ctx := context.Background()

	central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = central.Stop(context.Background()) })
	chassis, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "chassis"), SystemID: "n1-" + suffix,
		SouthboundRemote: central.SouthboundEndpoint(), NetNS: nodeNS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chassis.Stop(context.Background()) })
	nb, err := ovsdb.Dial(ctx, central.NorthboundEndpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close() })
	conf, err := ovsdb.Dial(ctx, chassis.Endpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conf.Close() })

	e := servertest.Start(t, server.Config{BookmarkEvery: 200 * time.Millisecond})
	token, err := e.Server.ServiceAccountToken(ctx, "slipway-system", "sdn", rbac.RoleSDN)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := controller.New(controller.Config{Client: e.Client(t, token), NB: nb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	s := &stack{admin: e.Admin, nb: nb, conf: conf, hostNS: "/var/run/netns/" + nodeNS, podDir: filepath.Join(dir, "pods")}
	for name, labels := range map[string]map[string]string{"alpha": nil, "beta": {"team": "b"}} {
		if err := s.admin.Create(ctx, res(api.ProjectsResource), "", api.Project{Metadata: api.ObjectMeta{Name: name, Labels: labels}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.admin.Create(ctx, res(api.NodesResource), "", api.Node{Metadata: api.ObjectMeta{Name: "n1"}}, nil); err != nil {
		t.Fatal(err)
	}
	var subnet netip.Prefix
	eventually(t, 20*time.Second, "node subnet", func() (err error) {
		var n api.Node
		if err := s.admin.Get(ctx, res(api.NodesResource), "", "n1", &n); err != nil {
			return err
		}
		subnet, err = netip.ParsePrefix(n.Metadata.Annotations[netconf.NodeSubnetAnnotation])
		return err
	})
	if err := node.EnsureManagementPort(ctx, conf, node.ManagementPort{NodeName: "n1", Subnet: subnet,
		ClusterCIDR: netip.MustParsePrefix(netconf.DefaultClusterCIDR), HostNetNS: s.hostNS}); err != nil {
		t.Fatal(err)
	}
	if s.network, err = node.New(node.Config{NodeName: "n1", Conf: conf, Lookup: s.lookup, HostNetNS: s.hostNS, AddressWait: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}

	return s
}

func TestIsolation(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	_, a1, a1ns := s.runPod(t, "alpha", "a1", map[string]string{"app": "web"})
	a2uid, a2, a2ns := s.runPod(t, "alpha", "a2", nil)
	_, b1, b1ns := s.runPod(t, "beta", "b1", nil)
	for name, ns := range map[string]string{"a1": a1ns, "a2": a2ns, "b1": b1ns} {
		serve(t, ns, name, 80, 81)
	}
	eventually(t, 20*time.Second, "a1 → a2 (same project) over TCP", func() error { return tcp(a1ns, a2, 80, 300*time.Millisecond) })
	t.Logf("three pods created, attached and reachable in %s", time.Since(start))
	if err := ping(a2ns, a1); err != nil {
		t.Fatalf("a2 → a1 (same project): %v", err)
	}
	eventually(t, 10*time.Second, "host → b1 and a1 (management port)", func() error {
		if err := ping(s.hostNS, b1); err != nil {
			return err
		}
		return tcp(s.hostNS, a1, 80, 300*time.Millisecond)
	})
	if err := ovsdb.WaitHV(ctx, s.nb); err != nil {
		t.Fatal(err)
	}
	if err := tcp(b1ns, a1, 80, 500*time.Millisecond); err == nil {
		t.Fatal("b1 (beta) reached a1 (alpha) over TCP")
	}
	if err := ping(a1ns, b1); err == nil {
		t.Fatal("a1 (alpha) pinged b1 (beta)")
	}

	// A policy opens alpha's web pods on TCP 80 to team=b projects.
	port := api.FromInt(80)
	start = time.Now()
	if err := s.admin.Create(ctx, res(api.NetworkPoliciesResource), "alpha", api.NetworkPolicy{Metadata: api.ObjectMeta{Name: "from-b"},
		Spec: api.NetworkPolicySpec{PodSelector: api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []api.NetworkPolicyIngressRule{{
				From:  []api.NetworkPolicyPeer{{NamespaceSelector: &api.LabelSelector{MatchLabels: map[string]string{"team": "b"}}}},
				Ports: []api.NetworkPolicyPort{{Port: &port}}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b1 → a1:80 opened by the policy", func() error { return tcp(b1ns, a1, 80, 200*time.Millisecond) })
	t.Logf("policy created → enforced in %s", time.Since(start))
	if err := ovsdb.WaitHV(ctx, s.nb); err != nil {
		t.Fatal(err)
	}
	if err := tcp(b1ns, a1, 81, 500*time.Millisecond); err == nil {
		t.Fatal("b1 reached a1 on port 81, which the policy does not open")
	}
	if err := tcp(b1ns, a2, 80, 500*time.Millisecond); err == nil {
		t.Fatal("b1 reached a2, which the policy does not select")
	}
	if err := s.admin.Delete(ctx, res(api.NetworkPoliciesResource), "alpha", "from-b", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b1 → a1:80 closed again", func() error {
		if tcp(b1ns, a1, 80, 200*time.Millisecond) == nil {
			return fmt.Errorf("still open")
		}
		return nil
	})

	// A service VIP balances over its endpoints, for its own project only,
	// and follows the endpoints (which list ready pods).
	var svc api.Service
	if err := s.admin.Create(ctx, res(api.ServicesResource), "alpha", api.Service{Metadata: api.ObjectMeta{Name: "web"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Name: "http", Port: 8000, TargetPort: &port}}}}, &svc); err != nil {
		t.Fatal(err)
	}
	var vip netip.Addr
	eventually(t, 10*time.Second, "cluster IP", func() (err error) {
		if err := s.admin.Get(ctx, res(api.ServicesResource), "alpha", "web", &svc); err != nil {
			return err
		}
		vip, err = netip.ParseAddr(svc.Status.ClusterIP)
		return err
	})
	setEndpoints := func(ips ...netip.Addr) {
		t.Helper()
		var addrs []api.EndpointAddress
		for _, ip := range ips {
			addrs = append(addrs, api.EndpointAddress{IP: ip.String()})
		}
		eps := api.Endpoints{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.EndpointsSpec{Subsets: []api.EndpointSubset{{
			Addresses: addrs, Ports: []api.EndpointPort{{Name: "http", Port: 80}}}}}}
		var cur api.Endpoints
		if err := s.admin.Get(ctx, res(api.EndpointsResource), "alpha", "web", &cur); err == nil {
			eps.Metadata.ResourceVersion = cur.Metadata.ResourceVersion
			if err := s.admin.Update(ctx, res(api.EndpointsResource), "alpha", "web", eps, nil); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := s.admin.Create(ctx, res(api.EndpointsResource), "alpha", eps, nil); err != nil {
			t.Fatal(err)
		}
	}
	setEndpoints(a1, a2)
	eventually(t, 10*time.Second, "the VIP balances over a1 and a2 (a2 calling it lands on itself too)", func() error {
		seen := map[string]int{}
		for i := 0; i < 20; i++ {
			g, err := greet(a2ns, vip, 8000, 300*time.Millisecond)
			if err != nil {
				return err
			}
			seen[g]++
		}
		if seen["hi a1"] == 0 || seen["hi a2"] == 0 {
			return fmt.Errorf("answers %v", seen)
		}
		return nil
	})
	if err := tcp(b1ns, vip, 8000, 500*time.Millisecond); err == nil {
		t.Fatal("b1 (beta) reached alpha's service VIP")
	}
	setEndpoints(a1)
	eventually(t, 10*time.Second, "the VIP follows the endpoints", func() error {
		for i := 0; i < 10; i++ {
			g, err := greet(a2ns, vip, 8000, 300*time.Millisecond)
			if err != nil {
				return err
			}
			if g != "hi a1" {
				return fmt.Errorf("answer %q from a pod no longer an endpoint", g)
			}
		}
		return nil
	})

	// Detach removes the bridge port.
	if err := s.network.Detach(ctx, a2uid, a2ns); err != nil {
		t.Fatal(err)
	}
	res, err := s.conf.Transact(ctx, ovnstack.VSwitchDB, ovsdb.Select("Port", []ovsdb.Condition{ovsdb.Equal("name", node.HostInterface(a2uid))}))
	if err != nil || len(res[0].Rows) != 0 {
		t.Fatalf("a2's bridge port after Detach: %v, %v", res, err)
	}
	if err := s.network.Detach(ctx, a2uid, a2ns); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
}
