package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/api/errdefs"
)

// The OCI registry's metadata (migration 0003). Blob bytes live on disk,
// managed by server/registry; these methods keep what exists, which
// repository may serve it, what manifests reference and where tags point.
// Repository-scoped methods act in the context's project (WithProject) and
// refuse a call without one.

// RegistryBlob is a blob the registry holds.
type RegistryBlob struct {
	Digest string
	Size   int64
}

// RegistryManifest is a manifest or index of one repository.
type RegistryManifest struct {
	Digest    string
	MediaType string
	Body      []byte
	Created   time.Time
	// Blobs are the blobs the manifest references (config and layers);
	// Manifests the child manifests of an index. Set on put only.
	Blobs     []string
	Manifests []string
}

// RegistryUpload is an upload session: Size bytes received so far, and
// the SHA-256 state after them.
type RegistryUpload struct {
	ID        string
	Repo      string
	Size      int64
	HashState []byte
	Started   time.Time
}

// RegistryRepository names a repository.
type RegistryRepository struct {
	Project, Name string
}

// UnknownReferenceError says a manifest names a blob or child manifest the
// repository does not hold. It is Invalid.
type UnknownReferenceError struct {
	Digest string
	// Blob is true for a blob, false for a child manifest.
	Blob bool
}

func (e *UnknownReferenceError) Error() string {
	what := "blob"
	if !e.Blob {
		what = "manifest"
	}
	return fmt.Sprintf("the manifest references %s %s, which this repository does not hold", what, e.Digest)
}

// Unwrap makes the error Invalid.
func (e *UnknownReferenceError) Unwrap() error { return errdefs.ErrInvalid }

func repoProject(ctx context.Context) (string, error) {
	p, ok := ProjectFrom(ctx)
	if !ok || p == AllProjects {
		return "", fmt.Errorf("registry repositories are project-scoped and the call names no project: %w", errdefs.ErrBadRequest)
	}
	return p, nil
}

// RegistryRepoBlob returns a blob linked into repo (pushed to or mounted
// into it), or NotFound. Cost: one indexed read.
func (s *Store) RegistryRepoBlob(ctx context.Context, repo, digest string) (RegistryBlob, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return RegistryBlob{}, err
	}
	b := RegistryBlob{Digest: digest}
	err = s.pool.QueryRow(ctx, `SELECT b.size FROM registry_repo_blobs l JOIN registry_blobs b USING (digest)
		WHERE l.project = $1 AND l.repo = $2 AND l.digest = $3`, project, repo, digest).Scan(&b.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("blob %s in %s/%s: %w", digest, project, repo, errdefs.ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("read blob %s in %s/%s: %w", digest, project, repo, err)
	}
	return b, nil
}

// PutRegistryBlob records that a blob exists (its file is about to be, or
// already is, in place) and links it into repo. Call it before moving the
// file into place: a concurrent garbage collection that still deletes the
// old row finishes (file removed) before this returns, and one that starts
// later sees the fresh touched_at and spares it.
func (s *Store) PutRegistryBlob(ctx context.Context, repo string, b RegistryBlob) error {
	project, err := repoProject(ctx)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO registry_blobs (digest, size) VALUES ($1, $2)
			ON CONFLICT (digest) DO UPDATE SET touched_at = now()`, b.Digest, b.Size); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO registry_repo_blobs (project, repo, digest) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, project, repo, b.Digest)
		return err
	})
	if err != nil {
		return fmt.Errorf("record blob %s in %s/%s: %w", b.Digest, project, repo, err)
	}
	return nil
}

// MountRegistryBlob links a blob of repository from (in the context's
// project or another: the caller has checked the right to read it) into
// repo, without copying. NotFound when from does not hold the blob.
func (s *Store) MountRegistryBlob(ctx context.Context, repo string, from RegistryRepository, digest string) (RegistryBlob, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return RegistryBlob{}, err
	}
	b := RegistryBlob{Digest: digest}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE registry_blobs SET touched_at = now() WHERE digest = $1
			AND EXISTS (SELECT 1 FROM registry_repo_blobs WHERE project = $2 AND repo = $3 AND digest = $1)
			RETURNING size`, digest, from.Project, from.Name).Scan(&b.Size)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("blob %s in %s/%s: %w", digest, from.Project, from.Name, errdefs.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO registry_repo_blobs (project, repo, digest) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, project, repo, digest)
		return err
	})
	if err != nil {
		return b, fmt.Errorf("mount blob %s into %s/%s: %w", digest, project, repo, err)
	}
	return b, nil
}

