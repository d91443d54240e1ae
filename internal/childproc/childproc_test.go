package childproc

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLogTailKeepsTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	body := strings.Repeat("a", 5000) + "LAST LINE\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	got := LogTail(path)
	if len(got) != tailBytes-1 || !strings.HasSuffix(got, "LAST LINE") {
		t.Fatalf("LogTail = %d bytes ending %q", len(got), got[len(got)-10:])
	}
	if got := LogTail(filepath.Join(t.TempDir(), "missing")); !strings.Contains(got, "no such file") {
		t.Fatalf("missing log: %q", got)
	}
}

func TestFreeLoopbackPortCanBeBound(t *testing.T) {
	port, err := FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d not free: %v", port, err)
	}
	l.Close()
}

func TestProcessWaitsAndStops(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "p.log")
	// A shell that prints, ignores SIGTERM and sleeps: Stop must kill it.
	p, err := Start("stubborn", dir, log, "/bin/sh", "-c", "trap '' TERM; echo started; sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); p.LogTail() != "started"; {
		if time.Now().After(deadline) {
			t.Fatalf("the shell did not start: %q", p.LogTail())
		}
		time.Sleep(5 * time.Millisecond) // bounded poll: the trap is set before the echo
	}
	if err := p.Stop(syscall.SIGTERM, 100*time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Fatalf("Stop of a process ignoring SIGTERM = %v, want ErrKilled", err)
	}
	// A process that exits during start-up fails WaitTCP at once.
	q, err := Start("quitter", dir, log, "/bin/sh", "-c", "exit 3")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.WaitTCP(ctx, "127.0.0.1:1", 5*time.Millisecond); err == nil || !strings.Contains(err.Error(), "quitter exited during start-up: exit status 3") {
		t.Fatalf("WaitTCP of an exited process = %v", err)
	}
	if err := q.Stop(syscall.SIGTERM, time.Second); err != nil {
		t.Fatalf("Stop of an exited process = %v", err)
	}
}
