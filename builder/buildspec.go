package builder

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipway/slipway/api"
)

// ParseBuild decodes the BUILD variable (the Build object, api.Build) and
// checks what the executor needs of it.
func ParseBuild(data string) (*api.Build, error) {
	var b api.Build
	if err := json.Unmarshal([]byte(data), &b); err != nil {
		return nil, fmt.Errorf("%w: %s is not a Build object: %v", ErrInvalid, EnvBuild, err)
	}
	ss := b.Spec.Strategy.SourceStrategy
	switch {
	case b.Metadata.Name == "":
		return nil, fmt.Errorf("%w: %s metadata.name is required", ErrInvalid, EnvBuild)
	case ss == nil:
		return nil, fmt.Errorf("%w: %s spec.strategy.sourceStrategy is required (only Source builds run on nodes)", ErrInvalid, EnvBuild)
	case b.Spec.Output.To == nil || b.Spec.Output.To.Name == "":
		return nil, fmt.Errorf("%w: %s spec.output.to.name is required", ErrInvalid, EnvBuild)
	case isBinary(&b):
	case b.Spec.Source.Git == nil || b.Spec.Source.Git.URI == "":
		return nil, fmt.Errorf("%w: %s spec.source.git.uri is required", ErrInvalid, EnvBuild)
	}
	for i, e := range ss.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("%w: %s spec.strategy.sourceStrategy.env[%d]: only literal values reach the build", ErrInvalid, EnvBuild, i)
		}
	}
	return &b, nil
}

func isBinary(b *api.Build) bool {
	return strings.EqualFold(b.Spec.Source.Type, "Binary") || (b.Spec.Source.Binary != nil && b.Spec.Source.Git == nil)
}
