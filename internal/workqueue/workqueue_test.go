package workqueue

import (
	"testing"
	"time"
)

func TestDeduplicatesAndNeverHandsOutAKeyTwice(t *testing.T) {
	q := New[string](time.Millisecond, time.Second)
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (a queued once)", q.Len())
	}
	got, _ := q.Get()
	if got != "a" {
		t.Fatalf("got %q, want a first", got)
	}
	// a changes while a worker holds it: it is not handed out again until
	// Done, and then exactly once.
	q.Add("a")
	q.Add("a")
	if q.Len() != 1 {
		t.Fatalf("Len = %d while a is processing, want 1 (only b)", q.Len())
	}
	q.Done("a")
	if q.Len() != 2 {
		t.Fatalf("Len = %d after Done, want 2 (b and a again)", q.Len())
	}
}

func TestBackoffGrowsAndForgetResets(t *testing.T) {
	q := New[string](10*time.Millisecond, 80*time.Millisecond)
	var delays []time.Duration
	for range 5 {
		delays = append(delays, q.Retry("x"))
	}
	want := []time.Duration{10, 20, 40, 80, 80}
	for i, d := range delays {
		if d != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", delays, want)
		}
	}
	q.Forget("x")
	if d := q.Retry("x"); d != 10*time.Millisecond {
		t.Fatalf("after Forget: %v", d)
	}
	// The retried key arrives, once, after its delay.
	k, ok := getWithin(t, q, 5*time.Second)
	if !ok || k != "x" {
		t.Fatalf("got %q %v, want x", k, ok)
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d after the retried key, want 0 (it came once)", q.Len())
	}
}

func TestEarliestDelayWins(t *testing.T) {
	q := New[string](time.Millisecond, time.Second)
	q.AddAfter("k", time.Hour)
	q.AddAfter("k", 10*time.Millisecond) // earlier: replaces the hour
	q.AddAfter("k", time.Hour)           // later: ignored
	if k, ok := getWithin(t, q, 5*time.Second); !ok || k != "k" {
		t.Fatalf("got %q %v, want k within 5s", k, ok)
	}
}

func TestShutDownReleasesWorkersAndRestartReopens(t *testing.T) {
	q := New[int](time.Millisecond, time.Second)
	done := make(chan bool)
	go func() {
		_, ok := q.Get()
		done <- ok
	}()
	q.AddAfter(7, time.Hour)
	q.ShutDown()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("Get returned a key after ShutDown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("worker not released by ShutDown")
	}
	q.Add(1)
	if q.Len() != 0 {
		t.Fatal("a shut-down queue accepted a key")
	}
	q.Restart()
	q.Add(2)
	if k, ok := q.Get(); !ok || k != 2 {
		t.Fatalf("after Restart got %d %v, want 2", k, ok)
	}
}

// getWithin takes the next key, failing the test if none arrives in time.
func getWithin[K comparable](t *testing.T, q *Queue[K], d time.Duration) (K, bool) {
	t.Helper()
	type result struct {
		k  K
		ok bool
	}
	ch := make(chan result, 1)
	go func() {
		k, ok := q.Get()
		ch <- result{k, ok}
	}()
	select {
	case r := <-ch:
		return r.k, r.ok
	case <-time.After(d):
		q.ShutDown() // releases the goroutine
		t.Fatalf("no key within %v", d)
		panic("unreachable")
	}
}
