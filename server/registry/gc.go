package registry

import (
	"context"
	"errors"
	"time"
)

// GCResult reports one garbage collection.
type GCResult struct {
	// Blobs are the digests of the blobs deleted.
	Blobs []string
	// Uploads counts the idle upload sessions ended.
	Uploads int
}

// gcBatch bounds the blobs one transaction collects.
const gcBatch = 500

// CollectGarbage deletes the blobs that no manifest references and that
// no upload, mount or manifest touched within grace, and ends the upload
// sessions idle for longer than the configured UploadExpiry. A blob only
// linked into repositories (pushed, never referenced) is garbage once the
// grace has passed: a push uploads its layers just before its manifest,
// well within the grace.
func (reg *Registry) CollectGarbage(ctx context.Context, grace time.Duration) (GCResult, error) {
	reg.gcMu.Lock()
	defer reg.gcMu.Unlock()
	var res GCResult
	now := reg.cfg.Now()
	var errs []error
	for {
		deleted, err := reg.cfg.Store.CollectRegistryBlobs(ctx, now.Add(-grace), gcBatch, reg.disk.removeBlob)
		res.Blobs = append(res.Blobs, deleted...)
		reg.metrics.blobsCollected.Add(float64(len(deleted)))
		if err != nil {
			errs = append(errs, err)
		}
		if err != nil || len(deleted) < gcBatch {
			break
		}
	}
	ids, err := reg.cfg.Store.ExpireRegistryUploads(ctx, now.Add(-reg.cfg.UploadExpiry))
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		if err := reg.disk.removeUpload(id); err != nil {
			errs = append(errs, err)
		}
	}
	res.Uploads = len(ids)
	err = errors.Join(errs...)
	result := "ok"
	if err != nil {
		result = "error"
	}
	reg.metrics.gcRuns.WithLabelValues(result).Inc()
	return res, err
}

// RunGC collects garbage every GCInterval until ctx ends.
func (reg *Registry) RunGC(ctx context.Context) {
	t := time.NewTicker(reg.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := reg.CollectGarbage(ctx, reg.cfg.GCGrace)
		if err != nil && ctx.Err() == nil {
			reg.log.ErrorContext(ctx, "registry garbage collection failed", "error", err)
		}
		if len(res.Blobs) > 0 || res.Uploads > 0 {
			reg.log.InfoContext(ctx, "registry garbage collected", "blobs", len(res.Blobs), "uploads", res.Uploads)
		}
	}
}
