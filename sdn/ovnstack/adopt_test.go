package ovnstack_test

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// ownerEnv tells the test binary to act as the owner process of
// TestAdoptAfterOwnerKilled: start a central and a chassis, print "ready",
// and wait to be killed.
const ownerEnv = "SLIPWAY_OVNSTACK_OWNER"

// TestMain runs the test binary as the owner process of
// TestAdoptAfterOwnerKilled when ownerEnv is set, the tests otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(ownerEnv); spec != "" {
		if err := runOwner(spec); err != nil {
			fmt.Fprintln(os.Stderr, "owner:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// runOwner starts a central and a chassis as spec ("dir,netns") says,
// prints "ready" and waits to be killed. A spec of
// "dir,netns,SB,ENCAP-IP,ENCAP-INTERFACE" starts the chassis alone, joined
// to the Southbound database SB, with that underlay.
func runOwner(spec string) error {
	f := append(strings.Split(spec, ","), "", "", "")
	dir, netns, sb := f[0], f[1], f[2]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sb == "" {
		central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central")})
		if err != nil {
			return err
		}
		sb = central.SouthboundEndpoint()
	}
	if _, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "chassis"), SystemID: "adopt",
		SouthboundRemote: sb, NetNS: netns, EncapIP: f[3], EncapInterface: f[4]}); err != nil {
		return err
	}
	fmt.Println("ready")
	select {} // until killed
}

// startOwner runs the owner process and waits for its "ready".
func startOwner(t *testing.T, spec ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ownerEnv+"="+strings.Join(spec, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("the owner process ended before it was ready")
		}
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the owner process not ready within 40 s")
	}
	return cmd
}

