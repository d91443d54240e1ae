// Package mirror keeps an in-memory copy of one resource across all
// projects, fed by the API's list and watch: the informer of Slipway's
// out-of-process controllers (router, SDN).
package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
)

// listPageSize bounds one page of the initial list.
const listPageSize = 500

// Back-off between failed list or watch attempts.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Mirror keeps an in-memory copy of every object of one resource across
// all projects, fed by list then watch through the API client, and
// relisting after any watch error. It calls changed after every change.
type Mirror[T any] struct {
	client  *client.Client
	res     *api.Resource
	meta    func(*T) *api.ObjectMeta
	changed func()
	log     *slog.Logger

	mu     sync.Mutex
	items  map[string]*T // by project/name
	synced bool
}

// New returns a mirror of res; meta gives an object's metadata, changed is
// called (from Run's goroutine) after the first list and every event.
func New[T any](c *client.Client, res *api.Resource, meta func(*T) *api.ObjectMeta, changed func(), log *slog.Logger) *Mirror[T] {
	return &Mirror[T]{client: c, res: res, meta: meta, changed: changed, log: log.With("kind", res.Kind), items: map[string]*T{}}
}

// Key is the mirror's key of an object: project/name.
func Key(m *api.ObjectMeta) string { return m.Project + "/" + m.Name }

// Resource is the mirrored resource.
func (m *Mirror[T]) Resource() *api.Resource { return m.res }

// Get returns the object project/name, nil if absent.
func (m *Mirror[T]) Get(project, name string) *T {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.items[project+"/"+name]
}

// Snapshot returns the objects and whether the mirror has listed once.
// Objects are shared: callers must not modify them.
func (m *Mirror[T]) Snapshot() ([]*T, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*T, 0, len(m.items))
	for _, it := range m.items {
		out = append(out, it)
	}
	return out, m.synced
}

// Run lists and watches until ctx ends.
func (m *Mirror[T]) Run(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := m.listAndWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > maxBackoff {
			backoff = minBackoff // the watch ran well for a while
		}
		m.log.Warn("watch ended; relisting", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (m *Mirror[T]) listAndWatch(ctx context.Context) error {
	items := map[string]*T{}
	opts := api.ListOptions{Limit: listPageSize}
	var rv string
	for {
		var page api.List[T]
		if err := m.client.List(ctx, m.res, "", opts, &page); err != nil {
			return fmt.Errorf("list %s: %w", m.res.Plural, err)
		}
		for i := range page.Items {
			it := &page.Items[i]
			items[Key(m.meta(it))] = it
		}
		if rv == "" {
			rv = page.Metadata.ResourceVersion
		}
		if page.Metadata.Continue == "" {
			break
		}
		opts.Continue = page.Metadata.Continue
	}
	m.mu.Lock()
	m.items, m.synced = items, true
	m.mu.Unlock()
	m.changed()

	w, err := m.client.Watch(ctx, m.res, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch %s: %w", m.res.Plural, err)
	}
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { _ = w.Close() })
	defer stop()
	for {
		ev, err := w.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("watch %s: server ended the stream", m.res.Plural)
			}
			return fmt.Errorf("watch %s: %w", m.res.Plural, err)
		}
		if ev.Type == api.Bookmark {
			continue
		}
		it := new(T)
		if err := json.Unmarshal(ev.Object, it); err != nil {
			return fmt.Errorf("watch %s: decode %s event: %w", m.res.Plural, ev.Type, err)
		}
		key := Key(m.meta(it))
		m.mu.Lock()
		switch ev.Type {
		case api.Deleted:
			delete(m.items, key)
		default:
			m.items[key] = it
		}
		m.mu.Unlock()
		m.changed()
	}
}
