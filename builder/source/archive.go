package source

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxArchiveSize bounds a binary source archive's uncompressed size.
const MaxArchiveSize = 1 << 30

// Binary is a build's binary source: a tar.gz served by the API.
type Binary struct {
	// URL is where the archive is fetched (GET) with Token as a bearer
	// token, trusting CA (nil: the system roots).
	URL   string
	Token string
	CA    *x509.CertPool
	// ContextDir is the subdirectory of the archive holding the application.
	ContextDir string
}

// FetchBinary downloads and unpacks a binary source into dir. The result
// has no commit.
func FetchBinary(ctx context.Context, dir string, b Binary, log io.Writer) (Result, error) {
	ctxDir, err := cleanContextDir(b.ContextDir)
	if err != nil {
		return Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("%w: binary source URL: %w", ErrInvalid, err)
	}
	if b.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.Token)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CA}, Proxy: http.ProxyFromEnvironment}}
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("%w: binary source: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Result{}, fmt.Errorf("%w: binary source: %s: %s", ErrFetch, resp.Status, strings.TrimSpace(string(msg)))
	}
	if log != nil {
		fmt.Fprintln(log, "Receiving source from the uploaded archive ...")
	}
	if err := ExtractTarGz(dir, resp.Body); err != nil {
		return Result{}, err
	}
	res := Result{Root: dir, Dir: filepath.Join(dir, ctxDir)}
	if fi, err := os.Lstat(res.Dir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("%w: context dir %q is not a directory in the archive", ErrInvalid, b.ContextDir)
	}
	return res, nil
}

// ExtractTarGz unpacks a gzip-compressed tar into dir: regular files,
// directories and symbolic links, with their modes. Entries that would land
// outside dir, or be written through a symbolic link, are refused.
func ExtractTarGz(dir string, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: archive is not gzip: %w", ErrInvalid, err)
	}
	return ExtractTar(dir, zr)
}

// ExtractTar is ExtractTarGz without the compression.
func ExtractTar(dir string, r io.Reader) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tr := tar.NewReader(r)
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: read archive: %w", ErrInvalid, err)
		}
		rel := filepath.Clean("/" + hdr.Name)
		if rel == "/" {
			continue
		}
		if strings.Contains(hdr.Name, "..") && containsDotDot(hdr.Name) {
			return fmt.Errorf("%w: archive entry %q leaves the directory", ErrInvalid, hdr.Name)
		}
		target := filepath.Join(dir, rel)
		if err := noSymlinkParents(dir, rel); err != nil {
			return err
		}
		mode := os.FileMode(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
				if err := os.Remove(target); err != nil {
					return fmt.Errorf("extract %s: %w", hdr.Name, err)
				}
			}
			if err := os.MkdirAll(target, mode|0o700); err != nil {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
		case tar.TypeReg:
			total += hdr.Size
			if total > MaxArchiveSize {
				return fmt.Errorf("%w: archive larger than %d bytes", ErrInvalid, MaxArchiveSize)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
			// An entry may replace an earlier one, never write through a
			// symbolic link the archive made.
			if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, mode)
			if err != nil {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
			_ = os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return fmt.Errorf("extract %s: %w", hdr.Name, err)
			}
		default:
			// Devices, FIFOs and hard links have no place in a source tree.
		}
	}
}

func containsDotDot(name string) bool {
	for _, p := range strings.Split(filepath.ToSlash(name), "/") {
		if p == ".." {
			return true
		}
	}
	return false
}

// noSymlinkParents refuses a path whose existing parents include a
// symbolic link (an archive could otherwise write outside dir).
func noSymlinkParents(dir, rel string) error {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	p := dir
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%w: archive entry %q is below a symbolic link", ErrInvalid, rel)
		}
	}
	return nil
}
