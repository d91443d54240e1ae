package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/builder/source"
)

// detectWait bounds the shallow clone behind a builder detection.
const detectWait = 30 * time.Second

// BuilderDetectionRequest is the body of
// POST /api/v1/projects/{project}/builderdetections.
type BuilderDetectionRequest struct {
	Git        api.GitBuildSource `json:"git"`
	ContextDir string             `json:"contextDir,omitempty"`
}

// detectBuilder answers which builder suits a Git repository, as
// `slip new-app` decides it: the server clones it shallowly (public
// repositories: no source secret) and looks at the files of its context
// dir. Whoever may create build configurations in the project may ask;
// nothing is stored.
func (h *Handler) detectBuilder(w http.ResponseWriter, r *http.Request) {
	project := chi.URLParam(r, "project")
	if err := api.ValidateName("project", project); err != nil {
		h.writeError(w, r, err)
		return
	}
	res, _ := h.cfg.Catalogue.Lookup(api.BuildConfigsResource)
	if _, err := h.authorize(r.Context(), callerFrom(r.Context()), "create", target{res: res, project: project}); err != nil {
		h.writeError(w, r, err)
		return
	}
	body, err := h.readBody(w, r, false)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var req BuilderDetectionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		h.writeError(w, r, errdefs.BadRequestf("", "decode the detection request: %v", err))
		return
	}
	if err := api.ValidateGitURI("git.uri", req.Git.URI); err != nil {
		h.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), detectWait)
	defer cancel()
	d, err := source.Fetcher{}.Detect(ctx, source.Git{URI: req.Git.URI, Ref: req.Git.Ref, ContextDir: req.ContextDir})
	switch {
	case errors.Is(err, source.ErrInvalid):
		h.writeError(w, r, errdefs.Invalidf("git", "%v", err))
	case errors.Is(err, source.ErrUndetected):
		h.writeError(w, r, errdefs.Invalidf("git.uri", "%v: choose the builder", err))
	case errors.Is(err, source.ErrFetch):
		h.writeError(w, r, errdefs.BadRequestf("git.uri", "%v", err))
	case err != nil:
		h.writeError(w, r, fmt.Errorf("detect the builder: %w", err))
	default:
		writeJSON(w, http.StatusOK, d)
	}
}
