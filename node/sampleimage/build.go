// Package sampleimage builds small OCI images offline from the host's
// busybox-static binary: one gzip layer holding busybox with every applet
// linked in /bin, an /etc/passwd with a non-root user, and a static web root
// served by busybox httpd. Node tests, benchmarks and `slipway up` samples use
// these images so that nothing is downloaded.
package sampleimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Users in the image's /etc/passwd.
const (
	// AppUID is the non-root user "app" (group "app", same id).
	AppUID = 1000
	// NobodyUID is "nobody" (group "nogroup", same id).
	NobodyUID = 65534
)

// DefaultPort is the port the default command's httpd listens on unless
// the container sets PORT.
const DefaultPort = 8080

// IndexHTML is the content of /www/index.html.
const IndexHTML = "hello from slipway sample image\n"

// Spec describes one image to build.
type Spec struct {
	// Ref names the image, e.g. "localhost/slipway/busybox:v1". Required.
	Ref string
	// Busybox is the static busybox binary to copy; default "/bin/busybox".
	Busybox string
	// Files adds regular files (path in image → content, mode 0644; a path
	// under /bin gets 0755). They override files of the same name.
	Files map[string][]byte
	// Cmd is the image's default command. Default: busybox httpd serving
	// /www on $PORT (8080), run under a shell that turns SIGTERM into a
	// clean exit, because httpd as PID 1 ignores SIGTERM.
	Cmd []string
	// Env is the image's environment; default PATH=/bin.
	Env []string
	// User is the image's user (empty: the runtime decides).
	User string
}

// ServeCommand is the default command: httpd in the background, the shell as
// PID 1 waits for it and exits 0 on SIGTERM after stopping it.
func ServeCommand() []string {
	return []string{"/bin/sh", "-c",
		`httpd -f -p "${PORT:-8080}" -h /www & pid=$!; trap 'kill $pid; wait $pid; exit 0' TERM; wait $pid`}
}

// Build writes the image as an OCI image-layout tar into dir and returns the
// archive's path. The index annotates the manifest with
// io.containerd.image.name, so containerd's import names the image Ref.
// The output is reproducible: same inputs, same digests.
func Build(ctx context.Context, dir string, spec Spec) (string, error) {
	if spec.Ref == "" {
		return "", errors.New("sampleimage: Spec.Ref is required")
	}
	if spec.Busybox == "" {
		spec.Busybox = "/bin/busybox"
	}
	if spec.Cmd == nil {
		spec.Cmd = ServeCommand()
	}
	if spec.Env == nil {
		spec.Env = []string{"PATH=/bin"}
	}
	layer, err := buildLayer(ctx, spec)
	if err != nil {
		return "", err
	}
	diffID := sha256.Sum256(layer)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(layer); err != nil {
		return "", fmt.Errorf("sampleimage: compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("sampleimage: compress layer: %w", err)
	}

	blobs := map[string][]byte{} // digest hex → content
	put := func(b []byte) (string, int) {
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		blobs[h] = b
		return "sha256:" + h, len(b)
	}
	layerDigest, layerSize := put(gz.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env":        spec.Env,
			"Cmd":        spec.Cmd,
			"WorkingDir": "/",
			"User":       spec.User,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return "", fmt.Errorf("sampleimage: encode config: %w", err)
	}
	configDigest, configSize := put(config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": layerSize}},
	})
	if err != nil {
		return "", fmt.Errorf("sampleimage: encode manifest: %w", err)
	}
	manifestDigest, manifestSize := put(manifest)
	tag := spec.Ref[strings.LastIndex(spec.Ref, ":")+1:]
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": manifestSize,
			"annotations": map[string]string{"io.containerd.image.name": spec.Ref, "org.opencontainers.image.ref.name": tag},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("sampleimage: encode index: %w", err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("sampleimage: create dir: %w", err)
	}
	out := filepath.Join(dir, fileName(spec.Ref)+".oci.tar")
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, h := range sortedKeys(blobs) {
		entries = append(entries, struct {
			name string
			data []byte
		}{"blobs/sha256/" + h, blobs[h]})
	}
	for _, e := range entries {
		if err := add(e.name, e.data); err != nil {
			return "", fmt.Errorf("sampleimage: write archive entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("sampleimage: close archive: %w", err)
	}
	if err := os.WriteFile(out, archive.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("sampleimage: write archive: %w", err)
	}
	return out, nil
}

// buildLayer returns the uncompressed root filesystem tar.
func buildLayer(ctx context.Context, spec Spec) ([]byte, error) {
	if err := requireStatic(spec.Busybox); err != nil {
		return nil, err
	}
	busybox, err := os.ReadFile(spec.Busybox)
	if err != nil {
		return nil, fmt.Errorf("sampleimage: read busybox: %w", err)
	}
	list, err := exec.CommandContext(ctx, spec.Busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("sampleimage: list busybox applets: %w", err)
	}
	files := map[string][]byte{
		"etc/passwd": []byte(fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\napp:x:%d:%d:app:/home/app:/bin/sh\nnobody:x:%d:%d:nobody:/nonexistent:/bin/false\n",
			AppUID, AppUID, NobodyUID, NobodyUID)),
		"etc/group":      []byte(fmt.Sprintf("root:x:0:\napp:x:%d:\nnogroup:x:%d:\n", AppUID, NobodyUID)),
		"www/index.html": []byte(IndexHTML),
	}
	for p, b := range spec.Files {
		files[strings.TrimPrefix(filepath.Clean("/"+p), "/")] = b
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := []struct {
		name string
		mode int64
	}{{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"home", 0o755}, {"home/app", 0o755}, {"proc", 0o555},
		{"root", 0o700}, {"sys", 0o555}, {"tmp", 0o1777}, {"www", 0o755}}
	for _, d := range dirs {
		hdr := &tar.Header{Name: d.name + "/", Mode: d.mode, Typeflag: tar.TypeDir, ModTime: epoch}
		if d.name == "home/app" {
			hdr.Uid, hdr.Gid = AppUID, AppUID
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("sampleimage: write layer: %w", err)
		}
	}
	if err := writeFile(tw, "bin/busybox", 0o755, busybox); err != nil {
		return nil, err
	}
	applets := strings.Fields(string(list))
	sort.Strings(applets)
	for _, a := range applets {
		if a == "busybox" || files["bin/"+a] != nil {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("sampleimage: write layer: %w", err)
		}
	}
	for _, p := range sortedKeys(files) {
		mode := int64(0o644)
		if strings.HasPrefix(p, "bin/") {
			mode = 0o755
		}
		if err := writeFile(tw, p, mode, files[p]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("sampleimage: close layer: %w", err)
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return fmt.Errorf("sampleimage: write %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("sampleimage: write %s: %w", name, err)
	}
	return nil
}

// requireStatic refuses a dynamically linked binary, which would not run in
// an image without a libc.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("sampleimage: open %s as ELF: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("sampleimage: %s is dynamically linked (install busybox-static)", path)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fileName turns a reference into a safe file name.
func fileName(ref string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, ref)
}
