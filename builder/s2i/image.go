package s2i

import (
	"maps"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OutputConfig is the output image's configuration: the builder image's,
// with the build's environment (ImageEnv), the build labels added to the
// builder's, and Cmd set to the run script (the entrypoint is kept, as s2i
// does). The user and working directory stay the builder image's.
func OutputConfig(builder ocispec.ImageConfig, b Build, scripts Scripts, fileEnv, strategyEnv []EnvVar) ocispec.ImageConfig {
	out := builder
	out.Env = ImageEnv(builder.Env, b, fileEnv, strategyEnv)
	out.Labels = maps.Clone(builder.Labels)
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	maps.Copy(out.Labels, Labels(b))
	out.Cmd = []string{scripts[Run].Path}
	out.ExposedPorts = maps.Clone(builder.ExposedPorts)
	out.Volumes = maps.Clone(builder.Volumes)
	return out
}
