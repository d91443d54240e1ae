package reconcile

import (
	"testing"
	"time"
)

func TestQueueDeduplicatesAndNeverHandsOutAKeyTwice(t *testing.T) {
	q := newQueue(time.Millisecond, time.Second)
	a, b := Request{Name: "a"}, Request{Name: "b"}
	q.add(a)
	q.add(b)
	q.add(a)
	if q.len() != 2 {
		t.Fatalf("len = %d, want 2 (a queued once)", q.len())
	}
	got, _ := q.get()
	if got != a {
		t.Fatalf("got %v, want a first", got)
	}
	// a changes while a worker holds it: it is not handed out again until
	// done, and then exactly once.
	q.add(a)
	if q.len() != 1 {
		t.Fatalf("len = %d while a is processing, want 1 (only b)", q.len())
	}
	q.done(a)
	if q.len() != 2 {
		t.Fatalf("len = %d after done, want 2 (b and a again)", q.len())
	}
}

func TestQueueBackoffGrowsAndForgetResets(t *testing.T) {
	q := newQueue(10*time.Millisecond, 80*time.Millisecond)
	r := Request{Project: "p", Name: "x"}
	var delays []time.Duration
	for i := 0; i < 5; i++ {
		delays = append(delays, q.retry(r))
	}
	want := []time.Duration{10, 20, 40, 80, 80}
	for i, d := range delays {
		if d != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", delays, want)
		}
	}
	q.forget(r)
	if d := q.retry(r); d != 10*time.Millisecond {
		t.Fatalf("after forget: %v", d)
	}
	// The retried key arrives, once, after its delay.
	deadline := time.Now().Add(5 * time.Second)
	for q.len() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // bounded poll
	}
	if q.len() != 1 {
		t.Fatalf("len = %d, want the key once", q.len())
	}
}

func TestQueueShutdownReleasesWorkers(t *testing.T) {
	q := newQueue(time.Millisecond, time.Second)
	done := make(chan bool)
	go func() {
		_, ok := q.get()
		done <- ok
	}()
	q.shutDown()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("get returned a key after shutdown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("worker not released by shutdown")
	}
}
