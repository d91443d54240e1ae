package api_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

func TestBuildConfigValidation(t *testing.T) {
	t.Parallel()
	cat := api.NewCatalogue()
	bcs, _ := cat.Lookup(api.BuildConfigsResource)
	valid := `"source":{"git":{"uri":"https://example.com/a.git"}},"strategy":{"sourceStrategy":{"from":{"kind":"ImageStreamTag","namespace":"slipway-system","name":"s2i-go:latest"}}},"output":{"to":{"kind":"ImageStreamTag","name":"web:latest"}}`
	tests := []struct {
		name, name2, spec string
		wantErr           error
		wantField         string
	}{
		{"minimal", "web", `{` + valid + `}`, nil, ""},
		{"all triggers", "web", `{` + valid + `,"runPolicy":"SerialLatestOnly","triggers":[{"type":"GitHub","github":{"secret":"s3cr3t-1234","signingSecret":"k"}},{"type":"GitLab","gitlab":{"secretReference":{"name":"hooks"}}},{"type":"Generic","generic":{"secret":"s3cr3t-1234"}},{"type":"ImageChange","imageChange":{}},{"type":"ConfigChange"}]}`, nil, ""},
		{"no git", "web", `{"source":{},"strategy":{"sourceStrategy":{"from":{"kind":"DockerImage","name":"h/a:b"}}},"output":{"to":{"name":"web:latest"}}}`, errdefs.ErrInvalid, "spec.source.git"},
		{"binary", "web", `{"source":{"type":"Binary"},"strategy":{"sourceStrategy":{"from":{"kind":"DockerImage","name":"h/a:b"}}},"output":{"to":{"name":"web:latest"}}}`, nil, ""},
		{"bad uri", "web", `{"source":{"git":{"uri":"ftp://x/y"}},"strategy":{"sourceStrategy":{"from":{"kind":"DockerImage","name":"h/a:b"}}},"output":{"to":{"name":"web:latest"}}}`, errdefs.ErrInvalid, "spec.source.git.uri"},
		{"escaping context dir", "web", `{"source":{"git":{"uri":"https://e.com/a"},"contextDir":"a/../../b"},"strategy":{"sourceStrategy":{"from":{"kind":"DockerImage","name":"h/a:b"}}},"output":{"to":{"name":"web:latest"}}}`, errdefs.ErrInvalid, "spec.source.contextDir"},
		{"bad run policy", "web", `{` + valid + `,"runPolicy":"Sometimes"}`, errdefs.ErrInvalid, "spec.runPolicy"},
		{"short webhook secret", "web", `{` + valid + `,"triggers":[{"type":"GitHub","github":{"secret":"x"}}]}`, errdefs.ErrInvalid, "spec.triggers[0].github.secret"},
		{"webhook without params", "web", `{` + valid + `,"triggers":[{"type":"GitLab"}]}`, errdefs.ErrInvalid, "spec.triggers[0].gitlab"},
		{"generic signing secret", "web", `{` + valid + `,"triggers":[{"type":"Generic","generic":{"secret":"s3cr3t-1234","signingSecret":"x"}}]}`, errdefs.ErrInvalid, "spec.triggers[0].generic.signingSecret"},
		{"unknown trigger", "web", `{` + valid + `,"triggers":[{"type":"Bitbucket"}]}`, errdefs.ErrInvalid, "spec.triggers[0].type"},
		{"output not a tag", "web", `{"source":{"git":{"uri":"https://e.com/a"}},"strategy":{"sourceStrategy":{"from":{"kind":"DockerImage","name":"h/a:b"}}},"output":{"to":{"name":"web"}}}`, errdefs.ErrInvalid, "spec.output.to.name"},
		{"no strategy", "web", `{"source":{"git":{"uri":"https://e.com/a"}},"strategy":{},"output":{"to":{"name":"web:latest"}}}`, errdefs.ErrInvalid, "spec.strategy.sourceStrategy"},
		{"docker strategy", "web", `{"source":{"git":{"uri":"https://e.com/a"}},"strategy":{"type":"Docker"},"output":{"to":{"name":"web:latest"}}}`, errdefs.ErrInvalid, "spec.strategy.type"},
		{"bad limits", "web", `{` + valid + `,"resources":{"limits":{"cpu":"lots"}}}`, errdefs.ErrInvalid, "spec.resources.limits.cpu"},
		{"deadline", "web", `{` + valid + `,"completionDeadlineSeconds":0}`, errdefs.ErrInvalid, "spec.completionDeadlineSeconds"},
		{"unknown field", "web", `{` + valid + `,"postCommit":{}}`, errdefs.ErrBadRequest, "spec.postCommit"},
		{"name too long", "a-very-long-buildconfig-name-that-leaves-no-room-for-pods", `{` + valid + `}`, errdefs.ErrInvalid, "metadata.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj := &api.Object{Kind: "BuildConfig", Metadata: api.ObjectMeta{Name: tc.name2}, Spec: json.RawMessage(tc.spec)}
			err := bcs.Validate(obj)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantField != "" && errdefs.FieldOf(err) != tc.wantField {
				t.Errorf("field = %q (%v), want %q", errdefs.FieldOf(err), err, tc.wantField)
			}
		})
	}
}

