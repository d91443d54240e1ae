package cninet_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/cninet"
	"github.com/slipway/slipway/node/netns"
	"github.com/slipway/slipway/node/podspec"
)

func natRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", "nat").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	return string(out)
}

// TestAttachDetach attaches pods with and without host ports and checks
// that Detach removes the address lease and the port-mapping DNAT rules,
// which a DEL without the ADD's capability args would leave behind.
func TestAttachDetach(t *testing.T) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "iptables", "iptables")
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testpeer.Missing(t, "containernetworking-plugins", err)
	}
	dir := t.TempDir()
	bridge := fmt.Sprintf("slwc%d", os.Getpid()%100000)
	testpeer.ReclaimLinks(t, "slwc")
	t.Cleanup(func() { exec.Command("ip", "link", "del", bridge).Run() })
	subnet := netip.MustParsePrefix("10.254.100.0/24")
	n, err := cninet.New(cninet.Config{Dir: dir, Bridge: bridge, NetworkName: bridge, Subnet: subnet})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		id    string
		ports []podspec.ContainerPort
	}{
		{"no ports", "cni-plain", nil},
		{"host port", "cni-hostport", []podspec.ContainerPort{{ContainerPort: 8080, HostPort: 28080 + int32(os.Getpid()%1000)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nsPath := filepath.Join(dir, "netns", tc.id)
			if err := netns.Create(nsPath); err != nil {
				t.Fatalf("netns: %v", err)
			}
			defer netns.Delete(nsPath)
			ip, err := n.Attach(ctx, tc.id, nsPath, tc.ports)
			if err != nil {
				t.Fatalf("Attach: %v", err)
			}
			if !subnet.Contains(ip) || ip == n.Gateway() {
				t.Errorf("pod IP %v not a pod address of %v", ip, subnet)
			}
			lease := filepath.Join(dir, "ipam", bridge, ip.String())
			if _, err := os.Stat(lease); err != nil {
				t.Errorf("lease missing: %v", err)
			}
			if len(tc.ports) > 0 && !strings.Contains(natRules(t), fmt.Sprintf("--dport %d", tc.ports[0].HostPort)) {
				t.Errorf("no DNAT rule for host port %d", tc.ports[0].HostPort)
			}
			if err := n.Detach(ctx, tc.id, nsPath); err != nil {
				t.Fatalf("Detach: %v", err)
			}
			if _, err := os.Stat(lease); err == nil {
				t.Errorf("lease %s left", lease)
			}
			if rules := natRules(t); strings.Contains(rules, tc.id) {
				t.Errorf("nat rules of %s left", tc.id)
			}
			if err := n.Detach(ctx, tc.id, nsPath); err != nil {
				t.Errorf("second Detach: %v", err)
			}
		})
	}
}
