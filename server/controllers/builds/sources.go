package builds

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/slipway/slipway/api/errdefs"
)

// DefaultMaxSourceBytes bounds an uploaded source archive.
const DefaultMaxSourceBytes = 200 << 20

// Sources keeps the archives uploaded for binary builds
// (`slip start-build --from-dir`), one gzip-compressed tar per build, under
// a directory of the server's data directory:
// DIR/<project>/<build>.tar.gz. Build pods fetch them from
// GET /api/v1/projects/{project}/builds/{name}/source. Several API servers
// need a shared directory for binary builds (as the registry's blobs do).
type Sources struct {
	Dir string
	// MaxBytes bounds an archive (DefaultMaxSourceBytes when 0).
	MaxBytes int64
}

// Staged is an upload written to a temporary file, not yet a build's.
type Staged struct {
	path   string
	SHA256 string
	Size   int64
}

// Discard removes a staged upload that no build took.
func (s *Staged) Discard() {
	if s != nil && s.path != "" {
		os.Remove(s.path)
	}
}

// Stage copies an upload to a temporary file, checking it is gzip data and
// within the size bound.
func (s *Sources) Stage(r io.Reader) (*Staged, error) {
	max := s.MaxBytes
	if max <= 0 {
		max = DefaultMaxSourceBytes
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, ".staging"), 0o700); err != nil {
		return nil, fmt.Errorf("build sources: %w", err)
	}
	f, err := os.CreateTemp(filepath.Join(s.Dir, ".staging"), "upload-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("build sources: %w", err)
	}
	st := &Staged{path: f.Name()}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		st.Discard()
		return nil, errdefs.BadRequestf("", "read the uploaded source: %v", err)
	case n > max:
		st.Discard()
		return nil, fmt.Errorf("the uploaded source exceeds %d bytes: %w", max, errdefs.ErrTooLarge)
	case n < 2:
		st.Discard()
		return nil, errdefs.BadRequestf("", "the uploaded source is empty")
	}
	magic := make([]byte, 2)
	if g, err := os.Open(st.path); err == nil {
		_, _ = io.ReadFull(g, magic)
		g.Close()
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		st.Discard()
		return nil, errdefs.BadRequestf("", "the uploaded source is not a gzip-compressed tar archive")
	}
	st.SHA256, st.Size = hex.EncodeToString(h.Sum(nil)), n
	return st, nil
}

func (s *Sources) path(project, build string) string {
	return filepath.Join(s.Dir, project, build+".tar.gz")
}

// Commit makes a staged upload the source of build.
func (s *Sources) Commit(st *Staged, project, build string) error {
	if err := os.MkdirAll(filepath.Join(s.Dir, project), 0o700); err != nil {
		return fmt.Errorf("build sources: %w", err)
	}
	if err := os.Rename(st.path, s.path(project, build)); err != nil {
		return fmt.Errorf("keep the source of build %s: %w", build, err)
	}
	st.path = ""
	return nil
}

// Open returns a build's archive.
func (s *Sources) Open(project, build string) (*os.File, error) {
	f, err := os.Open(s.path(project, build))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("build %q has no uploaded source: %w", build, errdefs.ErrNotFound)
	}
	return f, err
}

// Delete removes a build's archive, if any.
func (s *Sources) Delete(project, build string) error {
	err := os.Remove(s.path(project, build))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the source of build %s: %w", build, err)
	}
	return nil
}
