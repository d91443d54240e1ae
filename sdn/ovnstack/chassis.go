package ovnstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/sdn/ovsdb"
)

// VSwitchDB is the name of the Open vSwitch configuration database.
const VSwitchDB = "Open_vSwitch"

// IntegrationBridge is the bridge OVN attaches pods to.
const IntegrationBridge = "br-int"

// ChassisConfig describes one node's OVN chassis.
type ChassisConfig struct {
	// Dir holds every file: conf.db, conf.sock, pid files, logs, the
	// vswitchd control socket and ovn-controller's <pid>.ctl.
	Dir string
	// SystemID names the chassis in the Southbound database.
	SystemID string
	// SouthboundRemote is the SB endpoint ovn-controller connects to
	// ("unix:…" on the same machine, "ssl:HOST:6642" — or "tcp:…" — from
	// another).
	SouthboundRemote string
	// TLS is the chassis' key, certificate and CA for an "ssl:" remote.
	TLS *TLSFiles
	// EncapIP is this chassis' tunnel endpoint address (default 127.0.0.1,
	// enough for a single node), optionally with its prefix length
	// ("10.251.1.2/30"); OVN is given the address alone.
	EncapIP string
	// EncapInterface, when set, is the uplink the tunnels leave by. With
	// the userspace datapath the endpoint address must sit on an OVS
	// bridge that owns the uplink (FIELD-NOTES 2.4): every start (adopting
	// or not) and every ovs-vswitchd restart makes sure the bridge
	// UnderlayBridge exists with the uplink as a port, puts EncapIP (which
	// then needs its prefix length) on the bridge's device and sets both
	// up. The interface should be dedicated to the overlay: it becomes a
	// bridge port, and an address of its own is no longer used. Stop
	// leaves the bridge in conf.db (the underlay belongs to the machine).
	EncapInterface string
	// EncapType is "geneve" (default) or "vxlan".
	EncapType string
	// DatapathType is "netdev" (userspace, default; needs no kernel
	// module) or "system" (the openvswitch kernel module).
	DatapathType string
	// NetNS runs the daemons, and so the datapath's devices, in this
	// network namespace (created by the caller).
	NetNS string
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
}

// Chassis is a running ovsdb-server (conf.db), ovs-vswitchd and
// ovn-controller.
type Chassis struct {
	cfg      ChassisConfig
	log      *slog.Logger
	failures *failures
	db       *Database

	mu         sync.Mutex
	vswitchd   *daemon
	controller *daemon
}

// StartChassis starts the chassis' ovsdb-server (creating conf.db on first
// start), ovs-vswitchd and ovn-controller, configures br-int and the OVN
// settings through the ovsdb client, and returns once the chassis is
// registered in the Southbound database or ctx ends. ctx bounds the
// start-up only; the daemons run until Stop, and outlive this process if
// it is killed: the next StartChassis on the same Dir adopts each one that
// still answers on its control socket (pods keep forwarding throughout)
// and replaces the others.
func StartChassis(ctx context.Context, cfg ChassisConfig) (*Chassis, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EncapIP == "" {
		cfg.EncapIP = "127.0.0.1"
	}
	if cfg.EncapType == "" {
		cfg.EncapType = "geneve"
	}
	if cfg.DatapathType == "" {
		cfg.DatapathType = "netdev"
	}
	if cfg.SystemID == "" || cfg.SouthboundRemote == "" {
		return nil, fmt.Errorf("start chassis: SystemID and SouthboundRemote are required")
	}
	if strings.HasPrefix(cfg.SouthboundRemote, "ssl:") && cfg.TLS == nil {
		return nil, fmt.Errorf("start chassis: the Southbound remote %s needs TLS files", cfg.SouthboundRemote)
	}
	_, encapPrefix, err := parseEncapIP(cfg.EncapIP)
	if err != nil {
		return nil, fmt.Errorf("start chassis: %w", err)
	}
	if cfg.EncapInterface != "" && !encapPrefix.IsValid() {
		return nil, fmt.Errorf("start chassis: EncapInterface %s needs EncapIP with its prefix length (ADDR/LEN), got %q", cfg.EncapInterface, cfg.EncapIP)
	}
	ch := &Chassis{cfg: cfg, log: cfg.Logger.With("stack", "chassis", "chassis", cfg.SystemID), failures: newFailures()}
	ch.db, err = StartDatabase(ctx, DatabaseConfig{Dir: cfg.Dir, Name: "conf", Schema: VSwitchSchema,
		NetNS: cfg.NetNS, Env: ovnEnv(cfg.Dir), Logger: ch.log, OnExit: ch.failures.report})
	if err != nil {
		return nil, fmt.Errorf("start chassis %s: %w", cfg.SystemID, err)
	}
	if err := ensureSingleRow(ctx, ch.db.Endpoint(), VSwitchDB, "Open_vSwitch"); err != nil {
		return nil, ch.abort(ctx, err)
	}
	vswitchd, err := ch.startVSwitchd(ctx, true)
	if err != nil {
		return nil, ch.abort(ctx, err)
	}
	if err := ch.configure(ctx); err != nil {
		return nil, ch.abort(ctx, err)
	}
	if err := ch.ensureUnderlay(ctx); err != nil {
		return nil, ch.abort(ctx, err)
	}
	// A new ovs-vswitchd needs a new ovn-controller, which would otherwise
	// wait ~8 s in its OpenFlow reconnect back-off (FIELD-NOTES 2.7).
	if _, err := ch.startController(ctx, vswitchd.adopted); err != nil {
		return nil, ch.abort(ctx, err)
	}
	if err := ch.waitRegistered(ctx); err != nil {
		return nil, ch.abort(ctx, err)
	}
	return ch, nil
}

