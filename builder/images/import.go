package images

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
)

// Import loads every builder image archive (*.oci.tar) of dir into the
// client's namespace (from ctx), names each Ref(host, name) whatever name
// it was built with, and unpacks it into snapshotter. It returns the
// references. Importing again is cheap: unchanged blobs are not copied.
func Import(ctx context.Context, c *client.Client, dir, host, snapshotter string) ([]string, error) {
	archives, err := filepath.Glob(filepath.Join(dir, "*.oci.tar"))
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	if len(archives) == 0 {
		return nil, fmt.Errorf("images: no builder image archives (*.oci.tar) in %s: %w", dir, os.ErrNotExist)
	}
	var refs []string
	for _, a := range archives {
		name := strings.TrimSuffix(filepath.Base(a), ".oci.tar")
		f, err := os.Open(a)
		if err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		imgs, err := c.Import(ctx, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("images: import %s: %w", a, err)
		}
		if len(imgs) != 1 {
			return nil, fmt.Errorf("images: %s holds %d images, want 1", a, len(imgs))
		}
		ref := Ref(host, name)
		record := images.Image{Name: ref, Target: imgs[0].Target, Labels: map[string]string{"slipway.io/builder-image": name}}
		is := c.ImageService()
		if _, err := is.Create(ctx, record); errors.Is(err, errdefs.ErrAlreadyExists) {
			_, err = is.Update(ctx, record)
			if err != nil {
				return nil, fmt.Errorf("images: name %s: %w", ref, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("images: name %s: %w", ref, err)
		}
		if imgs[0].Name != ref {
			_ = is.Delete(ctx, imgs[0].Name)
		}
		if err := client.NewImage(c, record).Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("images: unpack %s: %w", ref, err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// Push copies the named images from the client's content store to their
// registry (the host in each reference) with Basic auth "x:token",
// trusting ca. Blobs the registry already holds are not sent again.
func Push(ctx context.Context, c *client.Client, refs []string, token string, ca *x509.CertPool) error {
	hc := &http.Client{Transport: docker.DefaultHTTPTransport(&tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12})}
	auth := docker.NewDockerAuthorizer(docker.WithAuthClient(hc), docker.WithAuthCreds(func(string) (string, string, error) {
		return "x", token, nil
	}))
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(docker.WithClient(hc), docker.WithAuthorizer(auth))})
	for _, ref := range refs {
		img, err := c.GetImage(ctx, ref)
		if err != nil {
			return fmt.Errorf("images: push %s: %w", ref, err)
		}
		if err := c.Push(ctx, ref, img.Target(), client.WithResolver(resolver)); err != nil {
			return fmt.Errorf("images: push %s: %w", ref, err)
		}
	}
	return nil
}
