package node

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/sdn/netconf"
)

// hostResolvConf is where the host's resolvers are read from.
const hostResolvConf = "/etc/resolv.conf"

// ResolvConf is the pod's /etc/resolv.conf (runtime.PodDNS): the node's
// management address first, where OVN answers NAME.PROJECT.svc on the
// pod's switch (any other query reaches the host, which refuses it unless
// it serves DNS there), then the host's own non-loopback resolvers for
// every other name; short names search the pod's project, then all
// projects (db → db.PROJECT.svc, db.other → db.other.svc).
func (n *Network) ResolvConf(pod podspec.Pod, _ netip.Addr) ([]byte, error) {
	p, ok := n.cfg.Lookup(pod.UID)
	if !ok {
		return nil, fmt.Errorf("pod %s is unknown to the node", pod.UID)
	}
	pn, err := netconf.ParsePodNetwork(p.Metadata.Annotations[netconf.PodNetworkAnnotation])
	if err != nil {
		return nil, fmt.Errorf("pod %s's network: %w", pod.UID, err)
	}
	gw, err := netip.ParseAddr(pn.Gateway)
	if err != nil {
		return nil, fmt.Errorf("pod %s's gateway %q: %w", pod.UID, pn.Gateway, err)
	}
	upstream, _ := os.ReadFile(hostResolvConf) // none: service names only
	return resolvConf(pod.Project, gw.Next(), upstream), nil
}

// resolvConf renders a pod's resolv.conf: nameserver first, then up to
// two non-loopback nameservers of the host's resolv.conf (glibc reads
// three at most).
func resolvConf(project string, nameserver netip.Addr, hostConf []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by Slipway's node for this pod.\n")
	fmt.Fprintf(&b, "search %s.svc svc\n", project)
	fmt.Fprintf(&b, "nameserver %s\n", nameserver)
	added := 0
	sc := bufio.NewScanner(bytes.NewReader(hostConf))
	for sc.Scan() && added < 2 {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err != nil || a.IsLoopback() || a == nameserver {
			continue
		}
		fmt.Fprintf(&b, "nameserver %s\n", f[1])
		added++
	}
	b.WriteString("options ndots:2 timeout:1 attempts:2\n")
	return b.Bytes()
}