// PutRegistryManifest stores a manifest (idempotent for the same digest)
// and, when tag is not empty, points tag at it. Every blob it references
// must be linked into repo and every child manifest stored in repo, or it
// fails with an UnknownReferenceError; the referenced blobs are touched in
// the same transaction, so garbage collection cannot take them meanwhile.
// It returns the digest tag pointed at before ("" if none).
func (s *Store) PutRegistryManifest(ctx context.Context, repo string, m RegistryManifest, tag string) (previous string, err error) {
	project, err := repoProject(ctx)
	if err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		blobs := dedupe(m.Blobs)
		if len(blobs) > 0 {
			rows, err := tx.Query(ctx, `UPDATE registry_blobs b SET touched_at = now() WHERE digest = ANY($1)
				AND EXISTS (SELECT 1 FROM registry_repo_blobs l WHERE l.project = $2 AND l.repo = $3 AND l.digest = b.digest)
				RETURNING digest`, blobs, project, repo)
			if err != nil {
				return err
			}
			found, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if missing := firstMissing(blobs, found); missing != "" {
				return &UnknownReferenceError{Digest: missing, Blob: true}
			}
		}
		children := dedupe(m.Manifests)
		if len(children) > 0 {
			rows, err := tx.Query(ctx, `SELECT digest FROM registry_manifests WHERE project = $1 AND repo = $2 AND digest = ANY($3)`,
				project, repo, children)
			if err != nil {
				return err
			}
			found, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if missing := firstMissing(children, found); missing != "" {
				return &UnknownReferenceError{Digest: missing}
			}
		}
		ins, err := tx.Exec(ctx, `INSERT INTO registry_manifests (project, repo, digest, media_type, body) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, project, repo, m.Digest, m.MediaType, m.Body)
		if err != nil {
			return err
		}
		if ins.RowsAffected() == 1 {
			refs := append(slicesOf(blobs, true), slicesOf(children, false)...)
			for _, r := range refs {
				if _, err := tx.Exec(ctx, `INSERT INTO registry_manifest_refs (project, repo, manifest, ref, is_blob) VALUES ($1, $2, $3, $4, $5)
					ON CONFLICT DO NOTHING`, project, repo, m.Digest, r.digest, r.blob); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store manifest %s in %s/%s: %w", m.Digest, project, repo, err)
	}
	if tag == "" {
		return "", nil
	}
	err = s.pool.QueryRow(ctx, `WITH old AS (SELECT digest FROM registry_tags WHERE project = $1 AND repo = $2 AND tag = $3),
		up AS (INSERT INTO registry_tags (project, repo, tag, digest) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project, repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = now())
		SELECT coalesce((SELECT digest FROM old), '')`, project, repo, tag, m.Digest).Scan(&previous)
	if err != nil {
		return "", fmt.Errorf("tag %s/%s:%s: %w", project, repo, tag, err)
	}
	return previous, nil
}

type ref struct {
	digest string
	blob   bool
}

func slicesOf(digests []string, blob bool) []ref {
	out := make([]ref, len(digests))
	for i, d := range digests {
		out[i] = ref{d, blob}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func firstMissing(want, found []string) string {
	have := map[string]bool{}
	for _, f := range found {
		have[f] = true
	}
	for _, w := range want {
		if !have[w] {
			return w
		}
	}
	return ""
}

// RegistryManifest returns a manifest of repo by digest ("sha256:…") or
// by tag, or NotFound.
func (s *Store) RegistryManifest(ctx context.Context, repo, reference string) (RegistryManifest, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return RegistryManifest{}, err
	}
	var m RegistryManifest
	q := `SELECT digest, media_type, body, created_at FROM registry_manifests WHERE project = $1 AND repo = $2 AND digest = $3`
	if !strings.Contains(reference, ":") {
		q = `SELECT m.digest, m.media_type, m.body, m.created_at FROM registry_tags t JOIN registry_manifests m USING (project, repo, digest)
			WHERE t.project = $1 AND t.repo = $2 AND t.tag = $3`
	}
	err = s.pool.QueryRow(ctx, q, project, repo, reference).Scan(&m.Digest, &m.MediaType, &m.Body, &m.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("manifest %s in %s/%s: %w", reference, project, repo, errdefs.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("read manifest %s in %s/%s: %w", reference, project, repo, err)
	}
	return m, nil
}

// DeleteRegistryManifest deletes a manifest of repo and every tag pointing
// at it, which it returns. Its blobs stay until garbage collection finds
// them unreferenced. NotFound when repo has no such manifest.
func (s *Store) DeleteRegistryManifest(ctx context.Context, repo, digest string) ([]string, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tag FROM registry_tags WHERE project = $1 AND repo = $2 AND digest = $3 ORDER BY tag`, project, repo, digest)
		if err != nil {
			return err
		}
		if tags, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM registry_manifests WHERE project = $1 AND repo = $2 AND digest = $3`, project, repo, digest)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errdefs.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete manifest %s in %s/%s: %w", digest, project, repo, err)
	}
	return tags, nil
}

// DeleteRegistryTag removes a tag (not its manifest). NotFound when repo
// has no such tag.
func (s *Store) DeleteRegistryTag(ctx context.Context, repo, tag string) error {
	project, err := repoProject(ctx)
	if err != nil {
		return err
	}
	res, err := s.pool.Exec(ctx, `DELETE FROM registry_tags WHERE project = $1 AND repo = $2 AND tag = $3`, project, repo, tag)
	if err != nil {
		return fmt.Errorf("delete tag %s/%s:%s: %w", project, repo, tag, err)
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("tag %s/%s:%s: %w", project, repo, tag, errdefs.ErrNotFound)
	}
	return nil
}

// RegistryTags lists repo's tags in lexical order, at most limit (0: all)
// after last (exclusive).
func (s *Store) RegistryTags(ctx context.Context, repo, last string, limit int) ([]string, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return nil, err
	}
	q := `SELECT tag FROM registry_tags WHERE project = $1 AND repo = $2 AND tag > $3 ORDER BY tag COLLATE "C"`
	args := []any{project, repo, last}
	if limit > 0 {
		q += ` LIMIT $4`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s/%s: %w", project, repo, err)
	}
	tags, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tags of %s/%s: %w", project, repo, err)
	}
	return tags, nil
}

// RegistryTag is where a tag points and since when.
type RegistryTag struct {
	Tag, Digest string
	Updated     time.Time
}

// RegistryTagDigests returns every tag of repo with its digest, by tag.
func (s *Store) RegistryTagDigests(ctx context.Context, repo string) ([]RegistryTag, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT tag, digest, updated_at FROM registry_tags WHERE project = $1 AND repo = $2 ORDER BY tag COLLATE "C"`, project, repo)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s/%s: %w", project, repo, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RegistryTag, error) {
		var t RegistryTag
		return t, r.Scan(&t.Tag, &t.Digest, &t.Updated)
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s/%s: %w", project, repo, err)
	}
	return out, nil
}

