package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

// podCache holds the API's pods bound to this node, by UID, as last seen
// through list and watch.
type podCache struct {
	mu     sync.RWMutex
	byUID  map[string]*api.Pod
	synced bool
}

func newPodCache() *podCache { return &podCache{byUID: map[string]*api.Pod{}} }

// get returns the pod with uid and whether the cache has been filled once
// (before that, a missing pod means nothing).
func (c *podCache) get(uid string) (pod *api.Pod, synced bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byUID[uid], c.synced
}

// byName finds a pod by project and name.
func (c *podCache) byName(project, name string) *api.Pod {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.byUID {
		if p.Metadata.Project == project && p.Metadata.Name == name {
			return p
		}
	}
	return nil
}

func (c *podCache) uids() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.byUID))
	for uid := range c.byUID {
		out = append(out, uid)
	}
	return out
}

// isSynced reports whether the cache has been filled once.
func (c *podCache) isSynced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// images names the images of every cached pod's containers.
func (c *podCache) images() map[string]bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]bool{}
	for _, p := range c.byUID {
		for _, ctr := range p.Spec.Containers {
			out[ctr.Image] = true
		}
	}
	return out
}

// usesImage reports whether a cached pod has a container of image ref.
func (c *podCache) usesImage(ref string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.byUID {
		for _, ctr := range p.Spec.Containers {
			if ctr.Image == ref {
				return true
			}
		}
	}
	return false
}

// runPodWatch lists the node's pods, then watches for changes, queueing
// every pod that changes. When the watch breaks it resumes from the last
// revision seen, and relists when that revision is gone; the API being
// away only delays it.
func (a *Agent) runPodWatch(ctx context.Context) {
	rv := ""
	failures := 0
	for ctx.Err() == nil {
		if rv == "" {
			var err error
			rv, err = a.relist(ctx)
			if err != nil {
				failures++
				if ctx.Err() == nil {
					a.log.WarnContext(ctx, "list pods", "err", err)
				}
				sleep(ctx, a.retryDelay(failures))
				continue
			}
		}
		next, err := a.watch(ctx, rv)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errdefs.ErrGone):
			rv = "" // too old: relist at once
			failures = 0
			continue
		case err != nil:
			a.log.WarnContext(ctx, "watch pods", "err", err)
			failures++
			rv = next
			sleep(ctx, a.retryDelay(failures))
		default:
			failures = 0
			rv = next
		}
	}
}

// relist replaces the cache with a full list and queues every pod that is
// in either, so pods deleted while the watch was down are noticed.
func (a *Agent) relist(ctx context.Context) (string, error) {
	fresh := map[string]*api.Pod{}
	opts := api.ListOptions{Limit: 500}
	var rv string
	for {
		var page api.List[api.Pod]
		if err := a.cfg.Client.List(ctx, podsRes, "", opts, &page); err != nil {
			return "", err
		}
		for i := range page.Items {
			p := &page.Items[i]
			if p.Spec.NodeName == a.cfg.NodeName {
				fresh[p.Metadata.UID] = p
			}
		}
		if rv == "" {
			rv = page.Metadata.ResourceVersion
		}
		if page.Metadata.Continue == "" {
			break
		}
		opts.Continue = page.Metadata.Continue
	}
	a.pods.mu.Lock()
	old := a.pods.byUID
	first := !a.pods.synced
	a.pods.byUID, a.pods.synced = fresh, true
	a.pods.mu.Unlock()
	for uid := range old {
		a.queue.Add(uid)
	}
	for uid := range fresh {
		a.queue.Add(uid)
	}
	if first {
		// Adopt what containerd runs: pods with an API object are
		// reconciled (never restarted), the others stopped and deleted.
		running, err := a.rt.ListPods(ctx)
		if err != nil {
			a.log.WarnContext(ctx, "list running pods", "err", err)
		}
		for _, p := range running {
			a.queue.Add(p.UID)
		}
		a.log.InfoContext(ctx, "pods listed", "bound", len(fresh), "running", len(running))
	}
	return rv, nil
}

// watch follows the pod watch from rv until it ends and returns the last
// revision seen.
func (a *Agent) watch(ctx context.Context, rv string) (string, error) {
	// Cancelling the request's context ends the stream when ctx ends.
	w, err := a.cfg.Client.Watch(ctx, podsRes, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return rv, err
	}
	defer w.Close()
	for {
		ev, err := w.Next()
		if errors.Is(err, io.EOF) {
			return rv, nil
		}
		if err != nil {
			return rv, err
		}
		var p api.Pod
		if err := json.Unmarshal(ev.Object, &p); err != nil {
			return rv, err
		}
		if p.Metadata.ResourceVersion != "" {
			rv = p.Metadata.ResourceVersion
		}
		if ev.Type == api.Bookmark || p.Metadata.UID == "" {
			continue
		}
		uid := p.Metadata.UID
		a.pods.mu.Lock()
		_, had := a.pods.byUID[uid]
		mine := p.Spec.NodeName == a.cfg.NodeName
		switch {
		case ev.Type == api.Deleted || !mine:
			delete(a.pods.byUID, uid)
		default:
			a.pods.byUID[uid] = &p
		}
		a.pods.mu.Unlock()
		if mine || had {
			a.queue.Add(uid)
		}
	}
}
