// Package ovnstack starts Slipway's real OVN peers — the central NB and SB
// ovsdb-servers with ovn-northd, and per node a chassis of ovsdb-server
// (conf.db), ovs-vswitchd and ovn-controller — as foreground processes with
// every file under a directory it is given, configures them through the
// ovsdb client, reports unexpected exits and stops them in the documented
// order (FIELD-NOTES §2.1, §2.8). The daemons run in their own sessions and
// outlive an owner that is killed; the owner's next start adopts those that
// still answer (pods keep forwarding) and replaces the rest.
package ovnstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/slipway/slipway/sdn/ovsdb"
)

// CentralConfig describes the OVN control plane of a cluster.
type CentralConfig struct {
	// Dir holds every file of the NB and SB servers and northd.
	Dir string
	// NorthboundTCP and SouthboundTCP, when set ("127.0.0.1:6642"), also
	// serve the databases over TCP, for chassis on other machines.
	NorthboundTCP, SouthboundTCP string
	// TLS, when set, serves them over SSL instead: a client must present a
	// certificate the CA signed.
	TLS *TLSFiles
	// NetNS runs the daemons in this network namespace.
	NetNS string
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
}

// Central is a running NB ovsdb-server, SB ovsdb-server and ovn-northd.
type Central struct {
	cfg      CentralConfig
	log      *slog.Logger
	failures *failures
	nb, sb   *Database

	mu     sync.Mutex
	northd *daemon
}

// StartCentral creates the NB and SB databases on first start (reusing them
// afterwards), starts both servers and ovn-northd, and returns once the
// databases answer and hold their global rows. ctx bounds the start-up
// only; the daemons run until Stop, and outlive this process if it is
// killed: the next StartCentral on the same Dir adopts each one that still
// answers on its socket with the same options and replaces the others.
func StartCentral(ctx context.Context, cfg CentralConfig) (*Central, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Central{cfg: cfg, log: cfg.Logger.With("stack", "central", "dir", cfg.Dir), failures: newFailures()}
	env := ovnEnv(cfg.Dir)
	var err error
	c.nb, err = StartDatabase(ctx, DatabaseConfig{Dir: cfg.Dir, Name: "nb", Schema: NorthboundSchema,
		ListenTCP: cfg.NorthboundTCP, TLS: cfg.TLS, NetNS: cfg.NetNS, Env: env, Logger: c.log, OnExit: c.failures.report})
	if err != nil {
		return nil, fmt.Errorf("start central: %w", err)
	}
	c.sb, err = StartDatabase(ctx, DatabaseConfig{Dir: cfg.Dir, Name: "sb", Schema: SouthboundSchema,
		ListenTCP: cfg.SouthboundTCP, TLS: cfg.TLS, NetNS: cfg.NetNS, Env: env, Logger: c.log, OnExit: c.failures.report})
	if err != nil {
		return nil, c.abort(ctx, fmt.Errorf("start central: %w", err))
	}
	if err := ensureSingleRow(ctx, c.nb.Endpoint(), ovsdb.NorthboundDB, ovsdb.TableNBGlobal); err != nil {
		return nil, c.abort(ctx, fmt.Errorf("start central: %w", err))
	}
	if err := ensureSingleRow(ctx, c.sb.Endpoint(), SouthboundDB, "SB_Global"); err != nil {
		return nil, c.abort(ctx, fmt.Errorf("start central: %w", err))
	}
	if err := c.startNorthd(ctx, true); err != nil {
		return nil, c.abort(ctx, fmt.Errorf("start central: %w", err))
	}
	return c, nil
}

// SouthboundDB is the name of the OVN Southbound database.
const SouthboundDB = "OVN_Southbound"

func ovnEnv(dir string) []string {
	return []string{
		"OVS_RUNDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_SYSCONFDIR=" + dir,
		"OVN_RUNDIR=" + dir, "OVN_LOGDIR=" + dir, "OVN_DBDIR=" + dir, "OVN_SYSCONFDIR=" + dir,
	}
}

