package pgserver

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/internal/testpeer"
)

func startForTest(t *testing.T) *Server {
	t.Helper()
	if _, err := os.Stat(filepath.Join(DefaultBinDir, "postgres")); err != nil {
		testpeer.Missing(t, "PostgreSQL 15", err)
	}
	dir, err := os.MkdirTemp("", "slipway-pgserver-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Config{
		Dir: filepath.Join(dir, "pg"), NoFsync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(ctx context.Context, dsn, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var out string
	err = conn.QueryRow(ctx, sql).Scan(&out)
	return out, err
}

func pidOf(t *testing.T, s *Server) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir(), "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	return pid
}

// The supervisor restarts a crashed server; committed data survives; Stop
// leaves no process behind; a second Start reuses the data directory.
func TestSuperviseRestartAndStop(t *testing.T) {
	ctx := context.Background()
	s := startForTest(t)
	if _, err := query(ctx, s.DSN(), `CREATE TABLE kept AS SELECT 'yes'::text AS v`); err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	first := pidOf(t, s)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := query(ctx, s.DSN(), `SELECT v FROM kept`)
		if err == nil && v == "yes" && pidOf(t, s) != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not back within 30 s of a crash: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a bounded condition
	}
	second := pidOf(t, s)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(second)); err == nil {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(second) + "/stat"); !strings.Contains(string(st), ") Z ") {
			t.Fatalf("postgres %d still running after Stop", second)
		}
	}

	again, err := Start(ctx, Config{Dir: s.Dir(), NoFsync: true, Logger: s.log})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop(ctx)
	if v, err := query(ctx, again.DSN(), `SELECT v FROM kept`); err != nil || v != "yes" {
		t.Fatalf("data after restart: %q, %v", v, err)
	}
}

func TestUnreachableDataDirIsExplained(t *testing.T) {
	testpeer.RequireRoot(t)
	if _, err := os.Stat(filepath.Join(DefaultBinDir, "postgres")); err != nil {
		testpeer.Missing(t, "PostgreSQL 15", err)
	}
	private := t.TempDir() // 0700, owned by root: the postgres account cannot enter
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Config{Dir: filepath.Join(private, "pg")})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("err = %v, want an explanation that the postgres account cannot reach the directory", err)
	}
}

// A server left running by a crashed Slipway is stopped, not fought over.
func TestStartStopsAStaleServer(t *testing.T) {
	ctx := context.Background()
	s := startForTest(t)
	// Detach the running server from this launcher, as if Slipway had died.
	stale := pidOf(t, s)
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.supervise()
	<-s.done
	again, err := Start(ctx, Config{Dir: s.Dir(), NoFsync: true, Logger: s.log})
	if err != nil {
		t.Fatalf("start over a stale server: %v", err)
	}
	defer again.Stop(ctx)
	if pidOf(t, again) == stale {
		t.Fatal("the stale server was adopted instead of replaced")
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(stale) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Fatalf("stale postgres %d still running", stale)
	}
}
