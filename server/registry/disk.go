package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// disk keeps blob contents under dir: blobs/sha256/<2 hex>/<64 hex>, each
// written once under uploads/ and renamed into place after its digest was
// verified, so a reader never sees a partial blob.
type disk struct {
	dir string
}

func newDisk(dir string) (*disk, error) {
	for _, sub := range []string{"blobs/sha256", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("registry storage: %w", err)
		}
	}
	return &disk{dir: dir}, nil
}

// blobPath is where a verified blob lives. digest must have been checked
// (api.ValidateImageDigest): it becomes a path.
func (d *disk) blobPath(digest string) string {
	hexd := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(d.dir, "blobs", "sha256", hexd[:2], hexd)
}

// uploadPath is an upload session's data file.
func (d *disk) uploadPath(id string) string { return filepath.Join(d.dir, "uploads", id) }

// openBlob opens a blob for reading.
func (d *disk) openBlob(digest string) (*os.File, error) { return os.Open(d.blobPath(digest)) }

// hasBlob reports whether the blob's file is in place.
func (d *disk) hasBlob(digest string) bool {
	_, err := os.Stat(d.blobPath(digest))
	return err == nil
}

// commit moves a finished upload's file into place as digest.
func (d *disk) commit(uploadID, digest string) error {
	dst := d.blobPath(digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("store blob %s: %w", digest, err)
	}
	if err := os.Rename(d.uploadPath(uploadID), dst); err != nil {
		return fmt.Errorf("store blob %s: %w", digest, err)
	}
	return nil
}

// removeBlob deletes a blob's file; a missing file is not an error.
func (d *disk) removeBlob(digest string) error {
	if err := os.Remove(d.blobPath(digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove blob %s: %w", digest, err)
	}
	return nil
}

// removeUpload deletes an upload's file; a missing file is not an error.
func (d *disk) removeUpload(id string) error {
	if err := os.Remove(d.uploadPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove upload %s: %w", id, err)
	}
	return nil
}

// createUpload creates an upload session's empty file.
func (d *disk) createUpload(id string) error {
	f, err := os.OpenFile(d.uploadPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	return f.Close()
}

// appendUpload appends body to upload id's file, which must hold exactly
// size bytes (a longer file, left by a request that failed after writing,
// is cut back), feeding h on the way; it returns the bytes written. The
// file is synced so the size recorded afterwards is on disk.
func (d *disk) appendUpload(id string, size int64, h hash.Hash, body io.Reader) (int64, error) {
	f, err := os.OpenFile(d.uploadPath(id), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open upload %s: %w", id, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("open upload %s: %w", id, err)
	}
	if fi.Size() < size {
		return 0, fmt.Errorf("upload %s: %d bytes on disk, %d recorded: data lost", id, fi.Size(), size)
	}
	if fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return 0, fmt.Errorf("upload %s: %w", id, err)
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return 0, fmt.Errorf("upload %s: %w", id, err)
	}
	n, err := io.Copy(io.MultiWriter(f, h), body)
	if err != nil {
		return n, fmt.Errorf("receive upload %s: %w", id, err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("sync upload %s: %w", id, err)
	}
	return n, f.Close()
}

// newUploadID returns a random upload session id.
func newUploadID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hashState saves a running SHA-256 so the next chunk, maybe on another
// request or server, continues it.
func hashState(h hash.Hash) ([]byte, error) {
	return h.(encoding.BinaryMarshaler).MarshalBinary()
}

// resumeHash restores a SHA-256 saved by hashState.
func resumeHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("resume upload digest: %w", err)
	}
	return h, nil
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }
