// Package bootstrap prepares a new Slipway installation on its first start:
// the local "admin" account with the cluster-admin role, the default
// bindings (every authenticated user may create projects; anyone may call
// webhooks, which check their own secret), and the
// slipway-system project that holds the infrastructure's service accounts.
// It runs once: later starts find slipway-system and change nothing, so an
// admin who removes a default binding keeps it removed.
package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/local"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Well-known names.
const (
	AdminUser     = "admin"
	SystemProject = "slipway-system"
)

// PasswordStore keeps local accounts' password hashes.
type PasswordStore interface {
	SetPasswordHash(ctx context.Context, user, hash string) error
}

// Config configures the first start.
type Config struct {
	// Password is the admin's initial password; empty generates one.
	Password string
	// LocalProvider is the name of the local identity provider.
	LocalProvider string
}

// Result says what the bootstrap did.
type Result struct {
	// Done is true when this start bootstrapped the installation.
	Done bool
	// GeneratedPassword is the admin's one-time password when this start
	// generated it; it is not stored anywhere but as a hash.
	GeneratedPassword string
}

// Run bootstraps the installation unless it already is.
func Run(ctx context.Context, svc *resource.Service, passwords PasswordStore, cfg Config) (Result, error) {
	cat := api.NewCatalogue()
	lookup := func(p string) *api.Resource { r, _ := cat.Lookup(p); return r }
	ctx = store.WithProject(ctx, "")
	if _, err := svc.Get(ctx, lookup(api.ProjectsResource), SystemProject); err == nil {
		return Result{}, nil
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return Result{}, fmt.Errorf("check bootstrap: %w", err)
	}
	var res Result
	password := cfg.Password
	if password == "" {
		var err error
		if password, err = local.RandomPassword(); err != nil {
			return Result{}, err
		}
		res.GeneratedPassword = password
	}
	hash, err := local.Hash(password)
	if err != nil {
		return Result{}, fmt.Errorf("bootstrap password: %w", err)
	}
	provider := cfg.LocalProvider
	if provider == "" {
		provider = "local"
	}
	create := func(res *api.Resource, ctx context.Context, name string, spec any) error {
		raw, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		_, err = svc.Create(ctx, res, &api.Object{Metadata: api.ObjectMeta{Name: name}, Spec: raw})
		if err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
			return fmt.Errorf("bootstrap %s %q: %w", res.Kind, name, err)
		}
		return nil
	}
	steps := []func() error{
		func() error {
			return create(lookup(api.UsersResource), ctx, AdminUser, api.UserSpec{
				DisplayName: "Administrator", Identities: []string{provider + ":" + AdminUser}})
		},
		func() error { return passwords.SetPasswordHash(ctx, AdminUser, hash) },
		func() error {
			return create(lookup(api.ClusterRoleBindingsResource), ctx, "cluster-admins", api.RoleBindingSpec{
				RoleRef: api.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}, Subjects: []api.Subject{{Kind: api.UserSubject, Name: AdminUser}}})
		},
		func() error {
			for _, b := range rbac.DefaultClusterRoleBindings() {
				spec := api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: b.Role}}
				for _, s := range b.Subjects {
					spec.Subjects = append(spec.Subjects, api.Subject{Kind: s.Kind, Name: s.Name, Project: s.Project})
				}
				// Object names are DNS labels: system:webhooks → system-webhooks.
				if err := create(lookup(api.ClusterRoleBindingsResource), ctx, strings.ReplaceAll(b.Name, ":", "-"), spec); err != nil {
					return err
				}
			}
			return nil
		},
		// Last: its presence marks the bootstrap as done.
		func() error {
			return create(lookup(api.ProjectsResource), ctx, SystemProject, api.ProjectSpec{
				DisplayName: "Slipway system", Description: "Service accounts of Slipway's own agents."})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	res.Done = true
	return res, nil
}
