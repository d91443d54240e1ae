package ovnstack_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// TestEncapInterface joins two chassis, each in its own network namespace,
// over a veth underlay given as EncapInterface: each start-up puts the
// encap address on the netdev bridge UnderlayBridge that owns the veth,
// and pods on the two chassis reach each other through Geneve. With the
// address removed, adopting the daemons of a killed owner, restarting
// ovs-vswitchd, and a fresh start on the kept conf.db (whose vswitchd
// recreates the bridge without the address) each put it back.
func TestEncapInterface(t *testing.T) {
	requirePeers(t)
	suffix := uniqueSuffix(t)
	dir := shortTempDir(t, "ovnunderlay")
	t.Cleanup(func() {
		// Whatever a failed run left behind (the owner's daemons).
		for _, p := range processesUnder(dir) {
			pid, _, _ := strings.Cut(p, ":")
			if n, err := strconv.Atoi(pid); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	})
	ns := []string{"slw-" + suffix + "-n1", "slw-" + suffix + "-n2"}
	for _, n := range ns {
		addNetNS(t, n)
	}
	run(t, "ip", "-n", ns[0], "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", ns[1])
	encap := []string{"172.31.0.1/24", "172.31.0.2/24"}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = central.Stop(context.Background()) })
	if _, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "n1", "chassis"), SystemID: "n1-" + suffix,
		SouthboundRemote: central.SouthboundEndpoint(), NetNS: ns[0], EncapIP: "172.31.0.1", EncapInterface: "uplink"}); err == nil ||
		!strings.Contains(err.Error(), "prefix length") {
		t.Fatalf("EncapInterface with an EncapIP without prefix length: got %v, want an error about the prefix length", err)
	}
	chassis1, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "n1", "chassis"), SystemID: "n1-" + suffix,
		SouthboundRemote: central.SouthboundEndpoint(), NetNS: ns[0], EncapIP: encap[0], EncapInterface: "uplink"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chassis1.Stop(context.Background()) })
	// The second chassis' first owner is another process, killed later.
	dir2 := filepath.Join(dir, "n2")
	owner := startOwner(t, dir2, ns[1], central.SouthboundEndpoint(), encap[1], "uplink")
	for i, n := range ns {
		assertUnderlayAddress(t, n, encap[i])
	}

	nb, err := ovsdb.Dial(ctx, central.NorthboundEndpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	pods := []pod{
		{ns: "slw-" + suffix + "-u1", lsp: "u1", mac: "0a:58:0a:00:00:21", ip: "10.0.0.31", hostVeth: "veth-u1"},
		{ns: "slw-" + suffix + "-u2", lsp: "u2", mac: "0a:58:0a:00:00:22", ip: "10.0.0.32", hostVeth: "veth-u2"},
	}
	addSwitch(t, ctx, nb, ovsdb.LogicalSwitch{Name: "ls-underlay"}, pods)
	for i, endpoint := range []string{chassis1.Endpoint(), "unix:" + filepath.Join(dir2, "chassis", "conf.sock")} {
		conf, err := ovsdb.Dial(ctx, endpoint, ovsdb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		plugPod(t, ctx, conf, ns[i], pods[i])
		conf.Close()
	}
	assertForwarding(t, pods[0], pods[1])
	t.Log("pods on two chassis reach each other over the underlay bridges")

	removeAddress := func() {
		t.Helper()
		run(t, "ip", "-n", ns[1], "addr", "flush", "dev", ovnstack.UnderlayBridge)
	}
	cfg2 := ovnstack.ChassisConfig{Dir: filepath.Join(dir2, "chassis"), SystemID: "adopt",
		SouthboundRemote: central.SouthboundEndpoint(), NetNS: ns[1], EncapIP: encap[1], EncapInterface: "uplink"}

	removeAddress()
	// The address matters: without it the tunnel stops.
	testwait.Until(t, 10*time.Second, "pings failing without the underlay address", func() error {
		if exec.Command("ip", "netns", "exec", pods[0].ns, "ping", "-c", "1", "-W", "1", pods[1].ip).Run() == nil {
			return fmt.Errorf("%s still answers", pods[1].ip)
		}
		return nil
	})
	killOwner(t, owner)
	chassis2, err := ovnstack.StartChassis(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chassis2.Stop(context.Background()) })
	if adopted := chassis2.Adopted(); !slices.Contains(adopted, "ovs-vswitchd") {
		t.Fatalf("adopted %v, want ovs-vswitchd among them", adopted)
	}
	assertUnderlayAddress(t, ns[1], encap[1])
	assertForwarding(t, pods[0], pods[1])
	t.Log("adopting the running daemons put the address back")

	removeAddress()
	if err := chassis2.RestartVSwitchd(ctx); err != nil {
		t.Fatal(err)
	}
	assertUnderlayAddress(t, ns[1], encap[1])
	assertForwarding(t, pods[0], pods[1])
	t.Log("an ovs-vswitchd restart put the address back")

	pids := chassis2.PIDs()
	if err := chassis2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// exit --cleanup took the bridge's device; conf.db keeps the bridge.
	if err := exec.Command("ip", "-n", ns[1], "link", "show", ovnstack.UnderlayBridge).Run(); err == nil {
		t.Errorf("%s device still present after Stop", ovnstack.UnderlayBridge)
	}
	// The adopted daemons are init's children: their pid files are free
	// once init has reaped them (FIELD-NOTES 2.8).
	testwait.Until(t, 10*time.Second, "the stopped daemons reaped", func() error {
		for name, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				return fmt.Errorf("%s (pid %d) still in /proc", name, pid)
			}
		}
		return nil
	})
	if chassis2, err = ovnstack.StartChassis(ctx, cfg2); err != nil {
		t.Fatal(err)
	}
	assertUnderlayAddress(t, ns[1], encap[1])
	assertForwarding(t, pods[0], pods[1])
	t.Log("a fresh start on the kept conf.db put the address back")
}

// assertUnderlayAddress checks that the underlay bridge's device in netns
// carries addr and is up.
func assertUnderlayAddress(t *testing.T, netns, addr string) {
	t.Helper()
	out, err := exec.Command("ip", "-n", netns, "-o", "addr", "show", "dev", ovnstack.UnderlayBridge).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v: %s", ovnstack.UnderlayBridge, netns, err, out)
	}
	if !strings.Contains(string(out), " "+addr+" ") {
		t.Fatalf("%s in %s lacks %s: %s", ovnstack.UnderlayBridge, netns, addr, out)
	}
	link, err := exec.Command("ip", "-n", netns, "-o", "link", "show", "dev", ovnstack.UnderlayBridge).CombinedOutput()
	if err != nil || !strings.Contains(string(link), ",UP") {
		t.Fatalf("%s in %s not up: %v: %s", ovnstack.UnderlayBridge, netns, err, link)
	}
}
