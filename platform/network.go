package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/sdn/controller"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// NetworkConfig selects the pod network.
type NetworkConfig struct {
	// OVN runs the OVN central (NB and SB databases and ovn-northd under
	// DataDir/ovn/central) and the SDN controller, and attaches this
	// machine's pods to OVN; false keeps the per-node bridge network.
	OVN bool
	// ClusterCIDR is the pod network (default 10.128.0.0/14, a /24 per node).
	ClusterCIDR string
	// NorthboundListen and SouthboundListen also serve the OVN databases
	// over SSL ("0.0.0.0:6642"), for nodes on other machines: a serving
	// certificate from the cluster CA, and clients must present one the CA
	// signed (a node gets its own from the API at start).
	NorthboundListen, SouthboundListen string
	// EncapIP is this machine's tunnel address (default 127.0.0.1), with
	// its prefix length when EncapInterface is set.
	EncapIP string
	// EncapInterface is the uplink the tunnels leave by (host.OVNConfig).
	EncapInterface string
	// DatapathType is netdev (userspace, default) or system.
	DatapathType string
}

// OVNInstalled reports whether the OVN and Open vSwitch daemons are on
// PATH (Debian's ovn-central, ovn-host and openvswitch-switch).
func OVNInstalled() bool {
	for _, bin := range []string{"ovsdb-server", "ovsdb-tool", "ovn-northd", "ovs-vswitchd", "ovn-controller"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false
		}
	}
	return true
}

// sdn is the OVN central and the SDN controller of the platform.
type sdn struct {
	central *ovnstack.Central
	nb      *ovsdb.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startSDN starts the OVN central and runs the SDN controller as the
// system:sdn service account.
func (p *Platform) startSDN(ctx context.Context, dataDir string, cfg NetworkConfig, log *slog.Logger) (*sdn, error) {
	dir := filepath.Join(dataDir, "ovn", "central")
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ccfg := ovnstack.CentralConfig{Dir: dir, NorthboundTCP: cfg.NorthboundListen, SouthboundTCP: cfg.SouthboundListen, Logger: log}
	if cfg.NorthboundListen != "" || cfg.SouthboundListen != "" {
		tlsFiles, err := p.ovnServingTLS(filepath.Join(dataDir, "ovn", "tls"), cfg.NorthboundListen, cfg.SouthboundListen)
		if err != nil {
			return nil, err
		}
		ccfg.TLS = tlsFiles
	}
	central, err := ovnstack.StartCentral(startCtx, ccfg)
	if err != nil {
		return nil, fmt.Errorf("start the OVN central (NB/SB ovsdb-server and ovn-northd; logs in %s; is the ovn-central package installed?): %w", dir, err)
	}
	s := &sdn{central: central}
	fail := func(err error) (*sdn, error) { return nil, errors.Join(err, s.stop(context.WithoutCancel(ctx))) }
	if s.nb, err = ovsdb.Dial(startCtx, central.NorthboundEndpoint(), ovsdb.Options{Logger: log}); err != nil {
		return fail(fmt.Errorf("connect to the OVN Northbound database: %w", err))
	}
	c, err := p.accountClient(ctx, filepath.Join(dataDir, "sdn"), "sdn", rbac.RoleSDN)
	if err != nil {
		return fail(err)
	}
	ctrl, err := controller.New(controller.Config{Client: c, NB: s.nb, ClusterCIDR: cfg.ClusterCIDR, Registerer: p.api.Metrics(), Logger: log})
	if err != nil {
		return fail(err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = stop
	s.wg.Go(func() {
		if err := ctrl.Run(runCtx); err != nil {
			log.Error("SDN controller stopped", "err", err)
		}
	})
	log.Info("OVN network up", "northbound", central.NorthboundEndpoint(), "southbound", central.SouthboundEndpoint())
	return s, nil
}

func (s *sdn) stop(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	if s.nb != nil {
		s.nb.Close()
	}
	return s.central.Stop(ctx)
}

// ovnServingTLS issues the OVN databases' serving certificate from the
// cluster CA for the listeners' addresses (or, for a wildcard, the host's
// name: OVS checks no names, only the chain) and writes it under dir.
func (p *Platform) ovnServingTLS(dir string, listens ...string) (*ovnstack.TLSFiles, error) {
	var hosts []string
	for _, l := range listens {
		host, _, err := net.SplitHostPort(l)
		if err != nil && l != "" {
			return nil, fmt.Errorf("OVN database listener %q: %w", l, err)
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			hosts = append(hosts, host)
		}
	}
	if len(hosts) == 0 {
		name, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("OVN serving certificate: %w", err)
		}
		hosts = append(hosts, name)
	}
	cert, key, err := p.api.Authority().IssueServing(hosts, time.Now())
	if err != nil {
		return nil, fmt.Errorf("OVN serving certificate: %w", err)
	}
	return ovnstack.WriteTLSFiles(dir, key, cert, p.api.Authority().CACertPEM())
}
