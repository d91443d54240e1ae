package agent

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// DiskUsage is the size and free space of one filesystem, in bytes.
type DiskUsage struct {
	// Capacity is the filesystem's size.
	Capacity uint64
	// Available is what unprivileged writers may still use (statfs's
	// f_bavail, as df reports it).
	Available uint64
}

// UsedPercent is the share of Capacity that is not available, 0–100; 0
// for a filesystem of no size.
func (u DiskUsage) UsedPercent() float64 {
	if u.Capacity == 0 {
		return 0
	}
	return 100 - 100*float64(min(u.Available, u.Capacity))/float64(u.Capacity)
}

// StatFS measures the filesystem holding path with one statfs(2) call. It
// is Config.MeasureDisk's default.
func StatFS(path string) (DiskUsage, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return DiskUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(fs.Frsize)
	if bs == 0 {
		bs = uint64(fs.Bsize)
	}
	return DiskUsage{Capacity: fs.Blocks * bs, Available: fs.Bavail * bs}, nil
}

// contentPluginFilter selects containerd's content store in its introspection
// service; the plugin exports its root directory.
const contentPluginFilter = `type=="io.containerd.content.v1",id=="content"`

// imageFSPath is a path on the filesystem holding containerd's root, where
// images take space: Config.ImageFSPath, else the content store's root as
// containerd reports it (asked once, then remembered), else Runtime.Dir
// while containerd does not answer.
func (a *Agent) imageFSPath(ctx context.Context) string {
	if a.cfg.ImageFSPath != "" {
		return a.cfg.ImageFSPath
	}
	if p := a.imageFS.Load(); p != nil {
		return *p
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := a.ctr.IntrospectionService().Plugins(ctx, contentPluginFilter)
	if err != nil {
		a.log.DebugContext(ctx, "ask containerd for its content store's root", "err", err)
		return a.cfg.Runtime.Dir
	}
	path := a.cfg.Runtime.Dir
	for _, p := range resp.Plugins {
		if root := p.Exports["root"]; root != "" {
			path = root
			break
		}
	}
	a.imageFS.Store(&path)
	return path
}

// measureImageFS measures the filesystem holding containerd's root: the
// one measurement behind both image garbage collection and the
// DiskPressure condition.
func (a *Agent) measureImageFS(ctx context.Context) (DiskUsage, error) {
	path := a.imageFSPath(ctx)
	u, err := a.cfg.MeasureDisk(path)
	if err != nil {
		return DiskUsage{}, fmt.Errorf("measure image filesystem: %w", err)
	}
	return u, nil
}
