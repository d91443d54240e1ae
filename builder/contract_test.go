package builder

import (
	"encoding/json"
	"testing"

	"github.com/slipway/slipway/api"
)

// TestBuildContract: the BUILD variable the build controller writes (an
// api.Build) reads as the executor expects (server/controllers/builds,
// doc.go: the build pod contract).
func TestBuildContract(t *testing.T) {
	t.Parallel()
	in := api.Build{Kind: "Build", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: "web-3", Project: "shop"},
		Spec: api.BuildSpec{CommonSpec: api.CommonSpec{
			Source: api.BuildSource{Type: api.BuildSourceGit, Git: &api.GitBuildSource{URI: "https://git.example.com/web.git", Ref: "main"}, ContextDir: "site"},
			Strategy: api.BuildStrategy{SourceStrategy: &api.SourceBuildStrategy{
				From: api.ImageReference{Kind: api.DockerImageKind, Name: "localhost:8443/slipway-system/s2i-static:latest"},
				Env:  []api.EnvVar{{Name: "MODE", Value: "prod"}}}},
			Output: api.BuildOutput{To: &api.ImageReference{Kind: api.DockerImageKind, Name: "localhost:8443/shop/web:latest"}},
		}, Revision: &api.BuildRevision{Commit: "0123abcd"}}}
	raw, _ := json.Marshal(in)
	b, err := ParseBuild(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	ss := b.Spec.Strategy.SourceStrategy
	if b.Metadata.Project != "shop" || b.Spec.Source.Git.URI != in.Spec.Source.Git.URI || b.Spec.Source.ContextDir != "site" ||
		ss.From.Name != "localhost:8443/slipway-system/s2i-static:latest" || ss.Env[0].Value != "prod" ||
		b.Spec.Output.To.Name != "localhost:8443/shop/web:latest" || b.Spec.Revision == nil || b.Spec.Revision.Commit != "0123abcd" {
		t.Errorf("parsed %+v", b)
	}
	in.Spec.Source.Type = api.BuildSourceBinary
	in.Spec.Source.Binary = &api.BinaryBuildSource{URL: "https://localhost:8443/api/v1/projects/shop/builds/web-3/source"}
	raw, _ = json.Marshal(in)
	if b, err = ParseBuild(string(raw)); err != nil || b.Spec.Source.Binary.URL != in.Spec.Source.Binary.URL {
		t.Fatalf("binary: %v %+v", err, b)
	}
	res, _ := json.Marshal(Message{Commit: "c", OutputDigest: "sha256:x", Image: "i"})
	var out api.BuildResult
	if err := json.Unmarshal(res, &out); err != nil || out.Commit != "c" || out.OutputDigest != "sha256:x" || out.Image != "i" {
		t.Errorf("result %s → %+v", res, out)
	}
}
