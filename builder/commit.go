package builder

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slipway/slipway/builder/s2i"
	"github.com/slipway/slipway/node/runtime"
)

// uncompressedLabel is where containerd's differ records a layer's diff ID.
const uncompressedLabel = "containerd.io/uncompressed"

// commitAndPush turns the build container's filesystem changes into a
// layer on top of the builder image, writes the output image (config,
// manifest, image record named by the output reference) and pushes it.
func (e *Executor) commitAndPush(ctx context.Context, j *job, builder client.Image, spec ocispec.Image, p *plan) error {
	out := j.build.Spec.Output.To.Name
	commitStart := e.opts.Now()
	// The lease keeps the new blobs from garbage collection until the image
	// record references them.
	ctx, done, err := e.ctr.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("commit: lease: %w", err)
	}
	defer done(context.WithoutCancel(ctx))
	fmt.Fprintln(j.log, "Committing the build container's changes ...")
	ctr, err := e.ctr.LoadContainer(ctx, runtime.ContainerID(j.pod.UID, ContainerName))
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	info, err := ctr.Info(ctx)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	layer, err := rootfs.CreateDiff(ctx, info.SnapshotKey, e.ctr.SnapshotService(info.Snapshotter), e.ctr.DiffService(),
		diff.WithMediaType(ocispec.MediaTypeImageLayerGzip), diff.WithReference("slipway-build-"+j.pod.UID))
	if err != nil {
		return fmt.Errorf("commit: diff the build container: %w", err)
	}
	diffID, err := digest.Parse(layer.Annotations[uncompressedLabel])
	if err != nil {
		// Older differs leave the label on the content only.
		cinfo, cerr := e.ctr.ContentStore().Info(ctx, layer.Digest)
		if cerr != nil {
			return fmt.Errorf("commit: layer info: %w", cerr)
		}
		if diffID, err = digest.Parse(cinfo.Labels[uncompressedLabel]); err != nil {
			return fmt.Errorf("commit: layer %s has no diff ID", layer.Digest)
		}
	}
	layer.Annotations = nil
	manifest, err := images.Manifest(ctx, e.ctr.ContentStore(), builder.Target(), platforms.Default())
	if err != nil {
		return fmt.Errorf("commit: builder manifest: %w", err)
	}
	now := e.opts.Now().UTC()
	img := spec
	img.Created = &now
	img.Config = s2i.OutputConfig(spec.Config, j.info, p.scripts, p.fileEnv, p.strategyEnv)
	img.RootFS.DiffIDs = append(slices.Clone(spec.RootFS.DiffIDs), diffID)
	img.History = append(slices.Clone(spec.History), ocispec.History{Created: &now,
		CreatedBy: "slipway s2i build " + j.info.Namespace + "/" + j.info.Name + ": " + p.scripts[s2i.Assemble].Path,
		Comment:   "source " + j.info.SourceURI + " " + j.info.Commit})
	cfgJSON, err := json.Marshal(img)
	if err != nil {
		return fmt.Errorf("commit: encode config: %w", err)
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgJSON), Size: int64(len(cfgJSON))}
	layers := append(slices.Clone(manifest.Layers), layer)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers}
	m.SchemaVersion = 2
	mJSON, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("commit: encode manifest: %w", err)
	}
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mJSON), Size: int64(len(mJSON))}
	cs := e.ctr.ContentStore()
	if err := content.WriteBlob(ctx, cs, "config-"+cfgDesc.Digest.String(), bytes.NewReader(cfgJSON), cfgDesc); err != nil {
		return fmt.Errorf("commit: write config: %w", err)
	}
	gcRefs := map[string]string{"containerd.io/gc.ref.content.config": cfgDesc.Digest.String()}
	for i, l := range layers {
		gcRefs[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	if err := content.WriteBlob(ctx, cs, "manifest-"+mDesc.Digest.String(), bytes.NewReader(mJSON), mDesc, content.WithLabels(gcRefs)); err != nil {
		return fmt.Errorf("commit: write manifest: %w", err)
	}
	record := images.Image{Name: out, Target: mDesc, Labels: map[string]string{"slipway.io/build": j.info.Namespace + "/" + j.info.Name}}
	is := e.ctr.ImageService()
	if _, err := is.Create(ctx, record); errdefs.IsAlreadyExists(err) {
		_, err = is.Update(ctx, record)
		if err != nil {
			return fmt.Errorf("commit: update image %s: %w", out, err)
		}
	} else if err != nil {
		return fmt.Errorf("commit: create image %s: %w", out, err)
	}
	j.result.Image, j.result.OutputDigest = out, mDesc.Digest.String()
	fmt.Fprintf(j.log, "Committed %s: layer %s (%d bytes), image %s\n", out, layer.Digest, layer.Size, mDesc.Digest)
	e.metrics.steps.WithLabelValues(stepCommit).Observe(e.opts.Now().Sub(commitStart).Seconds())
	if !e.pushes(out) {
		fmt.Fprintf(j.log, "Not pushing %s: no registry host in the reference\n", out)
		return nil
	}
	fmt.Fprintf(j.log, "Pushing image %s ...\n", out)
	pushStart := e.opts.Now()
	if err := e.ctr.Push(ctx, out, mDesc, client.WithResolver(e.resolver(j.pushToken))); err != nil {
		return fmt.Errorf("push %s: %w", out, err)
	}
	e.metrics.steps.WithLabelValues(stepPush).Observe(e.opts.Now().Sub(pushStart).Seconds())
	fmt.Fprintf(j.log, "Push successful\n")
	return nil
}

// pushes reports whether a reference names a registry host ("host:port/…"
// or "host.domain/…"); other references stay in the node's containerd.
func (e *Executor) pushes(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	return ok && (strings.ContainsAny(host, ".:") || host == "localhost")
}

// resolver talks to Slipway's registry with Basic auth "x:token", trusting
// the cluster CA.
func (e *Executor) resolver(token string) remotes.Resolver {
	plain := e.opts.PlainHTTP
	hc := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: e.opts.RegistryCA, MinVersion: tls.VersionTLS12},
	}}
	auth := docker.NewDockerAuthorizer(docker.WithAuthClient(hc), docker.WithAuthCreds(func(string) (string, string, error) {
		if token == "" {
			return "", "", nil
		}
		return "x", token, nil
	}))
	return docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(
		docker.WithClient(hc),
		docker.WithAuthorizer(auth),
		docker.WithPlainHTTP(func(host string) (bool, error) { return slices.Contains(plain, host), nil }),
	)})
}
