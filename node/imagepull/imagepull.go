// Package imagepull pulls pod images from Slipway's own registry into the
// node's containerd: over HTTPS trusting the cluster CA, with the node's
// service-account token as the registry credential (system:node may pull
// from every project). Images from any other registry are not pulled: they
// must be imported into the node's containerd.
package imagepull

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// ErrNotHandled is returned for an image of a registry the puller does not
// pull from.
var ErrNotHandled = errors.New("not an image of Slipway's registry")

// Config configures a Puller.
type Config struct {
	// Client is connected to the node's containerd. Required.
	Client *client.Client
	// Namespace is the containerd namespace pods run in. Required.
	Namespace string
	// Snapshotter unpacks pulled images ("" for containerd's default).
	Snapshotter string
	// Registry is Slipway's registry host[:port] as image references name
	// it ("localhost:8443"). Required.
	Registry string
	// Token returns the node's token, sent as the Basic password. Required.
	Token func() string
	// RootCAs verifies the registry's certificate (the cluster CA).
	RootCAs *x509.CertPool
	// Timeout bounds one pull; default 10 min.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Puller pulls images from Slipway's registry.
type Puller struct {
	cfg      Config
	resolver func() docker.RegistryHosts
}

// New checks cfg and returns a Puller.
func New(cfg Config) (*Puller, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Registry == "" || cfg.Token == nil {
		return nil, errors.New("imagepull: Client, Namespace, Registry and Token are required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tr := docker.DefaultHTTPTransport(&tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12})
	hc := &http.Client{Transport: tr}
	p := &Puller{cfg: cfg}
	p.resolver = func() docker.RegistryHosts {
		auth := docker.NewDockerAuthorizer(docker.WithAuthClient(hc), docker.WithAuthCreds(func(host string) (string, string, error) {
			if host != cfg.Registry {
				return "", "", nil
			}
			return "slipway-node", cfg.Token(), nil
		}))
		return docker.ConfigureDefaultRegistries(docker.WithClient(hc), docker.WithAuthorizer(auth))
	}
	return p, nil
}

// Handles reports whether ref names an image of Slipway's registry.
func (p *Puller) Handles(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	return ok && host == p.cfg.Registry
}

// Pull fetches ref (by tag or digest) with its layers and unpacks it, so
// that containerd then holds an image named ref. ErrNotHandled for a ref
// of another registry.
func (p *Puller) Pull(ctx context.Context, ref string) error {
	if !p.Handles(ref) {
		return fmt.Errorf("pull %s: %w %s", ref, ErrNotHandled, p.cfg.Registry)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, p.cfg.Namespace), p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: p.resolver()})
	opts := []client.RemoteOpt{client.WithResolver(resolver), client.WithPullUnpack}
	if p.cfg.Snapshotter != "" {
		opts = append(opts, client.WithPullSnapshotter(p.cfg.Snapshotter))
	}
	img, err := p.cfg.Client.Pull(ctx, ref, opts...)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	p.cfg.Logger.InfoContext(ctx, "image pulled", "image", ref, "digest", img.Target().Digest.String(), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}