func TestSecretValidation(t *testing.T) {
	t.Parallel()
	secrets, _ := api.NewCatalogue().Lookup(api.SecretsResource)
	configmaps, _ := api.NewCatalogue().Lookup(api.ConfigMapsResource)
	tests := []struct {
		name      string
		obj       api.Object
		wantErr   error
		wantField string
	}{
		{"opaque", api.Object{Data: json.RawMessage(`{"a":"aGk="}`)}, nil, ""},
		{"not base64", api.Object{Data: json.RawMessage(`{"a":"!!"}`)}, errdefs.ErrBadRequest, ""},
		{"basic auth", api.Object{Type: api.SecretTypeBasicAuth, Data: json.RawMessage(`{"password":"aGk="}`)}, nil, ""},
		{"ssh without key", api.Object{Type: api.SecretTypeSSHAuth, Data: json.RawMessage(`{}`)}, errdefs.ErrInvalid, "data[ssh-privatekey]"},
		{"unknown type", api.Object{Type: "bogus"}, errdefs.ErrInvalid, "type"},
		{"bad key", api.Object{Data: json.RawMessage(`{"a b":"aGk="}`)}, errdefs.ErrInvalid, "data[a b]"},
		{"spec", api.Object{Spec: json.RawMessage(`{}`)}, errdefs.ErrBadRequest, "spec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.obj.Metadata.Name = "s"
			err := secrets.Validate(&tc.obj)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantField != "" && errdefs.FieldOf(err) != tc.wantField {
				t.Errorf("field = %q, want %q", errdefs.FieldOf(err), tc.wantField)
			}
		})
	}
	if err := configmaps.Validate(&api.Object{Type: "Opaque", Metadata: api.ObjectMeta{Name: "c"}}); errdefs.FieldOf(err) != "type" {
		t.Errorf("a config map with a type: %v", err)
	}
}

func TestEnvValueFrom(t *testing.T) {
	t.Parallel()
	ok := api.PodSpec{Containers: []api.Container{{Name: "a", Image: "h/i:t", Env: []api.EnvVar{{Name: "T",
		ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "s", Key: "k"}}}}}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Containers = []api.Container{{Name: "a", Image: "h/i:t", Env: []api.EnvVar{{Name: "T", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "s"}}}}}}
	if err := bad.Validate(); errdefs.FieldOf(err) != "spec.containers[0].env[0].valueFrom.secretKeyRef.key" {
		t.Errorf("missing key: %v", err)
	}
}

func TestParseBuildName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"web-1": 1, "my-app-12": 12, "web": 0, "web-01": 0, "web-x": 0} {
		_, n, _ := api.ParseBuildName(in)
		if n != want {
			t.Errorf("ParseBuildName(%q) = %d, want %d", in, n, want)
		}
	}
}
