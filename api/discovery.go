package api

// APIResource describes one resource in the discovery document served at
// GET /api/v1.
type APIResource struct {
	Name          string        `json:"name"`
	Kind          string        `json:"kind"`
	ProjectScoped bool          `json:"projectScoped"`
	Subresources  []Subresource `json:"subresources,omitempty"`
}

// Subresource is a view or an action of an object besides its body
// (status, log, exec, token…), with the verbs it answers.
type Subresource struct {
	Name  string   `json:"name"`
	Verbs []string `json:"verbs"`
}

// APIResourceList is the discovery document.
type APIResourceList struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Resources  []APIResource `json:"resources"`
}

// HasSubresource reports whether r serves the named subresource.
func (r APIResource) HasSubresource(name string) bool {
	for _, s := range r.Subresources {
		if s.Name == name {
			return true
		}
	}
	return false
}
