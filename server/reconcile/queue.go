// Package reconcile runs level-triggered controllers: a watch feeds object
// keys into a de-duplicating, rate-limited work queue, and N workers call a
// Reconciler for each key. Reconcilers compare desired and observed state
// and act; they are safe to run again for the same key at any time.
package reconcile

import (
	"sync"
	"time"
)

// Request names the object to reconcile.
type Request struct {
	Project string // "" for cluster-scoped objects
	Name    string
}

func (r Request) String() string {
	if r.Project == "" {
		return r.Name
	}
	return r.Project + "/" + r.Name
}

// queue is a work queue that holds each key at most once, never hands the
// same key to two workers at once, and delays retries with per-key
// exponential back-off.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []Request
	queued     map[Request]bool // waiting in order
	processing map[Request]bool // handed to a worker
	dirty      map[Request]bool // added again while processing
	failures   map[Request]int
	timers     map[Request]*time.Timer
	shutdown   bool

	baseDelay, maxDelay time.Duration
}

func newQueue(baseDelay, maxDelay time.Duration) *queue {
	q := &queue{
		queued: map[Request]bool{}, processing: map[Request]bool{}, dirty: map[Request]bool{},
		failures: map[Request]int{}, timers: map[Request]*time.Timer{},
		baseDelay: baseDelay, maxDelay: maxDelay,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues a key unless it is already waiting; a key being processed is
// queued again when its worker is done.
func (q *queue) add(r Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(r)
}

func (q *queue) addLocked(r Request) {
	if q.shutdown || q.queued[r] {
		return
	}
	if q.processing[r] {
		q.dirty[r] = true
		return
	}
	q.queued[r] = true
	q.order = append(q.order, r)
	q.cond.Signal()
}

// addAfter queues a key after a delay (an earlier pending delay wins).
func (q *queue) addAfter(r Request, d time.Duration) {
	if d <= 0 {
		q.add(r)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	if t, ok := q.timers[r]; ok {
		t.Stop()
	}
	q.timers[r] = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, r)
		q.addLocked(r)
	})
}

// retry queues a key after its next back-off delay.
func (q *queue) retry(r Request) time.Duration {
	q.mu.Lock()
	n := q.failures[r]
	q.failures[r] = n + 1
	q.mu.Unlock()
	d := q.baseDelay << min(n, 20)
	if d > q.maxDelay || d <= 0 {
		d = q.maxDelay
	}
	q.addAfter(r, d)
	return d
}

// forget resets a key's back-off after a success.
func (q *queue) forget(r Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, r)
}

// get blocks until a key is available or the queue shuts down.
func (q *queue) get() (Request, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return Request{}, false
	}
	r := q.order[0]
	q.order = q.order[1:]
	delete(q.queued, r)
	q.processing[r] = true
	return r, true
}

// done ends processing of a key, queueing it again if it was added meanwhile.
func (q *queue) done(r Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, r)
	if q.dirty[r] {
		delete(q.dirty, r)
		q.addLocked(r)
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// shutDown wakes every waiting worker and stops pending timers.
func (q *queue) shutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for _, t := range q.timers {
		t.Stop()
	}
	q.cond.Broadcast()
}
