package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/server/store"
)

func checkDigest(d string) error {
	if api.ValidateImageDigest("digest", d) != nil {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "%q is not a sha256 digest (sha256:<64 lower-case hex>; the only algorithm this registry stores)", d).
			withDetail(map[string]string{"digest": d})
	}
	return nil
}

func blobUnknown(digest string) error {
	return errorf(http.StatusNotFound, codeBlobUnknown, "blob %s is not in this repository", digest).withDetail(map[string]string{"digest": digest})
}

// serveBlob answers GET and HEAD of a blob linked into repo.
func (reg *Registry) serveBlob(w http.ResponseWriter, r *http.Request, caller authn.Caller, repo repository, digest string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errNotAllowed(r)
	}
	if err := reg.authorize(caller, pull, repo); err != nil {
		return err
	}
	if err := checkDigest(digest); err != nil {
		return err
	}
	b, err := reg.cfg.Store.RegistryRepoBlob(repo.ctx(r.Context()), repo.name, digest)
	if errors.Is(err, errdefs.ErrNotFound) {
		return blobUnknown(digest)
	}
	if err != nil {
		return err
	}
	f, err := reg.disk.openBlob(digest)
	if err != nil {
		// The row without its file: garbage collection is removing it, or
		// a crash came between the two. The client pushes it again.
		reg.log.WarnContext(r.Context(), "blob recorded but missing on disk", "digest", digest, "error", err)
		return blobUnknown(digest)
	}
	defer f.Close()
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("ETag", `"`+digest+`"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "max-age=31536000")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.FormatInt(b.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// ServeContent answers Range requests (resumed pulls).
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// serveUpload handles upload sessions:
//
//	POST   uploads/                          start (or ?digest= monolithic, ?mount=&from= cross-repo mount)
//	PATCH  uploads/<id>                      append a chunk
//	PUT    uploads/<id>?digest=              append the optional last chunk and finish
//	GET    uploads/<id>                      progress
//	DELETE uploads/<id>                      cancel
func (reg *Registry) serveUpload(w http.ResponseWriter, r *http.Request, caller authn.Caller, repo repository, id string) error {
	if err := reg.authorize(caller, push, repo); err != nil {
		return err
	}
	if id == "" {
		if r.Method != http.MethodPost {
			return errNotAllowed(r)
		}
		return reg.startUpload(w, r, caller, repo)
	}
	if strings.Contains(id, "/") || len(id) > 64 {
		return uploadUnknown(id)
	}
	ctx := repo.ctx(r.Context())
	u, err := reg.cfg.Store.RegistryUpload(ctx, repo.name, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return uploadUnknown(id)
	}
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		reg.uploadHeaders(w, repo, u)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := reg.cfg.Store.DeleteRegistryUpload(ctx, id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		if err := reg.disk.removeUpload(id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		if cr := r.Header.Get("Content-Range"); cr != "" {
			start, _, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "-")
			if n, err := strconv.ParseInt(start, 10, 64); err != nil || n != u.Size {
				reg.uploadHeaders(w, repo, u)
				return errorf(http.StatusRequestedRangeNotSatisfiable, codeRangeInvalid,
					"Content-Range %q does not continue the upload at byte %d", cr, u.Size)
			}
		}
		if u, err = reg.appendChunk(r, u); err != nil {
			return err
		}
		reg.uploadHeaders(w, repo, u)
		w.WriteHeader(http.StatusAccepted)
		return nil
	case http.MethodPut:
		digest := r.URL.Query().Get("digest")
		if err := checkDigest(digest); err != nil {
			return err
		}
		if u, err = reg.appendChunk(r, u); err != nil {
			return err
		}
		if err := reg.finish(ctx, repo, u, digest); err != nil {
			return err
		}
		reg.blobCreated(w, repo, digest)
		return nil
	}
	return errNotAllowed(r)
}

func uploadUnknown(id string) error {
	return errorf(http.StatusNotFound, codeBlobUploadUnknown, "no upload session %q in this repository", id)
}

// startUpload answers POST uploads/.
func (reg *Registry) startUpload(w http.ResponseWriter, r *http.Request, caller authn.Caller, repo repository) error {
	ctx := repo.ctx(r.Context())
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		if done, err := reg.mount(w, r, caller, repo, mount, q.Get("from")); done || err != nil {
			return err
		}
		// Not mountable (or not visible to the caller): the spec says to
		// fall back to an ordinary upload session.
	}
	id := newUploadID()
	state, err := hashState(sha256.New())
	if err != nil {
		return err
	}
	if err := reg.cfg.Store.CreateRegistryUpload(ctx, repo.name, id, state); err != nil {
		return err
	}
	u := store.RegistryUpload{ID: id, Repo: repo.name, HashState: state}
	if digest := q.Get("digest"); digest != "" {
		// Monolithic upload: the whole blob is this request's body.
		if err := checkDigest(digest); err != nil {
			return err
		}
		if u, err = reg.appendChunk(r, u); err != nil {
			return err
		}
		if err := reg.finish(ctx, repo, u, digest); err != nil {
			return err
		}
		reg.blobCreated(w, repo, digest)
		return nil
	}
	if err := reg.disk.createUpload(id); err != nil {
		return err
	}
	reg.uploadHeaders(w, repo, u)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mount links a blob of repository from into repo. It reports done when it
// answered; false sends the caller on to an ordinary upload. A source the
// caller may not pull from is treated as one without the blob.
func (reg *Registry) mount(w http.ResponseWriter, r *http.Request, caller authn.Caller, repo repository, digest, from string) (bool, error) {
	if err := checkDigest(digest); err != nil {
		return false, err
	}
	src, rerr := parseRepository(from)
	if rerr != nil || reg.authorize(caller, pull, src) != nil {
		return false, nil
	}
	_, err := reg.cfg.Store.MountRegistryBlob(repo.ctx(r.Context()), repo.name, store.RegistryRepository{Project: src.project, Name: src.name}, digest)
	if errors.Is(err, errdefs.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !reg.disk.hasBlob(digest) {
		return false, nil
	}
	reg.metrics.blobsMounted.Inc()
	reg.blobCreated(w, repo, digest)
	return true, nil
}

// appendChunk streams the request body onto the upload, hashing it on the
// way, and records the new size and hash state.
func (reg *Registry) appendChunk(r *http.Request, u store.RegistryUpload) (store.RegistryUpload, error) {
	h, err := resumeHash(u.HashState)
	if err != nil {
		return u, err
	}
	n, err := reg.disk.appendUpload(u.ID, u.Size, h, r.Body)
	reg.metrics.bytesIn.Add(float64(n))
	if err != nil {
		return u, errorf(http.StatusBadRequest, codeBlobUploadInvalid, "upload %s: %v", u.ID, err)
	}
	if n == 0 {
		return u, nil
	}
	state, err := hashState(h)
	if err != nil {
		return u, err
	}
	from := u.Size
	u.Size, u.HashState = u.Size+n, state
	if err := reg.cfg.Store.AdvanceRegistryUpload(r.Context(), from, u); err != nil {
		return u, err
	}
	return u, nil
}

// finish verifies the upload's digest and makes it a blob of repo.
func (reg *Registry) finish(ctx context.Context, repo repository, u store.RegistryUpload, digest string) error {
	h, err := resumeHash(u.HashState)
	if err != nil {
		return err
	}
	if got := digestOf(h); got != digest {
		reg.cfg.Store.DeleteRegistryUpload(ctx, u.ID)
		reg.disk.removeUpload(u.ID)
		return errorf(http.StatusBadRequest, codeDigestInvalid, "the uploaded content's digest is %s, not %s", got, digest).
			withDetail(map[string]string{"digest": digest, "computed": got})
	}
	// Record first, then move the file in: see store.PutRegistryBlob.
	if err := reg.cfg.Store.PutRegistryBlob(ctx, repo.name, store.RegistryBlob{Digest: digest, Size: u.Size}); err != nil {
		return err
	}
	if err := reg.disk.commit(u.ID, digest); err != nil {
		return err
	}
	if err := reg.cfg.Store.DeleteRegistryUpload(ctx, u.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	reg.metrics.blobsStored.Inc()
	return nil
}

func (reg *Registry) uploadHeaders(w http.ResponseWriter, repo repository, u store.RegistryUpload) {
	w.Header().Set("Location", fmt.Sprintf("/v2/%s/blobs/uploads/%s", repo, u.ID))
	w.Header().Set("Docker-Upload-UUID", u.ID)
	end := u.Size - 1
	if end < 0 {
		end = 0
	}
	w.Header().Set("Range", fmt.Sprintf("0-%d", end))
	w.Header().Set("Content-Length", "0")
}

func (reg *Registry) blobCreated(w http.ResponseWriter, repo repository, digest string) {
	w.Header().Set("Location", fmt.Sprintf("/v2/%s/blobs/%s", repo, digest))
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}
