package store

import (
	"context"
	"fmt"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

type projectKey struct{}

// AllProjects, set with WithProject, lets a list or watch of a
// project-scoped resource span every project.
const AllProjects = "*"

// WithProject returns a context that carries the project (the tenant) that
// project-scoped store calls act in.
func WithProject(ctx context.Context, project string) context.Context {
	return context.WithValue(ctx, projectKey{}, project)
}

// ProjectFrom returns the project carried by ctx, if any.
func ProjectFrom(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(projectKey{}).(string)
	return p, ok && p != ""
}

// scope returns the project column value for res in ctx: "" for
// cluster-scoped resources; for project-scoped ones the context's project,
// which is required (the store refuses a tenant-less call). allowAll
// permits AllProjects.
func scope(ctx context.Context, res *api.Resource, allowAll bool) (string, error) {
	if res.Scope == api.ClusterScoped {
		return "", nil
	}
	p, ok := ProjectFrom(ctx)
	if !ok {
		return "", fmt.Errorf("%s are project-scoped and the call names no project: %w", res.Plural, errdefs.ErrBadRequest)
	}
	if p == AllProjects && !allowAll {
		return "", fmt.Errorf("%s: this operation needs one project: %w", res.Plural, errdefs.ErrBadRequest)
	}
	return p, nil
}
