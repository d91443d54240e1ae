// Package registry serves Slipway's OCI image registry: the distribution
// API (https://github.com/opencontainers/distribution-spec) at /v2/ on the
// API server's address. Repositories are <project>/<name>, name being one
// DNS label that is also the name of the project's Image object, whose
// status the registry keeps current as tags are pushed. Blob contents live
// on disk under the server's data directory, content-addressed and
// verified while they stream in; metadata (blobs, repository links,
// manifests, tags, upload sessions) lives in PostgreSQL through
// server/store. Unreferenced blobs are garbage collected after a grace
// period.
//
// Clients authenticate with a Slipway token, as the password of HTTP Basic
// authentication (any user name: `skopeo --creds x:TOKEN`, `crane auth
// login -u x -p TOKEN`) or as a Bearer token. Pulling needs get on images
// in the repository's project; pushing needs create and update; deleting
// needs delete. A denied caller gets 403 DENIED before anything is looked
// up, so a denial says nothing about whether the repository exists; a
// request without credentials gets 401 with a Basic challenge.
package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Config configures a Registry.
type Config struct {
	// Dir holds blob contents and upload files (the server uses
	// DataDir/registry). Required.
	Dir string
	// Store keeps the metadata. Required.
	Store Metadata
	// Service writes Image objects (in-process, so watches see them).
	Service   *resource.Service
	Catalogue *api.Catalogue
	// Authenticator and Authorizer judge every request.
	Authenticator *authn.Authenticator
	Authorizer    *rbac.Authorizer
	// Host returns the registry's host[:port] as clients and nodes name
	// it ("localhost:8443"): the prefix of the references written to Image
	// status.
	Host func() string
	// GCGrace spares blobs touched more recently than this (default 1 h),
	// so a push in flight keeps the layers it uploaded before its
	// manifest. GCInterval is how often Run collects (default 1 h).
	GCGrace, GCInterval time.Duration
	// UploadExpiry ends upload sessions idle this long (default 24 h).
	UploadExpiry time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Now          func() time.Time
}

// Metadata is what the registry needs from the store (server/store
// implements it; see migration 0003 for the tables).
type Metadata interface {
	RegistryRepoBlob(ctx context.Context, repo, digest string) (store.RegistryBlob, error)
	PutRegistryBlob(ctx context.Context, repo string, b store.RegistryBlob) error
	MountRegistryBlob(ctx context.Context, repo string, from store.RegistryRepository, digest string) (store.RegistryBlob, error)
	PutRegistryManifest(ctx context.Context, repo string, m store.RegistryManifest, tag string) (string, error)
	RegistryManifest(ctx context.Context, repo, reference string) (store.RegistryManifest, error)
	DeleteRegistryManifest(ctx context.Context, repo, digest string) ([]string, error)
	DeleteRegistryTag(ctx context.Context, repo, tag string) error
	RegistryTags(ctx context.Context, repo, last string, limit int) ([]string, error)
	RegistryTagDigests(ctx context.Context, repo string) ([]store.RegistryTag, error)
	RegistryRepositoryExists(ctx context.Context, repo string) (bool, error)
	RegistryRepositories(ctx context.Context) ([]store.RegistryRepository, error)
	DeleteRegistryRepository(ctx context.Context, repo string) ([]string, error)
	CreateRegistryUpload(ctx context.Context, repo, id string, hashState []byte) error
	RegistryUpload(ctx context.Context, repo, id string) (store.RegistryUpload, error)
	AdvanceRegistryUpload(ctx context.Context, from int64, u store.RegistryUpload) error
	DeleteRegistryUpload(ctx context.Context, id string) error
	ExpireRegistryUploads(ctx context.Context, cutoff time.Time) ([]string, error)
	CollectRegistryBlobs(ctx context.Context, cutoff time.Time, limit int, remove func(digest string) error) ([]string, error)
}

// Registry is the distribution API handler.
type Registry struct {
	cfg     Config
	log     *slog.Logger
	disk    *disk
	metrics *metrics
	images  *api.Resource
	// gcMu serialises this process's collections (the store's row locks
	// keep collections of several servers apart).
	gcMu sync.Mutex
}

