// Package informer keeps an in-memory copy of one resource, listed and then
// followed through a watch, for components that read it on hot paths
// (authentication, authorisation). It relists when the watch expires, and
// tells handlers about every change.
package informer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Key names an object of the resource.
type Key struct{ Project, Name string }

// Handler learns about changes. Replace is called after every (re)list with
// the complete set; Upsert and Delete for each later change. Handlers run
// on the informer's goroutine, in order, and must not block.
type Handler interface {
	Replace(objs []*api.Object)
	Upsert(obj *api.Object)
	Delete(obj *api.Object)
}

// Informer mirrors one resource.
type Informer struct {
	res     *api.Resource
	svc     *resource.Service
	log     *slog.Logger
	handler Handler

	mu     sync.RWMutex
	objs   map[Key]*api.Object
	synced chan struct{}
	once   sync.Once
	// revision is the newest store revision this informer has applied;
	// advanced is closed (and replaced) whenever it grows.
	revision int64
	advanced chan struct{}
}

// New returns an informer; handler may be nil.
func New(svc *resource.Service, res *api.Resource, handler Handler, log *slog.Logger) *Informer {
	return &Informer{res: res, svc: svc, log: log.With("informer", res.Plural), handler: handler,
		objs: map[Key]*api.Object{}, synced: make(chan struct{}), advanced: make(chan struct{})}
}

// Resource is the plural name of the mirrored resource.
func (i *Informer) Resource() string { return i.res.Plural }

// Synced is closed once the first list has been loaded.
func (i *Informer) Synced() <-chan struct{} { return i.synced }

// WaitFor waits until the informer has applied every change up to revision
// (a write's resourceVersion), so a caller that just wrote can read its
// write from memory. It gives up when ctx ends.
func (i *Informer) WaitFor(ctx context.Context, revision int64) error {
	for {
		i.mu.RLock()
		done, advanced := i.revision >= revision, i.advanced
		i.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s at revision %d: %w", i.res.Plural, revision, ctx.Err())
		}
	}
}

// advanceLocked records that everything up to rv has been applied.
func (i *Informer) advanceLocked(rv int64) {
	if rv > i.revision {
		i.revision = rv
		close(i.advanced)
		i.advanced = make(chan struct{})
	}
}

// Get returns the cached object, if any. Callers must not modify it.
func (i *Informer) Get(project, name string) (*api.Object, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	o, ok := i.objs[Key{project, name}]
	return o, ok
}

// List returns every cached object. Callers must not modify them.
func (i *Informer) List() []*api.Object {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*api.Object, 0, len(i.objs))
	for _, o := range i.objs {
		out = append(out, o)
	}
	return out
}

// Run lists and watches until ctx ends.
func (i *Informer) Run(ctx context.Context) {
	ctx = store.WithProject(ctx, store.AllProjects)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := i.listAndWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		i.log.WarnContext(ctx, "watch ended; listing again", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (i *Informer) listAndWatch(ctx context.Context) error {
	list, err := i.svc.List(ctx, i.res, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s: %w", i.res.Plural, err)
	}
	objs := make(map[Key]*api.Object, len(list.Items))
	for _, o := range list.Items {
		objs[Key{o.Metadata.Project, o.Metadata.Name}] = o
	}
	if i.handler != nil {
		i.handler.Replace(list.Items)
	}
	i.mu.Lock()
	i.objs = objs
	i.advanceLocked(list.Revision)
	i.mu.Unlock()
	i.once.Do(func() { close(i.synced) })
	w, err := i.svc.Watch(ctx, i.res, "", list.Revision)
	if err != nil {
		return fmt.Errorf("watch %s: %w", i.res.Plural, err)
	}
	defer w.Stop()
	// Bookmarks advance the revision while the resource is quiet, so a wait
	// for a write to another resource does not hang.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ev, err := w.Next(ctx, tick.C)
		if err != nil {
			return err
		}
		if ev.Type == api.Bookmark {
			i.mu.Lock()
			i.advanceLocked(ev.Revision)
			i.mu.Unlock()
			continue
		}
		obj, err := store.DecodeEvent(ev)
		if err != nil {
			i.log.ErrorContext(ctx, "undecodable event", "revision", ev.Revision, "error", err)
			continue
		}
		key := Key{obj.Metadata.Project, obj.Metadata.Name}
		if i.handler != nil {
			if ev.Type == api.Deleted {
				i.handler.Delete(obj)
			} else {
				i.handler.Upsert(obj)
			}
		}
		// The revision advances only after the handler has applied the
		// change: WaitFor promises the change is visible everywhere.
		i.mu.Lock()
		if ev.Type == api.Deleted {
			delete(i.objs, key)
		} else {
			i.objs[key] = obj
		}
		i.advanceLocked(ev.Revision)
		i.mu.Unlock()
	}
}
