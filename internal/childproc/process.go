package childproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a peer running in the foreground, its output appended to a
// log file. It is killed if this process dies (Pdeathsig) and outlives
// any context: call Stop to end it.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs bin with args in dir, appending stdout and stderr to logPath.
// name prefixes errors ("slapd: start: …").
func Start(name, dir, logPath, bin string, args ...string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	p := &Process{name: name, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogTail is the end of the process's log, to explain a failure.
func (p *Process) LogTail() string { return LogTail(p.logPath) }

// WaitTCP polls addr every interval until it accepts a connection, the
// process exits, or ctx ends.
func (p *Process) WaitTCP(ctx context.Context, addr string, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var d net.Dialer
		if conn, err := d.DialContext(ctx, "tcp", addr); err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start-up: %v", p.name, p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ErrKilled reports that Stop had to kill a process that ignored sig.
var ErrKilled = errors.New("ignored the stop signal and was killed")

// Stop sends sig, waits up to grace for the exit, then SIGKILL; it returns
// once the process is gone. SIGKILL as sig kills at once. The error wraps
// ErrKilled when the grace ran out.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: signal pid %d: %w", p.name, p.PID(), err)
	}
	if sig == syscall.SIGKILL {
		<-p.exited
		return nil
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return nil
	case <-timer.C:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: kill pid %d: %w", p.name, p.PID(), err)
	}
	<-p.exited
	return fmt.Errorf("%s pid %d: %w", p.name, p.PID(), ErrKilled)
}