// RegistryRepositoryExists reports whether repo holds any manifest or
// blob.
func (s *Store) RegistryRepositoryExists(ctx context.Context, repo string) (bool, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return false, err
	}
	var ok bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM registry_manifests WHERE project = $1 AND repo = $2)
		OR EXISTS (SELECT 1 FROM registry_repo_blobs WHERE project = $1 AND repo = $2)`, project, repo).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up %s/%s: %w", project, repo, err)
	}
	return ok, nil
}

// DeleteRegistryRepository deletes everything repo holds: tags,
// manifests, blob links and upload sessions, whose ids it returns (the
// caller removes their files). Blobs stay until garbage collection finds
// them unreferenced.
func (s *Store) DeleteRegistryRepository(ctx context.Context, repo string) ([]string, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return nil, err
	}
	var uploads []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM registry_tags WHERE project = $1 AND repo = $2`,
			`DELETE FROM registry_manifests WHERE project = $1 AND repo = $2`,
			`DELETE FROM registry_repo_blobs WHERE project = $1 AND repo = $2`,
		} {
			if _, err := tx.Exec(ctx, q, project, repo); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `DELETE FROM registry_uploads WHERE project = $1 AND repo = $2 RETURNING id`, project, repo)
		if err != nil {
			return err
		}
		uploads, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delete repository %s/%s: %w", project, repo, err)
	}
	return uploads, nil
}

