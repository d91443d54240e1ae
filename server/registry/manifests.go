package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/server/store"
)

// Manifest media types the registry accepts.
const (
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestBytes bounds a manifest body (the spec suggests 4 MiB).
const maxManifestBytes = 4 << 20

// descriptor is the part of an OCI descriptor the registry reads.
type descriptor struct {
	MediaType string   `json:"mediaType"`
	Digest    string   `json:"digest"`
	Size      int64    `json:"size"`
	URLs      []string `json:"urls,omitempty"`
}

// manifestBody is the union of an image manifest and an index.
type manifestBody struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config"`
	Layers        []descriptor `json:"layers"`
	Manifests     []descriptor `json:"manifests"`
}

func manifestInvalid(format string, args ...any) error {
	return errorf(http.StatusBadRequest, codeManifestInvalid, format, args...)
}

// parseManifest checks a manifest body and returns the references it makes.
// contentType is the request's Content-Type; the body's mediaType, when
// present, must agree with it.
func parseManifest(contentType string, body []byte) (store.RegistryManifest, error) {
	var m manifestBody
	if err := json.Unmarshal(body, &m); err != nil {
		return store.RegistryManifest{}, manifestInvalid("the manifest is not JSON: %v", err)
	}
	if m.SchemaVersion != 2 {
		return store.RegistryManifest{}, manifestInvalid("schemaVersion %d: only schema 2 manifests are accepted", m.SchemaVersion)
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case m.MediaType != "" && (mt == "" || mt == "application/json" || mt == "application/octet-stream"):
		mt = m.MediaType
	case m.MediaType != "" && m.MediaType != mt:
		return store.RegistryManifest{}, manifestInvalid("Content-Type %q differs from the manifest's mediaType %q", mt, m.MediaType)
	case mt == "" && m.Config != nil:
		mt = MediaTypeOCIManifest
	case mt == "":
		mt = MediaTypeOCIIndex
	}
	out := store.RegistryManifest{MediaType: mt, Body: body}
	check := func(field string, d descriptor) error {
		if err := checkDigest(d.Digest); err != nil {
			return manifestInvalid("%s: %v", field, err)
		}
		if d.Size < 0 {
			return manifestInvalid("%s: negative size", field)
		}
		return nil
	}
	switch mt {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if m.Config == nil {
			return out, manifestInvalid("an image manifest needs a config")
		}
		if err := check("config", *m.Config); err != nil {
			return out, err
		}
		out.Blobs = append(out.Blobs, m.Config.Digest)
		for i, l := range m.Layers {
			if err := check(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return out, err
			}
			if len(l.URLs) > 0 {
				continue // a foreign layer: fetched from its URLs, not from here
			}
			out.Blobs = append(out.Blobs, l.Digest)
		}
	case MediaTypeOCIIndex, MediaTypeDockerList:
		for i, c := range m.Manifests {
			if err := check(fmt.Sprintf("manifests[%d]", i), c); err != nil {
				return out, err
			}
			out.Manifests = append(out.Manifests, c.Digest)
		}
	default:
		return out, errorf(http.StatusUnsupportedMediaType, codeManifestInvalid,
			"manifest media type %q is not supported (use %s, %s, %s or %s)", mt, MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList)
	}
	return out, nil
}

func manifestUnknown(ref string) error {
	return errorf(http.StatusNotFound, codeManifestUnknown, "manifest %s is not in this repository", ref).withDetail(map[string]string{"reference": ref})
}

