// Package server assembles Slipway's API server: the PostgreSQL store, the
// generic resource machinery, authentication and authorisation, the
// controllers and the HTTPS API, with graceful shutdown. Later components
// (scheduler, registry) attach here.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/auth/bootstrap"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/auth/rbacsync"
	"github.com/slipway/slipway/auth/tokens"
	"github.com/slipway/slipway/server/controllers"
	"github.com/slipway/slipway/server/controllers/builds"
	"github.com/slipway/slipway/server/controllers/workloads"
	"github.com/slipway/slipway/server/httpapi"
	"github.com/slipway/slipway/server/informer"
	"github.com/slipway/slipway/server/pki"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/registry"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/scheduler"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/web"
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
	// Hosts are extra names (DNS or IP) the serving certificate covers,
	// besides localhost and the loopback addresses.
	Hosts []string
	// Identity configures the identity providers (default: local accounts).
	Identity login.Config
	// BootstrapPassword is the admin's first password; empty generates one
	// (printed once by the caller from BootstrapResult).
	BootstrapPassword string
	// Store tunes the store (its DSN, logger and metrics are filled in).
	Store store.Config
	// NodeEvictionTimeout is how long a node may be NotReady before its
	// pods are evicted (default 5 min).
	NodeEvictionTimeout time.Duration
	// RegistryHost is the image registry's host[:port] as clients and
	// nodes name it, the prefix of the image references the registry
	// records; default localhost:<the API's port>.
	RegistryHost string
	// RegistryGCGrace and RegistryGCInterval tune the registry's garbage
	// collection (defaults 1 h and 1 h).
	RegistryGCGrace, RegistryGCInterval time.Duration
	// SchedulerPolicy scores nodes: LeastAllocated (default, Borg's worst
	// fit), MostAllocated (best fit) or Balanced.
	SchedulerPolicy scheduler.Policy
	BookmarkEvery   time.Duration
	Logger          *slog.Logger
	Version         string
}

// Server is a running API server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     *store.Store
	http      *http.Server
	listener  net.Listener
	pki       pki.Files
	authority *pki.Authority
	metrics   *prometheus.Registry
	bootstrap bootstrap.Result
	registry  *registry.Registry
	// controllerMetrics are shared by every controller of the server.
	controllerMetrics *reconcile.Metrics
	cancel            context.CancelFunc
	served            chan error
	// background tracks the goroutines (informers, controllers, periodic
	// jobs) that cancel ends.
	background sync.WaitGroup
}

func (s *Server) goRun(ctx context.Context, f func(context.Context)) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		f(ctx)
	}()
}

