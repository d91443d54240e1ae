// Package containerd starts and stops a private containerd daemon for one
// node agent or one test run: its root, state, sockets and opt directory all
// live under one directory, it runs as a foreground child of the caller, and
// it is stopped by PID. Containers it started keep running while it is down
// (their shims are not its children), so a restart does not disturb them.
package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// Config says where and how to run the daemon.
type Config struct {
	// Dir holds everything the daemon writes: config.toml, root/, state/,
	// opt/, containerd.sock, containerd.log. Required; created if missing.
	Dir string
	// Binary is the containerd executable; default "containerd" from PATH.
	Binary string
	// Runc is the runc executable whose version is reported; default "runc".
	Runc string
	// Namespace is the default containerd namespace of Client; default "slipway".
	Namespace string
	// StartTimeout bounds the wait for the socket to answer; default 15 s.
	StartTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL; default 10 s.
	StopTimeout time.Duration
	// Logger receives start and stop messages; default slog.Default().
	Logger *slog.Logger
}

// Versions names the software the daemon runs with.
type Versions struct {
	Containerd string // e.g. "1.6.20~ds1"
	Revision   string // containerd's build revision
	Runc       string // e.g. "1.1.5+ds1"
}

// Daemon is one running containerd child process.
type Daemon struct {
	cfg      Config
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been waited for
	waitErr  error         // valid after exited is closed
	client   *client.Client
	versions Versions
	logFile  *os.File
}

// Start writes the daemon's config, starts containerd as a child process and
// returns once its gRPC socket answers a version call. On error nothing is
// left running.
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Dir == "" {
		return nil, errors.New("containerd: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("containerd: resolve dir: %w", err)
	}
	cfg.Dir = dir
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	if cfg.Runc == "" {
		cfg.Runc = "runc"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "slipway"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 15 * time.Second
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("containerd: find binary: %w", err)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("containerd: create dir: %w", err)
	}
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(renderConfig(dir)), 0o600); err != nil {
		return nil, fmt.Errorf("containerd: write config: %w", err)
	}
	// A daemon of an earlier run whose parent was killed still holds the
	// directory (its socket, its metadata lock): stop it first. Its
	// containers keep running and the new daemon finds them.
	if err := stopSurvivor(ctx, dir, configPath, cfg); err != nil {
		return nil, err
	}
	// A socket file left by a daemon that was killed would make the new
	// daemon fail to listen.
	for _, sock := range []string{socketPath(dir), socketPath(dir) + ".ttrpc", filepath.Join(dir, "debug.sock")} {
		if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("containerd: remove stale socket: %w", err)
		}
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("containerd: open log: %w", err)
	}
	cmd := exec.Command(bin, "--config", configPath)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group: a terminal's Ctrl-C reaches the agent, which then
	// stops the daemon in order, instead of reaching both at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("containerd: start %s: %w", bin, err)
	}
	d := &Daemon{cfg: cfg, cmd: cmd, exited: make(chan struct{}), logFile: logFile}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	cfg.Logger.InfoContext(ctx, "containerd started", "pid", cmd.Process.Pid, "dir", dir)
	if err := os.WriteFile(pidPath(dir), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		stopErr := d.Stop(context.WithoutCancel(ctx))
		return nil, errors.Join(fmt.Errorf("containerd: write pid file: %w", err), stopErr)
	}

	if err := d.waitReady(ctx); err != nil {
		stopErr := d.Stop(context.WithoutCancel(ctx))
		return nil, errors.Join(err, stopErr)
	}
	runcVersion, err := RuncVersion(ctx, cfg.Runc)
	if err != nil {
		stopErr := d.Stop(context.WithoutCancel(ctx))
		return nil, errors.Join(err, stopErr)
	}
	d.versions.Runc = runcVersion
	return d, nil
}

