package containerlog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/node/containerlog"
)

// Stderr written after stdout has ended is kept (the shim of containerd 1.6
// lost it), after what the file held, and the file is open before ready.
func TestCopyKeepsStderrAfterStdoutEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "app.log")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- containerlog.Copy(path, func() error {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("ready before the log exists: %v", err)
			}
			close(ready)
			return nil
		}, outR, errR)
	}()
	<-ready
	outW.WriteString("out 1\n")
	outW.Close()
	for _, line := range []string{"err 1\n", "err 2: the reason it crashed\n"} {
		errW.WriteString(line)
	}
	errW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"out 1\n", "err 1\nerr 2: the reason it crashed\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log %q lacks %q", b, want)
		}
	}

	// A second container instance appends.
	r, w, _ := os.Pipe()
	w.WriteString("again\n")
	w.Close()
	if err := containerlog.Copy(path, func() error { return nil }, r); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b)+"again\n" {
		t.Errorf("after a second copy: %q", b2)
	}
}

func TestURIAndInvocation(t *testing.T) {
	u, err := containerlog.URI("/usr/bin/slipway", "/var/lib/slipway/pods/logs/u 1/app.log")
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "binary" || u.Path != "/usr/bin/slipway" || u.Query().Get(containerlog.Name) != "/var/lib/slipway/pods/logs/u 1/app.log" {
		t.Errorf("URI %s", u)
	}
	if _, err := containerlog.URI("slipway", "/x.log"); err == nil {
		t.Error("a relative binary path was accepted")
	}
	if !containerlog.Invoked([]string{"/usr/bin/slipway", containerlog.Name, "/x.log"}) ||
		containerlog.Invoked([]string{"/usr/bin/slipway", "up"}) {
		t.Error("Invoked")
	}
	if code := containerlog.Main([]string{"slipway", "up"}); code != 2 {
		t.Errorf("Main with other arguments exited %d", code)
	}
}