// Start opens the store (applying migrations), bootstraps a new
// installation, loads what authentication and authorisation need into
// memory, prepares TLS and starts serving. It returns once the API accepts
// connections.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Identity.IdentityProviders) == 0 {
		cfg.Identity.IdentityProviders = login.DefaultConfig().IdentityProviders
	}
	log := cfg.Logger
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hosts...)
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil && h != "" {
		// A specific listen address is how clients reach the server.
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
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
	authority, err := files.LoadAuthority()
	if err != nil {
		return nil, err
	}
	nodeClient, err := nodeClient(authority)
	if err != nil {
		return nil, err
	}
	scfg := cfg.Store
	scfg.DSN, scfg.Logger, scfg.Registerer = cfg.DatabaseURL, log, reg
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return nil, err
	}
	// Background work derives from base, which Shutdown cancels; so do
	// request contexts, so that watch streams end instead of holding the
	// shutdown up.
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{cfg: cfg, log: log, store: st, pki: files, authority: authority, metrics: reg, cancel: cancel, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			cancel()
			s.background.Wait()
			st.Close()
		}
	}()

	svc := resource.New(st, nil)
	catalogue := api.NewCatalogue()
	localProvider := "local"
	for _, p := range cfg.Identity.IdentityProviders {
		if p.Type == login.TypeLocal {
			localProvider = p.Name
		}
	}
	if s.bootstrap, err = bootstrap.Run(ctx, svc, st, bootstrap.Config{Password: cfg.BootstrapPassword, LocalProvider: localProvider}); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if s.bootstrap.Done {
		log.Info("bootstrapped a new installation", "admin", bootstrap.AdminUser)
	}

	authenticator, authorizer, informers, err := s.startAccess(ctx, base, svc, catalogue)
	if err != nil {
		return nil, err
	}
	issuer := &tokens.Issuer{Service: svc, Now: time.Now}
	logins, err := login.New(ctx, cfg.Identity, login.Deps{Service: svc, Passwords: st, Issuer: issuer, Logger: log})
	if err != nil {
		return nil, err
	}
	s.goRun(base, logins.RunGroupSync)
	s.goRun(base, func(ctx context.Context) { authenticator.Tokens.RecordLastUsed(ctx, svc, 0) })

	if s.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer func() {
		if err != nil {
			s.listener.Close()
		}
	}()
	// Listening before the controllers start gives them the registry's
	// host (the API's port) from their first reconcile.
	buildMetrics := builds.NewMetrics(reg)
	instantiator := &builds.Instantiator{Service: svc, Catalogue: catalogue, RegistryHost: s.registryHost, Metrics: buildMetrics,
		Sources: &builds.Sources{Dir: filepath.Join(cfg.DataDir, "build-sources")}}

	s.registry, err = registry.New(registry.Config{
		Dir: filepath.Join(cfg.DataDir, "registry"), Store: st, Service: svc, Catalogue: catalogue,
		Authenticator: authenticator, Authorizer: authorizer, Host: s.registryHost,
		GCGrace: cfg.RegistryGCGrace, GCInterval: cfg.RegistryGCInterval, Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	s.goRun(base, s.registry.RunGC)
	images, _ := catalogue.Lookup(api.ImagesResource)
	repositories := &reconcile.Controller{Name: "registry-repositories", Resource: images, Service: svc, Logger: log,
		Reconciler: s.registry.Repositories()}

	handler := httpapi.New(httpapi.Config{
		Service:       svc,
		Catalogue:     catalogue,
		Logger:        log,
		Registry:      reg,
		BookmarkEvery: cfg.BookmarkEvery,
		Version:       cfg.Version,
		Authenticator: authenticator,
		Authorizer:    authorizer,
		Login:         logins,
		Issuer:        issuer,
		Passwords:     st,
		Informers:     informers,
		Authority:     authority,
		NodeClient:    nodeClient,
		Builds:        instantiator,
		Console:       web.Handler(),
		ImageRegistry: s.registry,
	})
	svc.SetAdmission(handler.Admit)
	s.controllerMetrics = reconcile.NewMetrics(reg)
	s.runControllers(base, svc, catalogue, s.controllerMetrics)
	repositories.Metrics = s.controllerMetrics
	s.goRun(base, repositories.Run)
	for _, c := range builds.Controllers(builds.Deps{Service: svc, Catalogue: catalogue, Instantiator: instantiator, Tokens: issuer,
		Logger: log, BuilderRole: rbac.RoleBuilder, Metrics: buildMetrics}) {
		c.Logger, c.Metrics = log, s.controllerMetrics
		s.goRun(base, c.Run)
	}
	if err := s.runScheduler(base, svc, catalogue, reg); err != nil {
		return nil, err
	}

	s.http = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { s.served <- s.http.ServeTLS(s.listener, "", "") }()
	log.Info("API server listening", "url", s.URL(), "ca", files.CACert)
	return s, nil
}

// startAccess starts the informers behind authentication and authorisation
// and waits until they have loaded, so the first request is judged on
// complete data.
func (s *Server) startAccess(ctx, base context.Context, svc *resource.Service, catalogue *api.Catalogue) (*authn.Authenticator, *rbac.Authorizer, map[string]*informer.Informer, error) {
	lookup := func(p string) *api.Resource { r, _ := catalogue.Lookup(p); return r }
	tokenIndex, groups := tokens.NewIndex(), authn.NewGroupIndex()
	authorizer := rbac.New()
	bindings := rbacsync.New(authorizer, s.log)
	users := informer.New(svc, lookup(api.UsersResource), nil, s.log)
	informers := []*informer.Informer{
		users,
		informer.New(svc, lookup(api.TokensResource), tokenIndex, s.log),
		informer.New(svc, lookup(api.GroupsResource), groups, s.log),
		informer.New(svc, lookup(api.ClusterRoleBindingsResource), bindings.ClusterRoleBindings(), s.log),
		informer.New(svc, lookup(api.RoleBindingsResource), bindings.RoleBindings(), s.log),
		// Admission reads quotas on every create of a counted kind.
		informer.New(svc, lookup(api.ResourceQuotasResource), nil, s.log),
	}
	for _, inf := range informers {
		s.goRun(base, inf.Run)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, inf := range informers {
		select {
		case <-inf.Synced():
		case <-wait.Done():
			return nil, nil, nil, fmt.Errorf("load identity and access data: %w", wait.Err())
		}
	}
	byResource := map[string]*informer.Informer{}
	for _, inf := range informers {
		byResource[inf.Resource()] = inf
	}
	return &authn.Authenticator{Tokens: tokenIndex, Users: users, Groups: groups, Service: svc, Now: time.Now}, authorizer, byResource, nil
}

// runControllers starts the API server's controllers; they stop when ctx
// (the server's base context) ends.
func (s *Server) runControllers(ctx context.Context, svc *resource.Service, catalogue *api.Catalogue, metrics *reconcile.Metrics) {
	lookup := func(p string) *api.Resource { r, _ := catalogue.Lookup(p); return r }
	for _, c := range []*reconcile.Controller{{
		Name: "projects", Resource: lookup(api.ProjectsResource), Service: svc, Logger: s.log, Metrics: metrics,
		Reconciler: &controllers.Projects{Service: svc, Catalogue: catalogue, Logger: s.log},
	}, {
		Name: "pod-termination", Resource: lookup(api.PodsResource), Service: svc, Logger: s.log, Metrics: metrics,
		Reconciler: &controllers.PodTermination{Service: svc, Catalogue: catalogue},
	}, {
		Name: "node-lifecycle", Resource: lookup(api.NodesResource), Service: svc, Logger: s.log, Metrics: metrics,
		Reconciler: &controllers.NodeLifecycle{Service: svc, Catalogue: catalogue, Logger: s.log, EvictionTimeout: s.cfg.NodeEvictionTimeout},
	}} {
		s.goRun(ctx, c.Run)
	}
	for _, c := range workloads.Controllers(workloads.Deps{Service: svc, Catalogue: catalogue, Logger: s.log}) {
		c.Logger, c.Metrics = s.log, metrics
		s.goRun(ctx, c.Run)
	}
}

// runScheduler starts the scheduler; several servers may each run one: its
// commits are safe against each other.
func (s *Server) runScheduler(ctx context.Context, svc *resource.Service, catalogue *api.Catalogue, reg prometheus.Registerer) error {
	sched, err := scheduler.New(scheduler.Config{Service: svc, Catalogue: catalogue, Policy: s.cfg.SchedulerPolicy,
		Logger: s.log, Registerer: reg})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.goRun(ctx, sched.Run)
	return nil
}

// nodeClient calls node agents: it presents the API server's client
// certificate and trusts only agents whose certificate the cluster CA
// signed.
func nodeClient(ca *pki.Authority) (*http.Client, error) {
	cert, err := ca.ClientCertificate(pki.APIServerClientCN, time.Now())
	if err != nil {
		return nil, fmt.Errorf("API server client certificate: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}, nil
}

// URL is the API's base URL.
func (s *Server) URL() string {
	return "https://" + hostPort(s.listener.Addr().(*net.TCPAddr))
}

// hostPort is how this machine reaches a listener: localhost when it
// listens on every address or a loopback one, else its address.
func hostPort(addr *net.TCPAddr) string {
	host := "localhost"
	if len(addr.IP) > 0 && !addr.IP.IsUnspecified() && !addr.IP.IsLoopback() {
		host = addr.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// registryHost names the registry in image references: the configured
// RegistryHost, or the API's host and port (localhost unless it listens on
// one specific address).
func (s *Server) registryHost() string {
	if s.cfg.RegistryHost != "" {
		return s.cfg.RegistryHost
	}
	if s.listener == nil {
		return "localhost:8443"
	}
	return hostPort(s.listener.Addr().(*net.TCPAddr))
}

// Registry is the OCI image registry served at /v2/ (tests trigger its
// garbage collection through it).
func (s *Server) Registry() *registry.Registry { return s.registry }

// RegistryHost is the registry's host[:port] in image references.
func (s *Server) RegistryHost() string { return s.registryHost() }

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Authority is the cluster's certificate authority.
func (s *Server) Authority() *pki.Authority { return s.authority }

// Metrics receives the metrics of components running in the server's
// process (`slipway up` runs the node agent here), served on its /metrics.
func (s *Server) Metrics() prometheus.Registerer { return s.metrics }

// CAFile is the certificate clients trust.
func (s *Server) CAFile() string { return s.pki.CACert }

// Store returns the store, for in-process components.
func (s *Server) Store() *store.Store { return s.store }

// BootstrapResult says whether this start bootstrapped the installation and
// with which generated admin password.
func (s *Server) BootstrapResult() bootstrap.Result { return s.bootstrap }

// Done delivers the error the HTTP server stopped with, once it stops on
// its own (a failure).
func (s *Server) Done() <-chan error { return s.served }

// Shutdown stops accepting requests, ends watches, waits for in-flight
// requests (until ctx ends), stops the background work and closes the
// store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(err, s.http.Close())
	}
	s.background.Wait()
	s.store.Close()
	if err != nil {
		return fmt.Errorf("shut down API server: %w", err)
	}
	return nil
}

// ServiceAccountToken makes sure a service account exists in project, bound
// cluster-wide to role, and issues it a token that does not expire: the
// credentials of an agent started in this process (`slipway up`'s node).
func (s *Server) ServiceAccountToken(ctx context.Context, project, name, role string) (string, error) {
	svc := resource.New(s.store, nil)
	cat := api.NewCatalogue()
	lookup := func(p string) *api.Resource { r, _ := cat.Lookup(p); return r }
	ctx = store.WithProject(ctx, project)
	if _, err := svc.Create(ctx, lookup(api.ServiceAccountsResource), &api.Object{Metadata: api.ObjectMeta{Name: name}}); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return "", fmt.Errorf("service account %s/%s: %w", project, name, err)
	}
	spec, _ := json.Marshal(api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: role},
		Subjects: []api.Subject{{Kind: api.ServiceAccountSubject, Name: name, Project: project}}})
	binding := strings.ReplaceAll(role, ":", "-") + "-" + name
	if _, err := svc.Create(store.WithProject(ctx, ""), lookup(api.ClusterRoleBindingsResource), &api.Object{Metadata: api.ObjectMeta{Name: binding}, Spec: spec}); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return "", fmt.Errorf("bind %s to %s/%s: %w", role, project, name, err)
	}
	issuer := &tokens.Issuer{Service: svc, Now: time.Now}
	token, _, err := issuer.Issue(store.WithProject(ctx, ""), api.TokenSpec{User: api.ServiceAccountUser(project, name), Kind: api.ServiceAccountToken,
		Description: "issued by this server to its own agent"}, 0)
	return token, err
}
