package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/builder/webhook"
	"github.com/slipway/slipway/server/controllers/builds"
)

// isArchive tells whether a Content-Type is a tar.gz upload.
func isArchive(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/octet-stream":
		return true
	}
	return false
}

// instantiateBuild serves POST …/buildconfigs/{name}/instantiate: a JSON
// BuildRequest (or no body) starts the next build from the config's
// source; a tar.gz body (Content-Type application/gzip) starts a binary
// build from it, with ?commit= and ?message= as the request's fields.
// It answers 201 with the new Build.
func (h *Handler) instantiateBuild(w http.ResponseWriter, r *http.Request, t target) {
	if h.cfg.Builds == nil {
		h.writeError(w, r, fmt.Errorf("this server runs no builds: %w", errdefs.ErrNotFound))
		return
	}
	var req api.BuildRequest
	var staged *builds.Staged
	switch {
	case isArchive(r.Header.Get("Content-Type")):
		if h.cfg.Builds.Sources == nil {
			h.writeError(w, r, errdefs.BadRequestf("", "this server keeps no uploaded sources"))
			return
		}
		var err error
		if staged, err = h.cfg.Builds.Sources.Stage(r.Body); err != nil {
			h.writeError(w, r, err)
			return
		}
		defer staged.Discard()
		q := r.URL.Query()
		if c := q.Get("commit"); c != "" {
			req.Revision = &api.BuildRevision{Commit: c}
		}
		req.Message = q.Get("message")
	case r.ContentLength != 0:
		body, err := h.readBody(w, r, false)
		if err == nil {
			err = api.DecodeStrict(body, &req, "")
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if err := req.Validate(); err != nil {
		h.writeError(w, r, err)
		return
	}
	cause := api.BuildCause{Type: api.ManualBuildTrigger, User: callerFrom(r.Context()).Name, Message: req.Message}
	if cause.Message == "" {
		cause.Message = "Manually triggered"
	}
	obj, err := h.cfg.Builds.Instantiate(r.Context(), t.name, builds.Request{Cause: cause, Revision: req.Revision, Env: req.Env, Binary: staged})
	h.respond(w, r, http.StatusCreated, obj, err)
}

// buildSource serves GET …/builds/{name}/source: the tar.gz uploaded for
// a binary build, for its build pod.
func (h *Handler) buildSource(w http.ResponseWriter, r *http.Request, t target) {
	if h.cfg.Builds == nil || h.cfg.Builds.Sources == nil {
		h.writeError(w, r, fmt.Errorf("this server keeps no uploaded sources: %w", errdefs.ErrNotFound))
		return
	}
	res, _ := h.cfg.Catalogue.Lookup(api.BuildsResource)
	if _, err := h.cfg.Service.Get(r.Context(), res, t.name); err != nil {
		h.writeError(w, r, err)
		return
	}
	f, err := h.cfg.Builds.Sources.Open(t.project, t.name)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
}

// buildLog serves GET …/builds/{name}/log: the log of the build's pod.
func (h *Handler) buildLog(w http.ResponseWriter, r *http.Request, t target) {
	res, _ := h.cfg.Catalogue.Lookup(api.BuildsResource)
	if _, err := h.cfg.Service.Get(r.Context(), res, t.name); err != nil {
		h.writeError(w, r, err)
		return
	}
	pod := t
	pod.res, _ = h.cfg.Catalogue.Lookup(api.PodsResource)
	pod.name = api.BuildPodName(t.name)
	h.podLog(w, r, pod)
}

// webhookRejected is the one answer to a wrong secret or an unknown
// BuildConfig, so a caller cannot tell them apart.
var webhookRejected = fmt.Errorf("webhook rejected: unknown buildconfig or wrong secret: %w", errdefs.ErrUnauthorized)

// buildWebhook serves POST …/buildconfigs/{name}/webhooks/{secret}/{type}.
// The URL secret authenticates the caller (no token needed): it is
// compared in constant time with every webhook trigger of that type, and
// an unknown BuildConfig gets the same 401 as a wrong secret after the
// same work. Past the secret, GitHub's signature and GitLab's token are
// checked when the trigger has a signing secret; then a ping or another
// event answers 200 without a build, a push to another ref 200 with the
// reason recorded, a replayed delivery id 200 without a second build, and
// a push that matches starts a build (200 with the Build). Every delivery
// past the URL secret is recorded in the BuildConfig's
// status.webhookDeliveries.
func (h *Handler) buildWebhook(w http.ResponseWriter, r *http.Request, t target) {
	provider := t.webhookType
	if h.cfg.Builds == nil || t.webhookSecret == "" || (provider != webhook.GitHub && provider != webhook.GitLab && provider != webhook.Generic) {
		h.writeError(w, r, fmt.Errorf("webhooks are at …/buildconfigs/{name}/webhooks/{secret}/github|gitlab|generic: %w", errdefs.ErrNotFound))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		h.writeError(w, r, fmt.Errorf("webhook body exceeds %d bytes: %w", h.cfg.MaxBodyBytes, errdefs.ErrTooLarge))
		return
	}
	ctx := r.Context()
	trigger, bc := h.matchWebhook(r, t)
	if trigger == nil {
		h.writeError(w, r, webhookRejected)
		return
	}
	typ := map[string]string{webhook.GitHub: api.GitHubWebHookBuildTrigger, webhook.GitLab: api.GitLabWebHookBuildTrigger,
		webhook.Generic: api.GenericWebHookBuildTrigger}[provider]
	record := func(d api.WebhookDelivery, code int, msg string) {
		if err := h.cfg.Builds.RecordDelivery(ctx, t.name, d); err != nil {
			h.log.WarnContext(ctx, "record webhook delivery", "project", t.project, "name", t.name, "error", err)
		}
		writeJSON(w, code, webhookStatus(code, msg))
	}
	ev, err := webhook.Parse(provider, r.Header, body, trigger.SigningSecret)
	if err != nil {
		d := api.WebhookDelivery{Type: typ, Event: r.Header.Get("X-GitHub-Event") + r.Header.Get("X-Gitlab-Event"), Result: api.DeliveryRejected, Reason: err.Error(),
			DeliveryID: r.Header.Get("X-GitHub-Delivery") + r.Header.Get("X-Gitlab-Event-UUID")}
		if err := h.cfg.Builds.RecordDelivery(ctx, t.name, d); err != nil {
			h.log.WarnContext(ctx, "record webhook delivery", "project", t.project, "name", t.name, "error", err)
		}
		if errors.Is(err, webhook.ErrUnauthorized) {
			h.writeError(w, r, fmt.Errorf("%v: %w", err, errdefs.ErrUnauthorized))
		} else {
			h.writeError(w, r, errdefs.BadRequestf("", "%v", err))
		}
		return
	}
	d := api.WebhookDelivery{Type: typ, Event: ev.Name, Ref: ev.Ref, Commit: ev.Commit, DeliveryID: ev.DeliveryID}
	switch ev.Kind {
	case webhook.KindPing:
		d.Result, d.Reason = api.DeliveryIgnored, "ping"
		record(d, http.StatusOK, "pong: webhook accepted, no build for a ping")
		return
	case webhook.KindOther:
		d.Result, d.Reason = api.DeliveryIgnored, fmt.Sprintf("event %q does not start builds", ev.Name)
		record(d, http.StatusOK, d.Reason)
		return
	}
	var want string
	if g := bc.Spec.Source.Git; g != nil {
		want = g.Ref
	}
	if ok, reason := webhook.RefMatches(want, ev); !ok {
		d.Result, d.Reason = api.DeliveryIgnored, reason
		record(d, http.StatusOK, reason+": no build")
		return
	}
	var env []api.EnvVar
	if trigger.AllowEnv {
		for _, e := range ev.Env {
			env = append(env, api.EnvVar{Name: e.Name, Value: e.Value})
		}
	}
	var rev *api.BuildRevision
	if ev.Commit != "" {
		rev = &api.BuildRevision{Commit: ev.Commit, Author: ev.Author, Message: ev.Message}
		if (&api.BuildRequest{Revision: rev}).Validate() != nil {
			rev = nil
		}
	}
	cause := api.BuildCause{Type: typ, Message: typ + " webhook", Ref: ev.Ref, Commit: ev.Commit, DeliveryID: ev.DeliveryID}
	obj, err := h.cfg.Builds.Instantiate(ctx, t.name, builds.Request{Cause: cause, Revision: rev, Env: env, Delivery: &d})
	switch {
	case errors.Is(err, builds.ErrDuplicateDelivery):
		writeJSON(w, http.StatusOK, webhookStatus(http.StatusOK, err.Error()))
	case err != nil:
		if !errors.Is(err, errdefs.ErrNotFound) {
			d.Result, d.Reason = api.DeliveryRejected, err.Error()
			_ = h.cfg.Builds.RecordDelivery(ctx, t.name, d)
		}
		h.writeError(w, r, err)
	default:
		h.respond(w, r, http.StatusOK, obj, nil)
	}
}

// matchWebhook returns the BuildConfig's trigger of the URL's type whose
// secret is the URL's, comparing with every such trigger in constant time.
// A missing BuildConfig is compared against a dummy secret so it costs the
// same as a wrong one.
func (h *Handler) matchWebhook(r *http.Request, t target) (*api.WebHookTrigger, *api.BuildConfig) {
	ctx := r.Context()
	bcs, _ := h.cfg.Catalogue.Lookup(api.BuildConfigsResource)
	secrets, _ := h.cfg.Catalogue.Lookup(api.SecretsResource)
	var bc api.BuildConfig
	obj, err := h.cfg.Service.Get(ctx, bcs, t.name)
	if err == nil {
		raw, _ := json.Marshal(obj)
		if json.Unmarshal(raw, &bc) != nil {
			err = errdefs.ErrInternal
		}
	}
	typ := map[string]string{webhook.GitHub: api.GitHubWebHookBuildTrigger, webhook.GitLab: api.GitLabWebHookBuildTrigger,
		webhook.Generic: api.GenericWebHookBuildTrigger}[t.webhookType]
	var found *api.WebHookTrigger
	compared := false
	for i := range bc.Spec.Triggers {
		tr := &bc.Spec.Triggers[i]
		wh := tr.Webhook()
		if err != nil || tr.Type != typ || wh == nil {
			continue
		}
		secret := wh.Secret
		if ref := wh.SecretReference; ref != nil {
			secret = ""
			if sobj, err := h.cfg.Service.Get(ctx, secrets, ref.Name); err == nil {
				var data map[string][]byte
				if json.Unmarshal(sobj.Data, &data) == nil {
					secret = string(data[api.WebHookSecretKey])
				}
			}
		}
		compared = true
		if webhook.SecretsEqual(secret, t.webhookSecret) && secret != "" && found == nil {
			found = wh
		}
	}
	if !compared {
		webhook.SecretsEqual("no buildconfig or no trigger of this type", t.webhookSecret)
	}
	if found == nil {
		return nil, nil
	}
	return found, &bc
}

// webhookStatus is the answer to a delivery that starts no build.
func webhookStatus(code int, msg string) api.Status {
	return api.Status{Kind: "Status", Code: code, Reason: "Success", Message: msg}
}
