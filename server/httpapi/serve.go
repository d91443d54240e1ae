package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/server/store"
)

var statusSubresource = api.Subresource{Name: "status", Verbs: []string{"get", "update", "patch"}}

// subresources lists the subresources each resource serves besides
// "status", which every resource with HasStatus serves.
var subresources = map[string][]api.Subresource{
	api.UsersResource:           {{Name: "password", Verbs: []string{"update"}}},
	api.ServiceAccountsResource: {{Name: "token", Verbs: []string{"create"}}},
	api.PodsResource:            {{Name: "log", Verbs: []string{"get"}}, {Name: "exec", Verbs: []string{"create"}}, {Name: "eviction", Verbs: []string{"create"}}},
	api.NodesResource:           {{Name: "certificate", Verbs: []string{"create"}}, {Name: "stats", Verbs: []string{"get"}}},
	api.DeploymentsResource:     {{Name: "scale", Verbs: []string{"get", "update", "patch"}}, {Name: "rollback", Verbs: []string{"create"}}},
	// webhooks are served at …/webhooks/{secret}/{github|gitlab|generic}.
	api.BuildConfigsResource: {{Name: "instantiate", Verbs: []string{"create"}}, {Name: "webhooks", Verbs: []string{"create"}}},
	api.BuildsResource:       {{Name: "log", Verbs: []string{"get"}}, {Name: "source", Verbs: []string{"get"}}},
}

// subresourcesOf lists every subresource of res.
func subresourcesOf(res *api.Resource) []api.Subresource {
	var out []api.Subresource
	if res.HasStatus {
		out = append(out, statusSubresource)
	}
	return append(out, subresources[res.Plural]...)
}

// serveResource handles every /api/v1/… resource request: it resolves the
// target, authorizes the caller for exactly that verb, and runs it.
func (h *Handler) serveResource(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	t, err := h.parsePath(r.URL.Path)
	verb := verbOf(r, t)
	resName := "unknown"
	if t.res != nil {
		resName = t.res.Plural
	}
	defer func() {
		h.metrics.observe(resName, verb, rec.code(), time.Since(start))
	}()
	if err != nil {
		h.writeError(rec, r, err)
		return
	}
	ctx := r.Context()
	if t.project != "" {
		ctx = store.WithProject(ctx, t.project)
	}
	r = r.WithContext(ctx)
	if t.project == store.AllProjects && verb != "list" && verb != "watch" {
		h.writeError(rec, r, errdefs.BadRequestf("", "%s are project-scoped: use /api/v1/projects/{project}/%s", t.res.Plural, t.res.Plural))
		return
	}
	if t.subresource != "" && !slices.ContainsFunc(subresourcesOf(t.res), func(s api.Subresource) bool { return s.Name == t.subresource }) {
		h.writeError(rec, r, fmt.Errorf("%s have no subresource %q: %w", t.res.Plural, t.subresource, errdefs.ErrNotFound))
		return
	}
	if verb == "unsupported" {
		h.writeError(rec, r, fmt.Errorf("method %s not allowed on %s: %w", r.Method, r.URL.Path, errdefs.ErrNotAllowed))
		return
	}
	caller := callerFrom(ctx)
	if t.res.Plural == api.UsersResource && t.name == "~" {
		if caller.Name == "" {
			h.writeError(rec, r, authn.ErrUnauthenticated)
			return
		}
		t.name = caller.Name
	}
	decision, err := h.authorize(ctx, caller, verb, t)
	if err != nil {
		h.writeError(rec, r, err)
		return
	}
	status := t.subresource == "status"
	switch {
	case t.subresource == "password" && verb == "update":
		h.setPassword(rec, r, t.name, caller.Name == t.name)
	case t.subresource == "token" && verb == "create":
		h.issueServiceAccountToken(rec, r, t.project, t.name)
	case t.subresource == "log" && verb == "get" && t.res.Plural == api.BuildsResource:
		h.buildLog(rec, r, t)
	case t.subresource == "source" && verb == "get":
		h.buildSource(rec, r, t)
	case t.subresource == "instantiate" && verb == "create":
		h.instantiateBuild(rec, r, t)
	case t.subresource == "webhooks" && verb == "create":
		h.buildWebhook(rec, r, t)
	case t.subresource == "log" && verb == "get":
		h.podLog(rec, r, t)
	case t.subresource == "exec" && verb == "create":
		h.podExec(rec, r, t)
	case t.subresource == "certificate" && verb == "create":
		h.signNodeCertificate(rec, r, t.name)
	case t.subresource == "stats" && verb == "get":
		h.nodeStats(rec, r, t.name)
	case t.subresource == "scale" && t.res.Plural == api.DeploymentsResource:
		h.deploymentScale(rec, r, t, verb)
	case t.subresource == "rollback" && verb == "create":
		h.deploymentRollback(rec, r, t)
	case t.subresource == "eviction" && verb == "create":
		h.podEviction(rec, r, t)
	case verb == "get":
		obj, err := h.cfg.Service.Get(ctx, t.res, t.name)
		h.respond(rec, r, http.StatusOK, obj, err)
	case verb == "list":
		h.list(rec, r, t, h.visibility(caller, t, decision))
	case verb == "watch":
		h.watch(rec, r, t, h.visibility(caller, t, decision))
	case verb == "create":
		obj, err := h.decodeObject(rec, r)
		if err == nil {
			obj, err = h.cfg.Service.Create(ctx, t.res, obj)
		}
		if err == nil && t.res.Plural == api.ProjectsResource {
			err = h.makeRequesterAdmin(ctx, caller, obj.Metadata.Name)
		}
		h.respond(rec, r, http.StatusCreated, obj, err)
	case verb == "update":
		obj, err := h.decodeObject(rec, r)
		if err == nil {
			if status {
				obj, err = h.cfg.Service.UpdateStatus(ctx, t.res, t.name, obj)
			} else {
				obj, err = h.cfg.Service.Update(ctx, t.res, t.name, obj)
			}
		}
		h.respond(rec, r, http.StatusOK, obj, err)
	case verb == "patch":
		body, err := h.readBody(rec, r, true)
		var obj *api.Object
		if err == nil {
			obj, err = h.cfg.Service.Patch(ctx, t.res, t.name, body, status)
		}
		h.respond(rec, r, http.StatusOK, obj, err)
	case verb == "delete" && t.subresource == "":
		obj, deleted, err := h.cfg.Service.Delete(ctx, t.res, t.name, r.URL.Query().Get("resourceVersion"))
		code := http.StatusOK
		if !deleted {
			code = http.StatusAccepted // waiting for finalizers
		}
		h.respond(rec, r, code, obj, err)
	default:
		h.writeError(rec, r, fmt.Errorf("method %s not allowed on %s: %w", r.Method, r.URL.Path, errdefs.ErrNotAllowed))
	}
}

