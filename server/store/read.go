package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/labels"
	"github.com/slipway/slipway/server/watch"
)

// Get returns one object.
func (s *Store) Get(ctx context.Context, res *api.Resource, name string) (*api.Object, error) {
	start := time.Now()
	defer func() { s.metrics.opSeconds.WithLabelValues("get").Observe(time.Since(start).Seconds()) }()
	project, err := scope(ctx, res, false)
	if err != nil {
		return nil, err
	}
	var body []byte
	err = s.pool.QueryRow(ctx, `SELECT body FROM objects WHERE resource = $1 AND project = $2 AND name = $3`,
		res.Plural, project, name).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s not found: %w", describe(res, project, name), errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", describe(res, project, name), err)
	}
	return decodeStored(body)
}

// DecodeEvent decodes the object of a watch event.
func DecodeEvent(ev watch.Event) (*api.Object, error) { return decodeStored(ev.Object) }

func decodeStored(body []byte) (*api.Object, error) {
	var obj api.Object
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("decode stored object: %w", err)
	}
	return &obj, nil
}

// ListOptions select and page a list.
type ListOptions struct {
	Selector labels.Selector
	// Limit bounds the page size; 0 means no limit.
	Limit int
	// Continue is the token of the previous page.
	Continue string
}

// ListResult is one page.
type ListResult struct {
	Items []*api.Object
	// Revision is the store revision the (first page of the) list reflects.
	Revision int64
	// Continue fetches the next page; empty on the last one.
	Continue string
}

// continueToken resumes a list after a key, reporting the first page's
// revision. Pages are keyed, not offset, so under concurrent writes an
// object present throughout the listing is returned exactly once.
type continueToken struct {
	Revision int64  `json:"rv"`
	Project  string `json:"p"`
	Name     string `json:"n"`
}

func (t continueToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Name == "" {
		return t, errdefs.BadRequestf("continue", "invalid continue token")
	}
	return t, nil
}

// List returns the objects of a resource in the context's project (or in
// every project with AllProjects), sorted by project and name.
func (s *Store) List(ctx context.Context, res *api.Resource, opts ListOptions) (*ListResult, error) {
	start := time.Now()
	defer func() { s.metrics.opSeconds.WithLabelValues("list").Observe(time.Since(start).Seconds()) }()
	project, err := scope(ctx, res, true)
	if err != nil {
		return nil, err
	}
	if opts.Limit < 0 {
		return nil, errdefs.BadRequestf("limit", "must not be negative")
	}
	q := &query{}
	where := []string{"resource = " + q.arg(res.Plural)}
	if project != AllProjects {
		where = append(where, "project = "+q.arg(project))
	}
	var token continueToken
	if opts.Continue != "" {
		if token, err = decodeContinue(opts.Continue); err != nil {
			return nil, err
		}
		where = append(where, "(project, name) > ("+q.arg(token.Project)+", "+q.arg(token.Name)+")")
	}
	where = append(where, selectorSQL(q, opts.Selector)...)
	limit := ""
	if opts.Limit > 0 {
		limit = " LIMIT " + q.arg(opts.Limit+1)
	}
	// One statement, so the revision and the rows come from one snapshot.
	sql := `SELECT r.rv, o.project, o.name, o.body FROM revision r LEFT JOIN LATERAL (
		SELECT project, name, body FROM objects WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY project, name` + limit + `) o ON true WHERE r.id = 1 ORDER BY o.project, o.name`
	rows, err := s.pool.Query(ctx, sql, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", res.Plural, err)
	}
	defer rows.Close()
	out := &ListResult{Items: []*api.Object{}}
	var lastProject, lastName string
	for rows.Next() {
		var p, n *string
		var body []byte
		if err := rows.Scan(&out.Revision, &p, &n, &body); err != nil {
			return nil, fmt.Errorf("list %s: %w", res.Plural, err)
		}
		if body == nil {
			continue
		}
		if opts.Limit > 0 && len(out.Items) == opts.Limit {
			out.Continue = "more"
			break
		}
		obj, err := decodeStored(body)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, obj)
		lastProject, lastName = *p, *n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", res.Plural, err)
	}
	if token.Revision != 0 {
		out.Revision = token.Revision
	}
	if out.Continue != "" {
		out.Continue = continueToken{Revision: out.Revision, Project: lastProject, Name: lastName}.encode()
	}
	return out, nil
}

// CurrentRevision returns the newest committed revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	var rv int64
	if err := s.pool.QueryRow(ctx, `SELECT rv FROM revision WHERE id = 1`).Scan(&rv); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return rv, nil
}

// query accumulates positional arguments.
type query struct{ args []any }

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// selectorSQL translates a label selector into conditions on the labels
// column.
func selectorSQL(q *query, sel labels.Selector) []string {
	var conds []string
	for _, r := range sel {
		key := q.arg(r.Key) + "::text"
		switch r.Operator {
		case labels.Equals:
			conds = append(conds, "labels->>"+key+" = "+q.arg(r.Values[0]))
		case labels.NotEquals:
			conds = append(conds, "labels->>"+key+" IS DISTINCT FROM "+q.arg(r.Values[0]))
		case labels.In:
			conds = append(conds, "labels->>"+key+" = ANY("+q.arg(r.Values)+"::text[])")
		case labels.NotIn:
			conds = append(conds, "NOT coalesce(labels->>"+key+" = ANY("+q.arg(r.Values)+"::text[]), false)")
		case labels.Exists:
			conds = append(conds, "labels ? "+key)
		case labels.DoesNotExist:
			conds = append(conds, "NOT labels ? "+key)
		}
	}
	return conds
}
