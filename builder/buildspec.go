package builder

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Build is the part of the Build object (OpenShift's shape) the executor
// reads from the build pod's BUILD variable.
type Build struct {
	Metadata struct {
		Name      string `json:"name"`
		Project   string `json:"project"`
		Namespace string `json:"namespace"` // OpenShift's name for the project
	} `json:"metadata"`
	Spec struct {
		Source struct {
			Type string `json:"type"` // "Git" (default) or "Binary"
			Git  *struct {
				URI string `json:"uri"`
				Ref string `json:"ref"`
			} `json:"git"`
			ContextDir string `json:"contextDir"`
			Binary     *struct {
				// URL is where the node fetches the uploaded archive (with
				// the push token); set by the API when the build starts.
				URL string `json:"url"`
			} `json:"binary"`
		} `json:"source"`
		Strategy struct {
			Type           string `json:"type"`
			SourceStrategy *struct {
				From struct {
					Kind string `json:"kind"`
					Name string `json:"name"`
				} `json:"from"`
				Env         []EnvVar `json:"env"`
				Incremental *bool    `json:"incremental"`
				Scripts     string   `json:"scripts"`
			} `json:"sourceStrategy"`
		} `json:"strategy"`
		Output struct {
			To *struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"to"`
		} `json:"output"`
		// CompletionDeadlineSeconds bounds the whole build (OpenShift's
		// field); the pod's activeDeadlineSeconds carries it too.
		CompletionDeadlineSeconds *int64 `json:"completionDeadlineSeconds"`
		// Revision, when the build was started for a given commit
		// (api.BuildSpec.Revision: spec.revision.commit).
		Revision *struct {
			Commit string `json:"commit"`
		} `json:"revision,omitempty"`
	} `json:"spec"`
}

// EnvVar is a literal variable of the strategy's env.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// project is the build's project under either name.
func (b *Build) project() string {
	if b.Metadata.Project != "" {
		return b.Metadata.Project
	}
	return b.Metadata.Namespace
}

// ParseBuild decodes and checks the BUILD variable.
func ParseBuild(data string) (*Build, error) {
	var b Build
	if err := json.Unmarshal([]byte(data), &b); err != nil {
		return nil, fmt.Errorf("%w: BUILD is not a Build object: %v", ErrInvalid, err)
	}
	ss := b.Spec.Strategy.SourceStrategy
	switch {
	case b.Metadata.Name == "":
		return nil, fmt.Errorf("%w: BUILD metadata.name is required", ErrInvalid)
	case ss == nil:
		return nil, fmt.Errorf("%w: BUILD spec.strategy.sourceStrategy is required (only Source builds run on nodes)", ErrInvalid)
	case b.Spec.Output.To == nil || b.Spec.Output.To.Name == "":
		return nil, fmt.Errorf("%w: BUILD spec.output.to.name is required", ErrInvalid)
	case strings.EqualFold(b.Spec.Source.Type, "Binary"):
		if b.Spec.Source.Binary == nil || b.Spec.Source.Binary.URL == "" {
			return nil, fmt.Errorf("%w: BUILD spec.source.binary.url is required for a Binary source", ErrInvalid)
		}
	case b.Spec.Source.Git == nil || b.Spec.Source.Git.URI == "":
		return nil, fmt.Errorf("%w: BUILD spec.source.git.uri is required", ErrInvalid)
	}
	return &b, nil
}