// New prepares the storage directory and returns the handler.
func New(cfg Config) (*Registry, error) {
	if cfg.Dir == "" || cfg.Store == nil || cfg.Service == nil || cfg.Authenticator == nil || cfg.Authorizer == nil {
		return nil, fmt.Errorf("registry: Dir, Store, Service, Authenticator and Authorizer are required")
	}
	if cfg.Catalogue == nil {
		cfg.Catalogue = api.NewCatalogue()
	}
	if cfg.Host == nil {
		cfg.Host = func() string { return "localhost:8443" }
	}
	if cfg.GCGrace == 0 {
		cfg.GCGrace = time.Hour
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = time.Hour
	}
	if cfg.UploadExpiry == 0 {
		cfg.UploadExpiry = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d, err := newDisk(cfg.Dir)
	if err != nil {
		return nil, err
	}
	images, _ := cfg.Catalogue.Lookup(api.ImagesResource)
	return &Registry{cfg: cfg, log: cfg.Logger.With("component", "registry"), disk: d, metrics: newMetrics(cfg.Registerer), images: images}, nil
}

// repository is the repository a request names.
type repository struct {
	project, name string
}

func (r repository) String() string { return r.project + "/" + r.name }

// ctx returns ctx scoped to the repository's project, as the store wants.
func (r repository) ctx(ctx context.Context) context.Context {
	return store.WithProject(ctx, r.project)
}

func parseRepository(s string) (repository, *regError) {
	project, name, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(name, "/") || api.ValidateName("", project) != nil || api.ValidateName("", name) != nil {
		return repository{}, errorf(http.StatusBadRequest, codeNameInvalid,
			"repository %q: Slipway repositories are <project>/<name>, each a DNS label (lower-case letters, digits and '-')", s).
			withDetail(map[string]string{"name": s})
	}
	return repository{project: project, name: name}, nil
}

// ServeHTTP routes /v2/… requests:
//
//	/v2/                                   API version check
//	/v2/_catalog                           repositories the caller may pull
//	/v2/<project>/<name>/blobs/<digest>
//	/v2/<project>/<name>/blobs/uploads/[<id>]
//	/v2/<project>/<name>/manifests/<reference>
//	/v2/<project>/<name>/tags/list
func (reg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := reg.cfg.Now()
	rec := &recorder{ResponseWriter: w}
	w = rec
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	route, err := reg.serve(w, r)
	if err != nil {
		re := asRegError(err)
		if re.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Slipway registry"`)
		}
		if re.status >= 500 {
			reg.log.ErrorContext(r.Context(), "registry request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		writeRegError(w, r, re)
	}
	reg.metrics.request(r.Method, route, rec.status, reg.cfg.Now().Sub(start))
	reg.metrics.bytesOut.Add(float64(rec.written))
}

// serve answers the request and returns its route (for metrics) and an
// error to answer with, when it has not answered.
func (reg *Registry) serve(w http.ResponseWriter, r *http.Request) (string, error) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2")
	rest = strings.TrimPrefix(rest, "/")
	caller, err := reg.cfg.authenticate(r)
	if err != nil {
		return "base", err
	}
	if rest == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return "base", errNotAllowed(r)
		}
		if caller.Name == "" {
			return "base", authn.ErrUnauthenticated
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return "base", nil
	}
	if rest == "_catalog" {
		return "catalog", reg.catalog(w, r, caller)
	}
	// Split <project>/<name>/<kind>/<rest…>: the kind is the third segment.
	segs := strings.SplitN(rest, "/", 4)
	if len(segs) < 4 {
		return "unknown", errorf(http.StatusNotFound, codeNameInvalid, "no such registry path %q", r.URL.Path)
	}
	repo, rerr := parseRepository(segs[0] + "/" + segs[1])
	if rerr != nil {
		return "unknown", rerr
	}
	kind, tail := segs[2], segs[3]
	switch {
	case kind == "blobs" && (tail == "uploads" || tail == "uploads/" || strings.HasPrefix(tail, "uploads/")):
		return "uploads", reg.serveUpload(w, r, caller, repo, strings.Trim(strings.TrimPrefix(tail, "uploads"), "/"))
	case kind == "blobs" && !strings.Contains(tail, "/"):
		return "blobs", reg.serveBlob(w, r, caller, repo, tail)
	case kind == "manifests" && !strings.Contains(tail, "/"):
		return "manifests", reg.serveManifest(w, r, caller, repo, tail)
	case kind == "tags" && tail == "list":
		return "tags", reg.serveTags(w, r, caller, repo)
	}
	return "unknown", errorf(http.StatusNotFound, codeNameInvalid, "no such registry path %q (repositories are <project>/<name>)", r.URL.Path)
}

func errNotAllowed(r *http.Request) error {
	return errorf(http.StatusMethodNotAllowed, codeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path)
}

// authenticate reads a Slipway token from Basic (as the password) or
// Bearer authorization; none is the anonymous caller.
func (cfg *Config) authenticate(r *http.Request) (authn.Caller, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "":
		return authn.Caller{UserInfo: authn.Anonymous}, nil
	case "bearer":
		return cfg.Authenticator.AuthenticateToken(r.Context(), strings.TrimSpace(cred))
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return authn.Caller{}, authn.ErrUnauthenticated
		}
		_, token, ok := strings.Cut(string(raw), ":")
		if !ok || token == "" {
			return authn.Caller{}, authn.ErrUnauthenticated
		}
		return cfg.Authenticator.AuthenticateToken(r.Context(), token)
	}
	return authn.Caller{}, authn.ErrUnauthenticated
}

// Access kinds.
const (
	pull   = "pull"
	push   = "push"
	remove = "delete"
)

// authorize checks caller's right to act on repo: pull needs get on
// images in its project, push create and update, delete delete. It decides
// on the name alone, before any lookup.
func (reg *Registry) authorize(caller authn.Caller, access string, repo repository) error {
	verbs := map[string][]string{pull: {rbac.VerbGet}, push: {rbac.VerbCreate, rbac.VerbUpdate}, remove: {rbac.VerbDelete}}[access]
	for _, verb := range verbs {
		d := reg.cfg.Authorizer.Authorize(rbac.Attributes{User: caller.UserInfo, Verb: verb,
			Resource: api.ImagesResource, Project: repo.project, Name: repo.name})
		if d.Allowed {
			continue
		}
		if caller.Name == "" {
			return authn.ErrUnauthenticated
		}
		return errorf(http.StatusForbidden, codeDenied, "%s may not %s %s (needs %s on images in project %q)",
			caller.Name, access, repo, verb, repo.project)
	}
	return nil
}

// recorder remembers the status and body size for metrics.
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
