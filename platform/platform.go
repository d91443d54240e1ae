// Package platform runs Slipway on one machine (`slipway up`): it starts the
// peers Slipway needs as supervised children when none is configured (a
// private PostgreSQL, containerd) and every Slipway component in this
// process — the API server with its controllers, and a node — and stops
// them all, in reverse order, when its context ends.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/bootstrap"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/node/host"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/pgserver"
)

// Config configures the all-in-one platform.
type Config struct {
	// DataDir holds everything the platform keeps.
	DataDir string
	// DatabaseURL points at an external PostgreSQL; empty runs a private
	// one in DataDir/postgres.
	DatabaseURL string
	// PostgresBinDir overrides where PostgreSQL's binaries are.
	PostgresBinDir string
	// Server configures the API server (DataDir and DatabaseURL are filled in).
	Server server.Config
	// Node configures this machine's node (Dir, Client filled in);
	// NoNode runs the control plane alone.
	Node   host.Config
	NoNode bool
	// Router configures the HAProxy router serving routes.
	Router RouterConfig
	// Network selects the pod network (the bridge unless Network.OVN).
	Network NetworkConfig
	Logger  *slog.Logger
}

// DefaultDataDir is /var/lib/slipway for root, else ~/.local/share/slipway.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/slipway"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "slipway")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "slipway")
}

// Platform is a running all-in-one Slipway.
type Platform struct {
	log       *slog.Logger
	postgres  *pgserver.Server
	api       *server.Server
	node      *host.Node
	router    *Router
	sdn       *sdn
	failed    chan error
	stopWatch context.CancelFunc
}

