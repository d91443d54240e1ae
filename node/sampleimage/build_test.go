package sampleimage_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/containerd"
	"github.com/slipway/slipway/node/sampleimage"
)

// readTar returns the regular files and symlink targets of a tar stream.
func readTar(t *testing.T, r io.Reader) (files map[string][]byte, links map[string]string, modes map[string]int64) {
	t.Helper()
	files, links, modes = map[string][]byte{}, map[string]string{}, map[string]int64{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		modes[h.Name] = h.Mode
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s: %v", h.Name, err)
			}
			files[h.Name] = b
		case tar.TypeSymlink:
			links[h.Name] = h.Linkname
		}
	}
}

func TestBuild(t *testing.T) {
	testpeer.RequireBinary(t, "busybox-static", "/bin/busybox")
	ctx := context.Background()
	spec := sampleimage.Spec{Ref: "localhost/test/busybox:v1", Files: map[string][]byte{"/www/extra.txt": []byte("extra")}}
	a1, err := sampleimage.Build(ctx, t.TempDir(), spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	a2, err := sampleimage.Build(ctx, t.TempDir(), spec)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	b1, _ := os.ReadFile(a1)
	b2, _ := os.ReadFile(a2)
	if !bytes.Equal(b1, b2) {
		t.Errorf("two builds of the same spec differ")
	}

	layout, _, _ := readTar(t, bytes.NewReader(b1))
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(layout["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, layout["index.json"])
	}
	if got := index.Manifests[0].Annotations["io.containerd.image.name"]; got != spec.Ref {
		t.Errorf("image name annotation = %q, want %q", got, spec.Ref)
	}
	blob := func(digest string) []byte {
		b, ok := layout["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok {
			t.Fatalf("blob %s missing", digest)
		}
		return b
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(manifest.Layers[0].Digest)))
	if err != nil {
		t.Fatalf("layer gzip: %v", err)
	}
	files, links, modes := readTar(t, zr)

	tests := []struct {
		name  string
		check func() bool
	}{
		{"busybox is executable", func() bool { return len(files["bin/busybox"]) > 0 && modes["bin/busybox"] == 0o755 }},
		{"sh applet links to busybox", func() bool { return links["bin/sh"] == "busybox" }},
		{"httpd applet links to busybox", func() bool { return links["bin/httpd"] == "busybox" }},
		{"passwd has non-root app user", func() bool { return strings.Contains(string(files["etc/passwd"]), "app:x:1000:1000:") }},
		{"index.html served", func() bool { return string(files["www/index.html"]) == sampleimage.IndexHTML }},
		{"extra file added", func() bool { return string(files["www/extra.txt"]) == "extra" }},
		{"tmp is sticky", func() bool { return modes["tmp/"] == 0o1777 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.check() {
				t.Error("check failed")
			}
		})
	}
}

func TestImport(t *testing.T) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "containerd", "containerd")
	testpeer.RequireBinary(t, "busybox-static", "/bin/busybox")
	ctx := context.Background()
	d, err := containerd.Start(ctx, containerd.Config{Dir: t.TempDir(), Namespace: "sampleimage-test"})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() { d.Stop(context.Background()) })

	archive, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: "localhost/test/busybox:v1"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	nsCtx := namespaces.WithNamespace(ctx, "sampleimage-test")
	for _, round := range []string{"first import", "repeated import"} {
		t.Run(round, func(t *testing.T) {
			names, err := sampleimage.Import(nsCtx, d.Client(), archive, "")
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if len(names) != 1 || names[0] != "localhost/test/busybox:v1" {
				t.Fatalf("Import names = %v", names)
			}
			img, err := d.Client().GetImage(nsCtx, names[0])
			if err != nil {
				t.Fatalf("GetImage: %v", err)
			}
			if ok, err := img.IsUnpacked(nsCtx, ""); err != nil || !ok {
				t.Errorf("IsUnpacked = %v, %v", ok, err)
			}
		})
	}
}
