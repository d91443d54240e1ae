package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// queue holds the pods waiting to be scheduled: active ones in priority
// order (highest first, then first come), and unschedulable ones parked
// until the cluster changes or they have waited retryAfter.
type queue struct {
	mu            sync.Mutex
	active        podHeap
	queued        map[PodKey]*queued
	unschedulable map[PodKey]*queued
	seq           uint64
	wake          chan struct{}
	// flushWanted asks popBatch to retry every parked pod first.
	flushWanted bool
}

type queued struct {
	key      PodKey
	priority int32
	seq      uint64
	since    time.Time // first enqueued, for the latency metric
	parked   time.Time // when it was found unschedulable
	index    int
}

func newQueue() *queue {
	return &queue{queued: map[PodKey]*queued{}, unschedulable: map[PodKey]*queued{}, wake: make(chan struct{}, 1)}
}

// add queues a pod unless it is queued or parked already. force moves a
// parked pod back to the active queue.
func (q *queue) add(key PodKey, priority int32, now time.Time, force bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it, ok := q.queued[key]; ok {
		if it.priority != priority {
			it.priority = priority
			heap.Fix(&q.active, it.index)
		}
		return
	}
	it, parked := q.unschedulable[key]
	if parked && !force {
		return
	}
	if parked {
		delete(q.unschedulable, key)
	} else {
		it = &queued{key: key, since: now}
	}
	it.priority = priority
	q.seq++
	it.seq = q.seq
	q.queued[key] = it
	heap.Push(&q.active, it)
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// remove forgets a pod that no longer needs scheduling.
func (q *queue) remove(key PodKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.unschedulable, key)
	if it, ok := q.queued[key]; ok {
		heap.Remove(&q.active, it.index)
		delete(q.queued, key)
	}
}

// popBatch waits for pods and returns up to max of them, highest priority
// first, with when each was first queued.
func (q *queue) popBatch(ctx context.Context, max int) ([]*queued, error) {
	for {
		q.mu.Lock()
		if q.flushWanted {
			q.flushWanted = false
			q.flushLocked(time.Time{}, 0)
		}
		if n := min(max, q.active.Len()); n > 0 {
			out := make([]*queued, n)
			for i := range out {
				out[i] = heap.Pop(&q.active).(*queued)
				delete(q.queued, out[i].key)
			}
			if q.active.Len() > 0 {
				q.signal()
			}
			q.mu.Unlock()
			return out, nil
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// park sets a pod aside as unschedulable until flush.
func (q *queue) park(it *queued, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.queued[it.key]; ok {
		return // changed while being scheduled: it is queued again
	}
	it.parked = now
	q.unschedulable[it.key] = it
}

// requeue puts a pod whose commit failed back in the active queue.
func (q *queue) requeue(it *queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.queued[it.key]; ok {
		return
	}
	delete(q.unschedulable, it.key)
	q.seq++
	it.seq = q.seq
	q.queued[it.key] = it
	heap.Push(&q.active, it)
	q.signal()
}

// flush moves parked pods back to the active queue: all of them after a
// cluster change, or (olderThan > 0) those parked longer than that.
func (q *queue) flush(now time.Time, olderThan time.Duration) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.flushLocked(now, olderThan)
}

// requestFlush retries every parked pod at the next pop: the cluster
// changed. Cheap enough for an informer's goroutine.
func (q *queue) requestFlush() {
	q.mu.Lock()
	q.flushWanted = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) flushLocked(now time.Time, olderThan time.Duration) int {
	n := 0
	for key, it := range q.unschedulable {
		if olderThan > 0 && now.Sub(it.parked) < olderThan {
			continue
		}
		delete(q.unschedulable, key)
		q.seq++
		it.seq = q.seq
		q.queued[key] = it
		heap.Push(&q.active, it)
		n++
	}
	if n > 0 {
		q.signal()
	}
	return n
}

// lens returns the active and parked counts.
func (q *queue) lens() (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), len(q.unschedulable)
}

type podHeap []*queued

func (h podHeap) Len() int { return len(h) }
func (h podHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h podHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *podHeap) Push(x any) {
	it := x.(*queued)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *podHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}
