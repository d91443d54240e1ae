package rbac_test

import (
	"errors"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/rbac"
)

func TestValidateRoleRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		role         string
		clusterScope bool
		wantErr      error
		wantMsg      string
	}{
		{"project role in a role binding", rbac.RoleEdit, false, nil, ""},
		{"project role cluster-wide", rbac.RoleView, true, nil, ""},
		{"cluster role cluster-wide", rbac.RoleClusterAdmin, true, nil, ""},
		{"system role cluster-wide", rbac.RoleNode, true, nil, ""},
		{"cluster role in a role binding", rbac.RoleClusterAdmin, false, errdefs.ErrInvalid,
			`roleRef.name: role "cluster-admin" is a cluster role and can only be bound by a ClusterRoleBinding (project roles: admin, edit, system:builder, view)`},
		{"unknown role", "superuser", true, errdefs.ErrInvalid,
			`roleRef.name: role "superuser" does not exist (roles: cluster-admin, cluster-reader, self-provisioner, system:node, system:router, system:sdn, system:webhook, admin, edit, system:builder, view)`},
		{"unknown project role", "owner", false, errdefs.ErrInvalid,
			`roleRef.name: role "owner" does not exist (roles: admin, edit, system:builder, view)`},
		{"empty", "", false, errdefs.ErrInvalid, "roleRef.name: is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := rbac.ValidateRoleRef(tc.role, tc.clusterScope)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want class %v", err, tc.wantErr)
			}
			if err != nil {
				if f := errdefs.FieldOf(err); f != "roleRef.name" {
					t.Errorf("field = %q, want roleRef.name", f)
				}
				if err.Error() != tc.wantMsg {
					t.Errorf("message = %q, want %q", err.Error(), tc.wantMsg)
				}
			}
		})
	}
}

func TestValidateSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		subject   rbac.Subject
		wantField string // "" means valid
	}{
		{"user", rbac.Subject{Kind: rbac.SubjectUser, Name: "alice@example.com"}, ""},
		{"group", rbac.Subject{Kind: rbac.SubjectGroup, Name: rbac.GroupAuthenticated}, ""},
		{"service account", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: "shop", Name: "deployer"}, ""},
		{"no kind", rbac.Subject{Name: "alice"}, "subjects[2].kind"},
		{"bad kind", rbac.Subject{Kind: "Robot", Name: "r2"}, "subjects[2].kind"},
		{"lower-case kind", rbac.Subject{Kind: "user", Name: "alice"}, "subjects[2].kind"},
		{"user without name", rbac.Subject{Kind: rbac.SubjectUser}, "subjects[2].name"},
		{"group without name", rbac.Subject{Kind: rbac.SubjectGroup}, "subjects[2].name"},
		{"user with project", rbac.Subject{Kind: rbac.SubjectUser, Name: "alice", Project: "shop"}, "subjects[2].project"},
		{"service account without project", rbac.Subject{Kind: rbac.SubjectServiceAccount, Name: "deployer"}, "subjects[2].project"},
		{"service account without name", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: "shop"}, "subjects[2].name"},
		{"service account bad name", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: "shop", Name: "De_ployer"}, "subjects[2].name"},
		{"service account bad project", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: "Shop", Name: "deployer"}, "subjects[2].project"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := rbac.ValidateSubject("subjects[2]", tc.subject)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("err = %v, want Invalid", err)
			}
			if f := errdefs.FieldOf(err); f != tc.wantField {
				t.Errorf("field = %q, want %q (err %v)", f, tc.wantField, err)
			}
		})
	}
}

func TestValidateBindings(t *testing.T) {
	t.Parallel()
	for _, b := range rbac.DefaultClusterRoleBindings() {
		if err := rbac.ValidateClusterRoleBinding(b); err != nil {
			t.Errorf("default binding %s: %v", b.Name, err)
		}
	}
	err := rbac.ValidateRoleBinding(rbac.RoleBinding{Project: "shop", Name: "b", Role: rbac.RoleEdit,
		Subjects: []rbac.Subject{{Kind: rbac.SubjectUser, Name: "a"}, {Kind: rbac.SubjectServiceAccount, Name: "x"}}})
	if !errors.Is(err, errdefs.ErrInvalid) || errdefs.FieldOf(err) != "subjects[1].project" {
		t.Errorf("err = %v, want Invalid on subjects[1].project", err)
	}
	err = rbac.ValidateRoleBinding(rbac.RoleBinding{Project: "shop", Name: "b", Role: rbac.RoleClusterReader})
	if !errors.Is(err, errdefs.ErrInvalid) || errdefs.FieldOf(err) != "roleRef.name" {
		t.Errorf("err = %v, want Invalid on roleRef.name", err)
	}
	if err := rbac.ValidateClusterRoleBinding(rbac.ClusterRoleBinding{Name: "b", Role: rbac.RoleClusterReader,
		Subjects: []rbac.Subject{{Kind: rbac.SubjectGroup, Name: "auditors"}}}); err != nil {
		t.Errorf("valid cluster binding: %v", err)
	}
}
