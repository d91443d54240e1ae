package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/slipway/slipway/node/runtime"
)

// Container logs are bounded by size. The shim writes a container's stdout
// and stderr to <name>.log itself, holding it open with O_APPEND, so the
// agent cannot make it switch files; instead, past ContainerLogMaxSize, the
// agent copies the file to <name>.log.1 (shifting older copies to .2 … up
// to ContainerLogMaxFiles, dropping the oldest) and truncates the live file
// in place. With O_APPEND the shim's next write lands at the new end, 0, so
// the file neither keeps its old size nor gets a hole. What the container
// writes between the end of the copy and the truncation is lost: a few
// lines at most, as with logrotate's copytruncate.
//
// The logs endpoint serves the live file only; rotated copies are for
// someone on the node. A restart moves the live file to <name>.log.previous
// and removes the rotated copies, which belong to the instance that ended.
// Deleting the pod removes its whole log directory.

// rotatedLogPath is the n-th rotated copy of a live log, 1 the newest.
func rotatedLogPath(live string, n int) string { return live + "." + strconv.Itoa(n) }

// runLogRotation checks every running container's log every
// LogCheckInterval until ctx ends.
func (a *Agent) runLogRotation(ctx context.Context) {
	t := time.NewTicker(a.cfg.LogCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.rotateLogs(ctx); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "rotate container logs", "err", err)
		}
	}
}

// rotateLogs rotates the log of every running container that has reached
// ContainerLogMaxSize. It costs one containerd listing of the node's pods
// and one stat per running container.
func (a *Agent) rotateLogs(ctx context.Context) error {
	pods, err := a.rt.ListPods(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		for _, c := range p.Containers {
			if c.State != runtime.StateRunning {
				continue // nobody writes to it
			}
			path := c.LogPath
			if path == "" {
				path = a.rt.LogPath(p.UID, c.Name)
			}
			rotated, err := a.rotateLog(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("pod %s container %s: %w", p.UID, c.Name, err))
				continue
			}
			if rotated {
				a.metrics.logRotations.Inc()
				a.log.DebugContext(ctx, "container log rotated", "project", p.Project, "name", p.Name, "container", c.Name)
			}
		}
	}
	return errors.Join(errs...)
}

// rotateLog rotates the live log at path if it has reached
// ContainerLogMaxSize, and reports whether it did. It holds logFiles so
// that a restart does not move the file meanwhile.
func (a *Agent) rotateLog(path string) (bool, error) {
	a.logFiles.Lock()
	defer a.logFiles.Unlock()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Size() < a.cfg.ContainerLogMaxSize {
		return false, nil
	}
	keep := a.cfg.ContainerLogMaxFiles
	if err := os.Remove(rotatedLogPath(path, keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	for n := keep - 1; n >= 1; n-- {
		if err := os.Rename(rotatedLogPath(path, n), rotatedLogPath(path, n+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	if err := copyFile(path, rotatedLogPath(path, 1)); err != nil {
		return false, err
	}
	if err := os.Truncate(path, 0); err != nil {
		return false, fmt.Errorf("truncate %s: %w", path, err)
	}
	return true, nil
}

// removeRotatedLogs removes the rotated copies of a live log. The caller
// holds logFiles.
func (a *Agent) removeRotatedLogs(path string) error {
	var errs []error
	for n := 1; n <= a.cfg.ContainerLogMaxFiles; n++ {
		if err := os.Remove(rotatedLogPath(path, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// copyFile copies src to dst through a temporary file, so that dst is
// never seen half written.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
