package builder

import (
	"context"
	"fmt"

	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/slipway/slipway/api/quantity"
	"github.com/slipway/slipway/builder/s2i"
	"github.com/slipway/slipway/node/runtime"
)

// saveArtifactsContainer is the container running save-artifacts in the
// previous image; it carries the pod's labels so deleting the pod removes
// it if the executor could not.
const saveArtifactsContainer = "save-artifacts"

// saveArtifacts runs save-artifacts in the previous output image, if
// there is one, and keeps its tar output for assemble (/tmp/artifacts). A
// missing previous image or script makes the build a full one; a failing
// script fails the build.
func (e *Executor) saveArtifacts(ctx context.Context, j *job, p *plan) error {
	sc, ok := p.scripts[s2i.SaveArtifacts]
	if !ok {
		fmt.Fprintln(j.log, "Incremental build: the builder has no save-artifacts script, building from scratch")
		return nil
	}
	out := j.build.Spec.Output.To.Name
	prev, err := e.ctr.GetImage(ctx, out)
	if e.pushes(out) {
		// The registry holds the latest output, whichever node built it.
		if pulled, perr := e.ctr.Pull(ctx, out, client.WithResolver(e.resolver(j.pushToken)),
			client.WithPullSnapshotter(e.opts.Runtime.Snapshotter)); perr == nil {
			prev, err = pulled, nil
		}
	}
	if err != nil {
		fmt.Fprintf(j.log, "Incremental build: no previous image %s, building from scratch\n", out)
		return nil
	}
	if ok, _ := prev.IsUnpacked(ctx, e.opts.Runtime.Snapshotter); !ok {
		if err := prev.Unpack(ctx, e.opts.Runtime.Snapshotter); err != nil {
			return fmt.Errorf("unpack previous image: %w", err)
		}
	}
	fmt.Fprintf(j.log, "Incremental build: saving artifacts of %s ...\n", out)
	tarPath := filepath.Join(j.dir, "artifacts.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		return fmt.Errorf("save artifacts: %w", err)
	}
	defer f.Close()
	id := runtime.ContainerID(j.pod.UID, saveArtifactsContainer)
	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(prev),
		oci.WithProcessArgs(sc.Path),
		oci.WithUserID(uint32(p.uid)),
		oci.WithProcessCwd("/"),
		oci.WithNoNewPrivileges,
		oci.WithCapabilities(nil),
	}
	if m := j.container.Resources.Limits.Memory; m != "" {
		if limit, err := quantity.Bytes(m); err == nil {
			specOpts = append(specOpts, oci.WithMemoryLimit(uint64(limit)))
		}
	}
	if host, ok := p.scriptFiles[s2i.SaveArtifacts]; ok {
		// A script from the source or URL is not in the previous image.
		specOpts = append(specOpts, oci.WithMounts([]specs.Mount{{Destination: sc.Path, Type: "bind", Source: host, Options: []string{"rbind", "ro"}}}))
	}
	specOpts = append(specOpts, seccomp.WithDefaultProfile())
	ctr, err := e.ctr.NewContainer(ctx, id,
		client.WithImage(prev),
		client.WithSnapshotter(e.opts.Runtime.Snapshotter),
		client.WithNewSnapshot(id, prev),
		client.WithContainerLabels(map[string]string{
			runtime.LabelPodUID: j.pod.UID, runtime.LabelPodProject: j.pod.Project, runtime.LabelPodName: j.pod.Name,
			runtime.LabelContainerName: saveArtifactsContainer,
		}),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		return fmt.Errorf("save artifacts: create container: %w", err)
	}
	defer func() {
		cctx := context.WithoutCancel(ctx)
		if t, err := ctr.Task(cctx, nil); err == nil {
			t.Delete(cctx, client.WithProcessKill)
		}
		ctr.Delete(cctx, client.WithSnapshotCleanup)
	}()
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, f, j.log)))
	if err != nil {
		return fmt.Errorf("save artifacts: create task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("save artifacts: start: %w", err)
	}
	code, err := waitTask(ctx, ctr)
	if err != nil {
		return fmt.Errorf("save artifacts: %w", err)
	}
	// The IO copy ends after the process; wait for it before reading.
	task.CloseIO(ctx)
	if io := task.IO(); io != nil {
		io.Wait()
	}
	if code != 0 {
		return &assembleError{script: s2i.SaveArtifacts, code: code}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save artifacts: %w", err)
	}
	fi, _ := f.Stat()
	if fi != nil {
		fmt.Fprintf(j.log, "Saved %d bytes of artifacts\n", fi.Size())
	}
	p.artifacts = tarPath
	return nil
}
