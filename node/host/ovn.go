package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/sdn/netconf"
	sdnnode "github.com/slipway/slipway/sdn/node"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// OVNConfig attaches the node's pods to the OVN network.
type OVNConfig struct {
	// SouthboundRemote is the OVN Southbound database ("unix:/…/sb.sock" on
	// the central's machine, "ssl:HOST:6642" from another: the node then
	// presents a client certificate the cluster CA signs at each start;
	// plain "tcp:HOST:6642" is accepted too). Required.
	SouthboundRemote string
	// EncapIP is this node's Geneve tunnel address (default 127.0.0.1,
	// enough for a single node), with its prefix length ("10.251.1.2/30")
	// when EncapInterface is set.
	EncapIP string
	// EncapInterface is the uplink the tunnels leave by: each start puts
	// EncapIP on an OVS bridge owning it (ovnstack.ChassisConfig).
	EncapInterface string
	// DatapathType is "netdev" (userspace, default) or "system" (needs the
	// openvswitch kernel module).
	DatapathType string
	// ClusterCIDR is the pod network routed through the management port
	// (default netconf.DefaultClusterCIDR); it must match the controller's.
	ClusterCIDR string
}

// ovnNode is the node's OVN chassis and the pod network on it.
type ovnNode struct {
	chassis *ovnstack.Chassis
	conf    *ovsdb.Client
	network *sdnnode.Network
	cluster netip.Prefix
}

// startOVN starts the chassis (ovsdb-server, ovs-vswitchd, ovn-controller
// under dir), adopting the daemons a killed earlier run left running, and
// returns the pod network; lookup reads the agent's pods.
func startOVN(ctx context.Context, cfg OVNConfig, c *client.Client, name, dir string, lookup func(string) (*api.Pod, bool), log *slog.Logger) (*ovnNode, error) {
	if cfg.SouthboundRemote == "" {
		return nil, errors.New("OVN network: the Southbound database address is required")
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = netconf.DefaultClusterCIDR
	}
	cluster, err := netip.ParsePrefix(cfg.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("OVN network: cluster CIDR %q: %w", cfg.ClusterCIDR, err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var sbTLS *ovnstack.TLSFiles
	if strings.HasPrefix(cfg.SouthboundRemote, "ssl:") {
		if sbTLS, err = ovnClientTLS(startCtx, c, name, filepath.Join(dir, "tls")); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	ch, err := ovnstack.StartChassis(startCtx, ovnstack.ChassisConfig{Dir: dir, SystemID: name, SouthboundRemote: cfg.SouthboundRemote, TLS: sbTLS,
		EncapIP: cfg.EncapIP, EncapInterface: cfg.EncapInterface, DatapathType: cfg.DatapathType, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start the OVN chassis (ovsdb-server, ovs-vswitchd, ovn-controller; logs in %s): %w", dir, err)
	}
	// After the node was killed outright its chassis kept forwarding and is
	// adopted here, not restarted.
	log.Info("OVN chassis up", "adopted", ch.Adopted(), "took", time.Since(start).Round(time.Millisecond))
	o := &ovnNode{chassis: ch, cluster: cluster}
	if o.conf, err = ovsdb.Dial(startCtx, ch.Endpoint(), ovsdb.Options{Logger: log}); err != nil {
		return nil, errors.Join(fmt.Errorf("OVN network: %w", err), ch.Stop(context.WithoutCancel(ctx)))
	}
	if o.network, err = sdnnode.New(sdnnode.Config{NodeName: name, Conf: o.conf, Lookup: lookup, Logger: log}); err != nil {
		return nil, errors.Join(err, o.stop(context.WithoutCancel(ctx)))
	}
	return o, nil
}

// runManagementPort waits for the node's subnet (assigned by the SDN
// controller once the agent has registered the node), sets up the
// management port, and checks it again every 30 s until ctx ends.
func (o *ovnNode) runManagementPort(ctx context.Context, c *client.Client, name string, log *slog.Logger) {
	nodes, _ := api.NewCatalogue().Lookup(api.NodesResource)
	wait := 200 * time.Millisecond
	var done netip.Prefix
	for {
		var n api.Node
		err := c.Get(ctx, nodes, "", name, &n)
		if err == nil {
			s := n.Metadata.Annotations[netconf.NodeSubnetAnnotation]
			if subnet, perr := netip.ParsePrefix(s); perr == nil {
				err = sdnnode.EnsureManagementPort(ctx, o.conf, sdnnode.ManagementPort{NodeName: name, Subnet: subnet, ClusterCIDR: o.cluster,
					Masquerade: true})
				if err == nil && subnet != done {
					log.Info("OVN management port ready", "subnet", subnet, "address", netconf.ManagementAddr(subnet))
					done = subnet
				}
				if err == nil {
					wait = 30 * time.Second
				}
			} else {
				err = fmt.Errorf("no subnet from the SDN controller yet")
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Debug("management port not ready", "err", err)
			wait = min(2*wait, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// superviseChassis restarts a chassis daemon that exits on its own:
// ovn-controller alone (the datapath keeps forwarding meanwhile), or
// ovs-vswitchd together with ovn-controller (which otherwise waits in its
// reconnect back-off). Pods keep their veths. It runs until ctx ends.
func (o *ovnNode) superviseChassis(ctx context.Context, log *slog.Logger) {
	const restartBackoff = time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-o.chassis.Errors():
			log.Error("OVN chassis daemon exited; restarting it", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(restartBackoff):
			}
			if rerr := o.chassis.RestartExited(ctx); rerr != nil && ctx.Err() == nil {
				log.Error("OVN chassis restart failed", "err", rerr)
			}
		}
	}
}

func (o *ovnNode) stop(ctx context.Context) error {
	var errs []error
	if o.conf != nil {
		errs = append(errs, sdnnode.RemoveManagementPort(ctx, o.conf, "", o.cluster))
		o.conf.Close()
	}
	errs = append(errs, o.chassis.Stop(ctx))
	return errors.Join(errs...)
}

func ovnDir(nodeDir string) string { return filepath.Join(nodeDir, "ovn") }

// ovnClientTLS has the cluster CA sign a client certificate for the node's
// chassis and writes it, its key and the CA certificate under dir, for
// ovn-controller and the chassis' own client to the Southbound database.
func ovnClientTLS(ctx context.Context, c *client.Client, node, dir string) (*ovnstack.TLSFiles, error) {
	signed, err := nodeCertificate(ctx, c, node, "client", []string{node}, nil)
	if err != nil {
		return nil, fmt.Errorf("get the OVN chassis' client certificate: %w", err)
	}
	return ovnstack.WriteTLSFiles(dir, signed.key, signed.cert, signed.ca)
}
