package builds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

// Build pod environment (the build pod contract, see doc.go).
const (
	EnvBuild      = "BUILD"
	EnvPushToken  = "SLIPWAY_PUSH_TOKEN"
	EnvSourceTok  = "SOURCE_TOKEN"
	EnvSourceSSH  = "SOURCE_SSH_KEY"
	pushSecretSfx = "-push"
)

// PushSecretName is the Secret holding a build's push token.
func PushSecretName(build string) string { return build + pushSecretSfx }

// buildPod makes the pod of a build, creating its push credentials. A
// non-empty wait says why the pod cannot be made yet (a missing source
// secret).
func (b *Builds) buildPod(ctx context.Context, build *api.Build) (*api.Pod, string, error) {
	name := build.Metadata.Name
	env := []api.EnvVar{}
	if ref := build.Spec.Source.SourceSecret; ref != nil {
		sobj, err := b.Service.Get(ctx, b.lookup(api.SecretsResource), ref.Name)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, fmt.Sprintf("Waiting for the source secret %q.", ref.Name), nil
		}
		if err != nil {
			return nil, "", err
		}
		var data map[string][]byte
		_ = json.Unmarshal(sobj.Data, &data)
		switch {
		case sobj.Type == api.SecretTypeSSHAuth || len(data[api.SSHAuthPrivateKey]) > 0:
			env = append(env, secretEnv(EnvSourceSSH, ref.Name, api.SSHAuthPrivateKey))
		case len(data[api.BasicAuthPasswordKey]) > 0:
			env = append(env, secretEnv(EnvSourceTok, ref.Name, api.BasicAuthPasswordKey))
		case len(data[api.TokenKey]) > 0:
			env = append(env, secretEnv(EnvSourceTok, ref.Name, api.TokenKey))
		default:
			return nil, fmt.Sprintf("The source secret %q has none of the keys %s, %s or %s.", ref.Name,
				api.SSHAuthPrivateKey, api.BasicAuthPasswordKey, api.TokenKey), nil
		}
	}
	if err := b.ensurePushSecret(ctx, build); err != nil {
		return nil, "", err
	}
	// The build as the pod sees it: spec and identity, no status.
	view := *build
	view.Status = api.BuildStatus{}
	raw, err := json.Marshal(view)
	if err != nil {
		return nil, "", err
	}
	env = append([]api.EnvVar{{Name: EnvBuild, Value: string(raw)}, secretEnv(EnvPushToken, PushSecretName(name), api.TokenKey)}, env...)
	res := build.Spec.Resources
	limits := api.ResourceList{api.ResourceCPU: api.DefaultBuildCPULimit, api.ResourceMemory: api.DefaultBuildMemoryLimit}
	for k, v := range res.Limits {
		limits[k] = v
	}
	res.Limits = limits
	deadline := build.Spec.CompletionDeadline()
	labels := map[string]string{api.BuildLabel: name}
	if bc := build.Metadata.Labels[api.BuildConfigLabel]; bc != "" {
		labels[api.BuildConfigLabel] = bc
	}
	pod := &api.Pod{Kind: "Pod", APIVersion: api.Version,
		Metadata: api.ObjectMeta{Name: api.BuildPodName(name), Project: build.Metadata.Project, Labels: labels,
			Annotations: map[string]string{api.BuildPodAnnotation: "true", api.OwnerUIDAnnotation: build.Metadata.UID}},
		Spec: api.PodSpec{
			RestartPolicy:         api.RestartNever,
			ActiveDeadlineSeconds: &deadline,
			ServiceAccountName:    BuilderServiceAccount,
			Containers: []api.Container{{
				Name:      api.BuildContainerName,
				Image:     build.Spec.Strategy.SourceStrategy.From.Name,
				Env:       env,
				Resources: res,
			}},
		},
	}
	return pod, "", nil
}

func secretEnv(name, secret, key string) api.EnvVar {
	return api.EnvVar{Name: name, ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: secret, Key: key}}}
}

// ensurePushSecret makes sure the project's builder service account is
// bound to the builder role and that the build has a Secret with a token
// of it, valid for the build's deadline and some margin.
func (b *Builds) ensurePushSecret(ctx context.Context, build *api.Build) error {
	secrets := b.lookup(api.SecretsResource)
	name := PushSecretName(build.Metadata.Name)
	if _, err := b.Service.Get(ctx, secrets, name); err == nil {
		return nil
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	if b.Tokens == nil {
		return fmt.Errorf("the build controller has no token issuer: %w", errdefs.ErrInternal)
	}
	project := build.Metadata.Project
	if _, err := b.Service.Create(ctx, b.lookup(api.ServiceAccountsResource), &api.Object{Metadata: api.ObjectMeta{Name: BuilderServiceAccount}}); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return fmt.Errorf("service account %s/%s: %w", project, BuilderServiceAccount, err)
	}
	role := b.BuilderRole
	if role == "" {
		role = "system:builder"
	}
	spec, _ := json.Marshal(api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: role},
		Subjects: []api.Subject{{Kind: api.ServiceAccountSubject, Name: BuilderServiceAccount, Project: project}}})
	if _, err := b.Service.Create(ctx, b.lookup(api.RoleBindingsResource), &api.Object{Metadata: api.ObjectMeta{Name: BuilderRoleBinding}, Spec: spec}); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return fmt.Errorf("bind %s to %s/%s: %w", role, project, BuilderServiceAccount, err)
	}
	ttl := time.Duration(build.Spec.CompletionDeadline())*time.Second + 15*time.Minute
	token, tok, err := b.Tokens.Issue(ctx, api.TokenSpec{User: api.ServiceAccountUser(project, BuilderServiceAccount), Kind: api.ServiceAccountToken,
		Description: "push token of build " + project + "/" + build.Metadata.Name}, ttl)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(map[string][]byte{api.TokenKey: []byte(token)})
	secret := &api.Object{Type: api.SecretTypeToken, Data: data, Metadata: api.ObjectMeta{Name: name,
		Labels:      map[string]string{api.BuildLabel: build.Metadata.Name},
		Annotations: map[string]string{TokenNameAnnotation: tok.Metadata.Name, api.OwnerUIDAnnotation: build.Metadata.UID}}}
	if _, err := b.Service.Create(ctx, secrets, secret); err != nil {
		_, _ = b.Tokens.Revoke(ctx, tok.Metadata.Name)
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil
		}
		return fmt.Errorf("create the push secret of build %s: %w", build.Metadata.Name, err)
	}
	return nil
}

// releaseCredentials revokes a build's push token and deletes its Secret.
func (b *Builds) releaseCredentials(ctx context.Context, build string) error {
	secrets := b.lookup(api.SecretsResource)
	name := PushSecretName(build)
	obj, err := b.Service.Get(ctx, secrets, name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tok := obj.Metadata.Annotations[TokenNameAnnotation]; tok != "" && b.Tokens != nil {
		if _, err := b.Tokens.Revoke(ctx, tok); err != nil {
			return err
		}
	}
	if _, _, err := b.Service.Delete(ctx, secrets, name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("delete the push secret of build %s: %w", build, err)
	}
	return nil
}
