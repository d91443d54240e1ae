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
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/prometheus/client_golang/prometheus"
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
	// Registerer receives the pull metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Puller pulls images from Slipway's registry. Concurrent pulls of one
// reference share a single download.
type Puller struct {
	cfg      Config
	resolver func() docker.RegistryHosts
	pulls    *prometheus.CounterVec
	duration prometheus.Histogram

	mu       sync.Mutex
	inFlight map[string]*pull
}

// pull is one download others may wait on.
type pull struct {
	done chan struct{}
	err  error
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
	p := &Puller{cfg: cfg, inFlight: map[string]*pull{},
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_node_image_pulls_total", Help: "Image pulls from Slipway's registry by result (success, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "slipway_node_image_pull_duration_seconds", Help: "Duration of successful image pulls.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(p.pulls); err != nil {
			return nil, fmt.Errorf("imagepull metrics: %w", err)
		}
		if err := cfg.Registerer.Register(p.duration); err != nil {
			return nil, fmt.Errorf("imagepull metrics: %w", err)
		}
	}
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
// of another registry. A caller that finds a pull of ref under way waits
// for it (or for its own ctx) and shares its outcome.
func (p *Puller) Pull(ctx context.Context, ref string) error {
	if !p.Handles(ref) {
		return fmt.Errorf("pull %s: %w %s", ref, ErrNotHandled, p.cfg.Registry)
	}
	p.mu.Lock()
	cur, waiting := p.inFlight[ref]
	if !waiting {
		cur = &pull{done: make(chan struct{})}
		p.inFlight[ref] = cur
	}
	p.mu.Unlock()
	if waiting {
		select {
		case <-cur.done:
			return cur.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cur.err = p.fetch(ctx, ref)
	p.mu.Lock()
	delete(p.inFlight, ref)
	p.mu.Unlock()
	close(cur.done)
	return cur.err
}

func (p *Puller) fetch(ctx context.Context, ref string) error {
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
		p.pulls.WithLabelValues("error").Inc()
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	took := time.Since(start)
	p.pulls.WithLabelValues("success").Inc()
	p.duration.Observe(took.Seconds())
	p.cfg.Logger.InfoContext(ctx, "image pulled", "image", ref, "digest", img.Target().Digest.String(), "duration", took.Round(time.Millisecond))
	return nil
}