// serveManifest handles GET, HEAD, PUT and DELETE of a manifest by tag or
// digest.
func (reg *Registry) serveManifest(w http.ResponseWriter, r *http.Request, caller authn.Caller, repo repository, ref string) error {
	byDigest := strings.Contains(ref, ":")
	if byDigest {
		if err := checkDigest(ref); err != nil {
			return err
		}
	} else if api.ValidateImageTag("", ref) != nil {
		return errorf(http.StatusBadRequest, codeTagInvalid, "%q is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", ref)
	}
	ctx := repo.ctx(r.Context())
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if err := reg.authorize(caller, pull, repo); err != nil {
			return err
		}
		m, err := reg.cfg.Store.RegistryManifest(ctx, repo.name, ref)
		if errors.Is(err, errdefs.ErrNotFound) {
			return manifestUnknown(ref)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", m.MediaType)
		w.Header().Set("Docker-Content-Digest", m.Digest)
		w.Header().Set("ETag", `"`+m.Digest+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(m.Body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(m.Body)
		}
		return nil
	case http.MethodPut:
		if err := reg.authorize(caller, push, repo); err != nil {
			return err
		}
		return reg.putManifest(w, r, repo, ref, byDigest)
	case http.MethodDelete:
		if err := reg.authorize(caller, remove, repo); err != nil {
			return err
		}
		if byDigest {
			tags, err := reg.cfg.Store.DeleteRegistryManifest(ctx, repo.name, ref)
			if errors.Is(err, errdefs.ErrNotFound) {
				return manifestUnknown(ref)
			}
			if err != nil {
				return err
			}
			if len(tags) > 0 {
				if err := reg.syncImage(ctx, repo); err != nil {
					return err
				}
			}
		} else {
			err := reg.cfg.Store.DeleteRegistryTag(ctx, repo.name, ref)
			if errors.Is(err, errdefs.ErrNotFound) {
				return manifestUnknown(ref)
			}
			if err != nil {
				return err
			}
			if err := reg.syncImage(ctx, repo); err != nil {
				return err
			}
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errNotAllowed(r)
}

func (reg *Registry) putManifest(w http.ResponseWriter, r *http.Request, repo repository, ref string, byDigest bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		return errorf(http.StatusBadRequest, codeManifestInvalid, "read manifest: %v", err)
	}
	reg.metrics.bytesIn.Add(float64(len(body)))
	if len(body) > maxManifestBytes {
		return errorf(http.StatusRequestEntityTooLarge, codeSizeInvalid, "a manifest may be at most %d bytes", maxManifestBytes)
	}
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if byDigest && digest != ref {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "the manifest's digest is %s, not %s", digest, ref).
			withDetail(map[string]string{"digest": ref, "computed": digest})
	}
	m, err := parseManifest(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	m.Digest = digest
	tag := ""
	if !byDigest {
		tag = ref
	}
	ctx := repo.ctx(r.Context())
	if _, err := reg.cfg.Store.PutRegistryManifest(ctx, repo.name, m, tag); err != nil {
		var unknown *store.UnknownReferenceError
		if errors.As(err, &unknown) {
			return errorf(http.StatusBadRequest, codeManifestBlobUnknown, "%s", unknown.Error()).withDetail(map[string]string{"digest": unknown.Digest})
		}
		return err
	}
	reg.metrics.manifests.Inc()
	if err := reg.syncImage(ctx, repo); err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/v2/%s/manifests/%s", repo, digest))
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// serveTags answers GET tags/list, paginated with n and last.
func (reg *Registry) serveTags(w http.ResponseWriter, r *http.Request, caller authn.Caller, repo repository) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errNotAllowed(r)
	}
	if err := reg.authorize(caller, pull, repo); err != nil {
		return err
	}
	ctx := repo.ctx(r.Context())
	q := r.URL.Query()
	n := 0
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return errorf(http.StatusBadRequest, codeUnsupported, "n=%q: want a non-negative number", s)
		}
		n = v
	}
	tags, err := reg.cfg.Store.RegistryTags(ctx, repo.name, q.Get("last"), n)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		exists, err := reg.cfg.Store.RegistryRepositoryExists(ctx, repo.name)
		if err != nil {
			return err
		}
		if !exists {
			return errorf(http.StatusNotFound, codeNameUnknown, "repository %s is unknown", repo).withDetail(map[string]string{"name": repo.String()})
		}
	}
	if n > 0 && len(tags) == n {
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, repo, n, url.QueryEscape(tags[len(tags)-1])))
	}
	if tags == nil {
		tags = []string{}
	}
	return writeJSON(w, map[string]any{"name": repo.String(), "tags": tags})
}

// catalog lists the repositories the caller may pull from.
func (reg *Registry) catalog(w http.ResponseWriter, r *http.Request, caller authn.Caller) error {
	if r.Method != http.MethodGet {
		return errNotAllowed(r)
	}
	if caller.Name == "" {
		return authn.ErrUnauthenticated
	}
	repos, err := reg.cfg.Store.RegistryRepositories(r.Context())
	if err != nil {
		return err
	}
	names := []string{}
	for _, rr := range repos {
		if reg.authorize(caller, pull, repository{project: rr.Project, name: rr.Name}) == nil {
			names = append(names, rr.Project+"/"+rr.Name)
		}
	}
	return writeJSON(w, map[string]any{"repositories": names})
}

func writeJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
