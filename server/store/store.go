// Package store keeps Slipway's objects in PostgreSQL: the current state of
// every object, a revision log that watches replay, and the fan-out of new
// revisions to watchers. It is the only package that speaks SQL.
//
// Writes are serialised through one revision-counter row whose lock each
// write transaction holds until it commits, so revisions commit in order and
// a reader never sees revision N without every revision below it. Within
// one process, concurrent writes are grouped into a single transaction
// (group commit), which is what makes the serialisation cheap.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/server/watch"
)

// Config configures a Store.
type Config struct {
	// DSN is a PostgreSQL connection string.
	DSN string
	// MaxConns bounds the connection pool (default 16).
	MaxConns int32
	// Logger receives the store's logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the store's metrics (none when nil).
	Registerer prometheus.Registerer
	// Retention bounds the revision log: entries are kept while they are
	// younger than RetainFor or among the newest RetainEvents (defaults:
	// 15 minutes, 100,000).
	RetainFor    time.Duration
	RetainEvents int64
	// WatchBuffer is each watcher's queue length (default 1024).
	WatchBuffer int
}

// Store is the PostgreSQL-backed object store.
type Store struct {
	pool        *pgxpool.Pool
	log         *slog.Logger
	metrics     *metrics
	broadcaster *watch.Broadcaster
	writes      chan *writeOp
	cfg         Config

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open connects to PostgreSQL, applies pending migrations and starts the
// store's background work (the group committer, the watch feed and log
// compaction), which Close stops.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetainFor == 0 {
		cfg.RetainFor = 15 * time.Minute
	}
	if cfg.RetainEvents == 0 {
		cfg.RetainEvents = 100_000
	}
	if cfg.WatchBuffer == 0 {
		cfg.WatchBuffer = 1024
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pingUntil(ctx, pool, 30*time.Second); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(ctx, pool, cfg.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	var last int64
	if err := pool.QueryRow(ctx, `SELECT rv FROM revision WHERE id = 1`).Scan(&last); err != nil {
		pool.Close()
		return nil, fmt.Errorf("read current revision: %w", err)
	}
	s := &Store{
		pool:        pool,
		log:         cfg.Logger,
		metrics:     newMetrics(cfg.Registerer),
		broadcaster: watch.NewBroadcaster(last),
		writes:      make(chan *writeOp, 4096),
		cfg:         cfg,
	}
	s.metrics.watchers = func() float64 { return float64(s.broadcaster.Watchers()) }
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "slipway_store_watchers", Help: "Open watch subscriptions in this process.",
		}, s.metrics.watchers))
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.goRun(bg, s.runCommitter)
	s.goRun(bg, s.runFeed)
	s.goRun(bg, s.runCompaction)
	return s, nil
}

func (s *Store) goRun(ctx context.Context, f func(context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(ctx)
	}()
}

// Close stops the background work, fails writes still queued, and closes
// the connections.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
	s.pool.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping PostgreSQL: %w", err)
	}
	return nil
}

func pingUntil(ctx context.Context, pool *pgxpool.Pool, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		err := pool.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL did not answer within %s: %w", bound, errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