// Start brings the platform up and returns once the API answers.
func Start(ctx context.Context, cfg Config) (_ *Platform, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Platform{log: cfg.Logger}
	defer func() {
		if err != nil {
			p.Stop(context.Background())
		}
	}()
	// Traversable but not listable: the postgres account must reach its
	// directory below; every secret inside has its own 0600/0700 mode.
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dsn := cfg.DatabaseURL
	if dsn == "" {
		p.postgres, err = pgserver.Start(ctx, pgserver.Config{
			Dir: filepath.Join(cfg.DataDir, "postgres"), BinDir: cfg.PostgresBinDir, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("start private PostgreSQL: %w", err)
		}
		dsn = p.postgres.DSN()
	}
	scfg := cfg.Server
	scfg.DataDir, scfg.DatabaseURL, scfg.Logger = cfg.DataDir, dsn, cfg.Logger
	if p.api, err = server.Start(ctx, scfg); err != nil {
		return nil, err
	}
	defer p.watchComponents()
	if !cfg.Router.Disabled {
		if p.router, err = p.startRouter(ctx, cfg.DataDir, cfg.Router); err != nil {
			return nil, err
		}
	}
	if cfg.Network.OVN {
		if p.sdn, err = p.startSDN(ctx, cfg.DataDir, cfg.Network, cfg.Logger); err != nil {
			return nil, err
		}
	}
	if cfg.NoNode {
		return p, nil
	}
	if os.Geteuid() != 0 {
		p.log.Warn("not running as root: this machine runs no node (containers need root); pods will stay Pending")
		return p, nil
	}
	ncfg := cfg.Node
	ncfg.Dir = filepath.Join(cfg.DataDir, "node")
	if ncfg.Name == "" {
		ncfg.Name = NodeName()
	}
	if ncfg.Client, err = p.accountClient(ctx, ncfg.Dir, "node-"+ncfg.Name, "system:node"); err != nil {
		return nil, err
	}
	if ncfg.BuilderImages != "" && ncfg.BuilderImagesToken == "" {
		// The node pushes the builder images it imports into slipway-system.
		if ncfg.BuilderImagesToken, err = p.api.ServiceAccountToken(ctx, bootstrap.SystemProject, "builder-images", rbac.RoleBuilder); err != nil {
			return nil, fmt.Errorf("builder images credentials: %w", err)
		}
	}
	ncfg.Logger, ncfg.Registerer = cfg.Logger, p.api.Metrics()
	if ncfg.RegistryHost == "" {
		ncfg.RegistryHost = p.api.RegistryHost()
	}
	if p.sdn != nil {
		ncfg.OVN = &host.OVNConfig{SouthboundRemote: p.sdn.central.SouthboundEndpoint(), EncapIP: cfg.Network.EncapIP, EncapInterface: cfg.Network.EncapInterface,
			DatapathType: cfg.Network.DatapathType, ClusterCIDR: cfg.Network.ClusterCIDR}
	}
	if p.node, err = host.Start(ctx, ncfg); err != nil {
		return nil, fmt.Errorf("start this machine's node: %w", err)
	}
	return p, nil
}

// NodeName is this machine's host name as a node name (a DNS label).
func NodeName() string {
	name, err := os.Hostname()
	if err != nil {
		return "local"
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	if n := strings.Trim(string(b), "-"); n != "" && len(n) <= 63 {
		return n
	}
	return "local"
}

// accountClient returns an API client for one of the platform's own
// components, with a token of the service account `account` in the system
// project bound to role. The token is kept in dir and reused across
// restarts, so every start does not mint another one.
func (p *Platform) accountClient(ctx context.Context, dir, account, role string) (*client.Client, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s directory: %w", account, err)
	}
	tokenFile := filepath.Join(dir, "token")
	newClient := func(token string) (*client.Client, error) {
		return client.New(client.Config{Server: p.api.URL(), CAFile: p.api.CAFile(), Token: token})
	}
	if b, err := os.ReadFile(tokenFile); err == nil {
		c, err := newClient(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, err
		}
		// A token the server still honours answers anything but 401.
		if err := c.Get(ctx, mustResource(api.UsersResource), "", "~", nil); !errors.Is(err, errdefs.ErrUnauthorized) {
			return c, nil
		}
	}
	token, err := p.api.ServiceAccountToken(ctx, bootstrap.SystemProject, account, role)
	if err != nil {
		return nil, fmt.Errorf("%s credentials: %w", account, err)
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("store the %s token: %w", account, err)
	}
	return newClient(token)
}

func mustResource(plural string) *api.Resource {
	r, _ := api.NewCatalogue().Lookup(plural)
	return r
}

// RouterURL is where routes are served over HTTP ("" without a router),
// as a pattern: http://*.<domain>:<port>.
func (p *Platform) RouterURL() string {
	if p.router == nil {
		return ""
	}
	return fmt.Sprintf("http://*.%s:%d", p.router.cfg.Domain, p.router.cfg.HTTPPort)
}

// Router is the platform's router, nil when it runs none.
func (p *Platform) Router() *Router { return p.router }

// RouterCurlExample shows how command-line tools reach a route's default
// host: browsers resolve *.localhost to loopback, Debian's resolver does not.
func (p *Platform) RouterCurlExample(route, project string) string {
	if p.router == nil {
		return ""
	}
	host := route + "-" + project + "." + p.router.cfg.Domain
	port := p.router.cfg.HTTPPort
	return fmt.Sprintf("curl --resolve %s:%d:127.0.0.1 http://%s:%d/", host, port, host, port)
}

// API returns the API server.
func (p *Platform) API() *server.Server { return p.api }

// Stop shuts every component down, the peers last, within a bound.
func (p *Platform) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	if p.stopWatch != nil {
		p.stopWatch()
	}
	if p.node != nil {
		// A whole-machine stop: nothing is left running. `slipway up`
		// brings the pods back from the store on its next start.
		errs = append(errs, p.node.Stop(ctx, true))
	}
	if p.sdn != nil {
		errs = append(errs, p.sdn.stop(ctx))
	}
	if p.router != nil {
		errs = append(errs, p.router.Stop(ctx))
	}
	if p.api != nil {
		errs = append(errs, p.api.Shutdown(ctx))
	}
	if p.postgres != nil {
		errs = append(errs, p.postgres.Stop(ctx))
	}
	p.log.Info("Slipway stopped")
	return errors.Join(errs...)
}

// Failed delivers an error when a component fails on its own.
func (p *Platform) Failed() <-chan error { return p.failed }

// watchComponents reports the first component that fails on its own, until
// Stop.
func (p *Platform) watchComponents() {
	ctx, cancel := context.WithCancel(context.Background())
	p.failed, p.stopWatch = make(chan error, 1), cancel
	var nodeFailed <-chan error
	if p.node != nil {
		nodeFailed = p.node.Failed()
	}
	var ovnFailed <-chan error
	if p.sdn != nil {
		ovnFailed = p.sdn.central.Errors()
	}
	var haproxyExited <-chan struct{}
	if p.router != nil {
		haproxyExited = p.router.Exited()
	}
	go func() {
		select {
		case <-ctx.Done():
		case err := <-p.api.Done():
			p.failed <- err
		case err := <-nodeFailed:
			p.failed <- fmt.Errorf("node: %w", err)
		case err := <-ovnFailed:
			p.failed <- fmt.Errorf("OVN central: %w", err)
		case <-haproxyExited:
			p.failed <- errors.New("router: HAProxy exited on its own (its log is in the router directory)")
		}
	}()
}