// startNorthd starts ovn-northd, or with adopt takes over the one an
// earlier run left answering.
func (c *Central) startNorthd(ctx context.Context, adopt bool) error {
	args := append([]string{"--ovnnb-db=" + c.nb.Endpoint(), "--ovnsb-db=" + c.sb.Endpoint()},
		daemonFileArgs(c.cfg.Dir, "ovn-northd", true)...)
	ctl := filepath.Join(c.cfg.Dir, "ovn-northd.ctl")
	d, err := adoptOrStart(ctx, daemonSpec{name: "ovn-northd", dir: c.cfg.Dir, netns: c.cfg.NetNS, bin: "ovn-northd",
		args: args, env: ovnEnv(c.cfg.Dir), healthy: func(ctx context.Context, _ int) error { return unixctlAnswers(ctx, ctl) }},
		adopt, c.log, c.failures.report)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.northd = d
	c.mu.Unlock()
	return nil
}

func (c *Central) abort(ctx context.Context, err error) error {
	return errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
}

// ensureSingleRow inserts an empty row into table unless one exists (what
// ovn-nbctl init and ovs-vsctl init do).
func ensureSingleRow(ctx context.Context, endpoint, db, table string) error {
	client, err := ovsdb.Dial(ctx, endpoint, ovsdb.Options{NoReconnect: true})
	if err != nil {
		return err
	}
	defer client.Close()
	_, err = client.Transact(ctx, db,
		ovsdb.Wait(table, 0, nil, nil, "==", nil),
		ovsdb.Insert(table, nil, ""))
	if err != nil && !errors.Is(err, ovsdb.ErrTimedOut) {
		return fmt.Errorf("initialise %s.%s: %w", db, table, err)
	}
	return nil
}

// NorthboundEndpoint is the NB database's unix socket endpoint.
func (c *Central) NorthboundEndpoint() string { return c.nb.Endpoint() }

// SouthboundEndpoint is the SB database's unix socket endpoint.
func (c *Central) SouthboundEndpoint() string { return c.sb.Endpoint() }

// NorthboundTCPEndpoint is "tcp:HOST:PORT" ("ssl:…" with TLS) when
// NorthboundTCP is set.
func (c *Central) NorthboundTCPEndpoint() string { return c.nb.TCPEndpoint() }

// SouthboundTCPEndpoint is "tcp:HOST:PORT" ("ssl:…" with TLS) when
// SouthboundTCP is set.
func (c *Central) SouthboundTCPEndpoint() string { return c.sb.TCPEndpoint() }

// Errors delivers a daemon's unexpected exit (buffered; never blocks the
// stack). Nothing is restarted automatically: the owner decides.
func (c *Central) Errors() <-chan error { return c.failures.ch }

// Err returns the first unexpected exit, or nil while all is well.
func (c *Central) Err() error { return c.failures.err() }

// PIDs returns the process id of each daemon by name.
func (c *Central) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := map[string]int{}
	for name, d := range map[string]*daemon{"nb": c.nb.daemonOrNil(), "sb": c.sb.daemonOrNil(), "ovn-northd": c.northd} {
		if d != nil {
			pids[name] = d.pid()
		}
	}
	return pids
}

// Adopted names the daemons taken over from an earlier run at start.
func (c *Central) Adopted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, d := range []*daemon{c.nb.daemonOrNil(), c.sb.daemonOrNil(), c.northd} {
		if d != nil && d.adopted {
			names = append(names, d.spec.name)
		}
	}
	return names
}

// RestartNorthd stops ovn-northd and starts it again.
func (c *Central) RestartNorthd(ctx context.Context) error {
	c.mu.Lock()
	d := c.northd
	c.mu.Unlock()
	if d != nil {
		if err := d.stop(ctx); err != nil {
			return fmt.Errorf("restart ovn-northd: %w", err)
		}
	}
	if err := c.startNorthd(ctx, false); err != nil {
		return fmt.Errorf("restart ovn-northd: %w", err)
	}
	return nil
}

// Stop terminates northd, then the SB and NB servers, waiting for each to
// exit (SIGTERM, SIGKILL after a bound).
func (c *Central) Stop(ctx context.Context) error {
	c.mu.Lock()
	northd := c.northd
	c.mu.Unlock()
	var errs []error
	for _, d := range []*daemon{northd, c.sb.daemonOrNil(), c.nb.daemonOrNil()} {
		if d != nil {
			errs = append(errs, d.stop(ctx))
		}
	}
	return errors.Join(errs...)
}

func (db *Database) daemonOrNil() *daemon {
	if db == nil {
		return nil
	}
	return db.daemon
}
