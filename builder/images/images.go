// Package images builds Slipway's S2I builder images offline, from files
// already on the host: busybox-static for the shell and tools, plus the Go
// installation (s2i-go) or Debian's python3 with the shared libraries it
// loads (s2i-python). Each follows the OpenShift builder-image contract
// (package builder/s2i): scripts assemble, run, save-artifacts and usage in
// /usr/libexec/s2i, named by the io.openshift.s2i.scripts-url label, the
// application in /opt/app-root/src, a non-root user 1001. The result is an
// OCI image-layout tar that containerd imports.
package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slipway/slipway/builder/s2i"
)

// Layout of every builder image.
const (
	// UID is the user builds and applications run as ("default", group 0
	// as OpenShift images use).
	UID = 1001
	// AppRoot holds the application: AppRoot/src is the working directory.
	AppRoot = "/opt/app-root"
	// ScriptsDir holds the S2I scripts.
	ScriptsDir = "/usr/libexec/s2i"
	// Project is the project holding the builder images in the registry.
	Project = "slipway-system"
)

// Spec is one image to build.
type Spec struct {
	// Name is the image's short name, e.g. "s2i-go".
	Name string
	// Description goes into the io.k8s.description label.
	Description string
	// Scripts are the S2I scripts (name → shell script).
	Scripts map[string]string
	// Env is added after PATH and HOME.
	Env []string
	// Path is the image's PATH.
	Path string
	// Add puts the language's files into the layer.
	Add func(l *layer) error
}

// Busybox is the static busybox binary every image carries.
var Busybox = "/bin/busybox"

// Build writes the image as an OCI image-layout tar named <Name>.oci.tar
// in dir, naming it ref (io.containerd.image.name), and returns its path.
func Build(ctx context.Context, dir, ref string, spec Spec) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	l := newLayer()
	defer func() {
		for _, f := range l.cleanup {
			f()
		}
	}()
	if err := addBase(ctx, l, spec); err != nil {
		return "", fmt.Errorf("images: %s: %w", spec.Name, err)
	}
	if spec.Add != nil {
		if err := spec.Add(l); err != nil {
			return "", fmt.Errorf("images: %s: %w", spec.Name, err)
		}
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(tmp)
	b, err := l.write(tmp)
	if err != nil {
		return "", fmt.Errorf("images: %s: %w", spec.Name, err)
	}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{Architecture: goruntime.GOARCH, OS: "linux"},
		Config: ocispec.ImageConfig{
			User:         fmt.Sprint(UID),
			Env:          append([]string{"PATH=" + spec.Path, "HOME=" + AppRoot + "/src"}, spec.Env...),
			Cmd:          []string{ScriptsDir + "/usage"},
			WorkingDir:   AppRoot + "/src",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			Labels: map[string]string{
				s2i.ScriptsURLLabel:            s2i.DefaultScriptsURL,
				"io.openshift.expose-services": "8080:http",
				"io.k8s.description":           spec.Description,
				"io.k8s.display-name":          spec.Name,
				"io.openshift.tags":            "builder," + strings.TrimPrefix(spec.Name, "s2i-"),
			},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: nil},
	}
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digestOf(b.diffID))
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	cfgDesc := descriptor(ocispec.MediaTypeImageConfig, cfgJSON)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc,
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digestOf(b.digest), Size: b.size}},
	})
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	mDesc := descriptor(ocispec.MediaTypeImageManifest, manifest)
	tag := ref[strings.LastIndex(ref, ":")+1:]
	mDesc.Annotations = map[string]string{"io.containerd.image.name": ref, ocispec.AnnotationRefName: tag}
	index, err := json.Marshal(ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{mDesc}})
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	out := filepath.Join(dir, spec.Name+".oci.tar")
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte, hostPath string, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if hostPath == "" {
			_, err := tw.Write(data)
			return err
		}
		src, err := os.Open(hostPath)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	}
	blobName := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	for _, e := range []struct {
		name string
		data []byte
		host string
		size int64
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), "", 0},
		{"index.json", index, "", 0},
		{blobName(cfgDesc.Digest.String()), cfgJSON, "", 0},
		{blobName(mDesc.Digest.String()), manifest, "", 0},
		{blobName(b.digest), nil, b.path, b.size},
	} {
		size := e.size
		if e.host == "" {
			size = int64(len(e.data))
		}
		if err := add(e.name, e.data, e.host, size); err != nil {
			return "", fmt.Errorf("images: write %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	return out, nil
}

// addBase adds busybox with its applets, users, the app root and scripts.
func addBase(ctx context.Context, l *layer, spec Spec) error {
	if err := requireStatic(Busybox); err != nil {
		return err
	}
	list, err := exec.CommandContext(ctx, Busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("list busybox applets: %w", err)
	}
	l.hostFile("bin/busybox", Busybox, 0o755)
	applets := strings.Fields(string(list))
	sort.Strings(applets)
	for _, a := range applets {
		if a != "busybox" {
			l.symlink("bin/"+a, "busybox")
		}
	}
	l.dir("usr/bin", 0o755, 0)
	l.symlink("usr/bin/env", "/bin/env") // for "#!/usr/bin/env" scripts
	l.file("etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\ndefault:x:%d:0:app:%s/src:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", UID, AppRoot)))
	l.file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	l.file("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n"))
	for _, d := range []string{"dev", "proc", "sys", "etc", "root", "var"} {
		l.dir(d, 0o755, 0)
	}
	l.dir("tmp", 0o1777, 0)
	l.dir(AppRoot, 0o775, UID)
	l.dir(AppRoot+"/src", 0o775, UID)
	l.dir(AppRoot+"/bin", 0o775, UID)
	for name, body := range spec.Scripts {
		l.file(ScriptsDir+"/"+name, 0o755, []byte(body))
	}
	return nil
}