// RegistryRepositories lists every repository holding a manifest, in
// project then name order (the catalogue; the caller filters by access).
func (s *Store) RegistryRepositories(ctx context.Context) ([]RegistryRepository, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT project, repo FROM registry_manifests ORDER BY project, repo`)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RegistryRepository, error) {
		var rr RegistryRepository
		return rr, r.Scan(&rr.Project, &rr.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	return out, nil
}

// CreateRegistryUpload starts an upload session into repo.
func (s *Store) CreateRegistryUpload(ctx context.Context, repo, id string, hashState []byte) error {
	project, err := repoProject(ctx)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO registry_uploads (id, project, repo, hash_state) VALUES ($1, $2, $3, $4)`,
		id, project, repo, hashState); err != nil {
		return fmt.Errorf("start upload into %s/%s: %w", project, repo, err)
	}
	return nil
}

// RegistryUpload returns an upload session of repo, or NotFound.
func (s *Store) RegistryUpload(ctx context.Context, repo, id string) (RegistryUpload, error) {
	project, err := repoProject(ctx)
	if err != nil {
		return RegistryUpload{}, err
	}
	u := RegistryUpload{ID: id, Repo: repo}
	err = s.pool.QueryRow(ctx, `SELECT size, hash_state, started_at FROM registry_uploads WHERE id = $1 AND project = $2 AND repo = $3`,
		id, project, repo).Scan(&u.Size, &u.HashState, &u.Started)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("upload %s in %s/%s: %w", id, project, repo, errdefs.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read upload %s: %w", id, err)
	}
	return u, nil
}

// AdvanceRegistryUpload records that upload id has grown from size from
// to u.Size with hash state u.HashState. Conflict when another request
// advanced it meanwhile.
func (s *Store) AdvanceRegistryUpload(ctx context.Context, from int64, u RegistryUpload) error {
	res, err := s.pool.Exec(ctx, `UPDATE registry_uploads SET size = $3, hash_state = $4, updated_at = now() WHERE id = $1 AND size = $2`,
		u.ID, from, u.Size, u.HashState)
	if err != nil {
		return fmt.Errorf("advance upload %s: %w", u.ID, err)
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("upload %s moved on concurrently: %w", u.ID, errdefs.ErrConflict)
	}
	return nil
}

// DeleteRegistryUpload ends an upload session; NotFound if it was gone.
func (s *Store) DeleteRegistryUpload(ctx context.Context, id string) error {
	res, err := s.pool.Exec(ctx, `DELETE FROM registry_uploads WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("end upload %s: %w", id, err)
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("upload %s: %w", id, errdefs.ErrNotFound)
	}
	return nil
}

// ExpireRegistryUploads deletes the upload sessions idle since before
// cutoff and returns their ids (the caller removes their files).
func (s *Store) ExpireRegistryUploads(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM registry_uploads WHERE updated_at < $1 RETURNING id`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("expire uploads: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("expire uploads: %w", err)
	}
	return ids, nil
}

// CollectRegistryBlobs deletes the blobs that no manifest references and
// that nothing touched since cutoff, at most limit of them (0: no bound).
// remove deletes each blob's file; it runs while the blob's row is locked,
// so a push that re-uploads or references the blob meanwhile waits and then
// sees it gone (and writes it again) instead of losing it. A blob whose
// remove fails is kept. It returns the digests deleted.
func (s *Store) CollectRegistryBlobs(ctx context.Context, cutoff time.Time, limit int, remove func(digest string) error) ([]string, error) {
	var deleted []string
	var errs []error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := `SELECT digest FROM registry_blobs b WHERE touched_at < $1
			AND NOT EXISTS (SELECT 1 FROM registry_manifest_refs r WHERE r.ref = b.digest AND r.is_blob)
			ORDER BY touched_at`
		args := []any{cutoff}
		if limit > 0 {
			q += ` LIMIT $2`
			args = append(args, limit)
		}
		rows, err := tx.Query(ctx, q+` FOR UPDATE SKIP LOCKED`, args...)
		if err != nil {
			return err
		}
		candidates, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, d := range candidates {
			if err := remove(d); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted = append(deleted, d)
		}
		if len(deleted) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM registry_blobs WHERE digest = ANY($1)`, deleted); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("collect unreferenced blobs: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("collect unreferenced blobs: %w", err)
	}
	return deleted, nil
}
