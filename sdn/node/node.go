// Package node is the node side of Slipway's OVN network. Network attaches
// pod network namespaces to br-int with a veth pair each (FIELD-NOTES 2.2:
// veths survive ovs-vswitchd restarts, internal ports do not), using the
// address the SDN controller recorded on the pod; it implements the node
// runtime's PodNetwork. EnsureManagementPort gives the host a port on its
// node switch and a route to the cluster network, so the host (router,
// probes) reaches every pod. Host plumbing runs iproute2 and ethtool; the
// Open vSwitch side goes through the chassis' conf.db with the ovsdb client.
package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/sdn/netconf"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// Config configures a Network.
type Config struct {
	// NodeName names this node (its management port is mgmt-<NodeName>).
	NodeName string
	// Conf is connected to the chassis' conf.db (ovnstack.Chassis.Endpoint).
	Conf *ovsdb.Client
	// Lookup returns the pod with uid as the node last saw it (from the
	// node agent's cache); Attach polls it until the controller's address
	// annotation appears.
	Lookup func(uid string) (*api.Pod, bool)
	// HostNetNS is the path of the network namespace ovs-vswitchd runs in,
	// where host-side veths go; empty means this process' namespace.
	HostNetNS string
	// AddressWait bounds Attach's wait for the pod's address (default 60 s).
	AddressWait time.Duration
	Logger      *slog.Logger
}

// Network attaches pods to br-int.
type Network struct {
	cfg Config
	log *slog.Logger
}

// New returns a Network.
func New(cfg Config) (*Network, error) {
	if cfg.NodeName == "" || cfg.Conf == nil || cfg.Lookup == nil {
		return nil, errors.New("sdn node: NodeName, Conf and Lookup are required")
	}
	if cfg.AddressWait <= 0 {
		cfg.AddressWait = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Network{cfg: cfg, log: cfg.Logger.With("component", "sdn-node", "node", cfg.NodeName)}, nil
}

// HostInterface is the host end of uid's veth: at most 15 bytes, stable
// for the uid.
func HostInterface(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return "slw" + hex.EncodeToString(sum[:])[:12]
}

// waitAddress polls the pod until the controller has given it an address.
func (n *Network) waitAddress(ctx context.Context, uid string) (netconf.PodNetwork, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AddressWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if p, ok := n.cfg.Lookup(uid); ok {
			if s, ok := p.Metadata.Annotations[netconf.PodNetworkAnnotation]; ok {
				return netconf.ParsePodNetwork(s)
			}
		}
		select {
		case <-ctx.Done():
			return netconf.PodNetwork{}, fmt.Errorf("pod %s has no address from the SDN controller (annotation %s): %w",
				uid, netconf.PodNetworkAnnotation, ctx.Err())
		case <-tick.C:
		}
	}
}