func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("open %s as ELF (install busybox-static): %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (install busybox-static)", path)
		}
	}
	return nil
}

// sharedLibraries adds the libraries binaries load (ldd's answer) at the
// paths ldd names, following symbolic links.
func sharedLibraries(ctx context.Context, l *layer, binaries ...string) error {
	seen := map[string]bool{}
	for _, bin := range binaries {
		out, err := exec.CommandContext(ctx, "ldd", bin).Output()
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				continue // "not a dynamic executable"
			}
			return fmt.Errorf("ldd %s: %w", bin, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			var lib string
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				lib = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				lib = f[0]
			}
			if lib == "" || seen[lib] {
				continue
			}
			if f[0] == "not" || (len(f) >= 3 && f[2] == "not") {
				return fmt.Errorf("ldd %s: %s not found", bin, f[0])
			}
			seen[lib] = true
			if err := addResolved(l, lib); err != nil {
				return err
			}
		}
	}
	return nil
}

// addResolved adds a host file at its path, as a symbolic link chain
// ending in the regular file.
func addResolved(l *layer, p string) error {
	for range 10 {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("add %s: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			l.hostFile(p, p, int64(fi.Mode().Perm()))
			return nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("add %s: %w", p, err)
		}
		l.symlink(p, target)
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = target
	}
	return fmt.Errorf("add %s: too many symbolic links", p)
}

func descriptor(mediaType string, b []byte) ocispec.Descriptor {
	sum := sha256.Sum256(b)
	return ocispec.Descriptor{MediaType: mediaType, Digest: digestOf("sha256:" + hex.EncodeToString(sum[:])), Size: int64(len(b))}
}

// Ref is the reference of a builder image under a registry host, e.g.
// "127.0.0.1:8443/slipway-system/s2i-go:latest"; an empty host gives
// "slipway-system/s2i-go:latest".
func Ref(host, name string) string {
	r := Project + "/" + name + ":latest"
	if host != "" {
		r = host + "/" + r
	}
	return r
}