func (ch *Chassis) abort(ctx context.Context, err error) error {
	return errors.Join(fmt.Errorf("start chassis %s: %w", ch.cfg.SystemID, err), ch.Stop(context.WithoutCancel(ctx)))
}

// Endpoint is the unix socket endpoint of the chassis' conf.db, where
// ports are added to br-int.
func (ch *Chassis) Endpoint() string { return ch.db.Endpoint() }

// Config returns the configuration with defaults filled in.
func (ch *Chassis) Config() ChassisConfig { return ch.cfg }

// startVSwitchd starts ovs-vswitchd, or with adopt takes over the one an
// earlier run left answering.
func (ch *Chassis) startVSwitchd(ctx context.Context, adopt bool) (*daemon, error) {
	args := append([]string{ch.db.Endpoint()}, daemonFileArgs(ch.cfg.Dir, "ovs-vswitchd", true)...)
	ctl := filepath.Join(ch.cfg.Dir, "ovs-vswitchd.ctl")
	d, err := adoptOrStart(ctx, daemonSpec{name: "ovs-vswitchd", dir: ch.cfg.Dir, netns: ch.cfg.NetNS, bin: "ovs-vswitchd",
		args: args, env: ovnEnv(ch.cfg.Dir), healthy: func(ctx context.Context, _ int) error { return unixctlAnswers(ctx, ctl) }},
		adopt, ch.log, ch.failures.report)
	if err != nil {
		return nil, err
	}
	ch.mu.Lock()
	ch.vswitchd = d
	ch.mu.Unlock()
	return d, nil
}

// startController starts ovn-controller, or with adopt takes over the one
// an earlier run left answering.
func (ch *Chassis) startController(ctx context.Context, adopt bool) (*daemon, error) {
	// ovn-controller 23.03 has no --unixctl: its control socket is
	// $OVN_RUNDIR/ovn-controller.<pid>.ctl, inside Dir through ovnEnv.
	args := append([]string{ch.db.Endpoint()}, daemonFileArgs(ch.cfg.Dir, "ovn-controller", false)...)
	if ch.cfg.TLS != nil {
		args = append(args, ch.cfg.TLS.args()...)
	}
	healthy := func(ctx context.Context, pid int) error {
		return unixctlAnswers(ctx, controllerCtl(ch.cfg.Dir, pid))
	}
	d, err := adoptOrStart(ctx, daemonSpec{name: "ovn-controller", dir: ch.cfg.Dir, netns: ch.cfg.NetNS, bin: "ovn-controller",
		args: args, env: ovnEnv(ch.cfg.Dir), healthy: healthy}, adopt, ch.log, ch.failures.report)
	if err != nil {
		return nil, err
	}
	removeStaleControllerSockets(ch.cfg.Dir, d.pid())
	ch.mu.Lock()
	ch.controller = d
	ch.mu.Unlock()
	return d, nil
}

