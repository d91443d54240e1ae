package watch

import (
	"testing"

	"github.com/slipway/slipway/api"
)

func events(resource string, from, to int64) []Event {
	var out []Event
	for rv := from; rv <= to; rv++ {
		out = append(out, Event{Type: api.Added, Revision: rv, Resource: resource, Name: "x"})
	}
	return out
}

func TestPublishDeliversInOrderByResource(t *testing.T) {
	b := NewBroadcaster(10)
	projects, start := b.Subscribe("projects", nil, 16)
	if start != 10 {
		t.Fatalf("start = %d, want 10", start)
	}
	other, _ := b.Subscribe("configmaps", nil, 16)
	b.Publish(events("projects", 11, 13))
	for want := int64(11); want <= 13; want++ {
		ev := <-projects.C()
		if ev.Revision != want {
			t.Fatalf("got revision %d, want %d", ev.Revision, want)
		}
	}
	if len(other.C()) != 0 {
		t.Fatal("a configmaps watcher received projects events")
	}
	if p, ok := other.CaughtUp(); !ok || p != 13 {
		t.Fatalf("CaughtUp = %d, %v; want 13, true", p, ok)
	}
}

func TestFilter(t *testing.T) {
	b := NewBroadcaster(0)
	s, _ := b.Subscribe("projects", func(e *Event) bool { return e.Revision%2 == 0 }, 16)
	b.Publish(events("projects", 1, 6))
	var got []int64
	for len(s.C()) > 0 {
		got = append(got, (<-s.C()).Revision)
	}
	if len(got) != 3 || got[0] != 2 || got[2] != 6 {
		t.Fatalf("got %v, want [2 4 6]", got)
	}
}

func TestSlowWatcherIsDroppedWithoutBlocking(t *testing.T) {
	b := NewBroadcaster(0)
	slow, _ := b.Subscribe("projects", nil, 2)
	fast, _ := b.Subscribe("projects", nil, 100)
	b.Publish(events("projects", 1, 10)) // would block forever if Publish waited
	if !slow.Dropped() {
		t.Fatal("slow watcher not dropped")
	}
	n := 0
	for range slow.C() { // closed after its two buffered events
		n++
	}
	if n != 2 {
		t.Fatalf("slow watcher kept %d events, want the 2 it had room for", n)
	}
	if fast.Dropped() || len(fast.C()) != 10 {
		t.Fatalf("fast watcher affected: dropped=%v queued=%d", fast.Dropped(), len(fast.C()))
	}
	if b.Watchers() != 1 {
		t.Fatalf("Watchers = %d, want 1", b.Watchers())
	}
	fast.Close()
	fast.Close()
	if b.Watchers() != 0 {
		t.Fatalf("Watchers = %d after close, want 0", b.Watchers())
	}
}

func TestCaughtUpFalseWhileQueued(t *testing.T) {
	b := NewBroadcaster(0)
	s, _ := b.Subscribe("projects", nil, 4)
	b.Publish(events("projects", 1, 1))
	if _, ok := s.CaughtUp(); ok {
		t.Fatal("CaughtUp true with an event still queued")
	}
	<-s.C()
	if p, ok := s.CaughtUp(); !ok || p != 1 {
		t.Fatalf("CaughtUp = %d, %v", p, ok)
	}
}
