// Package watch fans one ordered feed of store events out to many watchers.
// The writer (the store's feed) never blocks: every watcher has a bounded
// buffer, and a watcher whose buffer is full is dropped; it reconnects and
// resumes from the last revision it saw, replayed from the store's log.
package watch

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/slipway/slipway/api"
)

// Event is one change of one object, at one revision.
type Event struct {
	Type     api.EventType
	Revision int64
	Resource string
	Project  string
	Name     string
	Labels   map[string]string
	// Object is the object's JSON as of Revision (for DELETED: its last
	// state, with Revision as its resourceVersion).
	Object json.RawMessage
}

// Filter selects the events a subscription receives.
type Filter func(*Event) bool

// Broadcaster delivers published events to subscriptions of one resource.
// Events must be published in revision order by a single publisher.
type Broadcaster struct {
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{} // by resource
	n    int
	// last is the newest published revision, stored after its events are
	// queued: every matching event at or below it is in the queues.
	last atomic.Int64
}

// NewBroadcaster returns a broadcaster whose feed starts after revision last.
func NewBroadcaster(last int64) *Broadcaster {
	b := &Broadcaster{subs: map[string]map[*Subscription]struct{}{}}
	b.last.Store(last)
	return b
}

// Subscription is one watcher's bounded queue.
type Subscription struct {
	b        *Broadcaster
	resource string
	filter   Filter
	ch       chan Event
	dropped  atomic.Bool
	closed   bool // guarded by b.mu
}

// Subscribe registers a watcher for one resource with a buffer of size
// buffer. It returns the subscription and the revision it starts after:
// every matching event above that revision will be queued.
func (b *Broadcaster) Subscribe(resource string, filter Filter, buffer int) (*Subscription, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &Subscription{b: b, resource: resource, filter: filter, ch: make(chan Event, buffer)}
	set := b.subs[resource]
	if set == nil {
		set = map[*Subscription]struct{}{}
		b.subs[resource] = set
	}
	set[s] = struct{}{}
	b.n++
	return s, b.last.Load()
}

// Publish queues events (in revision order, all above the previous batch)
// for every matching subscription, dropping subscriptions that are full.
// It never blocks on a watcher.
func (b *Broadcaster) Publish(events []Event) {
	if len(events) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range events {
		ev := &events[i]
		for s := range b.subs[ev.Resource] {
			if s.filter != nil && !s.filter(ev) {
				continue
			}
			select {
			case s.ch <- *ev:
			default:
				s.dropped.Store(true)
				b.removeLocked(s)
			}
		}
	}
	b.last.Store(events[len(events)-1].Revision)
}

// Last returns the newest published revision.
func (b *Broadcaster) Last() int64 { return b.last.Load() }

// Watchers returns the number of live subscriptions.
func (b *Broadcaster) Watchers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func (b *Broadcaster) removeLocked(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	delete(b.subs[s.resource], s)
	if len(b.subs[s.resource]) == 0 {
		delete(b.subs, s.resource)
	}
	b.n--
	close(s.ch)
}

// C delivers the events; it is closed when the subscription is closed or
// dropped.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped reports whether the subscription was dropped for falling behind.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// CaughtUp returns the subscription's progress and whether every event up
// to it has already been received from C, so that a bookmark at that
// revision is truthful.
func (s *Subscription) CaughtUp() (int64, bool) {
	p := s.b.last.Load() // read before the queue length: see Broadcaster.last
	return p, len(s.ch) == 0
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.removeLocked(s)
}