func verbOf(r *http.Request, t target) string {
	switch r.Method {
	case http.MethodGet:
		switch {
		case isTrue(r.URL.Query().Get("watch")):
			return "watch"
		case t.name == "":
			return "list"
		}
		return "get"
	case http.MethodPost:
		if t.name == "" || t.subresource != "" {
			return "create"
		}
	case http.MethodPut:
		if t.name != "" {
			return "update"
		}
	case http.MethodPatch:
		if t.name != "" {
			return "patch"
		}
	case http.MethodDelete:
		if t.name != "" {
			return "delete"
		}
	}
	return "unsupported"
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// readBody reads a bounded request body after checking its media type.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, patch bool) ([]byte, error) {
	mt, err := api.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	if patch && mt != api.MediaMergePatch {
		return nil, fmt.Errorf("PATCH takes a JSON merge patch: set Content-Type: application/merge-patch+json: %w", errdefs.ErrUnsupportedType)
	}
	if !patch && mt == api.MediaMergePatch {
		return nil, fmt.Errorf("a merge patch is only accepted by PATCH: %w", errdefs.ErrUnsupportedType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("request body exceeds %d bytes: %w", h.cfg.MaxBodyBytes, errdefs.ErrTooLarge)
	}
	if err != nil {
		return nil, errdefs.BadRequestf("", "read request body: %v", err)
	}
	if len(body) == 0 {
		return nil, errdefs.BadRequestf("", "empty request body")
	}
	return api.ToJSON(body, mt)
}

func (h *Handler) decodeObject(w http.ResponseWriter, r *http.Request) (*api.Object, error) {
	body, err := h.readBody(w, r, false)
	if err != nil {
		return nil, err
	}
	return api.DecodeObject(body)
}

// listQuery reads the list and watch query parameters.
func listQuery(r *http.Request) (api.ListOptions, error) {
	q := r.URL.Query()
	opts := api.ListOptions{
		LabelSelector:   q.Get("labelSelector"),
		Continue:        q.Get("continue"),
		ResourceVersion: q.Get("resourceVersion"),
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return opts, errdefs.BadRequestf("limit", "must be a non-negative integer, got %q", s)
		}
		opts.Limit = n
	}
	return opts, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, t target, visible func(*api.Object) bool) {
	opts, err := listQuery(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	res, err := h.cfg.Service.List(r.Context(), t.res, opts)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	items := res.Items
	if visible != nil {
		items = slices.DeleteFunc(items, func(o *api.Object) bool { return !visible(o) })
	}
	writeJSON(w, http.StatusOK, api.List[*api.Object]{
		Kind: t.res.Kind + "List", APIVersion: api.Version,
		Metadata: api.ListMeta{ResourceVersion: strconv.FormatInt(res.Revision, 10), Continue: res.Continue},
		Items:    items,
	})
}

func (h *Handler) respond(w http.ResponseWriter, r *http.Request, code int, obj *api.Object, err error) {
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.settle(r.Context(), obj)
	writeJSON(w, code, obj)
}

// settleTimeout bounds how long a write waits for its informer.
const settleTimeout = 5 * time.Second

// settle waits until the informer of a written object's resource (if it
// has one) has applied the write.
func (h *Handler) settle(ctx context.Context, obj *api.Object) {
	res, ok := h.cfg.Catalogue.ByKind(obj.Kind)
	if !ok {
		return
	}
	inf := h.cfg.Informers[res.Plural]
	rv, err := strconv.ParseInt(obj.Metadata.ResourceVersion, 10, 64)
	if inf == nil || err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	if err := inf.WaitFor(ctx, rv); err != nil {
		h.log.WarnContext(ctx, "write not yet visible to authentication or authorisation", "resource", res.Plural, "error", err)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"kind":"Status","code":500,"reason":"InternalError","message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

// writeError answers with the Status of err's class.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := api.StatusFromError(err)
	if st.Code >= 500 {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeJSON(w, st.Code, st)
}

// statusRecorder remembers the status code for metrics and passes flushes
// through for watch streams.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
