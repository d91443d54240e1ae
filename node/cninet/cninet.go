// Package cninet attaches pod network namespaces to a node-local bridge
// through CNI plugins (bridge + host-local IPAM + portmap + loopback), driven
// with libcni. It is the node's network until the SDN replaces it with OVN;
// callers hold it through a small interface so the swap is local.
package cninet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/slipway/slipway/node/podspec"
)

// Config describes the node's bridge network.
type Config struct {
	// Dir holds the generated network config, host-local leases and libcni's
	// cache of ADD results. Required.
	Dir string
	// PluginDirs are searched for plugin binaries; default /usr/lib/cni
	// (Debian's containernetworking-plugins) and /opt/cni/bin.
	PluginDirs []string
	// Bridge is the Linux bridge name; default "slipway0".
	Bridge string
	// Subnet is the pod address range, e.g. 10.88.0.0/16; the first address
	// is the gateway on the bridge. Required.
	Subnet netip.Prefix
	// NetworkName is the CNI network name; default "slipway".
	NetworkName string
}

// portMapping is the portmap plugin's runtime argument.
type portMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Network attaches and detaches pod network namespaces.
type Network struct {
	cfg   Config
	cni   *libcni.CNIConfig
	list  *libcni.NetworkConfigList
	ifc   string
	cache string
}

// New writes the network configuration under cfg.Dir and checks that the
// plugins it needs are installed.
func New(cfg Config) (*Network, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cninet: Config.Dir is required")
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("cninet: Config.Subnet %v must be an IPv4 prefix", cfg.Subnet)
	}
	if cfg.PluginDirs == nil {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "slipway0"
	}
	if cfg.NetworkName == "" {
		cfg.NetworkName = "slipway"
	}
	subnet := cfg.Subnet.Masked()
	gateway := subnet.Addr().Next()
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cfg.NetworkName,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": cfg.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": filepath.Join(cfg.Dir, "ipam"),
					"ranges":  [][]map[string]string{{{"subnet": subnet.String(), "gateway": gateway.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			// Brings lo up in the pod; without it containers cannot talk
			// over localhost. It passes the bridge's result through.
			map[string]any{"type": "loopback"},
		},
	}
	raw, err := json.Marshal(conf)
	if err != nil {
		return nil, fmt.Errorf("cninet: encode config: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cninet: create dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, cfg.NetworkName+".conflist"), raw, 0o600); err != nil {
		return nil, fmt.Errorf("cninet: write config: %w", err)
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("cninet: parse config: %w", err)
	}
	n := &Network{cfg: cfg, list: list, ifc: "eth0", cache: filepath.Join(cfg.Dir, "cache")}
	n.cni = libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, n.cache, nil)
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := invoke.FindInPath(p, cfg.PluginDirs); err != nil {
			return nil, fmt.Errorf("cninet: plugin %s: %w (install containernetworking-plugins)", p, err)
		}
	}
	return n, nil
}

// Gateway is the bridge's address, the pods' default route.
func (n *Network) Gateway() netip.Addr { return n.cfg.Subnet.Masked().Addr().Next() }

// Attach connects the namespace at netnsPath, identified by id (unique per
// pod, e.g. its UID), to the bridge, allocates an address and publishes
// the ports that have a HostPort. It returns the pod's IPv4 address. Cost: one exec per plugin,
// ~25–40 ms.
func (n *Network) Attach(ctx context.Context, id, netnsPath string, ports []podspec.ContainerPort) (netip.Addr, error) {
	rt := n.runtimeConf(id, netnsPath)
	var mappings []portMapping
	for _, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		mappings = append(mappings, portMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
	}
	if len(mappings) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": mappings}
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, rt)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cninet: add pod %s: %w", id, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cninet: read result for pod %s: %w", id, err)
	}
	for _, ip := range r.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP.To4()); ok && ip.Address.IP.To4() != nil {
			n.forgetNeighbour(ctx, a)
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("cninet: pod %s got no IPv4 address", id)
}

// forgetNeighbour drops the host's ARP entry for a pod address: an earlier
// pod with the same address leaves one naming its MAC, and the host (the
// router, probes) would send there until the entry times out — seconds of
// failed connections to the new pod. Best effort: no entry is fine.
func (n *Network) forgetNeighbour(ctx context.Context, addr netip.Addr) {
	_ = exec.CommandContext(ctx, "ip", "neigh", "del", addr.String(), "dev", n.cfg.Bridge).Run()
}

// Detach releases what Attach set up: the veth, the address lease and the
// port mappings. It reuses the capability arguments cached at ADD, because
// a DEL without them leaves the DNAT chain behind. The namespace may
// already be gone. Detaching an unknown id is not an error.
func (n *Network) Detach(ctx context.Context, id, netnsPath string) error {
	rt := n.runtimeConf(id, netnsPath)
	if _, cached, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && cached != nil {
		rt.CapabilityArgs = cached.CapabilityArgs
	}
	if _, err := os.Stat(netnsPath); err != nil {
		rt.NetNS = "" // plugins accept DEL without a namespace
	}
	if err := n.cni.DelNetworkList(ctx, n.list, rt); err != nil {
		return fmt.Errorf("cninet: del pod %s: %w", id, err)
	}
	return nil
}

func (n *Network) runtimeConf(id, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netnsPath, IfName: n.ifc, CacheDir: n.cache}
}
