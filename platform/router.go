package platform

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/router"
	"github.com/slipway/slipway/router/controller"
)

// RouterConfig configures the platform's HAProxy router.
type RouterConfig struct {
	// Disabled runs no router: routes are stored but served by nobody.
	Disabled bool
	// BindAddress, HTTPPort and HTTPSPort are where routes are served;
	// "" means every address, and ports default to 80 and 443 as root,
	// 8080 and 8443 otherwise.
	BindAddress         string
	HTTPPort, HTTPSPort int
	// Domain is the apps domain default route hosts are named under
	// (<route>-<project>.<domain>); default apps.localhost, which resolves
	// to this machine without any DNS set-up.
	Domain string
	// Binary is the haproxy executable; default "haproxy" in PATH.
	Binary string
	// MetricsBind ("host:port", "" for none) serves HAProxy's per-route
	// Prometheus metrics at /metrics and its stats page at /stats, with
	// basic authentication as "stats" and the password kept in the
	// router's directory (stats-password).
	MetricsBind string
	// Name identifies the router in routes' status (default "default");
	// RouteSelector and ProjectSelector shard routes between routers by
	// the labels of the route and of its project.
	Name, RouteSelector, ProjectSelector string
	// Threads is HAProxy's thread count (default 2); BusyPolling keeps
	// them polling instead of sleeping, for a router with CPUs of its own
	// (see haproxycfg.Options).
	Threads     int
	BusyPolling bool
	// Registerer receives the router controller's metrics
	// (slipway_router_*); none when nil.
	Registerer prometheus.Registerer
}

// DefaultAppsDomain names default route hosts.
const DefaultAppsDomain = "apps.localhost"

// Router is a running HAProxy router and the controller feeding it.
type Router struct {
	dir    string
	router *router.Router
	stop   context.CancelFunc
	done   chan error
	cfg    RouterConfig
}

// startRouter runs the platform's router: the apps domain's wildcard
// certificate comes from the cluster CA, and the controller works as the
// system:router service account.
func (p *Platform) startRouter(ctx context.Context, dataDir string, cfg RouterConfig) (*Router, error) {
	domain := cfg.Domain
	if domain == "" {
		domain = DefaultAppsDomain
	}
	certPEM, keyPEM, err := p.api.Authority().IssueServing([]string{"*." + domain, domain}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("router: default certificate for %s: %w", domain, err)
	}
	dir := filepath.Join(dataDir, "router")
	if cfg.Registerer == nil {
		cfg.Registerer = p.api.Metrics() // on the API's /metrics
	}
	c, err := p.accountClient(ctx, dir, "router", "system:router")
	if err != nil {
		return nil, err
	}
	rt, err := StartRouter(ctx, cfg, c, filepath.Join(dir, "haproxy"), string(certPEM)+string(keyPEM), p.log)
	if err != nil {
		return nil, fmt.Errorf("%w (--router-http-port, --router-https-port, or --no-router)", err)
	}
	return rt, nil
}

// StartRouter starts HAProxy in dir serving routes on cfg's ports with
// defaultCert (PEM certificate and key) for TLS hosts without their own,
// and the controller that keeps it in step with the routes, services and
// endpoints c can read.
func StartRouter(ctx context.Context, cfg RouterConfig, c *client.Client, dir, defaultCert string, log *slog.Logger) (*Router, error) {
	httpPort, httpsPort := 80, 443
	if os.Geteuid() != 0 {
		httpPort, httpsPort = 8080, 8443
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = httpPort
	}
	if cfg.HTTPSPort == 0 {
		cfg.HTTPSPort = httpsPort
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultAppsDomain
	}
	if cfg.Binary == "" {
		cfg.Binary = "haproxy"
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("router: %w (run `make deps`)", err)
	}
	opts := router.Options{
		Dir: dir, Binary: bin, BindAddress: cfg.BindAddress, HTTPPort: cfg.HTTPPort, HTTPSPort: cfg.HTTPSPort,
		DefaultCertificate: defaultCert, Threads: cfg.Threads, BusyPolling: cfg.BusyPolling, Logger: log,
	}
	if cfg.MetricsBind != "" {
		password, err := statsPassword(filepath.Join(dir, StatsPasswordFile))
		if err != nil {
			return nil, err
		}
		opts.MetricsBind, opts.StatsUser, opts.StatsPassword = cfg.MetricsBind, StatsUser, password
	}
	rt, err := router.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("router on ports %d/%d: %w", cfg.HTTPPort, cfg.HTTPSPort, err)
	}
	ctrl, err := controller.New(controller.Config{Client: c, Router: rt, RouterName: cfg.Name, Domain: cfg.Domain,
		RouteSelector: cfg.RouteSelector, ProjectSelector: cfg.ProjectSelector, Registerer: cfg.Registerer, Logger: log})
	if err != nil {
		return nil, errors.Join(err, rt.Stop(context.WithoutCancel(ctx)))
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &Router{dir: dir, router: rt, stop: stop, done: make(chan error, 1), cfg: cfg}
	go func() { r.done <- ctrl.Run(runCtx) }()
	return r, nil
}

// StatsUser and the password in StatsPasswordFile (in the router's
// directory) open /metrics and /stats.
const (
	StatsUser         = "stats"
	StatsPasswordFile = "stats-password"
)

// statsPassword reads the router's stats password, creating one the first
// time.
func statsPassword(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 18)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("router: stats password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("router: %w", err)
	}
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("router: store the stats password: %w", err)
	}
	return password, nil
}

// StatsURL says where /stats and /metrics are served and how to open them
// ("" when they are not served).
func (r *Router) StatsURL() string {
	if r.cfg.MetricsBind == "" {
		return ""
	}
	return fmt.Sprintf("http://%s/stats and /metrics (user %s, password in %s)", r.cfg.MetricsBind, StatsUser,
		filepath.Join(r.dir, StatsPasswordFile))
}

// Exited is closed if HAProxy exits on its own.
func (r *Router) Exited() <-chan struct{} { return r.router.HAProxy().Exited() }

// Stop ends the controller, then HAProxy.
func (r *Router) Stop(ctx context.Context) error {
	r.stop()
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	return errors.Join(err, r.router.Stop(ctx))
}
