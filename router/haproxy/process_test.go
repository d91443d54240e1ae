package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
)

func freePort(t *testing.T) int { return testpeer.FreePort(t) }

// config answers every request with body, or proxies to backend be/srv.
func config(dir string, port int, body string) string {
	return fmt.Sprintf(`global
    maxconn 1000
    stats socket %s/admin.sock mode 600 level admin
    hard-stop-after 5s
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:%d
    option idle-close-on-response
    use_backend be if { path_beg /be }
    http-request return status 200 content-type text/plain string %q unless { path_beg /be }
backend be
    balance roundrobin
    server srv 127.0.0.1:1 disabled
`, dir, port, body)
}

type instance struct {
	proc *Process
	dir  string
	port int
}

func start(t *testing.T) *instance {
	t.Helper()
	bin := testpeer.RequireBinary(t, "haproxy", "haproxy")
	in := &instance{dir: t.TempDir(), port: freePort(t)}
	in.write(t, config(in.dir, in.port, "v1"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Start(ctx, Options{Binary: bin, Dir: in.dir})
	if err != nil {
		t.Fatal(err)
	}
	in.proc = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return in
}

func (in *instance) write(t *testing.T, cfg string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(in.dir, "haproxy.cfg"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (in *instance) get(path string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", in.port, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b), err
}

func TestReload(t *testing.T) {
	in := start(t)
	tests := []struct {
		name     string
		config   string
		wantErr  error
		wantBody string
	}{
		{"valid configuration: new worker serves it", config(in.dir, in.port, "v2"), nil, "200 v2"},
		{"invalid configuration: error, last good one keeps serving", "global\n    no-such-keyword\n", ErrInvalidConfig, "200 v2"},
		{"valid again", config(in.dir, in.port, "v3"), nil, "200 v3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			before, err := in.proc.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			in.write(t, tc.config)
			start := time.Now()
			err = in.proc.Reload(ctx)
			took := time.Since(start)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("reload: %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "no-such-keyword") {
				t.Errorf("error does not quote HAProxy's alert: %v", err)
			}
			after, err := in.proc.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			newWorker := len(after.Workers) > 0 && !slices.Equal(after.Workers, before.Workers)
			if newWorker != (tc.wantErr == nil) {
				t.Errorf("workers %v → %v", before.Workers, after.Workers)
			}
			if after.MasterPID != in.proc.PID() {
				t.Errorf("master pid %d, want %d", after.MasterPID, in.proc.PID())
			}
			if got, err := in.get("/"); err != nil || got != tc.wantBody {
				t.Errorf("GET / = %q, %v; want %q", got, err, tc.wantBody)
			}
			t.Logf("reload returned after %s", took.Round(time.Millisecond))
		})
	}
}

func TestRuntime(t *testing.T) {
	in := start(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "endpoint") }))
	defer backend.Close()
	addr := netip.MustParseAddrPort(backend.Listener.Addr().String())
	rt := Runtime{Socket: filepath.Join(in.dir, "admin.sock")}
	ctx := t.Context()
	tests := []struct {
		name     string
		do       func() error
		wantErr  error
		wantBody string
	}{
		{"disabled slot serves nothing", func() error { return nil }, nil, "503"},
		{"point the slot at the endpoint", func() error { return rt.SetServerAddr(ctx, "be", "srv", addr) }, nil, "503"},
		{"weight", func() error { return rt.SetServerWeight(ctx, "be", "srv", 256) }, nil, "503"},
		{"ready", func() error { return rt.SetServerState(ctx, "be", "srv", StateReady) }, nil, "200 endpoint"},
		{"weight out of range is refused", func() error { return rt.SetServerWeight(ctx, "be", "srv", 257) }, ErrRefused, "200 endpoint"},
		{"unknown server is refused", func() error { return rt.SetServerState(ctx, "be", "nope", StateReady) }, ErrRefused, "200 endpoint"},
		{"unknown backend address change is refused", func() error { return rt.SetServerAddr(ctx, "nope", "srv", addr) }, ErrRefused, "200 endpoint"},
		{"maintenance", func() error { return rt.SetServerState(ctx, "be", "srv", StateMaint) }, nil, "503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			got, err := in.get("/be")
			if err != nil || !strings.HasPrefix(got, tc.wantBody) {
				t.Errorf("GET /be = %q, %v; want %q…", got, err, tc.wantBody)
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	bin := testpeer.RequireBinary(t, "haproxy", "haproxy")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		config  func(dir string) string
		wantErr error
	}{
		{"invalid configuration", func(string) string { return "frontend\n" }, ErrInvalidConfig},
		{"port taken", func(dir string) string { return config(dir, busy.Addr().(*net.TCPAddr).Port, "x") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(tc.config(dir)), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, err := Start(ctx, Options{Binary: bin, Dir: dir})
			if err == nil {
				p.Stop(ctx)
				t.Fatal("started")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestStop(t *testing.T) {
	in := start(t)
	start := time.Now()
	if err := in.proc.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	select {
	case <-in.proc.Exited():
	default:
		t.Fatal("Stop returned before the master exited")
	}
	if _, err := in.get("/"); err == nil {
		t.Error("still serving after Stop")
	}
	if err := in.proc.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestParseShowProc(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    ProcStatus
		wantErr bool
	}{
		{"fresh", "#<PID>          <type>          <reloads>       <uptime>        <version>\n10468           master          0 [failed: 0]   0d00h00m00s     2.6.12\n# workers\n10471           worker          0               0d00h00m00s     2.6.12\n# programs\n\n",
			ProcStatus{MasterPID: 10468, Workers: []int{10471}}, false},
		{"after reloads with an old worker", "#<PID> <type> <reloads> <uptime> <version>\n7 master 3 [failed: 1] 0d 2.6\n# workers\n9 worker 0 0d 2.6\n# old workers\n8 worker 1 0d 2.6\n# programs\n",
			ProcStatus{MasterPID: 7, Reloads: 3, FailedReloads: 1, Workers: []int{9}, OldWorkers: []int{8}}, false},
		{"garbage", "Unknown command.\n", ProcStatus{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseShowProc(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if err == nil && (got.MasterPID != tc.want.MasterPID || got.Reloads != tc.want.Reloads || got.FailedReloads != tc.want.FailedReloads ||
				!slices.Equal(got.Workers, tc.want.Workers) || !slices.Equal(got.OldWorkers, tc.want.OldWorkers)) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
