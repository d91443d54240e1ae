package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/slipway/slipway/node/runtime"
)

// The runtime runs and removes whole pods. Restarting one container of a
// running pod is done here, on the same containerd container: its task is
// deleted and a new one started in the pod's network namespace, so the pod
// keeps its IP and the other containers are untouched. The container's
// root filesystem (its snapshot) is kept across restarts, as `docker
// restart` does; Kubernetes would give it a fresh one.

// ErrContainerNotFound: the pod has no such container on this node.
var ErrContainerNotFound = errors.New("container not found")

func (a *Agent) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, a.cfg.Runtime.Namespace)
}

// previousLogPath is where a container's log moves when it restarts.
func previousLogPath(current string) string { return current + ".previous" }

// restartContainer replaces the exited task of a container with a new one.
// The log of the instance that ended becomes the previous log.
func (a *Agent) restartContainer(ctx context.Context, uid, name string) error {
	ctx = a.ns(ctx)
	c, err := a.ctr.LoadContainer(ctx, runtime.ContainerID(uid, name))
	if err != nil {
		return fmt.Errorf("load container %s of pod %s: %w", name, uid, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of %s: %w", name, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("load task of %s: %w", name, err)
	}
	logPath := a.rt.LogPath(uid, name)
	if err := a.keepPreviousLog(logPath); err != nil {
		return fmt.Errorf("keep previous log of %s: %w", name, err)
	}
	task, err := c.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		return fmt.Errorf("create task of %s: %w", name, err)
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), client.WithProcessKill)
		return fmt.Errorf("start task of %s: %w", name, err)
	}
	return nil
}

// keepPreviousLog makes the live log the previous one, replacing the
// instance before, and removes the rotated copies of the instance that
// ended (see logrotate.go). The new task creates a fresh live log.
func (a *Agent) keepPreviousLog(live string) error {
	a.logFiles.Lock()
	defer a.logFiles.Unlock()
	if err := os.Rename(live, previousLogPath(live)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return a.removeRotatedLogs(live)
}

// stopContainer sends SIGTERM to a container's main process, waits up to
// grace, then SIGKILLs every process of it, and waits for the exit.
func (a *Agent) stopContainer(ctx context.Context, uid, name string, grace time.Duration) error {
	ctx = a.ns(ctx)
	c, err := a.ctr.LoadContainer(ctx, runtime.ContainerID(uid, name))
	if err != nil {
		return fmt.Errorf("load container %s: %w", name, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load task of %s: %w", name, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := task.Wait(wctx)
	if err != nil {
		return fmt.Errorf("wait for %s: %w", name, err)
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return fmt.Errorf("signal %s: %w", name, err)
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// execIn runs cmd in a running container, as the container's user, with
// its environment and working directory, copying stdin (nil for none) to
// it and its output to stdout and stderr. It returns the exit code once the
// process has ended and its output is copied; cancelling ctx kills it.
func (a *Agent) execIn(ctx context.Context, uid, name string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return 0, errors.New("exec: no command")
	}
	ctx = a.ns(ctx)
	c, err := a.ctr.LoadContainer(ctx, runtime.ContainerID(uid, name))
	if errdefs.IsNotFound(err) {
		return 0, fmt.Errorf("exec in %s: %w", name, ErrContainerNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("exec: load container %s: %w", name, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("exec: spec of %s: %w", name, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("exec: container %s is not running: %w", name, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false
	var idBytes [6]byte
	_, _ = rand.Read(idBytes[:])
	execID := "exec-" + hex.EncodeToString(idBytes[:])
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var in io.Reader
	stdinDone := make(chan struct{})
	if stdin != nil {
		in = &eofReader{r: stdin, done: stdinDone}
	}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(in, stdout, stderr)))
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", name, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() { _, _ = proc.Delete(cleanup, client.WithProcessKill) }()
	statusC, err := proc.Wait(cleanup)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: wait: %w", name, err)
	}
	if err := proc.Start(ctx); err != nil {
		return 0, fmt.Errorf("exec in %s: start: %w", name, err)
	}
	if stdin != nil {
		// cio closes its end of the FIFO at EOF; the shim must be told too
		// (CloseIO) for the process to read EOF.
		exited := make(chan struct{})
		defer close(exited)
		go func() {
			select {
			case <-stdinDone:
				_ = proc.CloseIO(cleanup, client.WithStdinCloser)
			case <-exited:
			}
		}()
	}
	var st client.ExitStatus
	select {
	case st = <-statusC:
	case <-ctx.Done():
		_ = proc.Kill(cleanup, syscall.SIGKILL)
		st = <-statusC
		proc.IO().Cancel()
		return 0, fmt.Errorf("exec in %s: %w", name, ctx.Err())
	}
	proc.IO().Wait()
	code, _, err := st.Result()
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", name, err)
	}
	return int(code), nil
}

// eofReader closes done once r is exhausted (or fails).
type eofReader struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}
