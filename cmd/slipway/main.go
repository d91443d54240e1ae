// Command slipway is Slipway's daemon: `slipway up` runs the whole platform
// on one machine; `slipway server` runs the API server alone against an
// external PostgreSQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/auth/bootstrap"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/internal/version"
	"github.com/slipway/slipway/node/containerlog"
	"github.com/slipway/slipway/node/host"
	"github.com/slipway/slipway/platform"
	"github.com/slipway/slipway/server"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "slipway:", err)
		os.Exit(1)
	}
}

// containerLogBinary finds the containers' logging program (see package
// containerlog). Without it (go run, say) the shim writes the logs itself,
// and a container's last stderr lines can be lost: said once, at start.
func containerLogBinary(log *slog.Logger) string {
	path, err := containerlog.Find()
	if err != nil {
		log.Warn("container logs are written by containerd's shim, which can lose a container's last stderr lines", "err", err)
		return ""
	}
	return path
}

type logFlags struct{ level, format string }

func (f *logFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&f.format, "log-format", "text", "log format: text or json")
}

func (f *logFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", f.format)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "slipway",
		Short:         "Slipway: a web-first platform that builds, deploys and routes your apps",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUp(), newServer(), newNode(), newRouter(), newBuilderImages(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "slipway", version.String()) },
	})
	return root
}

type serverFlags struct {
	listen            string
	hosts             []string
	configFile        string
	bootstrapPassFile string
	registryHost      string
	evictionTimeout   time.Duration
}

func (f *serverFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.listen, "listen", server.DefaultListen, "HTTPS address of the API and console (0.0.0.0:8443 to serve other machines)")
	cmd.Flags().StringSliceVar(&f.hosts, "tls-host", nil, "extra DNS names or IPs for the serving certificate")
	cmd.Flags().StringVar(&f.configFile, "config", "", "configuration file (YAML) with the identity providers; default: local accounts only")
	cmd.Flags().StringVar(&f.bootstrapPassFile, "bootstrap-password-file", "",
		"file holding the admin's first password (else $SLIPWAY_BOOTSTRAP_PASSWORD, else one is generated and printed once)")
	cmd.Flags().StringVar(&f.registryHost, "registry-host", "",
		"host[:port] clients and nodes use for the image registry at /v2/ (default localhost:<listen port>); image references recorded in images' status start with it")
	cmd.Flags().DurationVar(&f.evictionTimeout, "node-eviction-timeout", 5*time.Minute,
		"how long a node may be NotReady before its pods are deleted and run elsewhere")
}

