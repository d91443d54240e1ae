// Package router is Slipway's route data plane: it keeps a HAProxy serving
// exactly the routes it is given. Apply diffs the routes against the last
// applied state; when only endpoints or weights changed it updates
// pre-allocated server slots through the runtime API (no reload); when the
// structure changed (routes, hosts, TLS, slot counts) it writes and checks a
// new configuration generation and reloads, coalescing a burst of changes
// into one reload. The files on disk always describe the current state, so a
// reload never loses a runtime change.
package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/slipway/slipway/router/haproxy"
	"github.com/slipway/slipway/router/haproxycfg"
	"github.com/slipway/slipway/router/route"
)

// DefaultMinReloadInterval separates two reloads. Each reload costs a new
// worker (~25 MB and ~50 ms of CPU at 1,000 routes, ~174 MB and ~0.2 s at
// 10,000) while the old one drains its connections, so reloads are rate
// limited; 500 ms keeps a new route's delay under a second while capping
// reloads at two per second whatever the rate of changes.
const DefaultMinReloadInterval = 500 * time.Millisecond

// ErrStopped is returned by calls on a stopped Router.
var ErrStopped = errors.New("router stopped")

// Options configure a Router.
type Options struct {
	// Dir holds every file of the router and its HAProxy; it is created
	// if missing. Keep it short: unix socket paths are limited to 107 bytes.
	Dir string
	// Binary is the haproxy executable; default "haproxy" in PATH.
	Binary string
	// BindAddress, HTTPPort and HTTPSPort are where routes are served
	// ("" = all addresses; production uses 80 and 443).
	BindAddress         string
	HTTPPort, HTTPSPort int
	// DefaultCertificate (PEM certificate and key) serves TLS hosts without
	// a certificate of their own, typically a wildcard for the apps domain.
	DefaultCertificate string
	// MetricsBind, StatsUser and StatsPassword: see haproxycfg.Options.
	MetricsBind              string
	StatsUser, StatsPassword string
	// MinReloadInterval defaults to DefaultMinReloadInterval.
	MinReloadInterval time.Duration
	// MaxConn, Threads, BusyPolling and HardStopAfter: see haproxycfg.Options.
	MaxConn, Threads int
	BusyPolling      bool
	HardStopAfter    time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Change says how an Apply goes live.
type Change string

const (
	// ChangeNone: the routes render to what is already applied.
	ChangeNone Change = "none"
	// ChangeRuntime: endpoints or weights changed and were set through
	// the runtime API; live when Apply returns.
	ChangeRuntime Change = "runtime"
	// ChangeReload: a new configuration was written and checked; it goes
	// live with the next reload, at most MinReloadInterval after the
	// previous one. Flush waits for it.
	ChangeReload Change = "reload"
)

// Outcome reports what Apply did.
type Outcome struct {
	Change Change
	// Rejected are the routes left out (invalid, or their host is taken).
	Rejected []route.Rejection
}

// Router owns a HAProxy process and the state applied to it. Its methods
// are safe for concurrent use; one goroutine, started by Start, does all
// the work in order.
type Router struct {
	opts    Options
	log     *slog.Logger
	proc    *haproxy.Process
	runtime haproxy.Runtime

	applies chan applyRequest
	flushes chan chan error
	cancel  context.CancelFunc
	done    chan struct{}
	stopErr error // set before done is closed

	// Owned by the run goroutine.
	applied       *haproxycfg.Result
	generation    int // generation the config link points at
	liveGen       int // generation the workers loaded
	liveStructure string
	reloadPending bool
	lastReload    time.Time
	reloadErr     error
}

type applyRequest struct {
	routes []route.Route
	reply  chan applyReply
}

type applyReply struct {
	outcome Outcome
	err     error
}

// Start writes an empty configuration, starts HAProxy and the goroutine
// that applies changes; ctx bounds start-up. The router runs until Stop.
func Start(ctx context.Context, opts Options) (*Router, error) {
	if opts.MinReloadInterval == 0 {
		opts.MinReloadInterval = DefaultMinReloadInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Binary == "" {
		opts.Binary = "haproxy"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	r := &Router{
		opts:    opts,
		log:     opts.Logger.With("component", "router"),
		runtime: haproxy.Runtime{Socket: filepath.Join(dir, runtimeSocket)},
		applies: make(chan applyRequest),
		flushes: make(chan chan error),
		done:    make(chan struct{}),
	}
	res, err := r.initialGeneration()
	if err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	r.proc, err = haproxy.Start(ctx, haproxy.Options{
		Binary:        opts.Binary,
		Dir:           dir,
		ConfigPath:    filepath.Join(dir, configLink),
		Logger:        opts.Logger,
		ListenersFrom: filepath.Join(dir, runtimeSocket),
	})
	if err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	r.applied, r.liveGen, r.liveStructure, r.lastReload = res, r.generation, res.Structure, time.Now()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.run(runCtx)
		stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		r.stopErr = r.proc.Stop(stopCtx)
	}()
	return r, nil
}

// initialGeneration prepares the configuration HAProxy starts on. Normally
// that is an empty one (no routes until the first Apply). But when the
// HAProxy of a run that was killed still serves (haproxy.PreviousMaster),
// the new one starts on that run's last generation, which is still on
// disk, and takes its listening sockets over: traffic keeps flowing to the
// same routes until the first Apply reloads into the current set (the
// empty Structure returned makes sure it does).
func (r *Router) initialGeneration() (*haproxycfg.Result, error) {
	if haproxy.PreviousMaster(r.opts.Dir) != 0 {
		if gen, ok := r.linkedGeneration(); ok {
			if err := r.removeGenerations(gen); err != nil {
				return nil, err
			}
			r.generation = gen
			r.log.Info("an earlier run's haproxy still serves: taking over its listeners", "generation", gen)
			return &haproxycfg.Result{}, nil
		}
	}
	if err := r.removeGenerations(); err != nil {
		return nil, err
	}
	r.generation = 1
	res, err := haproxycfg.Render(nil, r.renderOptions(r.generation, nil))
	if err != nil {
		return nil, err
	}
	if err := writeGeneration(r.generationDir(r.generation), res.Files); err != nil {
		return nil, err
	}
	return res, r.pointConfigAt(r.generationDir(r.generation))
}

func (r *Router) renderOptions(generation int, previous haproxycfg.Table) haproxycfg.Options {
	return haproxycfg.Options{
		ConfDir:            r.generationDir(generation),
		RuntimeSocket:      filepath.Join(r.opts.Dir, runtimeSocket),
		TLSSocket:          filepath.Join(r.opts.Dir, terminateSocket),
		BindAddress:        r.opts.BindAddress,
		HTTPPort:           r.opts.HTTPPort,
		HTTPSPort:          r.opts.HTTPSPort,
		DefaultCertificate: r.opts.DefaultCertificate,
		MetricsBind:        r.opts.MetricsBind,
		StatsUser:          r.opts.StatsUser,
		StatsPassword:      r.opts.StatsPassword,
		MaxConn:            r.opts.MaxConn,
		Threads:            r.opts.Threads,
		BusyPolling:        r.opts.BusyPolling,
		HardStopAfter:      r.opts.HardStopAfter,
		Previous:           previous,
	}
}

// Apply makes routes the complete set served (level-triggered: pass every
// route each time). It returns once the change is live (ChangeRuntime) or
// written, checked and scheduled for reload (ChangeReload). A configuration
// HAProxy rejects is not applied: the previous one keeps serving and the
// error wraps haproxy.ErrInvalidConfig.
func (r *Router) Apply(ctx context.Context, routes []route.Route) (Outcome, error) {
	req := applyRequest{routes: routes, reply: make(chan applyReply, 1)}
	select {
	case r.applies <- req:
	case <-r.done:
		return Outcome{}, ErrStopped
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
	select {
	case rep := <-req.reply:
		return rep.outcome, rep.err
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

// Flush reloads now if a reload is pending, ignoring MinReloadInterval, and
// returns once everything applied so far is live, or the reload error.
func (r *Router) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.flushes <- reply:
	case <-r.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the router and its HAProxy and waits for both.
func (r *Router) Stop(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
		return r.stopErr
	case <-ctx.Done():
		return fmt.Errorf("stop router: %w", ctx.Err())
	}
}

// HAProxy exposes the process, for diagnostics and tests.
func (r *Router) HAProxy() *haproxy.Process { return r.proc }

func (r *Router) run(ctx context.Context) {
	timer := time.NewTimer(0)
	if !timer.Stop() {
		<-timer.C
	}
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.proc.Exited():
			r.log.Error("haproxy exited unexpectedly")
			return
		case req := <-r.applies:
			out, err := r.apply(ctx, req.routes)
			req.reply <- applyReply{outcome: out, err: err}
		case reply := <-r.flushes:
			if r.reloadPending {
				r.reload(ctx)
			}
			reply <- r.reloadErr
		case <-timer.C:
			if r.reloadPending {
				r.reload(ctx)
			}
		}
		if !r.reloadPending {
			continue
		}
		wait := time.Until(r.lastReload.Add(r.opts.MinReloadInterval))
		if wait <= 0 && len(r.applies) == 0 {
			r.reload(ctx)
			if !r.reloadPending {
				continue
			}
			wait = r.opts.MinReloadInterval // failed: retry later
		}
		timer.Reset(max(wait, 0))
	}
}

// apply renders routes and brings files, and HAProxy when it can be done
// without a reload, up to date.
func (r *Router) apply(ctx context.Context, routes []route.Route) (Outcome, error) {
	res, err := haproxycfg.Render(routes, r.renderOptions(r.generation, r.applied.Slots))
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Rejected: res.Rejected}
	for _, rej := range res.Rejected {
		r.log.Warn("route rejected", "project", rej.Project, "name", rej.Name, "err", rej.Err)
	}
	if res.Structure == r.applied.Structure {
		if bytes.Equal(res.Files[haproxycfg.ConfigFile], r.applied.Files[haproxycfg.ConfigFile]) {
			out.Change = ChangeNone
			r.applied = res
			return out, nil
		}
		path := filepath.Join(r.generationDir(r.generation), haproxycfg.ConfigFile)
		if err := replaceFile(path, res.Files[haproxycfg.ConfigFile]); err != nil {
			return out, err
		}
		previous := r.applied.Slots
		r.applied = res
		if r.reloadPending || r.liveStructure != res.Structure {
			// The coming reload loads the files just written.
			out.Change = ChangeReload
			return out, nil
		}
		if err := r.setSlots(ctx, previous, res.Slots); err != nil {
			r.log.Warn("runtime update failed, reloading instead", "err", err)
			r.reloadPending = true
			out.Change = ChangeReload
			return out, nil
		}
		out.Change = ChangeRuntime
		return out, nil
	}
	next := r.generation + 1
	res, err = haproxycfg.Render(routes, r.renderOptions(next, r.applied.Slots))
	if err != nil {
		return out, err
	}
	dir := r.generationDir(next)
	if err := writeGeneration(dir, res.Files); err != nil {
		return out, err
	}
	if err := r.proc.Check(ctx, filepath.Join(dir, haproxycfg.ConfigFile)); err != nil {
		_ = os.RemoveAll(dir)
		return out, fmt.Errorf("apply routes: %w", err)
	}
	if err := r.pointConfigAt(dir); err != nil {
		return out, err
	}
	r.generation, r.applied, r.reloadPending = next, res, true
	// Generations written but never loaded are of no use to anyone.
	if err := r.removeGenerations(r.liveGen, r.generation); err != nil {
		r.log.Warn("cleaning generations", "err", err)
	}
	out.Change = ChangeReload
	return out, nil
}

// setSlots brings the running worker's servers from the previous slot
// table to next; both describe the same backends and slot names.
func (r *Router) setSlots(ctx context.Context, previous, next haproxycfg.Table) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// New and changed servers first, removed ones after: a pod replaced
	// by another never leaves a backend without a ready server between
	// two commands.
	for backend, slots := range next {
		old := previous[backend]
		for i, s := range slots {
			var was haproxycfg.Slot
			if i < len(old) {
				was = old[i]
			}
			if s == was || !s.InUse() {
				continue
			}
			if s.Addr != was.Addr {
				if err := r.runtime.SetServerAddr(ctx, backend, s.Name, s.Addr); err != nil {
					return err
				}
			}
			if s.Weight != was.Weight || !was.InUse() {
				if err := r.runtime.SetServerWeight(ctx, backend, s.Name, s.Weight); err != nil {
					return err
				}
			}
			if !was.InUse() {
				if err := r.runtime.SetServerState(ctx, backend, s.Name, haproxy.StateReady); err != nil {
					return err
				}
			}
		}
	}
	for backend, slots := range next {
		old := previous[backend]
		for i, s := range slots {
			if i < len(old) && old[i].InUse() && !s.InUse() {
				if err := r.runtime.SetServerState(ctx, backend, s.Name, haproxy.StateMaint); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reload asks HAProxy to load the generation the config link points at.
func (r *Router) reload(ctx context.Context) {
	start := time.Now()
	gen, structure := r.generation, r.applied.Structure
	err := r.proc.Reload(ctx)
	r.lastReload, r.reloadErr = time.Now(), err
	if err != nil && ctx.Err() != nil {
		r.log.Info("reload interrupted by stop", "err", err)
		return
	}
	if err != nil {
		r.log.Error("reload failed; the previous configuration keeps serving", "err", err)
		return
	}
	r.reloadPending, r.liveGen, r.liveStructure = false, gen, structure
	r.log.Info("reloaded", "generation", gen, "routes", len(r.applied.Admitted), "took", time.Since(start))
	if err := r.removeGenerations(r.liveGen); err != nil {
		r.log.Warn("cleaning generations", "err", err)
	}
}