// configure creates br-int unless it exists and sets the OVN keys of
// Open_vSwitch.external_ids — the ovs-vsctl add-br/set of FIELD-NOTES 2.1.
func (ch *Chassis) configure(ctx context.Context) error {
	encapAddr, _, err := parseEncapIP(ch.cfg.EncapIP)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	client, err := ovsdb.Dial(ctx, ch.db.Endpoint(), ovsdb.Options{NoReconnect: true})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	defer client.Close()
	bridgeSettings := map[string]any{
		"datapath_type": ch.cfg.DatapathType,
		"fail_mode":     ovsdb.Set[string]{"secure"},
		"other_config":  ovsdb.Map[string, string]{"disable-in-band": "true"},
	}
	bridgeRow := map[string]any{"name": IntegrationBridge, "ports": ovsdb.Set[ovsdb.NamedUUID]{"brport"}}
	for k, v := range bridgeSettings {
		bridgeRow[k] = v
	}
	named := []ovsdb.Condition{ovsdb.Equal("name", IntegrationBridge)}
	_, err = client.Transact(ctx, VSwitchDB,
		ovsdb.Wait("Bridge", 0, named, []string{"name"}, "==", nil),
		ovsdb.Insert("Interface", map[string]any{"name": IntegrationBridge, "type": "internal"}, "brif"),
		ovsdb.Insert("Port", map[string]any{"name": IntegrationBridge, "interfaces": ovsdb.Set[ovsdb.NamedUUID]{"brif"}}, "brport"),
		ovsdb.Insert("Bridge", bridgeRow, "br"),
		ovsdb.Mutate("Open_vSwitch", nil, ovsdb.Mutation{Column: "bridges", Mutator: "insert", Value: ovsdb.Set[ovsdb.NamedUUID]{"br"}}),
		ovsdb.Comment("slipway: create "+IntegrationBridge))
	if errors.Is(err, ovsdb.ErrTimedOut) {
		// Reused conf.db: the bridge exists; make sure it is set up right.
		_, err = client.Transact(ctx, VSwitchDB, ovsdb.Update("Bridge", named, bridgeSettings))
	}
	if err != nil {
		return fmt.Errorf("configure %s: %w", IntegrationBridge, err)
	}
	ids := map[string]string{
		"system-id":                ch.cfg.SystemID,
		"ovn-remote":               ch.cfg.SouthboundRemote,
		"ovn-encap-type":           ch.cfg.EncapType,
		"ovn-encap-ip":             encapAddr.String(),
		"ovn-bridge":               IntegrationBridge,
		"ovn-bridge-datapath-type": ch.cfg.DatapathType,
	}
	keys := make(ovsdb.Set[string], 0, len(ids))
	for k := range ids {
		keys = append(keys, k)
	}
	_, err = client.Transact(ctx, VSwitchDB,
		ovsdb.Mutate("Open_vSwitch", nil,
			ovsdb.Mutation{Column: "external_ids", Mutator: "delete", Value: keys},
			ovsdb.Mutation{Column: "external_ids", Mutator: "insert", Value: ovsdb.Map[string, string](ids)}))
	if err != nil {
		return fmt.Errorf("configure OVN settings: %w", err)
	}
	return nil
}

// waitRegistered waits until the Southbound database has a Chassis row
// named SystemID, using server-side waits of up to 500 ms.
func (ch *Chassis) waitRegistered(ctx context.Context) error {
	opts := ovsdb.Options{}
	if ch.cfg.TLS != nil {
		var err error
		if opts.TLS, err = ch.cfg.TLS.ClientConfig(); err != nil {
			return fmt.Errorf("wait for registration: %w", err)
		}
	}
	client, err := ovsdb.Dial(ctx, ch.cfg.SouthboundRemote, opts)
	if err != nil {
		return fmt.Errorf("wait for registration: %w", err)
	}
	defer client.Close()
	where := []ovsdb.Condition{ovsdb.Equal("name", ch.cfg.SystemID)}
	for {
		_, err := client.Transact(ctx, SouthboundDB, ovsdb.Wait("Chassis", 500, where, []string{"name"}, "!=", nil))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ovsdb.ErrTimedOut) {
			return fmt.Errorf("wait for chassis %s in the Southbound database: %w", ch.cfg.SystemID, err)
		}
		if failed := ch.failures.err(); failed != nil {
			return fmt.Errorf("wait for chassis %s: %w", ch.cfg.SystemID, failed)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for chassis %s in the Southbound database: %w", ch.cfg.SystemID, ctx.Err())
		}
	}
}

// Errors delivers a daemon's unexpected exit (buffered; never blocks the
// stack). Nothing is restarted automatically: the owner decides.
func (ch *Chassis) Errors() <-chan error { return ch.failures.ch }

// Err returns the first unexpected exit, or nil while all is well.
func (ch *Chassis) Err() error { return ch.failures.err() }

// PIDs returns the process id of each daemon by name.
func (ch *Chassis) PIDs() map[string]int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	pids := map[string]int{}
	for name, d := range map[string]*daemon{"conf": ch.db.daemonOrNil(), "ovs-vswitchd": ch.vswitchd, "ovn-controller": ch.controller} {
		if d != nil {
			pids[name] = d.pid()
		}
	}
	return pids
}

// RestartController stops ovn-controller and starts it again; the
// datapath keeps forwarding meanwhile (FIELD-NOTES 2.7).
func (ch *Chassis) RestartController(ctx context.Context) error {
	if err := ch.stopController(ctx); err != nil {
		return fmt.Errorf("restart ovn-controller: %w", err)
	}
	if _, err := ch.startController(ctx, false); err != nil {
		return fmt.Errorf("restart ovn-controller: %w", err)
	}
	return nil
}

