package store

import (
	"bytes"
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

// The write statements of a batch. They run in one transaction after the
// revision counter has been advanced by the batch's size (which takes its
// lock), so "base" below — the counter minus the batch size — is the
// revision before the batch, and op i of the batch gets base + i. Bodies
// are encoded without metadata.resourceVersion; each statement splices it in
// at the offset Go computed (just inside "metadata":{). Each statement
// writes every op of one kind (arrays unnested into rows), appends their
// events to the log, and returns the positions of the ops whose condition
// held.
const (
	sqlAllocate = `UPDATE revision SET rv = rv + $1 WHERE id = 1 RETURNING rv`

	sqlBase = `(SELECT rv FROM revision WHERE id = 1) - $1::bigint`

	sqlStamp = `overlay(u.body placing '"resourceVersion":"' || (b.base + u.pos) || '",' from u.at for 0)`

	// sqlCreate also requires a project-scoped object's project to exist and
	// not be terminating. Writes are serialised, and project deletions and
	// updates run before creates in a batch, so the check cannot race.
	sqlCreate = `WITH b AS (SELECT ` + sqlBase + ` AS base),
	input AS (
		SELECT u.resource, u.project, u.name, u.pos, b.base + u.pos AS rv, u.labels, ` + sqlStamp + ` AS body
		FROM b, unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::int[])
			AS u(resource, project, name, pos, labels, body, at)
	), ins AS (
		INSERT INTO objects (resource, project, name, rv, labels, body)
		SELECT resource, project, name, rv, labels::jsonb, body::json FROM input u
		WHERE u.project = '' OR EXISTS (SELECT 1 FROM objects p
			WHERE p.resource = 'projects' AND p.project = '' AND p.name = u.project AND NOT p.deleting)
		ON CONFLICT DO NOTHING
		RETURNING resource, project, name, rv, body)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT rv, resource, project, name, 'ADDED', body FROM ins
	RETURNING rv - (SELECT base FROM b)`

	sqlUpdate = `WITH b AS (SELECT ` + sqlBase + ` AS base),
	input AS (
		SELECT u.resource, u.project, u.name, b.base + u.pos AS rv, u.labels, ` + sqlStamp + ` AS body, u.deleting, u.expected
		FROM b, unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::int[], $9::bool[], $10::bigint[])
			AS u(resource, project, name, pos, labels, body, at, deleting, expected)
	), upd AS (
		UPDATE objects o SET rv = u.rv, labels = u.labels::jsonb, body = u.body::json, deleting = u.deleting
		FROM input u
		WHERE o.resource = u.resource AND o.project = u.project AND o.name = u.name AND o.rv = u.expected
		RETURNING o.resource, o.project, o.name, o.rv, o.body)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT rv, resource, project, name, 'MODIFIED', body FROM upd
	RETURNING rv - (SELECT base FROM b)`

	sqlDelete = `WITH b AS (SELECT ` + sqlBase + ` AS base),
	input AS (
		SELECT u.resource, u.project, u.name, b.base + u.pos AS rv, ` + sqlStamp + ` AS body, u.expected
		FROM b, unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::int[], $8::bigint[])
			AS u(resource, project, name, pos, body, at, expected)
	), del AS (
		DELETE FROM objects o USING input u
		WHERE o.resource = u.resource AND o.project = u.project AND o.name = u.name AND o.rv = u.expected
		RETURNING u.resource, u.project, u.name, u.rv, u.body)
	INSERT INTO events (rv, resource, project, name, type, body)
	SELECT rv, resource, project, name, 'DELETED', body::json FROM del
	RETURNING rv - (SELECT base FROM b)`

	sqlNotify = `SELECT pg_notify('slipway_events', (SELECT rv::text FROM revision WHERE id = 1))`
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

// runCommitter groups queued writes into transactions until ctx ends. A
// batch holds at most one write per object; a second write to the same
// object waits for the next batch.
func (s *Store) runCommitter(ctx context.Context) {
	var deferred []*writeOp
	for {
		batch := make([]*writeOp, 0, maxBatch)
		keys := make(map[objectKey]bool, maxBatch)
		add := func(op *writeOp) {
			if k := op.key(); !keys[k] && len(batch) < maxBatch {
				keys[k] = true
				batch = append(batch, op)
			} else {
				deferred = append(deferred, op)
			}
		}
		pending := deferred
		deferred = nil
		for _, op := range pending {
			add(op)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				s.failQueued()
				return
			case op := <-s.writes:
				add(op)
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-s.writes:
				add(op)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

type objectKey struct{ resource, project, name string }

func (op *writeOp) key() objectKey {
	return objectKey{op.res.Plural, op.project, op.obj.Metadata.Name}
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

// commitTx writes ops in one transaction and one round trip: BEGIN,
// advancing the revision counter (which takes its lock until COMMIT), one
// statement per kind of write, the notification, and COMMIT. Deletes get
// the first revisions of the batch, then updates, then creates, and the
// statements run in that order, so a create that checked its project exists
// is ordered after any change to that project.
func (s *Store) commitTx(ctx context.Context, ops []*writeOp) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w: %w", errdefs.ErrUnavailable, err)
	}
	defer conn.Release()

	n := int64(len(ops))
	groups := [3]*opGroup{{kind: opDelete}, {kind: opUpdate}, {kind: opCreate}}
	byPosition := make([]*writeOp, n+1)
	pos := int64(0)
	for _, g := range groups {
		for _, op := range ops {
			if op.kind != g.kind {
				continue
			}
			pos++
			byPosition[pos] = op
			op.applied = false
			if err := g.add(op, pos); err != nil {
				return err
			}
		}
	}
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	batch.Queue(sqlAllocate, n)
	var queued []*opGroup
	for _, g := range groups {
		if len(g.names) > 0 {
			g.queue(batch, n)
			queued = append(queued, g)
		}
	}
	batch.Queue(sqlNotify)
	batch.Queue("COMMIT")

	results := conn.SendBatch(ctx, batch)
	defer func() {
		if closeErr := results.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("write batch: %w", closeErr)
		}
		if err != nil {
			// After a failure mid-batch the session may still be inside the
			// aborted transaction: end it, or drop the connection.
			if _, rbErr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
				conn.Conn().Close(context.Background()) //nolint:errcheck
			}
		}
	}()
	if _, err := results.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var top int64
	if err := results.QueryRow().Scan(&top); err != nil {
		return fmt.Errorf("allocate revisions: %w", err)
	}
	base := top - n
	for _, g := range queued {
		rows, err := results.Query()
		if err != nil {
			return fmt.Errorf("%s %d objects: %w", g.kind, len(g.names), err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("%s %d objects: %w", g.kind, len(g.names), err)
		}
		for _, p := range applied {
			byPosition[p].applied = true
		}
	}
	if _, err := results.Exec(); err != nil {
		return fmt.Errorf("notify watchers: %w", err)
	}
	tag, err := results.Exec()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	// A COMMIT of a transaction that failed reports ROLLBACK.
	if tag.String() != "COMMIT" {
		return fmt.Errorf("commit: transaction rolled back (%s)", tag)
	}
	for p := int64(1); p <= n; p++ {
		byPosition[p].obj.Metadata.ResourceVersion = strconv.FormatInt(base+p, 10)
	}
	return nil
}

// opGroup accumulates the columns of one kind of write.
type opGroup struct {
	kind                       opKind
	resources, projects, names []string
	labels, bodies             []string
	positions, expected        []int64
	offsets                    []int32
	deleting                   []bool
}

// metadataOpen is where, in an encoded object, metadata's fields begin;
// encoding/json writes kind and apiVersion (plain ASCII) before it.
var metadataOpen = []byte(`"metadata":{`)

func (g *opGroup) add(op *writeOp, pos int64) error {
	m := op.obj.Metadata
	op.obj.Metadata.ResourceVersion = "" // spliced in by the statement
	body, err := json.Marshal(op.obj)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", op.res.Kind, m.Name, err)
	}
	at := bytes.Index(body, metadataOpen)
	if at < 0 {
		return fmt.Errorf("encode %s %q: no metadata in %.60s", op.res.Kind, m.Name, body)
	}
	labels, err := json.Marshal(nonNil(m.Labels))
	if err != nil {
		return fmt.Errorf("encode labels of %s %q: %w", op.res.Kind, m.Name, err)
	}
	g.resources = append(g.resources, op.res.Plural)
	g.projects = append(g.projects, op.project)
	g.names = append(g.names, m.Name)
	g.positions = append(g.positions, pos)
	g.labels = append(g.labels, string(labels))
	g.bodies = append(g.bodies, string(body))
	// SQL positions count from 1: the splice goes just after the brace.
	g.offsets = append(g.offsets, int32(at+len(metadataOpen)+1))
	g.expected = append(g.expected, op.expected)
	g.deleting = append(g.deleting, m.DeletionTimestamp != nil)
	return nil
}

func (g *opGroup) queue(b *pgx.Batch, size int64) {
	switch g.kind {
	case opCreate:
		b.Queue(sqlCreate, size, g.resources, g.projects, g.names, g.positions, g.labels, g.bodies, g.offsets)
	case opUpdate:
		b.Queue(sqlUpdate, size, g.resources, g.projects, g.names, g.positions, g.labels, g.bodies, g.offsets, g.deleting, g.expected)
	case opDelete:
		b.Queue(sqlDelete, size, g.resources, g.projects, g.names, g.positions, g.bodies, g.offsets, g.expected)
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
