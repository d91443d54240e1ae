package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

// maxBatch bounds how many writes one transaction groups.
const maxBatch = 256

type opKind int

const (
	opCreate opKind = iota
	opUpdate
	opDelete
)

func (k opKind) String() string { return [...]string{"create", "update", "delete"}[k] }

// writeOp is one write waiting for the group committer.
type writeOp struct {
	kind    opKind
	res     *api.Resource
	project string
	// obj is the new state (create, update) or the last state (delete); the
	// committer sets its resourceVersion to the revision it allocates.
	obj *api.Object
	// expected is the revision the update or delete replaces.
	expected int64
	// applied reports the outcome, once done has been closed: false when
	// the write's condition failed (row exists, revision moved, project
	// missing); err is a failure of the write itself.
	applied bool
	err     error
	done    chan struct{}
}

const (
	sqlCreate = `WITH ins AS (
		INSERT INTO objects (resource, project, name, rv, labels, body)
		VALUES ($1, $2, $3, $4, $5, $6::json)
		ON CONFLICT DO NOTHING RETURNING rv)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT rv, $1, $2, $3, 'ADDED', $6::json FROM ins`

	// sqlCreateInProject also requires the project to exist and not be
	// terminating. All writes are serialised, so the check cannot race a
	// concurrent project deletion.
	sqlCreateInProject = `WITH ins AS (
		INSERT INTO objects (resource, project, name, rv, labels, body)
		SELECT $1::text, $2::text, $3::text, $4::bigint, $5::jsonb, $6::json
		WHERE EXISTS (SELECT 1 FROM objects
			WHERE resource = 'projects' AND project = '' AND name = $2 AND NOT deleting)
		ON CONFLICT DO NOTHING RETURNING rv)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT rv, $1, $2, $3, 'ADDED', $6::json FROM ins`

	sqlUpdate = `WITH upd AS (
		UPDATE objects SET rv = $4, labels = $5, deleting = $7, body = $6::json
		WHERE resource = $1 AND project = $2 AND name = $3 AND rv = $8 RETURNING rv)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT rv, $1, $2, $3, 'MODIFIED', $6::json FROM upd`

	sqlDelete = `WITH del AS (
		DELETE FROM objects
		WHERE resource = $1 AND project = $2 AND name = $3 AND rv = $6 RETURNING 1)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT $4, $1, $2, $3, 'DELETED', $5::json FROM del`
)

// Create stores a new object and returns it with its resourceVersion. It
// fails with AlreadyExists when the name is taken and, for project-scoped
// resources, NotFound or Forbidden when the project is missing or
// terminating.
func (s *Store) Create(ctx context.Context, res *api.Resource, obj *api.Object) (*api.Object, error) {
	return s.write(ctx, opCreate, res, obj, 0)
}

// Update replaces an object if its stored revision is still
// obj.Metadata.ResourceVersion (compare-and-swap), returning it with its new
// resourceVersion. A moved revision fails with Conflict, a missing object
// with NotFound.
func (s *Store) Update(ctx context.Context, res *api.Resource, obj *api.Object) (*api.Object, error) {
	rv, err := ParseRevision(obj.Metadata.ResourceVersion)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, opUpdate, res, obj, rv)
}

// Delete removes an object if its stored revision is still
// obj.Metadata.ResourceVersion. Watchers receive obj, at the deletion's
// revision, as the DELETED event.
func (s *Store) Delete(ctx context.Context, res *api.Resource, obj *api.Object) (*api.Object, error) {
	rv, err := ParseRevision(obj.Metadata.ResourceVersion)
	if err != nil {
		return nil, err
	}
	return s.write(ctx, opDelete, res, obj, rv)
}

// ParseRevision reads a resourceVersion.
func ParseRevision(rv string) (int64, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, errdefs.Invalidf("metadata.resourceVersion", "%q is not a resource version", rv)
	}
	return n, nil
}

func (s *Store) write(ctx context.Context, kind opKind, res *api.Resource, obj *api.Object, expected int64) (*api.Object, error) {
	start := time.Now()
	defer func() { s.metrics.opSeconds.WithLabelValues(kind.String()).Observe(time.Since(start).Seconds()) }()
	project, err := scope(ctx, res, false)
	if err != nil {
		return nil, err
	}
	if obj.Metadata.Project != project {
		return nil, errdefs.BadRequestf("metadata.project", "%q does not match the request's project %q", obj.Metadata.Project, project)
	}
	op := &writeOp{kind: kind, res: res, project: project, obj: obj, expected: expected, done: make(chan struct{})}
	select {
	case s.writes <- op:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s %s %q: %w", kind, res.Kind, obj.Metadata.Name, ctx.Err())
	}
	select {
	case <-op.done:
	case <-ctx.Done():
		// The write may still commit; the caller learns the outcome by
		// reading or watching.
		return nil, fmt.Errorf("%s %s %q: outcome unknown: %w", kind, res.Kind, obj.Metadata.Name, ctx.Err())
	}
	if op.err != nil {
		return nil, fmt.Errorf("%s %s %q: %w", kind, res.Kind, obj.Metadata.Name, op.err)
	}
	if !op.applied {
		return nil, s.explainRejected(ctx, op)
	}
	return obj, nil
}

