// Package netconf is the contract between the SDN controller (API side)
// and the node side of the OVN network: the annotations the controller
// writes on nodes and pods, and the names and addresses both derive from
// them (logical switch port names, MACs, the management port).
package netconf

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
)

// Annotations the SDN controller owns.
const (
	// NodeSubnetAnnotation on a Node is the node's pod subnet (podCIDR),
	// e.g. "10.128.3.0/24", carved from the cluster CIDR.
	NodeSubnetAnnotation = "slipway.io/node-subnet"
	// PodNetworkAnnotation on a Pod is its PodNetwork as JSON.
	PodNetworkAnnotation = "slipway.io/pod-network"
)

// Defaults of the cluster network.
const (
	DefaultClusterCIDR = "10.128.0.0/14"
	DefaultNodePrefix  = 24
	// DefaultMTU leaves room for the Geneve header (and its option) under a
	// 1500-byte underlay.
	DefaultMTU = 1400
)

// PodNetwork is a pod's address on the cluster network, fixed for the
// pod's life: IP with the node subnet's prefix length ("10.128.3.5/24"),
// MAC, the default gateway (the cluster router's port on the node switch)
// and the interface MTU.
type PodNetwork struct {
	IP      string `json:"ip"`
	MAC     string `json:"mac"`
	Gateway string `json:"gateway"`
	MTU     int    `json:"mtu"`
}

// Prefix parses IP.
func (p PodNetwork) Prefix() (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(p.IP)
	if err != nil || !pfx.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("pod network ip %q: not an IPv4 address with prefix length", p.IP)
	}
	return pfx, nil
}

// ParsePodNetwork decodes and checks a PodNetworkAnnotation value.
func ParsePodNetwork(s string) (PodNetwork, error) {
	var p PodNetwork
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return PodNetwork{}, fmt.Errorf("annotation %s: %w", PodNetworkAnnotation, err)
	}
	if _, err := p.Prefix(); err != nil {
		return PodNetwork{}, fmt.Errorf("annotation %s: %w", PodNetworkAnnotation, err)
	}
	if _, err := net.ParseMAC(p.MAC); err != nil {
		return PodNetwork{}, fmt.Errorf("annotation %s: mac %q: %w", PodNetworkAnnotation, p.MAC, err)
	}
	if a, err := netip.ParseAddr(p.Gateway); err != nil || !a.Is4() {
		return PodNetwork{}, fmt.Errorf("annotation %s: gateway %q is not an IPv4 address", PodNetworkAnnotation, p.Gateway)
	}
	if p.MTU < 576 || p.MTU > 9000 {
		return PodNetwork{}, fmt.Errorf("annotation %s: mtu %d out of range", PodNetworkAnnotation, p.MTU)
	}
	return p, nil
}

// String encodes p as the annotation value.
func (p PodNetwork) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}

// MAC derives the MAC of an IPv4 address the way OVN-Kubernetes does
// (0a:58 and the four address bytes): stable for the address, locally
// administered, never colliding between addresses.
func MAC(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// GatewayAddr is the node subnet's first address: the cluster router's
// port on the node switch, the pods' default route.
func GatewayAddr(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

// ManagementAddr is the node subnet's second address: the host's own port
// on the node switch, through which the host (router, probes) reaches pods.
func ManagementAddr(subnet netip.Prefix) netip.Addr { return GatewayAddr(subnet).Next() }

// PodPortName is the logical switch port of the pod with uid; the node sets
// it as the OVS interface's external_ids:iface-id.
func PodPortName(uid string) string { return "pod-" + uid }

// ManagementPortName is the logical switch port of node's management port.
func ManagementPortName(node string) string { return "mgmt-" + node }

// ManagementInterface is the host interface of the management port (the
// host end of a veth; at most 15 bytes).
const ManagementInterface = "slw-mgmt"

// ManagementPeerInterface is the management veth's end attached to br-int.
const ManagementPeerInterface = "slw-mgmt-br"
