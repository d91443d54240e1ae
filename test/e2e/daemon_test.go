package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemon is a slipway process (server, node or router) a test starts,
// kills and starts again with the same arguments.
type daemon struct {
	t      *testing.T
	name   string
	args   []string
	env    []string
	cmd    *exec.Cmd
	stderr *strings.Builder
	exited chan error
}

func startDaemon(t *testing.T, name string, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, args: args, env: env}
	d.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's log (end):\n%s", d.name, tail(d.stderr.String(), 3000))
		}
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.exited:
			case <-time.After(30 * time.Second):
				_ = d.cmd.Process.Kill()
			}
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.cmd = exec.Command(binary(d.t, "slipway"), d.args...)
	d.cmd.Env = append(os.Environ(), d.env...)
	d.stderr = &strings.Builder{}
	d.cmd.Stderr = &lockedWriter{w: d.stderr}
	d.exited = make(chan error, 1)
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start %s: %v", d.name, err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
}

// stop sends sig and waits for the process to end; SIGTERM must end it
// cleanly.
func (d *daemon) stop(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %s: %v", d.name, err)
	}
	select {
	case err := <-d.exited:
		if sig == syscall.SIGTERM && err != nil {
			d.t.Fatalf("%s exited with %v after SIGTERM\n%s", d.name, err, d.stderr)
		}
	case <-time.After(30 * time.Second):
		d.t.Fatalf("%s did not stop within 30 s of %v\n%s", d.name, sig, d.stderr)
	}
}

// restart stops the process with sig and starts it again.
func (d *daemon) restart(sig syscall.Signal) {
	d.t.Helper()
	d.stop(sig)
	d.start()
}

// alive fails the test if the process has ended.
func (d *daemon) alive() {
	d.t.Helper()
	select {
	case err := <-d.exited:
		d.t.Fatalf("%s exited: %v\n%s", d.name, err, d.stderr)
	default:
	}
}