// Attach wires the namespace at netnsPath to br-int as the pod's logical
// switch port and returns the pod's address. Host ports are not supported
// on the OVN network: the scheduler places no pod that asks for one here
// (the node reports status.nodeInfo.podNetwork "ovn"); on a pod bound by
// hand they are ignored with a warning.
func (n *Network) Attach(ctx context.Context, uid, netnsPath string, ports []podspec.ContainerPort) (netip.Addr, error) {
	for _, p := range ports {
		if p.HostPort != 0 {
			n.log.Warn("hostPort is not supported on the OVN pod network; ignored", "uid", uid, "hostPort", p.HostPort)
		}
	}
	pn, err := n.waitAddress(ctx, uid)
	if err != nil {
		return netip.Addr{}, err
	}
	pfx, _ := pn.Prefix()
	host := HostInterface(uid)
	mtu := strconv.Itoa(pn.MTU)
	// A retried Attach starts from scratch.
	_ = n.hostIP(ctx, "link", "del", host)
	if err := n.hostIP(ctx, "link", "add", host, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "mtu", mtu, "netns", netnsPath); err != nil {
		return netip.Addr{}, fmt.Errorf("sdn: attach pod %s: %w", uid, err)
	}
	steps := [][]string{
		{"ip", "link", "set", "eth0", "address", pn.MAC},
		{"ip", "addr", "add", pfx.String(), "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "link", "set", "lo", "up"},
		{"ip", "route", "add", "default", "via", pn.Gateway, "dev", "eth0"},
		// TCP over a veth into the userspace datapath needs TX checksum
		// offload off on the sending end (FIELD-NOTES 2.2).
		{"ethtool", "-K", "eth0", "tx", "off"},
	}
	for _, s := range steps {
		if err := runIn(ctx, netnsPath, s...); err != nil {
			_ = n.hostIP(context.WithoutCancel(ctx), "link", "del", host)
			return netip.Addr{}, fmt.Errorf("sdn: attach pod %s: %w", uid, err)
		}
	}
	// The host end needs no address, not even IPv6 link-local: every
	// address that comes and goes with a pod is a "network change" to
	// programs on the host, and Chromium aborts its requests in flight
	// (net::ERR_NETWORK_CHANGED) for each — the console in a browser on a
	// node failed at random while pods started.
	if err := n.hostIP(ctx, "link", "set", host, "addrgenmode", "none"); err != nil {
		return netip.Addr{}, fmt.Errorf("sdn: attach pod %s: %w", uid, err)
	}
	if err := n.hostIP(ctx, "link", "set", host, "up"); err != nil {
		return netip.Addr{}, fmt.Errorf("sdn: attach pod %s: %w", uid, err)
	}
	if err := AddBridgePort(ctx, n.cfg.Conf, host, netconf.PodPortName(uid), map[string]string{"slipway:pod-uid": uid}); err != nil {
		_ = n.hostIP(context.WithoutCancel(ctx), "link", "del", host)
		return netip.Addr{}, fmt.Errorf("sdn: attach pod %s: %w", uid, err)
	}
	// Return once ovn-controller has installed the port's flows, so the
	// pod's first packets (and ARP, which the kernel retries only every
	// second) are not lost; a slow chassis delays the pod, not fails it.
	if err := WaitInstalled(ctx, n.cfg.Conf, host, 10*time.Second); err != nil {
		n.log.Warn("pod port not yet programmed by ovn-controller; starting the pod anyway", "uid", uid, "err", err)
	}
	n.log.Debug("pod attached", "uid", uid, "ip", pfx, "interface", host)
	return pfx.Addr(), nil
}

// WaitInstalled waits until ovn-controller marks the interface name as
// programmed (external_ids:ovn-installed=true), at most within bound.
func WaitInstalled(ctx context.Context, conf *ovsdb.Client, name string, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	where := []ovsdb.Condition{ovsdb.Equal("name", name),
		{Column: "external_ids", Function: "includes", Value: ovsdb.Map[string, string]{"ovn-installed": "true"}}}
	for {
		// Blocks in the server until such a row exists or 500 ms pass.
		_, err := conf.Transact(ctx, ovnstack.VSwitchDB, ovsdb.Wait("Interface", 500, where, []string{"name"}, "!=", nil))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ovsdb.ErrTimedOut) {
			return fmt.Errorf("wait for %s to be programmed: %w", name, err)
		}
		if ctx.Err() != nil {
			ids := "?"
			if res, err := conf.Transact(context.WithoutCancel(ctx), ovnstack.VSwitchDB,
				ovsdb.Select("Interface", []ovsdb.Condition{ovsdb.Equal("name", name)}, "external_ids")); err == nil && len(res[0].Rows) == 1 {
				ids = fmt.Sprint(res[0].Rows[0]["external_ids"])
			}
			return fmt.Errorf("wait for %s to be programmed (external_ids %s): %w", name, ids, ctx.Err())
		}
	}
}

// Detach removes the pod's port from br-int and deletes its veth (which
// goes anyway with the namespace). Detaching an unknown pod succeeds.
func (n *Network) Detach(ctx context.Context, uid, netnsPath string) error {
	host := HostInterface(uid)
	var errs []error
	if err := DeleteBridgePort(ctx, n.cfg.Conf, host); err != nil {
		errs = append(errs, err)
	}
	if err := n.hostIP(ctx, "link", "del", host); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sdn: detach pod %s: %w", uid, err)
	}
	return nil
}

// hostIP runs ip in the host namespace.
func (n *Network) hostIP(ctx context.Context, args ...string) error {
	return runIn(ctx, n.cfg.HostNetNS, append([]string{"ip"}, args...)...)
}