// waitReady polls the version call until it answers, the process exits, or
// the start timeout passes.
func (d *Daemon) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout)
	defer cancel()
	c, err := client.New(d.Address(), client.WithDefaultNamespace(d.cfg.Namespace), client.WithTimeout(d.cfg.StartTimeout))
	if err != nil {
		return fmt.Errorf("containerd: connect to %s: %w", d.Address(), err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		v, err := c.Version(ctx)
		if err == nil {
			d.client = c
			d.versions.Containerd = v.Version
			d.versions.Revision = v.Revision
			return nil
		}
		lastErr = err
		select {
		case <-d.exited:
			c.Close()
			return fmt.Errorf("containerd: exited before answering (%v); see %s", d.waitErr, filepath.Join(d.cfg.Dir, "containerd.log"))
		case <-ctx.Done():
			c.Close()
			return fmt.Errorf("containerd: not answering on %s: %w (last error: %v)", d.Address(), ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// Address is the path of the daemon's gRPC socket.
func (d *Daemon) Address() string { return socketPath(d.cfg.Dir) }

// Namespace is the default namespace of Client.
func (d *Daemon) Namespace() string { return d.cfg.Namespace }

// Client is a connected client whose default namespace is Config.Namespace.
// It is closed by Stop.
func (d *Daemon) Client() *client.Client { return d.client }

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Versions reports the containerd and runc versions in use.
func (d *Daemon) Versions() Versions { return d.versions }

// Stop closes the client, sends SIGTERM, waits up to StopTimeout (or ctx)
// for the daemon to exit and then sends SIGKILL and waits again. It returns
// once the process is gone, so the same Dir can be reused at once. Running
// containers are not stopped. Stop is safe to call more than once.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.client != nil {
		d.client.Close()
		d.client = nil
	}
	defer d.logFile.Close()
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("containerd: signal pid %d: %w", d.PID(), err)
	}
	timer := time.NewTimer(d.cfg.StopTimeout)
	defer timer.Stop()
	select {
	case <-d.exited:
		d.cfg.Logger.InfoContext(ctx, "containerd stopped", "pid", d.PID())
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	d.cfg.Logger.WarnContext(ctx, "containerd did not exit after SIGTERM, killing", "pid", d.PID())
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("containerd: kill pid %d: %w", d.PID(), err)
	}
	<-d.exited // SIGKILL cannot be ignored; the wait is short.
	return nil
}

// RuncVersion runs `runc --version` and returns the version on its first line.
func RuncVersion(ctx context.Context, runc string) (string, error) {
	out, err := exec.CommandContext(ctx, runc, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("containerd: run %s --version: %w", runc, err)
	}
	first, _, _ := bytes.Cut(out, []byte("\n"))
	v, ok := strings.CutPrefix(string(first), "runc version ")
	if !ok {
		return "", fmt.Errorf("containerd: unexpected %s --version output %q", runc, first)
	}
	return strings.TrimSpace(v), nil
}

func socketPath(dir string) string { return filepath.Join(dir, "containerd.sock") }

func pidPath(dir string) string { return filepath.Join(dir, "containerd.pid") }

// stopSurvivor stops the daemon the pid file names if it still runs with
// this directory's configuration: SIGTERM, then SIGKILL after StopTimeout.
func stopSurvivor(ctx context.Context, dir, configPath string, cfg Config) error {
	b, err := os.ReadFile(pidPath(dir))
	if err != nil {
		return nil // none recorded
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	alive := func() bool {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err == nil && strings.Contains(string(cmdline), "\x00"+configPath)
	}
	if !alive() {
		return nil
	}
	cfg.Logger.InfoContext(ctx, "containerd of an earlier run still runs; stopping it", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(cfg.StopTimeout)
	for alive() {
		if time.Now().After(deadline) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("containerd: kill the earlier run's daemon (pid %d): %w", pid, err)
			}
			deadline = time.Now().Add(cfg.StopTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd: wait for the earlier run's daemon (pid %d) to stop: %w", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling a process we cannot wait for
		}
	}
	return nil
}

// renderConfig returns a version 2 config that keeps root, state, sockets
// and the opt plugin under dir. The CRI plugin and the snapshotters that
// cannot work here are disabled: Slipway drives containers itself.
func renderConfig(dir string) string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	return `version = 2
root = ` + q(filepath.Join(dir, "root")) + `
state = ` + q(filepath.Join(dir, "state")) + `
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = ` + q(socketPath(dir)) + `
[ttrpc]
  address = ` + q(socketPath(dir)+".ttrpc") + `
[debug]
  address = ` + q(filepath.Join(dir, "debug.sock")) + `
  level = "info"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ` + q(filepath.Join(dir, "opt")) + `
`
}
