package agent

import (
	"sync"
	"time"
)

// queue holds pod UIDs to reconcile: each at most once, never handed to two
// workers at once (a UID added while it is processed is handed out again
// after), with delayed adds where the earliest pending delay wins.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	timers     map[string]*delayed
	shutdown   bool
}

type delayed struct {
	at    time.Time
	timer *time.Timer
}

func newQueue() *queue {
	q := &queue{queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{}, timers: map[string]*delayed{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// start reopens a queue shut down by a previous Run.
func (q *queue) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = false
}

func (q *queue) add(uid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(uid)
}

func (q *queue) addLocked(uid string) {
	if q.shutdown || q.queued[uid] {
		return
	}
	if q.processing[uid] {
		q.dirty[uid] = true
		return
	}
	q.queued[uid] = true
	q.order = append(q.order, uid)
	q.cond.Signal()
}

// addAfter queues uid after d unless an earlier delayed add is pending.
func (q *queue) addAfter(uid string, d time.Duration) {
	if d <= 0 {
		q.add(uid)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := time.Now().Add(d)
	if t, ok := q.timers[uid]; ok {
		if !t.at.After(at) {
			return
		}
		t.timer.Stop()
	}
	q.timers[uid] = &delayed{at: at, timer: time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, uid)
		q.addLocked(uid)
	})}
}

// get blocks until a UID is available; false once the queue is shut down.
func (q *queue) get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", false
	}
	uid := q.order[0]
	q.order = q.order[1:]
	delete(q.queued, uid)
	q.processing[uid] = true
	return uid, true
}

func (q *queue) done(uid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, uid)
	if q.dirty[uid] {
		delete(q.dirty, uid)
		q.addLocked(uid)
	}
}

// shutDown wakes the workers and drops everything pending.
func (q *queue) shutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for uid, t := range q.timers {
		t.timer.Stop()
		delete(q.timers, uid)
	}
	q.order, q.queued, q.dirty = nil, map[string]bool{}, map[string]bool{}
	q.cond.Broadcast()
}
