// Package server assembles Slipway's API server: the PostgreSQL store, the
// generic resource machinery and the HTTPS API, with graceful shutdown.
// Later components (controllers, scheduler, registry) attach here.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/controllers"
	"github.com/slipway/slipway/server/httpapi"
	"github.com/slipway/slipway/server/pki"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// DefaultListen is the API's default address: loopback only.
const DefaultListen = "127.0.0.1:8443"

// Config configures the API server.
type Config struct {
	// Listen is the HTTPS address (default DefaultListen; port 0 picks one).
	Listen string
	// DataDir holds the TLS material (DataDir/pki).
	DataDir string
	// DatabaseURL is the PostgreSQL connection string.
	DatabaseURL string
	// AllowRemote serves non-loopback clients (see httpapi.Config).
	AllowRemote bool
	// Hosts are extra names (DNS or IP) the serving certificate covers,
	// besides localhost and the loopback addresses.
	Hosts         []string
	BookmarkEvery time.Duration
	Logger        *slog.Logger
	Version       string
}

// Server is a running API server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	http     *http.Server
	listener net.Listener
	pki      pki.Files
	cancel   context.CancelFunc
	served   chan error
	// controllers tracks the controllers' goroutines, ended by cancel.
	controllers sync.WaitGroup
}

// runControllers starts the API server's controllers; they stop when ctx
// (the server's base context) ends.
func (s *Server) runControllers(ctx context.Context, svc *resource.Service, catalogue *api.Catalogue, metrics *reconcile.Metrics) {
	projects, _ := catalogue.Lookup(api.ProjectsResource)
	for _, c := range []*reconcile.Controller{{
		Name: "projects", Resource: projects, Service: svc, Logger: s.log, Metrics: metrics,
		Reconciler: &controllers.Projects{Service: svc, Catalogue: catalogue, Logger: s.log},
	}} {
		s.controllers.Add(1)
		go func() {
			defer s.controllers.Done()
			c.Run(ctx)
		}()
	}
}

// Start opens the store (applying migrations), prepares TLS and starts
// serving. It returns once the API accepts connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hosts...)
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	files, err := pki.Ensure(filepath.Join(cfg.DataDir, "pki"), hosts, time.Now())
	if err != nil {
		return nil, err
	}
	tlsConfig, err := files.TLSConfig()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Config{DSN: cfg.DatabaseURL, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	svc := resource.New(st, nil)
	catalogue := api.NewCatalogue()
	handler := httpapi.New(httpapi.Config{
		Service:       svc,
		Catalogue:     catalogue,
		Logger:        log,
		Registry:      reg,
		BookmarkEvery: cfg.BookmarkEvery,
		AllowRemote:   cfg.AllowRemote,
		Version:       cfg.Version,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if !cfg.AllowRemote && !isLoopbackAddr(ln.Addr()) {
		log.Warn("listening on a non-loopback address, but only loopback clients are served until authentication is configured",
			"listen", ln.Addr().String())
	}
	if cfg.AllowRemote {
		log.Warn("--allow-remote: the API accepts unauthenticated requests from any address that can reach it")
	}
	// Request contexts derive from base, which shutdown cancels so that
	// watch streams end instead of holding the shutdown up.
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		cfg: cfg, log: log, store: st, listener: ln, pki: files, cancel: cancel, served: make(chan error, 1),
		http: &http.Server{
			Handler:           handler,
			TLSConfig:         tlsConfig,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
	go func() { s.served <- s.http.ServeTLS(ln, "", "") }()
	s.runControllers(base, svc, catalogue, reconcile.NewMetrics(reg))
	log.Info("API server listening", "url", s.URL(), "ca", files.CACert)
	return s, nil
}

func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// URL is the API's base URL.
func (s *Server) URL() string {
	port := s.listener.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("https://localhost:%d", port)
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// CAFile is the certificate clients trust.
func (s *Server) CAFile() string { return s.pki.CACert }

// Store returns the store, for in-process components.
func (s *Server) Store() *store.Store { return s.store }

// Done delivers the error the HTTP server stopped with, once
// it stops on its own (a failure); nil after Shutdown.
func (s *Server) Done() <-chan error { return s.served }

// Shutdown stops accepting requests, ends watches, waits for in-flight
// requests (until ctx ends) and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(err, s.http.Close())
	}
	s.controllers.Wait()
	s.store.Close()
	if err != nil {
		return fmt.Errorf("shut down API server: %w", err)
	}
	return nil
}
