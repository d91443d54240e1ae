package agent

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
)

// Image garbage collection keeps the filesystem holding containerd's root
// below ImageGCHighThresholdPercent used. When a pass finds it at or above
// that, it deletes the node's images that no container and no pod bound to
// the node uses, least recently used first, until the filesystem is below
// ImageGCLowThresholdPercent (measured again after each deletion, which
// waits for containerd to free the content and snapshots). An image is
// never deleted while a container, running or stopped, references it, nor
// while a pod bound here names it: only images of Slipway's registry can
// be pulled again, so another deleted image could not come back for a pod
// about to start.
//
// "Recently used" is when this agent last saw a container use the image,
// else the image's UpdatedAt in containerd (its import time, unless
// relabelled): an agent that restarts forgets what it saw, and orders the
// images it did not see in use since by import time.

// imageGC is the state of the GC loop, owned by its goroutine.
type imageGC struct {
	lastUsed map[string]time.Time // image name → last pass that saw it in use
}

// runImageGC runs a GC pass every ImageGCInterval until ctx ends.
func (a *Agent) runImageGC(ctx context.Context) {
	gc := &imageGC{lastUsed: map[string]time.Time{}}
	t := time.NewTicker(a.cfg.ImageGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.collectImages(ctx, gc); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "image garbage collection", "err", err)
		}
	}
}

// collectImages is one GC pass. It costs one statfs when the disk is below
// the high threshold; above it, a listing of images and containers, then a
// synchronous deletion and a statfs per image removed.
func (a *Agent) collectImages(ctx context.Context, gc *imageGC) error {
	usage, err := a.measureImageFS(ctx)
	if err != nil {
		return err
	}
	high, low := float64(a.cfg.ImageGCHighThresholdPercent), float64(a.cfg.ImageGCLowThresholdPercent)
	if usage.UsedPercent() < high {
		return nil
	}
	if !a.pods.isSynced() {
		return nil // pods about to start are not known yet
	}
	ctx = a.ns(ctx)
	now := a.cfg.Now()
	inUse, err := a.imagesInUse(ctx)
	if err != nil {
		return err
	}
	for name := range inUse {
		gc.lastUsed[name] = now
	}
	all, err := a.ctr.ImageService().List(ctx)
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var candidates []images.Image
	present := map[string]bool{}
	for _, img := range all {
		present[img.Name] = true
		if !inUse[img.Name] {
			candidates = append(candidates, img)
		}
	}
	for name := range gc.lastUsed {
		if !present[name] {
			delete(gc.lastUsed, name)
		}
	}
	lastUsed := func(img images.Image) time.Time {
		if t, ok := gc.lastUsed[img.Name]; ok && t.After(img.UpdatedAt) {
			return t
		}
		return img.UpdatedAt
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		ti, tj := lastUsed(candidates[i]), lastUsed(candidates[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return candidates[i].Name < candidates[j].Name
	})
	a.log.InfoContext(ctx, "image filesystem above the GC threshold", "usedPercent", int(usage.UsedPercent()),
		"highPercent", a.cfg.ImageGCHighThresholdPercent, "unusedImages", len(candidates))
	var deleted int
	var reclaimed int64
	defer func() {
		if deleted > 0 {
			a.log.InfoContext(ctx, "images garbage collected", "images", deleted, "bytes", reclaimed,
				"usedPercent", int(usage.UsedPercent()))
		}
	}()
	for _, img := range candidates {
		// Containers are only created for pods in the cache, so a fresh
		// look at it covers what was bound since inUse was taken.
		if a.pods.usesImage(img.Name) {
			continue
		}
		// The content size: layers shared with a kept image are counted
		// but not freed.
		size, err := client.NewImage(a.ctr, img).Size(ctx)
		if err != nil {
			size = 0
		}
		err = a.ctr.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete image %s: %w", img.Name, err)
		}
		deleted++
		reclaimed += size
		a.metrics.imageGCImages.Inc()
		a.metrics.imageGCBytes.Add(float64(size))
		delete(gc.lastUsed, img.Name)
		a.log.InfoContext(ctx, "image deleted by garbage collection", "image", img.Name, "bytes", size)
		if usage, err = a.measureImageFS(ctx); err != nil {
			return err
		}
		if usage.UsedPercent() < low {
			return nil
		}
	}
	return fmt.Errorf("image filesystem still %.0f%% used after deleting every unused image (%d); the low threshold is %d%%",
		usage.UsedPercent(), deleted, a.cfg.ImageGCLowThresholdPercent)
}

// imagesInUse names the images that a container of the node's namespace,
// whatever its state, or a pod bound to the node references.
func (a *Agent) imagesInUse(ctx context.Context) (map[string]bool, error) {
	cs, err := a.ctr.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	inUse := a.pods.images()
	for _, c := range cs {
		inUse[c.Image] = true
	}
	return inUse, nil
}
