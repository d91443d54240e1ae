// Package storetest gives tests a real PostgreSQL: one private server per
// test binary, started on first use by pgserver, and a fresh database per
// test. Use it from TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/server/store/pgserver"
)

var (
	once     sync.Once
	server   *pgserver.Server
	startErr error
	tmpDir   string
	dbSeq    atomic.Int64
)

// Main runs the tests (m is a *testing.M, or a wrapper around one) and
// then stops the server if one was started.
func Main(m interface{ Run() int }) {
	code := m.Run()
	if server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = server.Stop(ctx)
		cancel()
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// Server returns the shared private server, starting it on first use. A
// missing PostgreSQL skips the test locally and fails it in CI.
func Server(tb testing.TB) *pgserver.Server {
	tb.Helper()
	once.Do(func() {
		// Under /tmp, not tb.TempDir(): the postgres account must be able
		// to traverse the parents, and the server outlives one test.
		tmpDir, startErr = os.MkdirTemp("", "slipway-pg-")
		if startErr != nil {
			return
		}
		if startErr = os.Chmod(tmpDir, 0o755); startErr != nil {
			return
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		server, startErr = pgserver.Start(context.Background(), pgserver.Config{
			Dir: tmpDir + "/data", NoFsync: true, Logger: log,
		})
	})
	if startErr != nil {
		testpeer.Missing(tb, "PostgreSQL 15", startErr)
	}
	return server
}

// NewDatabase creates an empty database for one test and returns its DSN.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	srv := Server(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		tb.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", srv.Dir(), name)
}
