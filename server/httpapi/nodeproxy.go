package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/store"
)

// nodeCertificateRequest is the body of POST /api/v1/nodes/{name}/certificate.
type nodeCertificateRequest struct {
	CSR string `json:"csr"`
	// Usage is "serving" (default: the agent's endpoint) or "client" (the
	// node's OVN chassis, towards the Southbound database).
	Usage string `json:"usage,omitempty"`
}

// nodeCertificate answers it: the signed certificate and the CA to trust.
type nodeCertificate struct {
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// signNodeCertificate signs a node agent's serving certificate with the
// cluster CA, so the API server can verify the agent it proxies logs and
// exec to; or the node's client certificate for the OVN databases.
func (h *Handler) signNodeCertificate(w http.ResponseWriter, r *http.Request, node string) {
	var req nodeCertificateRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	var cert []byte
	var err error
	switch req.Usage {
	case "", "serving":
		cert, err = h.cfg.Authority.SignNodeServing([]byte(req.CSR), node, time.Now())
	case "client":
		cert, err = h.cfg.Authority.SignNodeClient([]byte(req.CSR), node, time.Now())
	default:
		err = errdefs.Invalidf("usage", "must be serving or client, not %q", req.Usage)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, nodeCertificate{Certificate: string(cert), CA: string(h.cfg.Authority.CACertPEM())})
}

// podTarget finds the node agent endpoint and container for a pod request.
func (h *Handler) podTarget(ctx context.Context, t target, container string) (endpoint, name string, err error) {
	pods, _ := h.cfg.Catalogue.Lookup(api.PodsResource)
	obj, err := h.cfg.Service.Get(ctx, pods, t.name)
	if err != nil {
		return "", "", err
	}
	var spec api.PodSpec
	if err := json.Unmarshal(obj.Spec, &spec); err != nil {
		return "", "", err
	}
	names := make([]string, len(spec.Containers))
	for i, c := range spec.Containers {
		names[i] = c.Name
	}
	switch {
	case container == "" && len(names) == 1:
		container = names[0]
	case container == "":
		return "", "", errdefs.BadRequestf("container", "pod %q has several containers; choose one of %s", t.name, strings.Join(names, ", "))
	default:
		found := false
		for _, n := range names {
			found = found || n == container
		}
		if !found {
			return "", "", errdefs.BadRequestf("container", "pod %q has no container %q (it has %s)", t.name, container, strings.Join(names, ", "))
		}
	}
	if spec.NodeName == "" {
		return "", "", fmt.Errorf("pod %q is not running on a node yet: %w", t.name, errdefs.ErrBadRequest)
	}
	nodes, _ := h.cfg.Catalogue.Lookup(api.NodesResource)
	nodeObj, err := h.cfg.Service.Get(store.WithProject(ctx, ""), nodes, spec.NodeName)
	if err != nil {
		return "", "", fmt.Errorf("node %q of pod %q: %w", spec.NodeName, t.name, err)
	}
	var status api.NodeStatus
	if err := json.Unmarshal(nodeObj.Status, &status); err != nil || status.Endpoint == nil || status.Endpoint.URL == "" {
		return "", "", fmt.Errorf("node %q does not serve logs and exec (no daemon endpoint): %w", spec.NodeName, errdefs.ErrUnavailable)
	}
	return status.Endpoint.URL, container, nil
}

// nodeStats answers GET /api/v1/nodes/{name}/stats with the node agent's
// usage summary (api.NodeStats).
func (h *Handler) nodeStats(w http.ResponseWriter, r *http.Request, node string) {
	nodes, _ := h.cfg.Catalogue.Lookup(api.NodesResource)
	obj, err := h.cfg.Service.Get(store.WithProject(r.Context(), ""), nodes, node)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var status api.NodeStatus
	if err := json.Unmarshal(obj.Status, &status); err != nil || status.Endpoint == nil || status.Endpoint.URL == "" {
		h.writeError(w, r, fmt.Errorf("node %q has no daemon endpoint to ask for its usage: %w", node, errdefs.ErrUnavailable))
		return
	}
	h.proxyToNode(w, r, http.MethodGet, status.Endpoint.URL+"/stats/summary", nil)
}

// podLog streams a container's log from its node agent:
// GET …/pods/{name}/log?container=&follow=&tailLines=&previous=.
func (h *Handler) podLog(w http.ResponseWriter, r *http.Request, t target) {
	q := r.URL.Query()
	out := url.Values{}
	for _, flag := range []string{"follow", "previous"} {
		switch v := q.Get(flag); v {
		case "", "false":
		case "true", "1":
			out.Set(flag, "true")
		default:
			h.writeError(w, r, errdefs.BadRequestf(flag, "must be true or false, got %q", v))
			return
		}
	}
	if v := q.Get("tailLines"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			h.writeError(w, r, errdefs.BadRequestf("tailLines", "must be a non-negative integer, got %q", v))
			return
		}
		out.Set("tailLines", v)
	}
	if out.Get("follow") == "true" {
		// Following a pod that has not started (a build just triggered, a
		// pod being scheduled) waits for it, as `oc logs -f` does.
		if err := h.waitForContainers(r.Context(), t); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	endpoint, container, err := h.podTarget(r.Context(), t, q.Get("container"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	u := endpoint + "/containerLogs/" + url.PathEscape(t.project) + "/" + url.PathEscape(t.name) + "/" + url.PathEscape(container) + "?" + out.Encode()
	h.proxyToNode(w, r, http.MethodGet, u, nil)
}

// followWaitLimit bounds how long a follow request waits for its pod's
// containers to start.
const followWaitLimit = 5 * time.Minute

// waitForContainers returns once the pod is on a node and past creating
// its containers (one of them running or finished), or when it is gone,
// the request ends, or followWaitLimit passes.
func (h *Handler) waitForContainers(ctx context.Context, t target) error {
	pods, _ := h.cfg.Catalogue.Lookup(api.PodsResource)
	ctx, cancel := context.WithTimeout(ctx, followWaitLimit)
	defer cancel()
	for {
		obj, err := h.cfg.Service.Get(ctx, pods, t.name)
		if err != nil {
			return err
		}
		var pod api.Pod
		decoded := json.Unmarshal(obj.Status, &pod.Status) == nil && json.Unmarshal(obj.Spec, &pod.Spec) == nil
		if decoded && pod.Spec.NodeName == "" {
			// The scheduler found no node: say why now rather than wait
			// for a node that may never come.
			for _, c := range pod.Status.Conditions {
				if c.Type == api.PodScheduled && c.Status == "False" {
					return errdefs.BadRequestf("", "pod %q is not scheduled: %s", t.name, c.Message)
				}
			}
		} else if decoded {
			if pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
				return nil
			}
			for _, cs := range pod.Status.ContainerStatuses {
				if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
					return nil
				}
				if wt := cs.State.Waiting; wt != nil && wt.Reason != "" && wt.Reason != "ContainerCreating" {
					return errdefs.BadRequestf("", "container %q of pod %q is waiting: %s: %s", cs.Name, t.name, wt.Reason, wt.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil // let the node say what it can
			}
			return ctx.Err()
		case <-time.After(250 * time.Millisecond): // a bounded poll; the pod's watch would be overkill here
		}
	}
}

// podExec runs a command in a container through its node agent:
// POST …/pods/{name}/exec?container=&command=…&command=…, the request body
// being stdin; the answer streams the agent's framed stdout, stderr and
// exit code.
func (h *Handler) podExec(w http.ResponseWriter, r *http.Request, t target) {
	q := r.URL.Query()
	command := q["command"]
	if len(command) == 0 {
		h.writeError(w, r, errdefs.BadRequestf("command", "is required (…/exec?command=ls&command=-l)"))
		return
	}
	endpoint, container, err := h.podTarget(r.Context(), t, q.Get("container"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	u := endpoint + "/exec/" + url.PathEscape(t.project) + "/" + url.PathEscape(t.name) + "/" + url.PathEscape(container) + "?" + url.Values{"command": command}.Encode()
	h.proxyToNode(w, r, http.MethodPost, u, r.Body)
}

// proxyToNode forwards a request to a node agent over mutual TLS and
// streams the answer back, flushing as it goes.
func (h *Handler) proxyToNode(w http.ResponseWriter, r *http.Request, method, u string, body io.Reader) {
	if h.cfg.NodeClient == nil {
		h.writeError(w, r, fmt.Errorf("this server cannot reach node agents: %w", errdefs.ErrUnavailable))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), method, u, body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	resp, err := h.cfg.NodeClient.Do(req)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("reach the node agent: %w: %v", errdefs.ErrUnavailable, err))
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}
