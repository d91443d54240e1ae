package ovnstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipway/slipway/sdn/ovsdb"
)

// stopGrace is how long a daemon gets between SIGTERM and SIGKILL; OVS and
// OVN daemons exit ~10 ms after SIGTERM (FIELD-NOTES 2.8).
const stopGrace = 5 * time.Second

// healthWait bounds the check that a survivor of an earlier run answers
// on its control socket before it is adopted.
const healthWait = 2 * time.Second

// daemonSpec says how to run one OVS/OVN daemon in the foreground.
type daemonSpec struct {
	name  string // file stem under dir: <name>.out, <name>.log, <name>.pid
	dir   string
	netns string // run inside this network namespace when set
	bin   string
	args  []string // must include --pidfile=<dir>/<name>.pid (daemonFileArgs)
	env   []string // OVS_RUNDIR and friends
	// healthy tells whether the process pid (a survivor of an earlier
	// run) answers on its control socket; adopt requires it.
	healthy func(ctx context.Context, pid int) error
}

func (s daemonSpec) pidFile() string { return filepath.Join(s.dir, s.name+".pid") }

// daemon is one running OVS/OVN process: a child this process started, or
// a survivor of an earlier run it adopted. Either way its watcher goroutine
// ends when the process exits, which stop guarantees.
//
// The daemons run in their own session without a parent-death signal: when
// the process that started them is killed outright, they keep the datapath
// forwarding, and the next start adopts them (adoptOrStart).
type daemon struct {
	spec    daemonSpec
	osPID   int
	adopted bool
	cmd     *exec.Cmd // nil when adopted

	mu    sync.Mutex
	pidfd int // adopted only: -1 once the process has exited

	done     chan struct{} // closed once the process has exited
	exitErr  error         // valid after done
	stopping atomic.Bool
}

// adoptOrStart adopts the daemon an earlier run left running for spec if
// it runs the same arguments and answers on its control socket; a survivor
// that does not qualify is stopped first. Otherwise, or when adopt is
// false, it starts a new one. unexpected is called (from the watcher
// goroutine) if the process exits without stop being asked for.
func adoptOrStart(ctx context.Context, spec daemonSpec, adopt bool, log *slog.Logger, unexpected func(name string, err error)) (*daemon, error) {
	d, err := survivor(ctx, spec, adopt, log, unexpected)
	if err != nil || d != nil {
		return d, err
	}
	return startDaemon(spec, log, unexpected)
}

