package sampleimage

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/client"
)

// Import loads an OCI image-layout archive into the client's namespace
// (taken from ctx, else the client's default) and unpacks every image it
// names into snapshotter ("" for containerd's default), so that a container
// can start from it at once. It returns the image names. Importing the same
// archive again is cheap and harmless.
func Import(ctx context.Context, c *client.Client, archivePath, snapshotter string) ([]string, error) {
	f, err := os.Open(archivePath)
	if err != nil {
		return nil, fmt.Errorf("sampleimage: open archive: %w", err)
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sampleimage: import %s: %w", archivePath, err)
	}
	names := make([]string, 0, len(imgs))
	for _, i := range imgs {
		img := client.NewImage(c, i)
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("sampleimage: unpack %s: %w", i.Name, err)
		}
		names = append(names, i.Name)
	}
	return names, nil
}
