package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/server/store"
)

// authorize decides whether caller may run verb on t. A denied anonymous
// caller is Unauthorized (log in first); a denied user is Forbidden with a
// message naming the verb, resource and project.
func (h *Handler) authorize(ctx context.Context, caller authn.Caller, verb string, t target) (rbac.Decision, error) {
	attrs := rbac.Attributes{
		User: caller.UserInfo, Verb: verb, Resource: t.res.Plural, Subresource: t.subresource, Name: t.name,
	}
	if t.project != store.AllProjects {
		attrs.Project = t.project
	}
	if t.res.Plural == api.ProjectsResource {
		attrs.Project = t.name
	}
	if t.res.Plural == api.TokensResource && t.name != "" {
		// A token belongs to its user: read it to know whose it is.
		if obj, err := h.cfg.Service.Get(ctx, t.res, t.name); err == nil {
			attrs.Owner = tokenOwner(obj)
		}
	}
	d := h.cfg.Authorizer.Authorize(attrs)
	if d.Allowed {
		return d, nil
	}
	if caller.Name == "" {
		return d, authn.ErrUnauthenticated
	}
	return d, fmt.Errorf("%s: %w", d.Reason, errdefs.ErrForbidden)
}

func tokenOwner(obj *api.Object) string {
	var spec api.TokenSpec
	_ = json.Unmarshal(obj.Spec, &spec)
	return spec.User
}

// visibility returns the filter an OwnOnly decision imposes on a list or
// watch, or nil when the caller may see the whole collection.
func (h *Handler) visibility(caller authn.Caller, t target, d rbac.Decision) func(*api.Object) bool {
	if !d.OwnOnly {
		return nil
	}
	switch t.res.Plural {
	case api.ProjectsResource:
		// Evaluated per object and per event, so a role granted while
		// the watch runs shows the project from then on.
		return func(o *api.Object) bool {
			all, visible := h.cfg.Authorizer.VisibleProjects(caller.UserInfo)
			return all || visible[o.Metadata.Name]
		}
	case api.TokensResource:
		return func(o *api.Object) bool { return d.Admits(tokenOwner(o)) }
	}
	return func(*api.Object) bool { return false }
}

// admit checks what the generic validation cannot know: that a binding
// names a role that exists and may be bound at its scope.
func (h *Handler) admit(t target, obj *api.Object) error {
	switch t.res.Plural {
	case api.RoleBindingsResource, api.ClusterRoleBindingsResource:
		var spec api.RoleBindingSpec
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return errdefs.BadRequestf("spec", "%v", err)
		}
		return rbac.ValidateRoleRef(spec.RoleRef.Name, t.res.Plural == api.ClusterRoleBindingsResource)
	}
	return nil
}

// makeRequesterAdmin gives the creator of a project its admin role, so a
// self-provisioned project belongs to whoever asked for it.
func (h *Handler) makeRequesterAdmin(ctx context.Context, caller authn.Caller, project string) error {
	if caller.Name == "" {
		return nil
	}
	subject := api.Subject{Kind: api.UserSubject, Name: caller.Name}
	if p, sa, ok := api.ParseServiceAccountUser(caller.Name); ok {
		subject = api.Subject{Kind: api.ServiceAccountSubject, Name: sa, Project: p}
	}
	spec, _ := json.Marshal(api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: "admin"}, Subjects: []api.Subject{subject}})
	bindings, _ := h.cfg.Catalogue.Lookup(api.RoleBindingsResource)
	obj, err := h.cfg.Service.Create(store.WithProject(ctx, project), bindings, &api.Object{
		Metadata: api.ObjectMeta{Name: "admin", Annotations: map[string]string{"slipway.io/requester": caller.Name}}, Spec: spec})
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("project %q created, but granting its admin role to %q failed: %w", project, caller.Name, err)
	}
	h.settle(ctx, obj)
	return nil
}