func killOwner(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// pidFiles reads every daemon's pid file under dir/central and dir/chassis.
func pidFiles(t *testing.T, dir string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, f := range []string{"central/nb", "central/sb", "central/ovn-northd", "chassis/conf", "chassis/ovs-vswitchd", "chassis/ovn-controller"} {
		b, err := os.ReadFile(filepath.Join(dir, f+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		pids[f] = pid
	}
	return pids
}

// TestAdoptAfterOwnerKilled kills (SIGKILL) the process that started a
// central and a chassis while two pods ping each other every 10 ms: the
// daemons live on, a new StartCentral/StartChassis on the same directories
// adopts all six (same pids), and not one ping is lost. Then the daemons
// and their owner are all killed: the next start must cope with the stale
// pid files, sockets and locks. Finally Stop leaves nothing running.
func TestAdoptAfterOwnerKilled(t *testing.T) {
	requirePeers(t)
	suffix := uniqueSuffix(t)
	dir := shortTempDir(t, "ovnadopt")
	nodeNS := "slw-" + suffix + "-node"
	addNetNS(t, nodeNS)
	t.Cleanup(func() {
		// Whatever a failed run left behind.
		for _, p := range processesUnder(dir) {
			pid, _, _ := strings.Cut(p, ":")
			if n, err := strconv.Atoi(pid); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	owner := startOwner(t, dir, nodeNS)
	before := pidFiles(t, dir)
	nb, err := ovsdb.Dial(ctx, "unix:"+filepath.Join(dir, "central", "nb.sock"), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	conf, err := ovsdb.Dial(ctx, "unix:"+filepath.Join(dir, "chassis", "conf.sock"), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()
	pods := []pod{
		{ns: "slw-" + suffix + "-a1", lsp: "a1", mac: "0a:58:0a:00:00:15", ip: "10.0.0.21", hostVeth: "veth-a1"},
		{ns: "slw-" + suffix + "-a2", lsp: "a2", mac: "0a:58:0a:00:00:16", ip: "10.0.0.22", hostVeth: "veth-a2"},
	}
	addSwitch(t, ctx, nb, ovsdb.LogicalSwitch{Name: "ls-adopt"}, pods)
	for _, p := range pods {
		plugPod(t, ctx, conf, nodeNS, p)
	}
	assertForwarding(t, pods[0], pods[1])

	// 600 pings at 10 ms: ~6 s across the kill and the adoption.
	ping := exec.Command("ip", "netns", "exec", pods[0].ns, "ping", "-i", "0.01", "-c", "600", "-W", "1", pods[1].ip)
	var pingOut strings.Builder
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // pings on both sides of the kill
	killOwner(t, owner)
	time.Sleep(time.Second) // nobody minds the daemons meanwhile

	began := time.Now()
	central, err := ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central")})
	if err != nil {
		t.Fatal(err)
	}
	chassis, err := ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "chassis"), SystemID: "adopt",
		SouthboundRemote: central.SouthboundEndpoint(), NetNS: nodeNS})
	if err != nil {
		_ = central.Stop(ctx)
		t.Fatal(err)
	}
	t.Logf("central and chassis adopted in %s", time.Since(began))
	adopted := append(central.Adopted(), chassis.Adopted()...)
	slices.Sort(adopted)
	if want := []string{"conf", "nb", "ovn-controller", "ovn-northd", "ovs-vswitchd", "sb"}; !slices.Equal(adopted, want) {
		t.Errorf("adopted %v, want %v", adopted, want)
	}
	if after := pidFiles(t, dir); !maps.Equal(before, after) {
		t.Errorf("pids changed: %v, then %v", before, after)
	}
	if err := ping.Wait(); err != nil {
		t.Errorf("ping: %v\n%s", err, pingOut.String())
	}
	loss := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pingOut.String())
	if loss == nil || loss[1] != loss[2] {
		t.Errorf("pings lost across the kill and adoption: %q", lastLine(pingOut.String()))
	} else {
		t.Logf("%s of %s pings answered across the kill and adoption", loss[2], loss[1])
	}
	// Adopted daemons are still supervised.
	if err := syscall.Kill(chassis.PIDs()["ovn-controller"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-chassis.Errors():
		t.Logf("reported: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("an adopted ovn-controller's death not reported within 5 s")
	}
	if err := chassis.RestartExited(ctx); err != nil {
		t.Fatal(err)
	}
	assertForwarding(t, pods[0], pods[1])
	if err := chassis.Stop(ctx); err != nil {
		t.Error(err)
	}
	if err := central.Stop(ctx); err != nil {
		t.Error(err)
	}
	testwait.Until(t, 10*time.Second, "no daemon left after Stop", func() error {
		if left := processesUnder(dir); len(left) > 0 {
			return fmt.Errorf("still running: %v", left)
		}
		return nil
	})

	// Everything killed at once: stale pid files, sockets and locks.
	owner = startOwner(t, dir, nodeNS)
	// The chassis row survives in the SB database, so "ready" may come
	// before every daemon has written its pid file.
	// The files of the stopped run are still there: wait until each names
	// a daemon of this one.
	testwait.Until(t, 10*time.Second, "every pid file written", func() error {
		for _, f := range []string{"ovs-vswitchd", "ovn-controller"} {
			b, err := os.ReadFile(filepath.Join(dir, "chassis", f+".pid"))
			if err != nil {
				return err
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(b)), "cmdline"))
			if err != nil || !strings.Contains(string(cmdline), dir) {
				return fmt.Errorf("%s.pid names no running %s", f, f)
			}
		}
		return nil
	})
	stale := pidFiles(t, dir)
	killOwner(t, owner)
	for _, pid := range stale {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// And any daemon the owner replaced after its pid file was read.
	for _, p := range processesUnder(dir) {
		if pid, err := strconv.Atoi(p[:strings.IndexByte(p, ':')]); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	testwait.Until(t, 10*time.Second, "the killed daemons gone", func() error {
		if left := processesUnder(dir); len(left) > 0 {
			return fmt.Errorf("still running: %v", left)
		}
		return nil
	})
	began = time.Now()
	central, err = ovnstack.StartCentral(ctx, ovnstack.CentralConfig{Dir: filepath.Join(dir, "central")})
	if err != nil {
		t.Fatalf("start on stale state: %v", err)
	}
	defer central.Stop(ctx)
	chassis, err = ovnstack.StartChassis(ctx, ovnstack.ChassisConfig{Dir: filepath.Join(dir, "chassis"), SystemID: "adopt",
		SouthboundRemote: central.SouthboundEndpoint(), NetNS: nodeNS})
	if err != nil {
		t.Fatalf("start on stale state: %v", err)
	}
	defer chassis.Stop(ctx)
	t.Logf("started afresh on stale state in %s (adopted %v %v)", time.Since(began), central.Adopted(), chassis.Adopted())
	if len(central.Adopted())+len(chassis.Adopted()) != 0 {
		t.Errorf("adopted dead daemons: %v %v", central.Adopted(), chassis.Adopted())
	}
	assertForwarding(t, pods[0], pods[1])
	// Each ovn-controller names its socket after its pid: the killed
	// ones' are gone.
	want := filepath.Join(dir, "chassis", fmt.Sprintf("ovn-controller.%d.ctl", chassis.PIDs()["ovn-controller"]))
	if ctls, _ := filepath.Glob(filepath.Join(dir, "chassis", "ovn-controller.*.ctl")); len(ctls) != 1 || ctls[0] != want {
		t.Errorf("ovn-controller sockets %v, want only %s", ctls, want)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-2):], " / ")
}
