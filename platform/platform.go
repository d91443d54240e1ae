// Package platform runs Slipway on one machine (`slipway up`): it starts the
// peers Slipway needs as supervised children when none is configured (so
// far a private PostgreSQL) and every Slipway component in this process,
// and stops them all, in reverse order, when its context ends.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/pgserver"
)

// Config configures the all-in-one platform.
type Config struct {
	// DataDir holds everything the platform keeps.
	DataDir string
	// DatabaseURL points at an external PostgreSQL; empty runs a private
	// one in DataDir/postgres.
	DatabaseURL string
	// PostgresBinDir overrides where PostgreSQL's binaries are.
	PostgresBinDir string
	// Server configures the API server (DataDir and DatabaseURL are filled in).
	Server server.Config
	Logger *slog.Logger
}

// DefaultDataDir is /var/lib/slipway for root, else ~/.local/share/slipway.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/slipway"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "slipway")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "slipway")
}

// Platform is a running all-in-one Slipway.
type Platform struct {
	log      *slog.Logger
	postgres *pgserver.Server
	api      *server.Server
}

// Start brings the platform up and returns once the API answers.
func Start(ctx context.Context, cfg Config) (_ *Platform, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Platform{log: cfg.Logger}
	defer func() {
		if err != nil {
			p.Stop(context.Background())
		}
	}()
	// Traversable but not listable: the postgres account must reach its
	// directory below; every secret inside has its own 0600/0700 mode.
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dsn := cfg.DatabaseURL
	if dsn == "" {
		p.postgres, err = pgserver.Start(ctx, pgserver.Config{
			Dir: filepath.Join(cfg.DataDir, "postgres"), BinDir: cfg.PostgresBinDir, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("start private PostgreSQL: %w", err)
		}
		dsn = p.postgres.DSN()
	}
	scfg := cfg.Server
	scfg.DataDir, scfg.DatabaseURL, scfg.Logger = cfg.DataDir, dsn, cfg.Logger
	if p.api, err = server.Start(ctx, scfg); err != nil {
		return nil, err
	}
	return p, nil
}

// API returns the API server.
func (p *Platform) API() *server.Server { return p.api }

// Stop shuts every component down, the peers last, within a bound.
func (p *Platform) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	if p.api != nil {
		errs = append(errs, p.api.Shutdown(ctx))
	}
	if p.postgres != nil {
		errs = append(errs, p.postgres.Stop(ctx))
	}
	p.log.Info("Slipway stopped")
	return errors.Join(errs...)
}

// Failed delivers an error when a component fails on its own.
func (p *Platform) Failed() <-chan error { return p.api.Done() }
