// Package httpapi serves Slipway's REST API over HTTP: it maps URLs to
// resources (the conventions of ARCHITECTURE.md), decodes and bounds request
// bodies, runs the generic resource machinery, streams watches, and turns
// errors into Status responses. It also serves health, readiness and
// metrics endpoints.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/auth/tokens"
	"github.com/slipway/slipway/server/controllers/builds"
	"github.com/slipway/slipway/server/informer"
	"github.com/slipway/slipway/server/pki"
	"github.com/slipway/slipway/server/resource"
)

// DefaultMaxBodyBytes bounds request bodies (Kubernetes uses 3 MiB too).
const DefaultMaxBodyBytes = 3 << 20

// Config configures the API handler.
type Config struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	Logger    *slog.Logger
	// Registry serves /metrics and receives the API's metrics.
	Registry *prometheus.Registry
	// BookmarkEvery is the interval of watch BOOKMARK events (default 10 s).
	BookmarkEvery time.Duration
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Version is reported by /version.
	Version string

	// Identity and access.
	Authenticator *authn.Authenticator
	Authorizer    *rbac.Authorizer
	Login         *login.Service
	Issuer        *tokens.Issuer
	Passwords     PasswordStore
	// Informers feed authentication and authorisation from memory; after a
	// write to one of their resources the API waits until its informer has
	// it, so a client's next request is judged with its own change.
	Informers map[string]*informer.Informer

	// Authority signs node agents' serving certificates.
	Authority *pki.Authority
	// NodeClient calls node agents (mutual TLS with the cluster CA) for
	// logs and exec.
	NodeClient *http.Client
	// Builds starts builds (instantiate, webhooks) and keeps uploaded
	// sources; nil serves no builds.
	Builds *builds.Instantiator
	// Console serves the web console at every path the API does not own.
	Console http.Handler
	// ImageRegistry serves the OCI distribution API at /v2/ (it
	// authenticates and authorises its requests itself: registry clients
	// send tokens as Basic credentials).
	ImageRegistry http.Handler
}

// PasswordStore keeps local accounts' password hashes.
type PasswordStore interface {
	SetPasswordHash(ctx context.Context, user, hash string) error
	PasswordHash(ctx context.Context, user string) (string, error)
}

// Handler serves the API.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	router  chi.Router
	quotas  *quotaGate
}

// New returns the API handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BookmarkEvery == 0 {
		cfg.BookmarkEvery = 10 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	var reg prometheus.Registerer
	if cfg.Registry != nil {
		reg = cfg.Registry
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, metrics: newMetrics(reg), quotas: newQuotaGate()}
	r := chi.NewRouter()
	r.Get("/healthz", h.healthz)
	r.Get("/readyz", h.readyz)
	r.Get("/version", h.version)
	if cfg.Registry != nil {
		r.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	}
	h.routeAuth(r)
	r.With(h.authenticate).Get("/api/v1", h.discovery)
	r.With(h.authenticate).Post("/api/v1/projects/{project}/builderdetections", h.detectBuilder)
	r.With(h.authenticate).Handle("/api/v1/*", http.HandlerFunc(h.serveResource))
	if cfg.ImageRegistry != nil {
		r.Handle("/v2", cfg.ImageRegistry)
		r.Handle("/v2/*", cfg.ImageRegistry)
	}
	if cfg.Console != nil {
		r.NotFound(cfg.Console.ServeHTTP)
	} else {
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			h.writeError(w, r, fmt.Errorf("no such path %q: %w", r.URL.Path, errdefs.ErrNotFound))
		})
	}
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, fmt.Errorf("method %s not allowed on %s: %w", r.Method, r.URL.Path, errdefs.ErrNotAllowed))
	})
	h.router = r
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok\n")
}

// readyz answers 200 only while the store answers.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.cfg.Service.Store().Ping(ctx); err != nil {
		h.writeError(w, r, fmt.Errorf("store unavailable: %w", errors.Join(errdefs.ErrUnavailable, err)))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok\n")
}

func (h *Handler) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": h.cfg.Version})
}

func (h *Handler) discovery(w http.ResponseWriter, _ *http.Request) {
	var out []api.APIResource
	for _, res := range h.cfg.Catalogue.All() {
		out = append(out, api.APIResource{Name: res.Plural, Kind: res.Kind, ProjectScoped: res.Scope == api.ProjectScoped,
			Subresources: subresourcesOf(res)})
	}
	writeJSON(w, http.StatusOK, api.APIResourceList{Kind: "APIResourceList", APIVersion: api.Version, Resources: out})
}

// target is what a resource URL names.
type target struct {
	res         *api.Resource
	project     string // "" for cluster-scoped, store.AllProjects across projects
	name        string
	subresource string
	// webhookSecret and webhookType are the last segments of a webhook URL
	// (…/buildconfigs/{name}/webhooks/{secret}/{type}).
	webhookSecret, webhookType string
}

// parsePath maps /api/v1/… to a target:
//
//	/api/v1/{resource}[/{name}[/{subresource}]]                     cluster-scoped (or, for a project-scoped resource, a list across projects)
//	/api/v1/projects/{project}/{resource}[/{name}[/{subresource}]]  project-scoped
func (h *Handler) parsePath(path string) (target, error) {
	rest := strings.Trim(strings.TrimPrefix(path, "/api/v1/"), "/")
	segs := strings.Split(rest, "/")
	var t target
	if len(segs) >= 3 && segs[0] == api.ProjectsResource {
		if res, ok := h.cfg.Catalogue.Lookup(segs[2]); ok && res.Scope == api.ProjectScoped {
			if err := api.ValidateName("project", segs[1]); err != nil {
				return t, err
			}
			t.res, t.project = res, segs[1]
			segs = segs[3:]
			if len(segs) == 4 && res.Plural == api.BuildConfigsResource && segs[1] == "webhooks" {
				t.webhookSecret, t.webhookType = segs[2], segs[3]
				segs = segs[:2]
			}
			return t, t.setItem(segs)
		}
	}
	res, ok := h.cfg.Catalogue.Lookup(segs[0])
	if !ok {
		return t, fmt.Errorf("unknown resource %q (GET /api/v1 lists them): %w", segs[0], errdefs.ErrNotFound)
	}
	t.res = res
	if res.Scope == api.ProjectScoped {
		if len(segs) > 1 {
			return t, errdefs.BadRequestf("", "%s are project-scoped: use /api/v1/projects/{project}/%s", res.Plural, res.Plural)
		}
		t.project = "*"
	}
	return t, t.setItem(segs[1:])
}

func (t *target) setItem(segs []string) error {
	switch len(segs) {
	case 0:
		return nil
	case 1, 2:
		t.name = segs[0]
		if len(segs) == 2 {
			t.subresource = segs[1]
		}
		if t.name == "" {
			return errdefs.BadRequestf("", "empty name in URL")
		}
		return nil
	}
	return errdefs.BadRequestf("", "URL has too many segments")
}
