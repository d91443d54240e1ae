package containerd_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/containerd"
)

func requirePeers(t *testing.T) {
	t.Helper()
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd", "containerd")
	testpeer.RequireBinary(t, "runc", "runc")
}

func processGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

func TestStartStopRestart(t *testing.T) {
	requirePeers(t)
	ctx := context.Background()
	dir := t.TempDir()
	cfg := containerd.Config{Dir: dir, Namespace: "launcher-test", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}

	// Twice on the same directory: a restart must find its own state.
	for _, round := range []string{"first start", "restart on the same dir"} {
		t.Run(round, func(t *testing.T) {
			started := time.Now()
			d, err := containerd.Start(ctx, cfg)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Logf("ready in %v, versions %+v", time.Since(started), d.Versions())
			if v := d.Versions(); !strings.HasPrefix(v.Containerd, "1.") && !strings.HasPrefix(v.Containerd, "2.") || v.Runc == "" {
				t.Errorf("Versions() = %+v, want containerd 1.x/2.x and a runc version", v)
			}
			if d.Address() != dir+"/containerd.sock" {
				t.Errorf("Address() = %q, want the socket under Dir", d.Address())
			}
			if ok, err := d.Client().IsServing(ctx); err != nil || !ok {
				t.Errorf("IsServing = %v, %v", ok, err)
			}
			if ns := d.Client().DefaultNamespace(); ns != "launcher-test" {
				t.Errorf("client namespace = %q", ns)
			}
			for _, p := range []string{"config.toml", "root", "state", "containerd.log"} {
				if _, err := os.Stat(dir + "/" + p); err != nil {
					t.Errorf("%s missing under Dir: %v", p, err)
				}
			}
			pid := d.PID()
			stopped := time.Now()
			if err := d.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			t.Logf("stopped in %v", time.Since(stopped))
			if !processGone(pid) {
				t.Errorf("pid %d still exists after Stop", pid)
			}
			if err := d.Stop(ctx); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  containerd.Config
	}{
		{name: "no dir", cfg: containerd.Config{}},
		{name: "missing binary", cfg: containerd.Config{Dir: t.TempDir(), Binary: "/nonexistent/containerd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := containerd.Start(context.Background(), tc.cfg); err == nil {
				d.Stop(context.Background())
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

// A daemon whose parent died (here: one never stopped) holds the
// directory; the next Start stops it and serves in its place.
func TestStartReplacesASurvivingDaemon(t *testing.T) {
	requirePeers(t)
	ctx := context.Background()
	cfg := containerd.Config{Dir: t.TempDir(), Namespace: "launcher-test", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	first, err := containerd.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop(ctx)
	second, err := containerd.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start over a running daemon: %v", err)
	}
	defer second.Stop(ctx)
	if !processGone(first.PID()) {
		t.Errorf("the first daemon (pid %d) still runs", first.PID())
	}
	if ok, err := second.Client().IsServing(ctx); err != nil || !ok {
		t.Errorf("the second daemon: IsServing = %v, %v", ok, err)
	}
}
