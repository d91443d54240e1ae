// Package workqueue is the work queue behind every reconcile loop: it holds
// each key at most once, never hands a key to two workers at once (a key
// added while a worker holds it is handed out again once the worker is
// done), delays adds where the earliest pending delay wins, and keeps
// per-key exponential back-off for retries.
package workqueue

import (
	"sync"
	"time"
)

// Queue is a de-duplicating work queue of comparable keys.
type Queue[K comparable] struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []K
	queued     map[K]bool // waiting in order
	processing map[K]bool // handed to a worker
	dirty      map[K]bool // added again while processing
	failures   map[K]int
	timers     map[K]*delayed
	shutdown   bool

	baseDelay, maxDelay time.Duration
}

type delayed struct {
	at    time.Time
	timer *time.Timer
}

// New returns a queue whose Retry delays start at baseDelay and double up
// to maxDelay.
func New[K comparable](baseDelay, maxDelay time.Duration) *Queue[K] {
	q := &Queue[K]{baseDelay: baseDelay, maxDelay: maxDelay}
	q.reset()
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *Queue[K]) reset() {
	q.order = nil
	q.queued, q.processing, q.dirty = map[K]bool{}, map[K]bool{}, map[K]bool{}
	q.failures, q.timers = map[K]int{}, map[K]*delayed{}
}

// Add queues a key unless it is already waiting.
func (q *Queue[K]) Add(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(k)
}

func (q *Queue[K]) addLocked(k K) {
	if q.shutdown || q.queued[k] {
		return
	}
	if q.processing[k] {
		q.dirty[k] = true
		return
	}
	q.queued[k] = true
	q.order = append(q.order, k)
	q.cond.Signal()
}

// AddAfter queues a key after d unless an earlier delayed add of it is
// pending.
func (q *Queue[K]) AddAfter(k K, d time.Duration) {
	if d <= 0 {
		q.Add(k)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := time.Now().Add(d)
	if t, ok := q.timers[k]; ok {
		if !t.at.After(at) {
			return
		}
		t.timer.Stop()
	}
	q.timers[k] = &delayed{at: at, timer: time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, k)
		q.addLocked(k)
	})}
}

// Retry queues a key after its next back-off delay and returns the delay.
func (q *Queue[K]) Retry(k K) time.Duration {
	q.mu.Lock()
	n := q.failures[k]
	q.failures[k] = n + 1
	q.mu.Unlock()
	d := q.baseDelay << min(n, 20)
	if d > q.maxDelay || d <= 0 {
		d = q.maxDelay
	}
	q.AddAfter(k, d)
	return d
}

// Forget resets a key's back-off after a success.
func (q *Queue[K]) Forget(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, k)
}

// Get blocks until a key is available; false once the queue is shut down.
// The caller must call Done with the key when it has finished with it.
func (q *Queue[K]) Get() (K, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		var zero K
		return zero, false
	}
	k := q.order[0]
	q.order = q.order[1:]
	delete(q.queued, k)
	q.processing[k] = true
	return k, true
}

// Done ends processing of a key, queueing it again if it was added meanwhile.
func (q *Queue[K]) Done(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, k)
	if q.dirty[k] {
		delete(q.dirty, k)
		q.addLocked(k)
	}
}

// Len is the number of keys waiting.
func (q *Queue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// ShutDown releases every waiting worker, stops pending delays and drops
// everything queued; the owner resynchronises from its source of truth
// when it starts again.
func (q *Queue[K]) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for _, t := range q.timers {
		t.timer.Stop()
	}
	q.reset()
	q.cond.Broadcast()
}

// Restart reopens a queue that was shut down.
func (q *Queue[K]) Restart() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = false
}
