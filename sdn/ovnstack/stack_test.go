package ovnstack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
	"golang.org/x/sys/unix"
)

func requirePeers(t *testing.T) {
	t.Helper()
	testpeer.RequireRoot(t)
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovn-northd", "ovs-vswitchd", "ovn-controller", "ip", "ethtool", "ping"} {
		testpeer.RequireBinary(t, bin, bin)
	}
	for _, f := range []string{ovnstack.NorthboundSchema, ovnstack.SouthboundSchema, ovnstack.VSwitchSchema} {
		if _, err := os.Stat(f); err != nil {
			testpeer.Missing(t, "OVS/OVN schema", err)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// addNetNS creates a network namespace with lo up, deleted at cleanup.
func addNetNS(t *testing.T, name string) {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
}

// shortTempDir is a directory under /tmp removed after the test: the
// daemons' unix sockets live in it, and t.TempDir's longer paths can pass
// the 107-byte limit of a socket address.
func shortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func uniqueSuffix(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type pod struct {
	ns, lsp, mac, ip, hostVeth string
}

// addSwitch creates a logical switch with a port for each pod and returns
// the switch's UUID.
func addSwitch(t *testing.T, ctx context.Context, nb *ovsdb.Client, ls ovsdb.LogicalSwitch, pods []pod) ovsdb.UUID {
	t.Helper()
	ops := []ovsdb.Operation{ovsdb.Insert(ovsdb.TableLogicalSwitch, ls.Row(), "ls")}
	for i, p := range pods {
		ops = append(ops, ovsdb.InsertReferenced(ovsdb.TableLogicalSwitch, ovsdb.NamedUUID("ls"), "ports",
			ovsdb.TableLogicalSwitchPort, ovsdb.LogicalSwitchPort{Name: p.lsp, Addresses: []string{p.mac + " " + p.ip}}.Row(),
			fmt.Sprintf("lsp%d", i))...)
	}
	res, err := nb.Transact(ctx, ovsdb.NorthboundDB, ops...)
	if err != nil {
		t.Fatalf("create logical switch %s: %v", ls.Name, err)
	}
	return res[0].UUID
}

// plugPod does FIELD-NOTES 2.2 for one pod: a veth with the pod end in its
// own netns and the host end in the node netns, TX checksum offload off,
// and the host end added to br-int through the chassis' conf.db.
func plugPod(t *testing.T, ctx context.Context, conf *ovsdb.Client, nodeNS string, p pod) {
	t.Helper()
	addNetNS(t, p.ns)
	run(t, "ip", "-n", nodeNS, "link", "add", p.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", p.ns)
	run(t, "ip", "-n", nodeNS, "link", "set", p.hostVeth, "up")
	run(t, "ip", "-n", p.ns, "link", "set", "eth0", "address", p.mac, "mtu", "1400")
	run(t, "ip", "-n", p.ns, "addr", "add", p.ip+"/24", "dev", "eth0")
	run(t, "ip", "-n", p.ns, "link", "set", "eth0", "up")
	run(t, "ip", "netns", "exec", p.ns, "ethtool", "-K", "eth0", "tx", "off")
	_, err := conf.Transact(ctx, ovnstack.VSwitchDB,
		ovsdb.Insert("Interface", map[string]any{"name": p.hostVeth,
			"external_ids": ovsdb.Map[string, string]{"iface-id": p.lsp}}, "iface"),
		ovsdb.Insert("Port", map[string]any{"name": p.hostVeth, "interfaces": ovsdb.Set[ovsdb.NamedUUID]{"iface"}}, "port"),
		ovsdb.Mutate("Bridge", []ovsdb.Condition{ovsdb.Equal("name", ovnstack.IntegrationBridge)},
			ovsdb.Mutation{Column: "ports", Mutator: "insert", Value: ovsdb.Set[ovsdb.NamedUUID]{"port"}}))
	if err != nil {
		t.Fatalf("add %s to br-int: %v", p.hostVeth, err)
	}
}

// inNetNS runs fn on a thread switched into the named network namespace;
// sockets created by fn stay in that namespace.
func inNetNS(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", name))
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", name, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace and must not be reused.
		panic(fmt.Sprintf("setns back: %v", err))
	}
	return fnErr
}

func processesUnder(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

// TestStack starts a central and one chassis (in its own netns), creates a
// switch with two ports through the typed NB helpers, checks northd's
// propagation to SB, plugs two veth pods and proves forwarding with ping and
// TCP, restarts ovn-controller and ovs-vswitchd, checks crash reporting,
// then stops everything and checks that no process remains.
func TestStack(t *testing.T) {
	requirePeers(t)
	suffix := uniqueSuffix(t)
	dir := shortTempDir(t, "ovnstack")
	nodeNS := "slw-" + suffix + "-node"
	addNetNS(t, nodeNS)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	start := time.Now()
	central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central")})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = central.Stop(context.Background())
		}
	})
	chassis, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "chassis"),
		SystemID: "chassis-" + suffix, SouthboundRemote: central.SouthboundEndpoint(), NetNS: nodeNS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !stopped {
			_ = chassis.Stop(context.Background())
		}
	})
	t.Logf("central + chassis up and registered in %s", time.Since(start))

	nb, err := ovsdb.Dial(ctx, central.NorthboundEndpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	sb, err := ovsdb.Dial(ctx, central.SouthboundEndpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	conf, err := ovsdb.Dial(ctx, chassis.Endpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()

	pods := []pod{
		{ns: "slw-" + suffix + "-p1", lsp: "p1", mac: "0a:58:0a:00:00:0b", ip: "10.0.0.11", hostVeth: "veth-p1"},
		{ns: "slw-" + suffix + "-p2", lsp: "p2", mac: "0a:58:0a:00:00:0c", ip: "10.0.0.12", hostVeth: "veth-p2"},
	}
	lsUUID := addSwitch(t, ctx, nb, ovsdb.LogicalSwitch{Name: "ls0", ExternalIDs: map[string]string{"slipway-test": suffix}}, pods)

	t.Run("northd propagates to the southbound database", func(t *testing.T) {
		testwait.Until(t, 10*time.Second, "Datapath_Binding and Port_Bindings for ls0", func() error {
			r, err := sb.Transact(ctx, ovnstack.SouthboundDB,
				ovsdb.Select("Datapath_Binding", []ovsdb.Condition{{Column: "external_ids", Function: "includes",
					Value: ovsdb.Map[string, string]{"logical-switch": string(lsUUID)}}}),
				ovsdb.Select("Port_Binding", []ovsdb.Condition{{Column: "logical_port", Function: "==", Value: "p1"}}),
				ovsdb.Select("Port_Binding", []ovsdb.Condition{{Column: "logical_port", Function: "==", Value: "p2"}}))
			if err != nil {
				return err
			}
			if len(r[0].Rows) != 1 || len(r[1].Rows) != 1 || len(r[2].Rows) != 1 {
				return fmt.Errorf("datapaths %d, port bindings %d+%d", len(r[0].Rows), len(r[1].Rows), len(r[2].Rows))
			}
			return nil
		})
	})

	// Pods belong to the whole test: later steps use them.
	for _, p := range pods {
		plugPod(t, ctx, conf, nodeNS, p)
	}
	plugged := time.Now()

	t.Run("pods on the chassis reach each other", func(t *testing.T) {
		for _, p := range pods {
			testwait.Until(t, 15*time.Second, p.lsp+" up", func() error {
				ports, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableLogicalSwitchPort,
					[]ovsdb.Condition{ovsdb.Equal("name", p.lsp)}, ovsdb.LogicalSwitchPortFromRow)
				if err != nil {
					return err
				}
				if len(ports) != 1 || ports[0].Up == nil || !*ports[0].Up {
					return fmt.Errorf("port %+v", ports)
				}
				return nil
			})
		}
		t.Logf("both LSPs up=true %s after plugging", time.Since(plugged))
		assertForwarding(t, pods[0], pods[1])
	})

	t.Run("forwarding survives restarts", func(t *testing.T) {
		for _, restart := range []struct {
			name string
			do   func(context.Context) error
		}{
			{"ovn-controller", chassis.RestartController},
			{"ovs-vswitchd", chassis.RestartVSwitchd},
		} {
			t.Run(restart.name, func(t *testing.T) {
				before := chassis.PIDs()
				began := time.Now()
				if err := restart.do(ctx); err != nil {
					t.Fatal(err)
				}
				if chassis.PIDs()[restart.name] == before[restart.name] {
					t.Fatalf("%s pid unchanged (%d)", restart.name, before[restart.name])
				}
				assertForwarding(t, pods[0], pods[1])
				t.Logf("forwarding again %s after restart of %s began", time.Since(began), restart.name)
			})
		}
		if err := chassis.Err(); err != nil {
			t.Fatalf("a planned restart was reported as a failure: %v", err)
		}
	})

	t.Run("an unexpected exit is reported", func(t *testing.T) {
		pid := central.PIDs()["ovn-northd"]
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-central.Errors():
			if !strings.Contains(err.Error(), "ovn-northd") {
				t.Fatalf("reported %v, want it to name ovn-northd", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("northd's death not reported within 5 s")
		}
		if err := central.RestartNorthd(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stop leaves no process", func(t *testing.T) {
		pids := chassis.PIDs()
		for k, v := range central.PIDs() {
			pids[k] = v
		}
		for _, sub := range []string{"central", "chassis"} {
			entries, _ := os.ReadDir(filepath.Join(dir, sub))
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Logf("%s files: %s", sub, strings.Join(names, " "))
		}
		began := time.Now()
		stopped = true
		if err := chassis.Stop(ctx); err != nil {
			t.Errorf("stop chassis: %v", err)
		}
		if err := central.Stop(ctx); err != nil {
			t.Errorf("stop central: %v", err)
		}
		t.Logf("stopped in %s", time.Since(began))
		for name, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s (pid %d) still exists", name, pid)
			}
		}
		if left := processesUnder(dir); len(left) > 0 {
			t.Errorf("processes still using %s: %v", dir, left)
		}
		if err := exec.Command("ip", "-n", nodeNS, "link", "show", "br-int").Run(); err == nil {
			t.Errorf("br-int tap still present after exit --cleanup")
		}
	})
}

// assertForwarding pings from a to b (retried: the first packets may be
// lost while flows settle), then opens a TCP connection from a to b and
// exchanges a message both ways.
func assertForwarding(t *testing.T, a, b pod) {
	t.Helper()
	testwait.Until(t, 15*time.Second, "ping "+a.lsp+" -> "+b.lsp, func() error {
		out, err := exec.Command("ip", "netns", "exec", a.ns, "ping", "-c", "1", "-W", "1", b.ip).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	var l net.Listener
	if err := inNetNS(b.ns, func() (err error) {
		l, err = net.Listen("tcp", b.ip+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			served <- err
			return
		}
		_, err = c.Write(append([]byte("echo:"), buf...))
		served <- err
	}()
	var conn net.Conn
	if err := inNetNS(a.ns, func() (err error) {
		conn, err = net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("tcp %s -> %s: %v", a.lsp, b.lsp, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 10)
	if _, err := io.ReadFull(conn, reply); err != nil {
		t.Fatalf("tcp reply: %v", err)
	}
	if string(reply) != "echo:hello" {
		t.Fatalf("tcp reply %q", reply)
	}
	if err := <-served; err != nil {
		t.Fatalf("tcp server: %v", err)
	}
}

// TestCentralReusesDatabases restarts a central on the same directory: the
// databases created on first start are reused, so the topology survives.
func TestCentralReusesDatabases(t *testing.T) {
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovn-northd"} {
		testpeer.RequireBinary(t, bin, bin)
	}
	dir := shortTempDir(t, "ovncentral")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for round, tc := range []struct {
		name string
		act  func(t *testing.T, nb *ovsdb.Client)
	}{
		{"first start creates", func(t *testing.T, nb *ovsdb.Client) {
			if _, err := nb.Transact(ctx, ovsdb.NorthboundDB, ovsdb.Insert(ovsdb.TableLogicalSwitch,
				ovsdb.LogicalSwitch{Name: "kept"}.Row(), "")); err != nil {
				t.Fatal(err)
			}
		}},
		{"second start reuses", func(t *testing.T, nb *ovsdb.Client) {
			got, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableLogicalSwitch,
				[]ovsdb.Condition{ovsdb.Equal("name", "kept")}, ovsdb.LogicalSwitchFromRow)
			if err != nil || len(got) != 1 {
				t.Fatalf("switch after restart: %v %v", got, err)
			}
			globals, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableNBGlobal, nil, ovsdb.NBGlobalFromRow)
			if err != nil || len(globals) != 1 {
				t.Fatalf("NB_Global rows after restart: %v %v, want exactly 1", globals, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: dir})
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			defer func() {
				if err := central.Stop(ctx); err != nil {
					t.Errorf("stop: %v", err)
				}
			}()
			nb, err := ovsdb.Dial(ctx, central.NorthboundEndpoint(), ovsdb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer nb.Close()
			tc.act(t, nb)
		})
	}
}
