package login

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(3, time.Second)
	now := time.Unix(0, 0)
	for i := 0; i < 3; i++ {
		if !l.allow("alice", now) {
			t.Fatalf("attempt %d refused within the burst", i)
		}
		l.spend("alice", now)
	}
	if l.allow("alice", now) {
		t.Fatal("a fourth failed attempt at once was allowed")
	}
	if !l.allow("bob", now) {
		t.Fatal("another key is affected")
	}
	if !l.allow("alice", now.Add(time.Second)) {
		t.Fatal("no attempt refilled after the interval")
	}
	// Full buckets are swept.
	l.allow("alice", now.Add(2*time.Minute))
	l.spend("carol", now.Add(2*time.Minute))
	if _, ok := l.buckets["alice"]; ok {
		t.Fatal("a refilled bucket was kept")
	}
}