func (f *serverFlags) config() (server.Config, error) {
	if f.evictionTimeout <= 0 {
		return server.Config{}, fmt.Errorf("--node-eviction-timeout: must be positive, got %s", f.evictionTimeout)
	}
	cfg := server.Config{Listen: f.listen, Hosts: f.hosts, RegistryHost: f.registryHost, Version: version.String(), Identity: login.DefaultConfig(),
		NodeEvictionTimeout: f.evictionTimeout}
	if f.configFile != "" {
		var err error
		if cfg.Identity, err = login.LoadConfig(f.configFile); err != nil {
			return cfg, err
		}
	}
	cfg.BootstrapPassword = os.Getenv("SLIPWAY_BOOTSTRAP_PASSWORD")
	if f.bootstrapPassFile != "" {
		b, err := os.ReadFile(f.bootstrapPassFile)
		if err != nil {
			return cfg, fmt.Errorf("--bootstrap-password-file: %w", err)
		}
		cfg.BootstrapPassword = strings.TrimRight(string(b), "\r\n")
	}
	return cfg, nil
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newUp() *cobra.Command {
	var (
		logs    logFlags
		srv     serverFlags
		dataDir string
		dbURL   string
		pgBin   string
		noNode  bool
		rt      platform.RouterConfig
		network string
		netCfg  platform.NetworkConfig
		bimages string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole platform on this machine",
		Long: `Run every Slipway component in this process, starting a private PostgreSQL
in the data directory unless --database-url names one. Ctrl-C stops everything;
running it again resumes with the same data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			scfg, err := srv.config()
			if err != nil {
				return err
			}
			switch network {
			case "bridge":
			case "ovn":
				netCfg.OVN = true
			case "auto":
				netCfg.OVN = platform.OVNInstalled()
				if !netCfg.OVN {
					log.Info("OVN/Open vSwitch not installed: pods use the bridge network, without project isolation")
				}
			default:
				return fmt.Errorf("--network: must be auto, bridge or ovn, got %q", network)
			}
			if netCfg.OVN {
				if err := checkEncapFlags(netCfg.EncapIP, netCfg.EncapInterface); err != nil {
					return err
				}
			}
			logBinary := containerLogBinary(log)
			ctx, stop := signalContext()
			defer stop()
			start := time.Now()
			p, err := platform.Start(ctx, platform.Config{
				DataDir: dataDir, DatabaseURL: dbURL, PostgresBinDir: pgBin, Server: scfg, Logger: log, NoNode: noNode, Router: rt,
				Network: netCfg, Node: host.Config{BuilderImages: bimages, LogBinary: logBinary},
			})
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), banner(p, dataDir, time.Since(start)))
			return waitAndStop(ctx, log, p.Failed(), p.Stop)
		},
	}
	logs.add(cmd)
	srv.add(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", platform.DefaultDataDir(), "where Slipway keeps its data")
	cmd.Flags().StringVar(&dbURL, "database-url", "", "external PostgreSQL (postgres://…); empty runs a private one")
	cmd.Flags().StringVar(&pgBin, "postgres-bin", "", "directory of PostgreSQL 15's binaries (default /usr/lib/postgresql/15/bin)")
	cmd.Flags().BoolVar(&noNode, "no-node", false, "run the control plane only: this machine runs no pods")
	cmd.Flags().BoolVar(&rt.Disabled, "no-router", false, "run no HAProxy router: routes are stored but not served")
	cmd.Flags().StringVar(&rt.BindAddress, "router-address", "", "address the router serves routes on (default every address)")
	cmd.Flags().IntVar(&rt.HTTPPort, "router-http-port", 0, "port the router serves HTTP routes on (default 80 as root, else 8080)")
	cmd.Flags().IntVar(&rt.HTTPSPort, "router-https-port", 0, "port the router serves HTTPS routes on (default 443 as root, else 8443)")
	cmd.Flags().StringVar(&rt.Domain, "apps-domain", platform.DefaultAppsDomain, "domain default route hosts are named under")
	cmd.Flags().StringVar(&rt.MetricsBind, "router-metrics-address", "127.0.0.1:1936", "where the router serves /metrics and /stats (\"\" for nowhere)")
	cmd.Flags().StringVar(&bimages, "builder-images", defaultBuilderImages(), "directory of S2I builder image archives imported into this machine's node (make images)")
	cmd.Flags().StringVar(&network, "network", "auto",
		"pod network: auto (ovn when OVN/Open vSwitch are installed, else bridge), ovn (OVN: project isolation, network policies, service VIPs, egress), or bridge (a Linux bridge per node, no isolation)")
	cmd.Flags().StringVar(&netCfg.ClusterCIDR, "cluster-cidr", "", "OVN pod network, a /24 per node (default 10.128.0.0/14)")
	cmd.Flags().StringVar(&netCfg.NorthboundListen, "ovn-nb-listen", "", "also serve the OVN Northbound database over SSL on this address (cluster CA certificates on both sides)")
	cmd.Flags().StringVar(&netCfg.SouthboundListen, "ovn-sb-listen", "", "also serve the OVN Southbound database over SSL on this address, for slipway node --ovn-sb ssl:HOST:PORT (cluster CA certificates on both sides)")
	cmd.Flags().StringVar(&netCfg.EncapIP, "ovn-encap-ip", "", "this machine's Geneve tunnel address (default 127.0.0.1); ADDR/LEN with --ovn-encap-interface")
	cmd.Flags().StringVar(&netCfg.EncapInterface, "ovn-encap-interface", "",
		"dedicated uplink for the Geneve tunnels: each start puts --ovn-encap-ip on the OVS bridge slw-phy owning it")
	cmd.Flags().StringVar(&netCfg.DatapathType, "ovn-datapath", "netdev", "Open vSwitch datapath: netdev (userspace) or system (kernel module)")
	return cmd
}

func newNode() *cobra.Command {
	var (
		logs                             logFlags
		conn                             connFlags
		name, dataDir, listen, advertise string
		podSubnet, bridge, metricsListen string
		registryHost                     string
		builderImages                    string
		ovn                              host.OVNConfig
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Join this machine to a Slipway cluster as a node",
		Long: `Run a node agent on this machine: a private containerd, the pod network, and
the agent that registers the node and runs the pods the scheduler binds to it.
The token is a service-account token bound to the system:node role.`,
		Example: `  slipway node --server https://api.example.com:8443 --certificate-authority ca.crt \
      --token-file node.token --listen 0.0.0.0:10250 --advertise 192.0.2.10:10250`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			if ovn.SouthboundRemote == "" && ovn.EncapInterface != "" {
				return errors.New("--ovn-encap-interface: needs --ovn-sb (the OVN network)")
			}
			if err := checkEncapFlags(ovn.EncapIP, ovn.EncapInterface); err != nil {
				return err
			}
			logBinary := containerLogBinary(log)
			ctx, stop := signalContext()
			defer stop()
			metrics, err := serveMetrics(metricsListen, log)
			if err != nil {
				return err
			}
			hcfg := host.Config{Name: name, Dir: dataDir, Client: c, Listen: listen, Advertise: advertise,
				PodSubnet: podSubnet, Bridge: bridge, RegistryHost: registryHost, BuilderImages: builderImages,
				LogBinary: logBinary, Registerer: metrics.Registry(), Logger: log}
			if ovn.SouthboundRemote != "" {
				hcfg.OVN = &ovn
			}
			n, err := host.Start(ctx, hcfg)
			if err != nil {
				return errors.Join(err, metrics.Stop(context.Background()))
			}
			// Restarting the agent must not disturb running pods: they keep
			// running and are adopted on the next start.
			return waitAndStop(ctx, log, n.Failed(), func(ctx context.Context) error {
				return errors.Join(n.Stop(ctx, false), metrics.Stop(ctx))
			})
		},
	}
	logs.add(cmd)
	f := cmd.Flags()
	conn.add(cmd, "the node's")
	f.StringVar(&name, "name", platform.NodeName(), "the node's name")
	f.StringVar(&dataDir, "data-dir", "/var/lib/slipway-node", "where the node keeps containerd, pod logs and its certificate")
	f.StringVar(&listen, "listen", "0.0.0.0:10250", "address of the endpoint the API server calls for logs and exec")
	f.StringVar(&advertise, "advertise", "", "address the API server uses to reach the endpoint (default: the listen address)")
	f.StringVar(&podSubnet, "pod-subnet", host.DefaultPodSubnet, "address range of this node's pods")
	f.StringVar(&bridge, "bridge", "", "name of the pod bridge (default slipway0)")
	f.StringVar(&registryHost, "registry-host", "", "host[:port] of Slipway's image registry as image references name it (default: the server's host and port)")
	f.StringVar(&builderImages, "builder-images", defaultBuilderImages(), "directory of S2I builder image archives imported into containerd (make images)")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:10249", "address of the node's Prometheus /metrics (plain HTTP)")
	f.StringVar(&ovn.SouthboundRemote, "ovn-sb", "", "join the OVN network: the central's Southbound database (ssl:HOST:6642; the node gets its certificate from the API); empty uses the bridge")
	f.StringVar(&ovn.EncapIP, "ovn-encap-ip", "", "this node's Geneve tunnel address; ADDR/LEN with --ovn-encap-interface")
	f.StringVar(&ovn.EncapInterface, "ovn-encap-interface", "",
		"dedicated uplink for the Geneve tunnels: each start puts --ovn-encap-ip on the OVS bridge slw-phy owning it")
	f.StringVar(&ovn.DatapathType, "ovn-datapath", "netdev", "Open vSwitch datapath: netdev (userspace) or system (kernel module)")
	f.StringVar(&ovn.ClusterCIDR, "cluster-cidr", "", "the OVN pod network, as given to the control plane (default 10.128.0.0/14)")
	return cmd
}

// checkEncapFlags validates --ovn-encap-ip and --ovn-encap-interface: the
// interface must exist, and then the address needs its prefix length.
func checkEncapFlags(encapIP, iface string) error {
	var prefixed bool
	if encapIP != "" {
		if _, err := netip.ParsePrefix(encapIP); err == nil {
			prefixed = true
		} else if _, err := netip.ParseAddr(encapIP); err != nil {
			return fmt.Errorf("--ovn-encap-ip: %q is neither an address nor ADDR/LEN", encapIP)
		}
	}
	if iface == "" {
		return nil
	}
	if _, err := net.InterfaceByName(iface); err != nil {
		return fmt.Errorf("--ovn-encap-interface: no interface %q on this machine: %w", iface, err)
	}
	if !prefixed {
		return fmt.Errorf("--ovn-encap-interface: needs --ovn-encap-ip ADDR/LEN (the address with its prefix length, e.g. 10.251.1.2/30), got %q", encapIP)
	}
	return nil
}

func newServer() *cobra.Command {
	var (
		logs    logFlags
		srv     serverFlags
		dataDir string
		dbURL   string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server alone against an external PostgreSQL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dbURL == "" {
				return errors.New("--database-url is required (use `slipway up` for a private database)")
			}
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, err := srv.config()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			cfg.DataDir, cfg.DatabaseURL, cfg.Logger = dataDir, dbURL, log
			s, err := server.Start(ctx, cfg)
			if err != nil {
				return err
			}
			return waitAndStop(ctx, log, s.Done(), s.Shutdown)
		},
	}
	logs.add(cmd)
	srv.add(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", platform.DefaultDataDir(), "where the server keeps its TLS material")
	cmd.Flags().StringVar(&dbURL, "database-url", os.Getenv("SLIPWAY_DATABASE_URL"), "PostgreSQL connection string (or SLIPWAY_DATABASE_URL)")
	return cmd
}

// waitAndStop waits for a signal or a component failure, then stops.
// connFlags say how a component reaches the API server.
type connFlags struct {
	serverURL, caFile, token, tokenFile string
}

func (c *connFlags) add(cmd *cobra.Command, whose string) {
	f := cmd.Flags()
	f.StringVar(&c.serverURL, "server", "", "the API server's URL")
	f.StringVar(&c.caFile, "certificate-authority", "", "the cluster CA (the server's <data-dir>/pki/ca.crt)")
	f.StringVar(&c.token, "token", "", whose+" service-account token")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding "+whose+" service-account token")
}

func (c *connFlags) client() (*client.Client, error) {
	token := c.token
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if c.serverURL == "" || token == "" {
		return nil, errors.New("--server and --token (or --token-file) are required")
	}
	return client.New(client.Config{Server: c.serverURL, CAFile: c.caFile, Token: token})
}

func newRouter() *cobra.Command {
	var (
		logs          logFlags
		conn          connFlags
		cfg           platform.RouterConfig
		dataDir       string
		certFile      string
		metricsListen string
	)
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run an HAProxy router that serves routes",
		Long: `Run HAProxy and the controller that keeps it serving the cluster's routes.
Several routers can share the routes by label (--route-selector), each under
its own --name in the routes' status. The token is a service-account token
bound to the system:router role.`,
		Example: `  slipway router --server https://api.example.com:8443 --certificate-authority ca.crt \
      --token-file router.token --default-certificate apps.pem --apps-domain apps.example.com \
      --name public --route-selector exposure=public`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			if cfg.Threads < 1 || cfg.Threads > 64 {
				return fmt.Errorf("--threads must be between 1 and 64, not %d", cfg.Threads)
			}
			if certFile == "" {
				return errors.New("--default-certificate is required: a PEM file with the apps domain's wildcard certificate and key")
			}
			cert, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("--default-certificate: %w", err)
			}
			ctx, stop := signalContext()
			defer stop()
			metrics, err := serveMetrics(metricsListen, log)
			if err != nil {
				return err
			}
			cfg.Registerer = metrics.Registry()
			rt, err := platform.StartRouter(ctx, cfg, c, dataDir, string(cert), log)
			if err != nil {
				return errors.Join(err, metrics.Stop(context.Background()))
			}
			failed := make(chan error, 1)
			go func() {
				select {
				case <-rt.Exited():
					failed <- errors.New("HAProxy exited on its own (its log is in " + dataDir + ")")
				case <-ctx.Done():
				}
			}()
			return waitAndStop(ctx, log, failed, func(ctx context.Context) error {
				return errors.Join(rt.Stop(ctx), metrics.Stop(ctx))
			})
		},
	}
	logs.add(cmd)
	conn.add(cmd, "the router's")
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "/var/lib/slipway-router", "where the router keeps HAProxy's configuration and sockets (keep it short)")
	f.StringVar(&certFile, "default-certificate", "", "PEM file with the certificate and key served to TLS hosts without their own")
	f.StringVar(&cfg.Name, "name", "default", "the router's name in routes' status")
	f.StringVar(&cfg.RouteSelector, "route-selector", "", "serve only routes whose labels match this selector (e.g. shard=a)")
	f.StringVar(&cfg.ProjectSelector, "project-selector", "", "serve only routes of projects whose labels match this selector (e.g. tier=gold)")
	f.StringVar(&cfg.BindAddress, "address", "", "address to serve routes on (default every address)")
	f.IntVar(&cfg.HTTPPort, "http-port", 0, "port for HTTP routes (default 80 as root, else 8080)")
	f.IntVar(&cfg.HTTPSPort, "https-port", 0, "port for HTTPS routes (default 443 as root, else 8443)")
	f.StringVar(&cfg.Domain, "apps-domain", platform.DefaultAppsDomain, "domain default route hosts are named under")
	f.StringVar(&cfg.MetricsBind, "metrics-address", "", "where HAProxy serves per-route /metrics and /stats (user stats, password in <data-dir>/stats-password)")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:10253", "address of the router controller's own Prometheus /metrics (plain HTTP)")
	f.IntVar(&cfg.Threads, "threads", 2, "HAProxy threads (at most the CPUs the router may use)")
	f.BoolVar(&cfg.BusyPolling, "busy-polling", false, "keep HAProxy's threads polling instead of sleeping: lower latency and more requests/s in a virtual machine, at the price of CPUs always busy (for a node or CPUs dedicated to the router)")
	return cmd
}

func waitAndStop(ctx context.Context, log *slog.Logger, failed <-chan error, stop func(context.Context) error) error {
	var cause error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case cause = <-failed:
		log.Error("a component failed; shutting down", "error", cause)
	}
	return errors.Join(cause, stop(context.Background()))
}

func banner(p *platform.Platform, dataDir string, took time.Duration) string {
	api := p.API()
	var b strings.Builder
	fmt.Fprintf(&b, "\nSlipway is up (%s).\n\n", took.Round(time.Millisecond))
	fmt.Fprintf(&b, "  Console/API: %s\n", api.URL())
	fmt.Fprintf(&b, "  CA:          %s\n", api.CAFile())
	fmt.Fprintf(&b, "  Data:        %s\n", dataDir)
	if u := p.RouterURL(); u != "" {
		fmt.Fprintf(&b, "  Routes:      %s   (a route's default host: <route>-<project>.<domain>)\n", u)
		if s := p.Router().StatsURL(); s != "" {
			fmt.Fprintf(&b, "  Router:      %s\n", s)
		}
	}
	if pw := api.BootstrapResult().GeneratedPassword; pw != "" {
		fmt.Fprintf(&b, "  Login:       %s / %s   (shown once: store it, or change it)\n", bootstrap.AdminUser, pw)
	} else {
		fmt.Fprintf(&b, "  Login:       %s (password set at the first start)\n", bootstrap.AdminUser)
	}
	fmt.Fprintf(&b, "\nNext steps:\n")
	fmt.Fprintf(&b, "  bin/slip login %s -u admin --certificate-authority %s\n", api.URL(), api.CAFile())
	fmt.Fprintf(&b, "  bin/slip new-project shop\n")
	fmt.Fprintf(&b, "  bin/slip get projects\n")
	if ex := p.RouterCurlExample("web", "shop"); ex != "" {
		fmt.Fprintf(&b, "  bin/slip expose service/web -n shop   # then: %s\n", ex)
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "Press Ctrl-C to stop; `make run` again resumes with the same data.\n")
	return b.String()
}
