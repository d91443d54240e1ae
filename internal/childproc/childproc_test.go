package childproc

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