// startDaemon starts spec as a child in its own session; unexpected is
// called (from the waiter goroutine) if the process exits without stop
// being asked for.
func startDaemon(spec daemonSpec, log *slog.Logger, unexpected func(name string, err error)) (*daemon, error) {
	out, err := os.OpenFile(filepath.Join(spec.dir, spec.name+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	path, args := spec.bin, spec.args
	if spec.netns != "" {
		path, args = "ip", append([]string{"netns", "exec", spec.netns, spec.bin}, spec.args...)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = spec.dir
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Own session, no parent-death signal: neither a terminal's Ctrl-C
	// (the owner stops the daemons in order) nor the owner being killed
	// reaches the daemon, so pods keep their network.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	d := &daemon{spec: spec, osPID: cmd.Process.Pid, cmd: cmd, pidfd: -1, done: make(chan struct{})}
	log.Debug("ovnstack: started", "daemon", spec.name, "pid", d.osPID)
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		d.exited(err, log, unexpected)
	}()
	return d, nil
}

// exited records the exit and reports it unless it was asked for.
func (d *daemon) exited(err error, log *slog.Logger, unexpected func(name string, err error)) {
	d.exitErr = err
	close(d.done)
	if d.stopping.Load() {
		return
	}
	log.Error("ovnstack: daemon exited unexpectedly", "daemon", d.spec.name, "pid", d.osPID, "err", err)
	if unexpected != nil {
		unexpected(d.spec.name, fmt.Errorf("%s (pid %d) exited unexpectedly: %v; see %s",
			d.spec.name, d.osPID, err, filepath.Join(d.spec.dir, d.spec.name+".log")))
	}
}

// survivor looks for a process of an earlier run named by spec's pid file
// and running with spec's pid file. It returns it adopted when adopt is
// set, it runs exactly spec's arguments and spec.healthy accepts it;
// otherwise it stops it (SIGTERM, SIGKILL after stopGrace) and returns nil.
func survivor(ctx context.Context, spec daemonSpec, adopt bool, log *slog.Logger, unexpected func(name string, err error)) (*daemon, error) {
	b, err := os.ReadFile(spec.pidFile())
	if err != nil {
		return nil, nil // none recorded
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return nil, nil
	}
	// The pidfd pins the process: from here on pid cannot name another.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, nil // gone
	}
	keep := false
	defer func() {
		if !keep {
			_ = unix.Close(pidfd)
		}
	}()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || pidfdExited(pidfd) {
		return nil, nil
	}
	argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	if !slices.Contains(argv, "--pidfile="+spec.pidFile()) {
		return nil, nil // the pid was reused by an unrelated process
	}
	why := "it runs other arguments"
	if !adopt {
		why = "a daemon it depends on was replaced"
	} else if filepath.Base(argv[0]) == filepath.Base(spec.bin) && slices.Equal(argv[1:], spec.args) {
		hctx, cancel := context.WithTimeout(ctx, healthWait)
		err := spec.healthy(hctx, pid)
		cancel()
		if err == nil {
			keep = true
			d := &daemon{spec: spec, osPID: pid, adopted: true, pidfd: pidfd, done: make(chan struct{})}
			log.Info("ovnstack: adopted a daemon of an earlier run", "daemon", spec.name, "pid", pid)
			go d.watch(log, unexpected)
			return d, nil
		}
		why = fmt.Sprintf("it does not answer: %v", err)
	}
	log.Warn("ovnstack: replacing a daemon of an earlier run", "daemon", spec.name, "pid", pid, "reason", why)
	if err := terminate(ctx, pidfd); err != nil {
		return nil, fmt.Errorf("stop the earlier run's %s (pid %d): %w", spec.name, pid, err)
	}
	return nil, nil
}

// watch waits for an adopted process to exit (it is not our child: its
// exit status is unknown) and closes the pidfd.
func (d *daemon) watch(log *slog.Logger, unexpected func(name string, err error)) {
	for {
		fds := []unix.PollFd{{Fd: int32(d.pidfd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, -1); n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			break
		}
	}
	d.mu.Lock()
	_ = unix.Close(d.pidfd)
	d.pidfd = -1
	d.mu.Unlock()
	d.exited(errors.New("adopted process exited (status unknown)"), log, unexpected)
}

// pidfdExited reports whether the process has exited (a zombie counts).
func pidfdExited(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// terminate sends SIGTERM to the process, SIGKILL after stopGrace or when
// ctx ends, and returns once it has exited.
func terminate(ctx context.Context, pidfd int) error {
	if err := unix.PidfdSendSignal(pidfd, unix.SIGTERM, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	deadline := time.Now().Add(stopGrace)
	killed := false
	for !pidfdExited(pidfd) {
		if !killed && (time.Now().After(deadline) || ctx.Err() != nil) {
			if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
			killed = true
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, 50) // wakes on exit; the bound re-checks the deadline
	}
	return nil
}

// signal sends sig to the process; a process that has exited is not an
// error.
func (d *daemon) signal(sig syscall.Signal) error {
	if d.cmd != nil {
		if err := d.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pidfd < 0 {
		return nil
	}
	if err := unix.PidfdSendSignal(d.pidfd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// pid returns the process id.
func (d *daemon) pid() int { return d.osPID }

// hasExited reports whether the process has exited.
func (d *daemon) hasExited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace (or when ctx ends), and
// returns once the process has exited.
func (d *daemon) stop(ctx context.Context) error {
	d.stopping.Store(true)
	if d.hasExited() {
		return nil
	}
	if err := d.signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", d.spec.name, err)
	}
	return d.waitOrKill(ctx)
}

// waitOrKill waits for an exit already requested, killing the process after
// stopGrace or when ctx ends.
func (d *daemon) waitOrKill(ctx context.Context) error {
	d.stopping.Store(true)
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-d.done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	if err := d.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", d.spec.name, err)
	}
	<-d.done // SIGKILL cannot be ignored; the wait is short
	return nil
}

// kill sends SIGKILL without marking the exit as expected: it simulates a
// crash (used by tests of the reconnect and supervision paths).
func (d *daemon) kill() error {
	if err := d.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", d.spec.name, err)
	}
	<-d.done
	return nil
}

// unixctlAnswers checks that an OVS/OVN daemon answers "version" on its
// unixctl socket (ovs-appctl -t <ctl> version).
func unixctlAnswers(ctx context.Context, ctl string) error {
	c, err := ovsdb.Dial(ctx, "unix:"+ctl, ovsdb.Options{NoReconnect: true})
	if err != nil {
		return err
	}
	defer c.Close()
	var version string
	if err := c.Call(ctx, "version", []any{}, &version); err != nil {
		return fmt.Errorf("%s: version: %w", ctl, err)
	}
	return nil
}

// ovsdbAnswers checks that an ovsdb-server answers list_dbs on endpoint.
func ovsdbAnswers(ctx context.Context, endpoint string) error {
	c, err := ovsdb.Dial(ctx, endpoint, ovsdb.Options{NoReconnect: true})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ListDatabases(ctx)
	return err
}