// explainRejected finds out why a write's condition failed.
func (s *Store) explainRejected(ctx context.Context, op *writeOp) error {
	m := op.obj.Metadata
	what := describe(op.res, m.Project, m.Name)
	var rv int64
	err := s.pool.QueryRow(ctx, `SELECT rv FROM objects WHERE resource = $1 AND project = $2 AND name = $3`,
		op.res.Plural, op.project, m.Name).Scan(&rv)
	exists := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case op.kind == opCreate && exists:
		return fmt.Errorf("%s already exists: %w", what, errdefs.ErrAlreadyExists)
	case op.kind == opCreate:
		var deleting bool
		err := s.pool.QueryRow(ctx, `SELECT deleting FROM objects WHERE resource = 'projects' AND project = '' AND name = $1`, op.project).Scan(&deleting)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("project %q not found: %w", op.project, errdefs.ErrNotFound)
		}
		if err == nil && deleting {
			return fmt.Errorf("cannot create %s: project %q is being deleted: %w", what, op.project, errdefs.ErrForbidden)
		}
		return fmt.Errorf("create %s: rejected, retry: %w", what, errdefs.ErrConflict)
	case !exists:
		return fmt.Errorf("%s not found: %w", what, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s has been modified (resourceVersion %d, not %d); apply your changes to the latest version and try again: %w",
		what, rv, op.expected, errdefs.ErrConflict)
}

// describe names an object the way error messages do:
// configmap "web" in project "shop".
func describe(res *api.Resource, project, name string) string {
	if project == "" {
		return fmt.Sprintf("%s %q", strings.ToLower(res.Kind), name)
	}
	return fmt.Sprintf("%s %q in project %q", strings.ToLower(res.Kind), name, project)
}

// runCommitter groups queued writes into transactions until ctx ends.
func (s *Store) runCommitter(ctx context.Context) {
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			s.failQueued()
			return
		case op := <-s.writes:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-s.writes:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// failQueued answers writes still queued at shutdown.
func (s *Store) failQueued() {
	for {
		select {
		case op := <-s.writes:
			op.err = fmt.Errorf("store is shutting down: %w", errdefs.ErrUnavailable)
			close(op.done)
		default:
			return
		}
	}
}

// commit writes a batch in one transaction. If the transaction fails as a
// whole, each write is retried alone so one bad write cannot fail others.
func (s *Store) commit(batch []*writeOp) {
	// A batch in flight finishes even when the store is closing.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.metrics.batchSize.Observe(float64(len(batch)))
	err := s.commitTx(ctx, batch)
	if err != nil && len(batch) > 1 {
		s.log.WarnContext(ctx, "group commit failed; retrying its writes one by one", "writes", len(batch), "error", err)
		for _, op := range batch {
			op.err = s.commitTx(ctx, []*writeOp{op})
			close(op.done)
		}
		return
	}
	for _, op := range batch {
		op.err = err
		close(op.done)
	}
}

func (s *Store) commitTx(ctx context.Context, ops []*writeOp) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", errdefs.ErrUnavailable)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	var top int64
	if err := tx.QueryRow(ctx, `UPDATE revision SET rv = rv + $1 WHERE id = 1 RETURNING rv`, len(ops)).Scan(&top); err != nil {
		return fmt.Errorf("allocate revisions: %w", err)
	}
	batch := &pgx.Batch{}
	base := top - int64(len(ops))
	for i, op := range ops {
		rv := base + 1 + int64(i)
		op.obj.Metadata.ResourceVersion = strconv.FormatInt(rv, 10)
		body, err := json.Marshal(op.obj)
		if err != nil {
			return fmt.Errorf("encode %s %q: %w", op.res.Kind, op.obj.Metadata.Name, err)
		}
		labels, err := json.Marshal(nonNil(op.obj.Metadata.Labels))
		if err != nil {
			return fmt.Errorf("encode labels: %w", err)
		}
		m := op.obj.Metadata
		switch op.kind {
		case opCreate:
			q := sqlCreate
			if op.res.Scope == api.ProjectScoped {
				q = sqlCreateInProject
			}
			batch.Queue(q, op.res.Plural, op.project, m.Name, rv, labels, body)
		case opUpdate:
			batch.Queue(sqlUpdate, op.res.Plural, op.project, m.Name, rv, labels, body, m.DeletionTimestamp != nil, op.expected)
		case opDelete:
			batch.Queue(sqlDelete, op.res.Plural, op.project, m.Name, rv, body, op.expected)
		}
	}
	batch.Queue(`SELECT pg_notify('slipway_events', $1)`, strconv.FormatInt(top, 10))
	results := tx.SendBatch(ctx, batch)
	for _, op := range ops {
		tag, err := results.Exec()
		if err != nil {
			results.Close()
			return fmt.Errorf("%s %s %q: %w", op.kind, op.res.Kind, op.obj.Metadata.Name, err)
		}
		op.applied = tag.RowsAffected() == 1
	}
	if _, err := results.Exec(); err != nil {
		results.Close()
		return fmt.Errorf("notify watchers: %w", err)
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
