// Package rbacsync keeps an rbac.Authorizer in step with the RoleBinding and
// ClusterRoleBinding objects in the store: it provides the informer
// handlers that translate them.
package rbacsync

import (
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth/rbac"
)

// Sync feeds both kinds of binding to one authorizer.
type Sync struct {
	authorizer *rbac.Authorizer
	log        *slog.Logger

	mu sync.Mutex
	// Every binding known, because the authorizer's Replace takes both
	// kinds at once.
	cluster map[string]rbac.ClusterRoleBinding
	project map[[2]string]rbac.RoleBinding
}

// New returns a Sync for authorizer.
func New(authorizer *rbac.Authorizer, log *slog.Logger) *Sync {
	return &Sync{authorizer: authorizer, log: log,
		cluster: map[string]rbac.ClusterRoleBinding{}, project: map[[2]string]rbac.RoleBinding{}}
}

func (s *Sync) replaceLocked() {
	cluster := make([]rbac.ClusterRoleBinding, 0, len(s.cluster))
	for _, b := range s.cluster {
		cluster = append(cluster, b)
	}
	project := make([]rbac.RoleBinding, 0, len(s.project))
	for _, b := range s.project {
		project = append(project, b)
	}
	s.authorizer.Replace(cluster, project)
}

// ClusterRoleBindings is the informer handler for ClusterRoleBinding objects.
func (s *Sync) ClusterRoleBindings() *Handler { return &Handler{sync: s, cluster: true} }

// RoleBindings is the informer handler for RoleBinding objects.
func (s *Sync) RoleBindings() *Handler { return &Handler{sync: s} }

// Handler is an informer.Handler for one kind of binding.
type Handler struct {
	sync    *Sync
	cluster bool
}

func (h *Handler) decode(obj *api.Object) (rbac.ClusterRoleBinding, rbac.RoleBinding, bool) {
	var spec api.RoleBindingSpec
	if err := json.Unmarshal(obj.Spec, &spec); err != nil {
		h.sync.log.Error("unreadable binding", "project", obj.Metadata.Project, "name", obj.Metadata.Name, "error", err)
		return rbac.ClusterRoleBinding{}, rbac.RoleBinding{}, false
	}
	subjects := make([]rbac.Subject, len(spec.Subjects))
	for i, s := range spec.Subjects {
		subjects[i] = rbac.Subject{Kind: s.Kind, Name: s.Name, Project: s.Project}
	}
	return rbac.ClusterRoleBinding{Name: obj.Metadata.Name, Role: spec.RoleRef.Name, Subjects: subjects},
		rbac.RoleBinding{Project: obj.Metadata.Project, Name: obj.Metadata.Name, Role: spec.RoleRef.Name, Subjects: subjects}, true
}

// Replace implements informer.Handler.
func (h *Handler) Replace(objs []*api.Object) {
	s := h.sync
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.cluster {
		s.cluster = map[string]rbac.ClusterRoleBinding{}
	} else {
		s.project = map[[2]string]rbac.RoleBinding{}
	}
	for _, o := range objs {
		h.putLocked(o)
	}
	s.replaceLocked()
}

func (h *Handler) putLocked(obj *api.Object) (rbac.ClusterRoleBinding, rbac.RoleBinding, bool) {
	c, p, ok := h.decode(obj)
	switch {
	case !ok:
	case h.cluster:
		h.sync.cluster[c.Name] = c
	default:
		h.sync.project[[2]string{p.Project, p.Name}] = p
	}
	return c, p, ok
}

// Upsert implements informer.Handler.
func (h *Handler) Upsert(obj *api.Object) {
	s := h.sync
	s.mu.Lock()
	defer s.mu.Unlock()
	c, p, ok := h.putLocked(obj)
	switch {
	case !ok:
	case h.cluster:
		s.authorizer.SetClusterRoleBinding(c)
	default:
		s.authorizer.SetRoleBinding(p)
	}
}

// Delete implements informer.Handler.
func (h *Handler) Delete(obj *api.Object) {
	s := h.sync
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.cluster {
		delete(s.cluster, obj.Metadata.Name)
		s.authorizer.DeleteClusterRoleBinding(obj.Metadata.Name)
		return
	}
	delete(s.project, [2]string{obj.Metadata.Project, obj.Metadata.Name})
	s.authorizer.DeleteRoleBinding(obj.Metadata.Project, obj.Metadata.Name)
}
