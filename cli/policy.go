package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

var (
	roleBindingsResource        = mustResource(api.RoleBindingsResource)
	clusterRoleBindingsResource = mustResource(api.ClusterRoleBindingsResource)
)

// policyCommand builds "policy": as `slip adm policy` it can also manage
// cluster-wide bindings (--cluster); as `slip policy` (OpenShift's
// project-level alias) it works in a project.
func (a *App) policyCommand(use string, admin bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: "Grant and revoke roles (admin, edit, view...) in a project",
		Long: `Grant roles to users, groups and service accounts, and revoke them. A
project has one RoleBinding per role, named after it (admin, edit, view);
these commands add subjects to it, creating it if needed, and remove them,
deleting it when none is left.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	if admin {
		cmd.Short = "Grant and revoke roles in a project or, with --cluster, cluster-wide"
		cmd.Long += `

With --cluster, the ClusterRoleBinding named after the role is changed
instead: the role then applies in every project, and the cluster roles
cluster-admin, cluster-reader and self-provisioner can be granted.`
	}
	for _, v := range []struct {
		use, short, subject string
		add                 bool
	}{
		{"add-role-to-user", "Grant a role to users", api.UserSubject, true},
		{"remove-role-from-user", "Revoke a role from users", api.UserSubject, false},
		{"add-role-to-group", "Grant a role to groups", api.GroupSubject, true},
		{"remove-role-from-group", "Revoke a role from groups", api.GroupSubject, false},
	} {
		var cluster bool
		var serviceAccounts []string
		what := strings.ToUpper(v.subject)
		sub := &cobra.Command{
			Use:     v.use + " ROLE " + what + "...",
			Short:   v.short,
			Example: policyExample(admin, v.use, v.subject),
			Args:    cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var subjects []api.Subject
				for _, name := range args[1:] {
					subjects = append(subjects, api.Subject{Kind: v.subject, Name: name})
				}
				if len(subjects)+len(serviceAccounts) == 0 {
					return usagef("name at least one %s to %s", strings.ToLower(v.subject), strings.SplitN(v.use, "-", 2)[0])
				}
				return a.changeRole(cmd.Context(), args[0], subjects, serviceAccounts, cluster, v.add)
			},
		}
		if admin {
			sub.Flags().BoolVar(&cluster, "cluster", false, "change the cluster-wide ClusterRoleBinding instead of a project's")
		}
		if v.subject == api.UserSubject {
			sub.Flags().StringSliceVarP(&serviceAccounts, "serviceaccount", "z", nil, "a service account of the project (repeatable)")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

func policyExample(admin bool, use, subject string) string {
	prefix := "slip policy"
	if admin {
		prefix = "slip adm policy"
	}
	name := "alice"
	if subject == api.GroupSubject {
		name = "developers"
	}
	ex := fmt.Sprintf("  # In the project \"shop\"\n  %s %s edit %s -n shop", prefix, use, name)
	if admin {
		ex += fmt.Sprintf("\n\n  # Cluster-wide\n  %s %s cluster-reader %s --cluster", prefix, use, name)
	}
	if subject == api.UserSubject {
		ex += fmt.Sprintf("\n\n  # A service account of the current project\n  %s %s view -z deployer", prefix, use)
	}
	return ex
}

func subjectName(s api.Subject) string {
	switch s.Kind {
	case api.ServiceAccountSubject:
		return fmt.Sprintf("service account %q", s.Project+"/"+s.Name)
	case api.GroupSubject:
		return fmt.Sprintf("group %q", s.Name)
	}
	return fmt.Sprintf("user %q", s.Name)
}

func sameSubject(a, b api.Subject) bool {
	return a.Kind == b.Kind && a.Name == b.Name && a.Project == b.Project
}

// changeRole adds subjects to, or removes them from, the binding named
// after role, retrying when another writer changed it meanwhile.
func (a *App) changeRole(ctx context.Context, role string, subjects []api.Subject, serviceAccounts []string, cluster, add bool) error {
	s, err := a.session()
	if err != nil {
		return err
	}
	res, project, where := clusterRoleBindingsResource, "", "cluster-wide"
	if !cluster {
		if project, err = a.projectOf(s); err != nil {
			return err
		}
		res, where = roleBindingsResource, fmt.Sprintf("in project %q", project)
	}
	for _, sa := range serviceAccounts {
		p := project
		if sap, name, ok := strings.Cut(sa, "/"); ok {
			p, sa = sap, name
		}
		if p == "" {
			return usagef("-z %s: name the service account as PROJECT/NAME with --cluster", sa)
		}
		subjects = append(subjects, api.Subject{Kind: api.ServiceAccountSubject, Name: sa, Project: p})
	}
	var names []string
	for _, sub := range subjects {
		names = append(names, subjectName(sub))
	}
	verb := "added to"
	if !add {
		verb = "removed from"
	}
	op := fmt.Sprintf("role %q %s", role, where)
	err = retryOnConflict(func() error { return a.changeBinding(ctx, s, res, project, role, subjects, add) })
	if err != nil {
		var ce *changeError
		if errors.As(err, &ce) {
			return err
		}
		return failedTo(fmt.Sprintf("change %s", op), err)
	}
	fmt.Fprintf(a.Stdout, "role %q %s: %s %s\n", role, strings.TrimSuffix(strings.TrimSuffix(verb, " to"), " from"), strings.Join(names, ", "), where)
	return nil
}

// changeError is a role change that makes no sense for the binding as it
// is.
type changeError struct{ msg string }

func (e *changeError) Error() string { return e.msg }

func (a *App) changeBinding(ctx context.Context, s *session, res *api.Resource, project, role string, subjects []api.Subject, add bool) error {
	var rb api.RoleBinding
	err := s.client.Get(ctx, res, project, role, &rb)
	where := "cluster-wide"
	if project != "" {
		where = fmt.Sprintf("in project %q", project)
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		if !add {
			return &changeError{fmt.Sprintf("role %q is not granted to anyone %s", role, where)}
		}
		rb = api.RoleBinding{Kind: res.Kind, APIVersion: api.Version, Metadata: api.ObjectMeta{Name: role},
			Spec: api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: role}, Subjects: subjects}}
		return s.client.Create(ctx, res, project, rb, nil)
	}
	if err != nil {
		return err
	}
	if rb.Spec.RoleRef.Name != role {
		return &changeError{fmt.Sprintf("the binding %q %s grants role %q, not %q: edit it with slip edit", role, where, rb.Spec.RoleRef.Name, role)}
	}
	changed := false
	for _, sub := range subjects {
		i := slices.IndexFunc(rb.Spec.Subjects, func(o api.Subject) bool { return sameSubject(o, sub) })
		switch {
		case add && i < 0:
			rb.Spec.Subjects = append(rb.Spec.Subjects, sub)
			changed = true
		case !add && i >= 0:
			rb.Spec.Subjects = slices.Delete(rb.Spec.Subjects, i, i+1)
			changed = true
		case !add:
			return &changeError{fmt.Sprintf("role %q is not granted to %s %s", role, subjectName(sub), where)}
		}
	}
	switch {
	case !changed:
		return nil
	case len(rb.Spec.Subjects) == 0:
		return s.client.Delete(ctx, res, project, role, nil)
	}
	return s.client.Update(ctx, res, project, role, rb, nil)
}
