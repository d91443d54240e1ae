package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

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
}

// DefaultAppsDomain names default route hosts.
const DefaultAppsDomain = "apps.localhost"

// routerPlane is the running router and the controller feeding it.
type routerPlane struct {
	router *router.Router
	stop   context.CancelFunc
	done   chan error
	domain string
	http   int
}

// startRouter starts HAProxy serving the apps domain with a wildcard
// certificate from the cluster CA, and the controller that keeps it in
// step with routes, services and endpoints as the system:router account.
func (p *Platform) startRouter(ctx context.Context, dataDir string, cfg RouterConfig) (*routerPlane, error) {
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
		return nil, fmt.Errorf("router: %w (run `make deps`, or start with --no-router)", err)
	}
	certPEM, keyPEM, err := p.api.Authority().IssueServing([]string{"*." + cfg.Domain, cfg.Domain}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("router: default certificate for %s: %w", cfg.Domain, err)
	}
	dir := filepath.Join(dataDir, "router")
	c, err := p.accountClient(ctx, dir, "router", "system:router")
	if err != nil {
		return nil, err
	}
	rt, err := router.Start(ctx, router.Options{
		Dir: filepath.Join(dir, "haproxy"), Binary: bin, BindAddress: cfg.BindAddress,
		HTTPPort: cfg.HTTPPort, HTTPSPort: cfg.HTTPSPort,
		DefaultCertificate: string(certPEM) + string(keyPEM), Logger: p.log,
	})
	if err != nil {
		return nil, fmt.Errorf("router on ports %d/%d (--router-http-port, --router-https-port, or --no-router): %w",
			cfg.HTTPPort, cfg.HTTPSPort, err)
	}
	ctrl, err := controller.New(controller.Config{Client: c, Router: rt, Domain: cfg.Domain, Logger: p.log})
	if err != nil {
		return nil, errors.Join(err, rt.Stop(context.WithoutCancel(ctx)))
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	rp := &routerPlane{router: rt, stop: stop, done: make(chan error, 1), domain: cfg.Domain, http: cfg.HTTPPort}
	go func() { rp.done <- ctrl.Run(runCtx) }()
	return rp, nil
}

// Stop ends the controller, then HAProxy.
func (rp *routerPlane) Stop(ctx context.Context) error {
	rp.stop()
	var err error
	select {
	case err = <-rp.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	return errors.Join(err, rp.router.Stop(ctx))
}