// RestartVSwitchd restarts ovs-vswitchd (SIGTERM, keeping its datapath
// ports in conf.db) and then ovn-controller, which otherwise waits ~8 s in
// its OpenFlow reconnect back-off (FIELD-NOTES 2.7).
func (ch *Chassis) RestartVSwitchd(ctx context.Context) error {
	if err := ch.stopController(ctx); err != nil {
		return fmt.Errorf("restart ovs-vswitchd: %w", err)
	}
	ch.mu.Lock()
	d := ch.vswitchd
	ch.mu.Unlock()
	if d != nil {
		if err := d.stop(ctx); err != nil {
			return fmt.Errorf("restart ovs-vswitchd: %w", err)
		}
	}
	if _, err := ch.startVSwitchd(ctx, false); err != nil {
		return fmt.Errorf("restart ovs-vswitchd: %w", err)
	}
	if err := ch.ensureUnderlay(ctx); err != nil {
		return fmt.Errorf("restart ovs-vswitchd: %w", err)
	}
	if _, err := ch.startController(ctx, false); err != nil {
		return fmt.Errorf("restart ovs-vswitchd: %w", err)
	}
	return nil
}

// RestartExited restarts the daemons that exited on their own: ovs-vswitchd
// together with ovn-controller, or ovn-controller alone (the datapath keeps
// forwarding meanwhile). Pods keep their veths. A chassis whose database
// exited is not repaired: that is an error.
func (ch *Chassis) RestartExited(ctx context.Context) error {
	ch.mu.Lock()
	vswitchd, controller := ch.vswitchd, ch.controller
	ch.mu.Unlock()
	switch {
	case ch.db.daemon.hasExited():
		return errors.New("the chassis database (conf.db ovsdb-server) exited; restart the node")
	case vswitchd == nil || vswitchd.hasExited():
		return ch.RestartVSwitchd(ctx)
	case controller == nil || controller.hasExited():
		return ch.RestartController(ctx)
	}
	return nil
}

// Adopted names the daemons taken over from an earlier run at start.
func (ch *Chassis) Adopted() []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var names []string
	for _, d := range []*daemon{ch.db.daemonOrNil(), ch.vswitchd, ch.controller} {
		if d != nil && d.adopted {
			names = append(names, d.spec.name)
		}
	}
	return names
}

func (ch *Chassis) stopController(ctx context.Context) error {
	ch.mu.Lock()
	d := ch.controller
	ch.mu.Unlock()
	if d == nil {
		return nil
	}
	return d.stop(ctx)
}

// Stop terminates ovn-controller, asks ovs-vswitchd to exit removing its
// datapath ports (exit --cleanup, over its control socket), then stops the
// ovsdb-server, waiting for each process to exit.
func (ch *Chassis) Stop(ctx context.Context) error {
	var errs []error
	errs = append(errs, ch.stopController(ctx))
	ch.mu.Lock()
	vswitchd := ch.vswitchd
	ch.mu.Unlock()
	if vswitchd != nil {
		errs = append(errs, ch.stopVSwitchdCleanly(ctx, vswitchd))
	}
	if d := ch.db.daemonOrNil(); d != nil {
		errs = append(errs, d.stop(ctx))
	}
	return errors.Join(errs...)
}

// stopVSwitchdCleanly sends "exit --cleanup" on the unixctl socket (the same
// JSON-RPC framing as OVSDB), falling back to SIGTERM.
func (ch *Chassis) stopVSwitchdCleanly(ctx context.Context, d *daemon) error {
	d.stopping.Store(true)
	if d.hasExited() {
		return nil
	}
	callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ctl := "unix:" + filepath.Join(ch.cfg.Dir, "ovs-vswitchd.ctl")
	client, err := ovsdb.Dial(callCtx, ctl, ovsdb.Options{NoReconnect: true})
	if err == nil {
		// vswitchd may close the connection as it exits; the exit itself is
		// what counts.
		err = client.Call(callCtx, "exit", []any{"--cleanup"}, nil)
		_ = client.Close()
	}
	if err != nil && !errors.Is(err, ovsdb.ErrDisconnected) {
		ch.log.Warn("ovnstack: exit --cleanup failed, sending SIGTERM", "err", err)
		return d.stop(ctx)
	}
	return d.waitOrKill(ctx)
}

func controllerCtl(dir string, pid int) string {
	return filepath.Join(dir, fmt.Sprintf("ovn-controller.%d.ctl", pid))
}

// removeStaleControllerSockets removes the ovn-controller.<pid>.ctl sockets
// that killed controllers left behind (each run names its own), keeping
// the current one's.
func removeStaleControllerSockets(dir string, current int) {
	stale, _ := filepath.Glob(filepath.Join(dir, "ovn-controller.*.ctl"))
	for _, path := range stale {
		if path != controllerCtl(dir, current) {
			_ = os.Remove(path)
		}
	}
}
