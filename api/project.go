package api

import (
	"unicode/utf8"

	"github.com/slipway/slipway/api/errdefs"
)

// Project is a tenant's space: every project-scoped object lives in one.
type Project struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Metadata   ObjectMeta    `json:"metadata"`
	Spec       ProjectSpec   `json:"spec"`
	Status     ProjectStatus `json:"status,omitempty"`
}

// ProjectSpec is what the project's admins describe.
type ProjectSpec struct {
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
}

// Validate checks the lengths of the free-text fields.
func (s *ProjectSpec) Validate() error {
	if n := utf8.RuneCountInString(s.DisplayName); n > 256 {
		return errdefs.Invalidf("spec.displayName", "must be at most 256 characters, got %d", n)
	}
	if n := utf8.RuneCountInString(s.Description); n > 4096 {
		return errdefs.Invalidf("spec.description", "must be at most 4096 characters, got %d", n)
	}
	return nil
}

// ProjectPhase is the lifecycle state of a project.
type ProjectPhase string

// Project phases.
const (
	ProjectActive      ProjectPhase = "Active"
	ProjectTerminating ProjectPhase = "Terminating"
)

// ProjectStatus is written by the project controller.
type ProjectStatus struct {
	Phase ProjectPhase `json:"phase,omitempty"`
}

// Validate checks the phase.
func (s *ProjectStatus) Validate() error {
	switch s.Phase {
	case "", ProjectActive, ProjectTerminating:
		return nil
	}
	return errdefs.Invalidf("status.phase", "must be Active or Terminating, got %q", s.Phase)
}

// ProjectsResource is the plural name of projects.
const ProjectsResource = "projects"

// ProjectContentsFinalizer holds a deleted project until the project
// controller has deleted everything in it.
const ProjectContentsFinalizer = "slipway.io/project-contents"

func projectResource() *Resource {
	return &Resource{
		Plural:     ProjectsResource,
		Kind:       "Project",
		Scope:      ClusterScoped,
		HasStatus:  true,
		Finalizers: []string{ProjectContentsFinalizer},
		validateSpec: func(obj *Object) error {
			if err := forbid(obj.Data, "data", "Project"); err != nil {
				return err
			}
			return strictField[ProjectSpec](obj.Spec, "spec")
		},
		validateStatus: func(obj *Object) error { return strictField[ProjectStatus](obj.Status, "status") },
	}
}
