package httpapi

import (
	"fmt"
	"net/http"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/controllers/workloads"
)

// deploymentOps are the deployment subresources' actions.
func (h *Handler) deploymentOps() *workloads.Operations {
	return &workloads.Operations{Service: h.cfg.Service, Catalogue: h.cfg.Catalogue}
}

// deploymentScale serves GET, PUT and PATCH …/deployments/{name}/scale with
// a Scale object.
func (h *Handler) deploymentScale(w http.ResponseWriter, r *http.Request, t target, verb string) {
	var (
		scale *api.Scale
		err   error
	)
	ops := h.deploymentOps()
	switch verb {
	case "get":
		scale, err = ops.Scale(r.Context(), t.name)
	case "update":
		var body []byte
		if body, err = h.readBody(w, r, false); err == nil {
			var in api.Scale
			if err = api.DecodeStrict(body, &in, ""); err == nil {
				scale, err = ops.UpdateScale(r.Context(), t.name, &in)
			}
		}
	case "patch":
		var body []byte
		if body, err = h.readBody(w, r, true); err == nil {
			scale, err = ops.PatchScale(r.Context(), t.name, body)
		}
	default:
		err = fmt.Errorf("%s is not a verb of deployments/scale (get, update and patch are): %w", verb, errdefs.ErrNotAllowed)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, scale)
}

// deploymentRollback serves POST …/deployments/{name}/rollback
// {"toRevision": N} and answers with the updated Deployment.
func (h *Handler) deploymentRollback(w http.ResponseWriter, r *http.Request, t target) {
	body, err := h.readBody(w, r, false)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var req api.DeploymentRollback
	if err := api.DecodeStrict(body, &req, ""); err != nil {
		h.writeError(w, r, err)
		return
	}
	obj, err := h.deploymentOps().Rollback(r.Context(), t.name, req)
	h.respond(w, r, http.StatusOK, obj, err)
}

// podEviction serves POST …/pods/{name}/eviction: the pod is deleted unless
// a PodDisruptionBudget forbids it now (429). The body is `{}` (no options
// yet; an unknown field is refused).
func (h *Handler) podEviction(w http.ResponseWriter, r *http.Request, t target) {
	body, err := h.readBody(w, r, false)
	if err == nil {
		err = api.DecodeStrict(body, &struct{}{}, "")
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	obj, err := h.deploymentOps().Evict(r.Context(), t.name)
	h.respond(w, r, http.StatusOK, obj, err)
}
