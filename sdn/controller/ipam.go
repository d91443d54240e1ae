package controller

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/sdn/netconf"
)

// subnetAllocator carves node subnets of one size out of the cluster CIDR.
type subnetAllocator struct {
	cluster    netip.Prefix
	nodePrefix int
	used       map[netip.Prefix]string // subnet to node
}

func newSubnetAllocator(cluster netip.Prefix, nodePrefix int) (*subnetAllocator, error) {
	cluster = cluster.Masked()
	if !cluster.Addr().Is4() {
		return nil, fmt.Errorf("cluster CIDR %s: IPv4 only", cluster)
	}
	if nodePrefix <= cluster.Bits() || nodePrefix > 29 {
		return nil, fmt.Errorf("node prefix /%d must be longer than the cluster CIDR's /%d and at most /29", nodePrefix, cluster.Bits())
	}
	return &subnetAllocator{cluster: cluster, nodePrefix: nodePrefix, used: map[netip.Prefix]string{}}, nil
}

// claim records node's existing subnet if it is a valid, free subnet of
// the cluster CIDR; it reports whether the node may keep it.
func (a *subnetAllocator) claim(node, subnet string) bool {
	p, err := netip.ParsePrefix(subnet)
	if err != nil || p != p.Masked() || p.Bits() != a.nodePrefix || !a.cluster.Contains(p.Addr()) {
		return false
	}
	if owner, taken := a.used[p]; taken && owner != node {
		return false
	}
	a.used[p] = node
	return true
}

// allocate gives node the lowest free subnet.
func (a *subnetAllocator) allocate(node string) (netip.Prefix, error) {
	n := 1 << (a.nodePrefix - a.cluster.Bits())
	base := addrInt(a.cluster.Addr())
	step := new(big.Int).Lsh(big.NewInt(1), uint(32-a.nodePrefix))
	for i := 0; i < n; i++ {
		addr := intAddr(new(big.Int).Add(base, new(big.Int).Mul(step, big.NewInt(int64(i)))))
		p := netip.PrefixFrom(addr, a.nodePrefix)
		if _, taken := a.used[p]; !taken {
			a.used[p] = node
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("cluster CIDR %s has no free /%d subnet left for node %s", a.cluster, a.nodePrefix, node)
}

func addrInt(a netip.Addr) *big.Int { b := a.As4(); return new(big.Int).SetBytes(b[:]) }

func intAddr(i *big.Int) netip.Addr {
	var b [4]byte
	i.FillBytes(b[:])
	return netip.AddrFrom4(b)
}

// podAllocator hands out addresses of one node subnet. The network and
// broadcast addresses, the router port (.1) and the management port (.2)
// are never given out.
type podAllocator struct {
	subnet netip.Prefix
	used   map[netip.Addr]string // address to pod uid
}

func newPodAllocator(subnet netip.Prefix) *podAllocator {
	a := &podAllocator{subnet: subnet, used: map[netip.Addr]string{}}
	gw := netconf.GatewayAddr(subnet)
	a.used[subnet.Addr()] = "network"
	a.used[gw] = "gateway"
	a.used[gw.Next()] = "management"
	a.used[lastAddr(subnet)] = "broadcast"
	return a
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// claim keeps a pod's existing address when it is valid for this subnet
// and not already someone else's.
func (a *podAllocator) claim(uid string, pn netconf.PodNetwork) bool {
	p, err := pn.Prefix()
	if err != nil || p.Bits() != a.subnet.Bits() || !a.subnet.Contains(p.Addr()) {
		return false
	}
	if owner, taken := a.used[p.Addr()]; taken && owner != uid {
		return false
	}
	if pn.MAC != netconf.MAC(p.Addr()) || pn.Gateway != netconf.GatewayAddr(a.subnet).String() {
		return false
	}
	a.used[p.Addr()] = uid
	return true
}

// allocate gives uid the lowest free address.
func (a *podAllocator) allocate(uid string, mtu int) (netconf.PodNetwork, error) {
	for addr := a.subnet.Masked().Addr(); a.subnet.Contains(addr); addr = addr.Next() {
		if _, taken := a.used[addr]; taken {
			continue
		}
		a.used[addr] = uid
		return netconf.PodNetwork{IP: netip.PrefixFrom(addr, a.subnet.Bits()).String(), MAC: netconf.MAC(addr),
			Gateway: netconf.GatewayAddr(a.subnet).String(), MTU: mtu}, nil
	}
	return netconf.PodNetwork{}, fmt.Errorf("node subnet %s is full", a.subnet)
}

// podsByAge orders pods oldest first (then by uid), so that when two
// pods claim one address the older keeps it.
func podsByAge(pods []*api.Pod) []*api.Pod {
	out := slices.Clone(pods)
	slices.SortFunc(out, func(a, b *api.Pod) int {
		ta, tb := a.Metadata.CreationTimestamp, b.Metadata.CreationTimestamp
		switch {
		case ta != nil && tb != nil && !ta.Equal(*tb):
			return ta.Compare(*tb)
		case ta == nil && tb != nil:
			return 1
		case ta != nil && tb == nil:
			return -1
		}
		return strings.Compare(a.Metadata.UID, b.Metadata.UID)
	})
	return out
}
