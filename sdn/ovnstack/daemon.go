package ovnstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slipway/slipway/internal/pinnedfork"
)

// stopGrace is how long a daemon gets between SIGTERM and SIGKILL; OVS and
// OVN daemons exit ~10 ms after SIGTERM (FIELD-NOTES 2.8).
const stopGrace = 5 * time.Second

// daemonSpec says how to run one OVS/OVN daemon in the foreground.
type daemonSpec struct {
	name  string // file stem under dir: <name>.out, <name>.log, <name>.pid
	dir   string
	netns string // run inside this network namespace when set
	bin   string
	args  []string
	env   []string // OVS_RUNDIR and friends
}

// daemon is one running foreground child. Its waiter goroutine ends when the
// process exits, which stop guarantees.
type daemon struct {
	spec     daemonSpec
	cmd      *exec.Cmd
	done     chan struct{} // closed once the process has been waited for
	exitErr  error         // valid after done
	stopping atomic.Bool
}

// startDaemon starts spec; unexpected is called (from the waiter goroutine)
// if the process exits without stop being asked for.
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
	// Never outlive the parent, even if it is killed without cleaning up.
	// Pdeathsig follows the forking thread, hence the pinned one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := pinnedfork.Start(cmd); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	d := &daemon{spec: spec, cmd: cmd, done: make(chan struct{})}
	log.Debug("ovnstack: started", "daemon", spec.name, "pid", cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		d.exitErr = err
		close(d.done)
		if !d.stopping.Load() {
			log.Error("ovnstack: daemon exited unexpectedly", "daemon", spec.name, "err", err)
			if unexpected != nil {
				unexpected(spec.name, fmt.Errorf("%s (pid %d) exited unexpectedly: %v; see %s",
					spec.name, cmd.Process.Pid, err, filepath.Join(spec.dir, spec.name+".log")))
			}
		}
	}()
	return d, nil
}

// pid returns the process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// exited reports whether the process has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace (or when ctx ends), and
// returns once the process has been waited for.
func (d *daemon) stop(ctx context.Context) error {
	d.stopping.Store(true)
	if d.exited() {
		return nil
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
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
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", d.spec.name, err)
	}
	<-d.done // SIGKILL cannot be ignored; the wait is short
	return nil
}

// kill sends SIGKILL without marking the exit as expected: it simulates a
// crash (used by tests of the reconnect and supervision paths).
func (d *daemon) kill() error {
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", d.spec.name, err)
	}
	<-d.done
	return nil
}
