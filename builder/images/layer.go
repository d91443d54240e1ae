package images

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is one file system object of a layer.
type entry struct {
	name     string // relative, slash-separated, no leading slash
	typ      byte   // tar.TypeDir, TypeReg, TypeSymlink
	mode     int64
	uid, gid int
	data     []byte // TypeReg from memory
	host     string // TypeReg from a host file
	link     string // TypeSymlink target
}

// layer collects entries; later ones replace earlier ones of the same name.
type layer struct {
	entries map[string]entry
	// cleanup runs once the layer is written (temporary host files).
	cleanup []func()
}

func newLayer() *layer { return &layer{entries: map[string]entry{}} }

func clean(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

// dir adds a directory and its missing parents (0755, root).
func (l *layer) dir(name string, mode int64, uid int) {
	name = clean(name)
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if _, ok := l.entries[p]; !ok {
			l.entries[p] = entry{name: p, typ: tar.TypeDir, mode: 0o755}
		}
	}
	l.entries[name] = entry{name: name, typ: tar.TypeDir, mode: mode, uid: uid}
}

// parent adds name's directory, unless it is there already.
func (l *layer) parent(name string) {
	if d := path.Dir(name); d != "." {
		if _, ok := l.entries[d]; !ok {
			l.dir(d, 0o755, 0)
		}
	}
}

func (l *layer) file(name string, mode int64, data []byte) {
	name = clean(name)
	l.parent(name)
	l.entries[name] = entry{name: name, typ: tar.TypeReg, mode: mode, data: data}
}

func (l *layer) hostFile(name, host string, mode int64) {
	name = clean(name)
	l.parent(name)
	l.entries[name] = entry{name: name, typ: tar.TypeReg, mode: mode, host: host}
}

func (l *layer) symlink(name, target string) {
	name = clean(name)
	l.parent(name)
	l.entries[name] = entry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}

// tree copies a host directory to name, keeping modes and symbolic links;
// skip (relative slash path, is dir) leaves entries out.
func (l *layer) tree(name, host string, skip func(rel string, dir bool) bool) error {
	return l.treeOwned(name, host, 0, skip)
}

// treeOwned is tree with every entry owned by uid (group 0).
func (l *layer) treeOwned(name, host string, uid int, skip func(rel string, dir bool) bool) error {
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(host, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && skip != nil && skip(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := path.Join(name, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			l.dir(target, int64(info.Mode().Perm()), uid)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			l.symlink(target, link)
		case info.Mode().IsRegular():
			l.hostFile(target, p, int64(info.Mode().Perm()))
			if uid != 0 {
				e := l.entries[clean(target)]
				e.uid = uid
				l.entries[clean(target)] = e
			}
		}
		return nil
	})
}

// blob is a written layer: the gzip file and its digests.
type blob struct {
	path   string
	diffID string // sha256 of the uncompressed tar
	digest string // sha256 of the gzip
	size   int64
}

type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

// write streams the layer as a gzip tar into a file under dir, in name
// order with zero times, so equal inputs give equal digests.
func (l *layer) write(dir string) (blob, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar.gz")
	if err != nil {
		return blob{}, fmt.Errorf("create layer file: %w", err)
	}
	defer f.Close()
	gzSum := &countingHash{Hash: sha256.New()}
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, gzSum), gzip.BestSpeed)
	tarSum := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, tarSum))
	names := make([]string, 0, len(l.entries))
	for n := range l.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	epoch := time.Unix(0, 0)
	for _, n := range names {
		e := l.entries[n]
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch, Format: tar.FormatPAX}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
			hdr.Linkname = e.link
		case tar.TypeReg:
			if e.host != "" {
				fi, err := os.Stat(e.host)
				if err != nil {
					return blob{}, fmt.Errorf("layer: %w", err)
				}
				hdr.Size = fi.Size()
			} else {
				hdr.Size = int64(len(e.data))
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return blob{}, fmt.Errorf("layer: write %s: %w", e.name, err)
		}
		if e.typ != tar.TypeReg {
			continue
		}
		if e.host == "" {
			if _, err := tw.Write(e.data); err != nil {
				return blob{}, fmt.Errorf("layer: write %s: %w", e.name, err)
			}
			continue
		}
		src, err := os.Open(e.host)
		if err != nil {
			return blob{}, fmt.Errorf("layer: %w", err)
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return blob{}, fmt.Errorf("layer: copy %s: %w", e.host, err)
		}
	}
	if err := tw.Close(); err != nil {
		return blob{}, fmt.Errorf("layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return blob{}, fmt.Errorf("layer: %w", err)
	}
	return blob{path: f.Name(), diffID: "sha256:" + hex.EncodeToString(tarSum.Sum(nil)),
		digest: "sha256:" + hex.EncodeToString(gzSum.Sum(nil)), size: gzSum.n}, f.Close()
}