// runIn runs a command in the network namespace at nsPath ("" for this
// process' own) and returns its output in the error.
func runIn(ctx context.Context, nsPath string, args ...string) error {
	if nsPath != "" {
		args = append([]string{"nsenter", "--net=" + nsPath, "--"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// AddBridgePort adds the system interface name to br-int as a port whose
// interface carries external_ids:iface-id=lsp (what binds it to the
// logical switch port) plus extra ids. Adding an existing port updates its
// ids.
func AddBridgePort(ctx context.Context, conf *ovsdb.Client, name, lsp string, extra map[string]string) error {
	ids := map[string]string{"iface-id": lsp}
	for k, v := range extra {
		ids[k] = v
	}
	named := []ovsdb.Condition{ovsdb.Equal("name", name)}
	_, err := conf.Transact(ctx, ovnstack.VSwitchDB,
		ovsdb.Wait("Port", 0, named, []string{"name"}, "==", nil),
		ovsdb.Insert("Interface", map[string]any{"name": name, "external_ids": ovsdb.Map[string, string](ids)}, "iface"),
		ovsdb.Insert("Port", map[string]any{"name": name, "interfaces": ovsdb.Set[ovsdb.NamedUUID]{"iface"}}, "port"),
		ovsdb.Mutate("Bridge", []ovsdb.Condition{ovsdb.Equal("name", ovnstack.IntegrationBridge)},
			ovsdb.Mutation{Column: "ports", Mutator: "insert", Value: ovsdb.Set[ovsdb.NamedUUID]{"port"}}),
		ovsdb.Comment("slipway: add "+name+" to "+ovnstack.IntegrationBridge))
	if errors.Is(err, ovsdb.ErrTimedOut) {
		_, err = conf.Transact(ctx, ovnstack.VSwitchDB, ovsdb.Update("Interface", named,
			map[string]any{"external_ids": ovsdb.Map[string, string](ids)}))
	}
	if err != nil {
		return fmt.Errorf("add %s to %s: %w", name, ovnstack.IntegrationBridge, err)
	}
	return nil
}

// DeleteBridgePort removes port name from br-int (its Port and Interface
// rows go with it); an absent port is not an error.
func DeleteBridgePort(ctx context.Context, conf *ovsdb.Client, name string) error {
	res, err := conf.Transact(ctx, ovnstack.VSwitchDB, ovsdb.Select("Port", []ovsdb.Condition{ovsdb.Equal("name", name)}, "_uuid"))
	if err != nil {
		return fmt.Errorf("find port %s: %w", name, err)
	}
	if len(res[0].Rows) == 0 {
		return nil
	}
	u, err := res[0].Rows[0].UUID()
	if err != nil {
		return err
	}
	_, err = conf.Transact(ctx, ovnstack.VSwitchDB, ovsdb.Mutate("Bridge", []ovsdb.Condition{ovsdb.Equal("name", ovnstack.IntegrationBridge)},
		ovsdb.Mutation{Column: "ports", Mutator: "delete", Value: ovsdb.Set[ovsdb.UUID]{u}}))
	if err != nil {
		return fmt.Errorf("remove port %s from %s: %w", name, ovnstack.IntegrationBridge, err)
	}
	return nil
}

// ManagementPort describes the host's port on its node switch.
type ManagementPort struct {
	NodeName string
	// Subnet is the node's subnet (the node's slipway.io/node-subnet).
	Subnet netip.Prefix
	// ClusterCIDR is routed through the port.
	ClusterCIDR netip.Prefix
	MTU         int
	// HostNetNS as in Config.
	HostNetNS string
	// Masquerade makes the host the pods' gateway to the world: IP
	// forwarding on, and traffic from the cluster CIDR to elsewhere
	// masqueraded behind the host's address (the cluster router sends a
	// node's egress to its management port).
	Masquerade bool
}

// egressRules are the iptables rules of Masquerade: table, chain, rule.
func egressRules(cluster netip.Prefix) [][]string {
	c := cluster.Masked().String()
	comment := []string{"-m", "comment", "--comment", "slipway: OVN pod egress"}
	return [][]string{
		append([]string{"nat", "POSTROUTING", "-s", c, "!", "-d", c}, append(comment, "-j", "MASQUERADE")...),
		append([]string{"filter", "FORWARD", "-s", c}, append(comment, "-j", "ACCEPT")...),
		append([]string{"filter", "FORWARD", "-d", c}, append(comment, "-j", "ACCEPT")...),
	}
}

// ensureEgress turns forwarding on and adds the egress rules once.
func ensureEgress(ctx context.Context, hostNetNS string, cluster netip.Prefix) error {
	if err := runIn(ctx, hostNetNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	for _, r := range egressRules(cluster) {
		check := append([]string{"iptables", "-w", "-t", r[0], "-C", r[1]}, r[2:]...)
		if runIn(ctx, hostNetNS, check...) == nil {
			continue
		}
		if err := runIn(ctx, hostNetNS, append([]string{"iptables", "-w", "-t", r[0], "-I", r[1]}, r[2:]...)...); err != nil {
			return err
		}
	}
	return nil
}

// removeEgress deletes the egress rules (forwarding stays as it is).
func removeEgress(ctx context.Context, hostNetNS string, cluster netip.Prefix) error {
	var errs []error
	for _, r := range egressRules(cluster) {
		check := append([]string{"iptables", "-w", "-t", r[0], "-C", r[1]}, r[2:]...)
		if runIn(ctx, hostNetNS, check...) != nil {
			continue
		}
		errs = append(errs, runIn(ctx, hostNetNS, append([]string{"iptables", "-w", "-t", r[0], "-D", r[1]}, r[2:]...)...))
	}
	return errors.Join(errs...)
}

// EnsureManagementPort creates or repairs the management veth: the host
// end (netconf.ManagementInterface) gets the node subnet's second address
// and a route to the cluster CIDR via the cluster router; the other end is
// bound to the logical switch port mgmt-<node>. It is idempotent.
func EnsureManagementPort(ctx context.Context, conf *ovsdb.Client, m ManagementPort) error {
	if m.MTU == 0 {
		m.MTU = netconf.DefaultMTU
	}
	addr := netconf.ManagementAddr(m.Subnet)
	mtu := strconv.Itoa(m.MTU)
	host, peer := netconf.ManagementInterface, netconf.ManagementPeerInterface
	if err := runIn(ctx, m.HostNetNS, "ip", "link", "show", host); err != nil {
		if err := runIn(ctx, m.HostNetNS, "ip", "link", "add", host, "mtu", mtu, "type", "veth", "peer", "name", peer, "mtu", mtu); err != nil {
			return fmt.Errorf("management port: %w", err)
		}
	}
	steps := [][]string{
		{"ip", "link", "set", host, "address", netconf.MAC(addr), "mtu", mtu},
		{"ip", "addr", "replace", netip.PrefixFrom(addr, m.Subnet.Bits()).String(), "dev", host},
		// No IPv6 link-local addresses (see Attach).
		{"ip", "link", "set", host, "addrgenmode", "none"},
		{"ip", "link", "set", peer, "addrgenmode", "none"},
		{"ip", "link", "set", host, "up"},
		{"ip", "link", "set", peer, "up"},
		{"ethtool", "-K", host, "tx", "off"},
		{"ip", "route", "replace", m.ClusterCIDR.Masked().String(), "via", netconf.GatewayAddr(m.Subnet).String(), "dev", host},
	}
	for _, s := range steps {
		if err := runIn(ctx, m.HostNetNS, s...); err != nil {
			return fmt.Errorf("management port: %w", err)
		}
	}
	if err := AddBridgePort(ctx, conf, peer, netconf.ManagementPortName(m.NodeName), nil); err != nil {
		return fmt.Errorf("management port: %w", err)
	}
	if m.Masquerade {
		if err := ensureEgress(ctx, m.HostNetNS, m.ClusterCIDR); err != nil {
			return fmt.Errorf("pod egress: %w", err)
		}
	}
	return nil
}

// RemoveManagementPort deletes the management veth, its bridge port and
// the egress rules for cluster.
func RemoveManagementPort(ctx context.Context, conf *ovsdb.Client, hostNetNS string, cluster netip.Prefix) error {
	err := errors.Join(DeleteBridgePort(ctx, conf, netconf.ManagementPeerInterface), removeEgress(ctx, hostNetNS, cluster))
	if e := runIn(ctx, hostNetNS, "ip", "link", "del", netconf.ManagementInterface); e != nil && !strings.Contains(e.Error(), "Cannot find device") {
		err = errors.Join(err, e)
	}
	return err
}
