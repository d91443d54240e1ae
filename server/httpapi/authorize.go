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

// AllowPrivilegedAnnotation on a project lets its pods run as root, add
// capabilities or escalate privileges. Only a cluster-admin may set it.
const AllowPrivilegedAnnotation = "slipway.io/allow-privileged"

// Admit is the API's admission check (resource.Admission): bindings name
// roles that exist at their scope; privileged pods need their project's
// permission; that permission is a cluster-admin's to give.
func (h *Handler) Admit(ctx context.Context, res *api.Resource, old, obj *api.Object) error {
	switch res.Plural {
	case api.RoleBindingsResource, api.ClusterRoleBindingsResource:
		var spec api.RoleBindingSpec
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return errdefs.BadRequestf("spec", "%v", err)
		}
		return rbac.ValidateRoleRef(spec.RoleRef.Name, res.Plural == api.ClusterRoleBindingsResource)
	case api.ProjectsResource:
		var before string
		if old != nil {
			before = old.Metadata.Annotations[AllowPrivilegedAnnotation]
		}
		if obj.Metadata.Annotations[AllowPrivilegedAnnotation] == before {
			return nil
		}
		caller := callerFrom(ctx)
		d := h.cfg.Authorizer.Authorize(rbac.Attributes{User: caller.UserInfo, Verb: "create", Resource: api.ClusterRoleBindingsResource})
		if !d.Allowed {
			return fmt.Errorf("only a cluster admin may set the annotation %s: %w", AllowPrivilegedAnnotation, errdefs.ErrForbidden)
		}
	case api.PodsResource:
		var spec api.PodSpec
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return errdefs.BadRequestf("spec", "%v", err)
		}
		if err := h.admitPrivileges(ctx, obj.Metadata.Project, spec); err != nil || old != nil {
			return err
		}
		if err := h.admitLimitRanges(ctx, obj, &spec); err != nil {
			return err
		}
		return h.admitQuota(ctx, res, obj, &spec)
	case api.ConfigMapsResource, api.SecretsResource, api.BuildConfigsResource, api.BuildsResource:
		if old == nil {
			return h.admitQuota(ctx, res, obj, nil)
		}
	case api.DeploymentsResource, api.ReplicaSetsResource, api.JobsResource:
		// A privileged template is refused here, where the user sees why,
		// not later when its controller cannot create the pods.
		var spec struct {
			Template api.PodTemplate `json:"template"`
		}
		if err := json.Unmarshal(obj.Spec, &spec); err != nil {
			return errdefs.BadRequestf("spec", "%v", err)
		}
		if err := h.admitPrivileges(ctx, obj.Metadata.Project, spec.Template.Spec); err != nil || old != nil || res.Plural != api.DeploymentsResource {
			return err
		}
		return h.admitQuota(ctx, res, obj, nil)
	case api.ServicesResource:
		if old == nil {
			return h.admitQuota(ctx, res, obj, nil)
		}
		var before, after api.ServiceSpec
		_ = json.Unmarshal(old.Spec, &before)
		_ = json.Unmarshal(obj.Spec, &after)
		if before.ClusterIP != "" && after.ClusterIP != before.ClusterIP {
			return errdefs.Invalidf("spec.clusterIP", "is immutable once allocated (%s); delete and re-create the service to change it", before.ClusterIP)
		}
	}
	return nil
}

// admitPrivileges refuses a pod that asks for root, capabilities or
// privilege escalation unless its project allows it.
func (h *Handler) admitPrivileges(ctx context.Context, project string, spec api.PodSpec) error {
	var what string
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
		case sc.RunAsUser != nil && *sc.RunAsUser == 0:
			what = fmt.Sprintf("container %q runs as root (runAsUser 0)", c.Name)
		case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
			what = fmt.Sprintf("container %q allows running as root (runAsNonRoot false)", c.Name)
		case sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation:
			what = fmt.Sprintf("container %q allows privilege escalation", c.Name)
		case sc.Capabilities != nil && len(sc.Capabilities.Add) > 0:
			what = fmt.Sprintf("container %q adds capabilities %v", c.Name, sc.Capabilities.Add)
		}
		if what != "" {
			break
		}
	}
	if what == "" {
		return nil
	}
	projects, _ := h.cfg.Catalogue.Lookup(api.ProjectsResource)
	p, err := h.cfg.Service.Get(store.WithProject(ctx, ""), projects, project)
	if err != nil {
		return err
	}
	if p.Metadata.Annotations[AllowPrivilegedAnnotation] == "true" {
		return nil
	}
	return fmt.Errorf("%s, which project %q does not allow (a cluster admin can set the annotation %s=true on the project): %w",
		what, project, AllowPrivilegedAnnotation, errdefs.ErrForbidden)
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
