package testpeer

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// ReclaimLinks deletes the network links a killed test process left
// behind. Test packages name their bridges prefix + pid%100000 (+ "-n");
// a link whose process no longer runs would keep its subnet's route and
// black-hole the next run's pods on the same subnet.
func ReclaimLinks(t testing.TB, prefix string) {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatalf("list network links: %v", err)
	}
	live := livePIDsMod(100000)
	for _, iface := range ifaces {
		rest, ok := strings.CutPrefix(iface.Name, prefix)
		if !ok {
			continue
		}
		digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		pid, err := strconv.Atoi(rest[:digits])
		if err != nil || live[pid] {
			continue
		}
		if out, err := exec.Command("ip", "link", "del", iface.Name).CombinedOutput(); err != nil {
			t.Logf("delete the stale link %s: %v: %s", iface.Name, err, out)
			continue
		}
		t.Logf("deleted the stale link %s of a test process that is gone", iface.Name)
	}
}

// livePIDsMod returns the running processes' ids modulo m.
func livePIDsMod(m int) map[int]bool {
	live := map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			live[pid%m] = true
		}
	}
	return live
}
