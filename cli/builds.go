package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/builder/source"
	"github.com/slipway/slipway/cli/kinds"
	"github.com/slipway/slipway/cli/output"
)

var (
	buildConfigsResource = mustResource(api.BuildConfigsResource)
	buildsResource       = mustResource(api.BuildsResource)
)

// builderImages are the builder images Slipway ships, by language, as
// image stream tags of the slipway-system project.
var builderImages = map[string]string{
	"static": "s2i-static:latest",
	"go":     "s2i-go:latest",
	"python": "s2i-python:latest",
	"nodejs": "s2i-nodejs:latest",
}

// BuilderProject is where the builder images live.
const BuilderProject = "slipway-system"

// builderRef turns --builder into the strategy's from: a language, an
// image stream tag [project/]name:tag, or a full image reference.
func builderRef(builder string) (api.ImageReference, error) {
	if tag, ok := builderImages[builder]; ok {
		return api.ImageReference{Kind: api.ImageStreamTagKind, Namespace: BuilderProject, Name: tag}, nil
	}
	first, rest, hasSlash := strings.Cut(builder, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return api.ImageReference{Kind: api.DockerImageKind, Name: builder}, nil
	}
	ns, name := "", builder
	if hasSlash {
		ns, name = first, rest
	}
	if !strings.Contains(name, ":") {
		name += ":latest"
	}
	if _, _, _, err := api.ParseImageStreamTag(name); err != nil {
		return api.ImageReference{}, usagef("--builder %q: expected go, python, nodejs, static, [project/]name:tag or HOST/PATH:TAG", builder)
	}
	return api.ImageReference{Kind: api.ImageStreamTagKind, Namespace: ns, Name: name}, nil
}

// splitGitURL splits "<url>[#ref]".
func splitGitURL(arg string) (uri, ref string, err error) {
	uri, ref, _ = strings.Cut(arg, "#")
	if err := api.ValidateGitURI("url", uri); err != nil {
		return "", "", usagef("%q is not a Git URL (https://…, ssh://…, git@host:path or file://…)", uri)
	}
	return uri, ref, nil
}

// appName is the default name of what new-app and new-build create: the
// repository's base name, made a DNS label.
func appName(uri string) string {
	base := strings.TrimSuffix(filepath.Base(strings.TrimRight(uri, "/")), ".git")
	if i := strings.LastIndex(base, ":"); i >= 0 {
		base = base[i+1:]
	}
	var b strings.Builder
	for _, c := range strings.ToLower(base) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 40 {
		name = strings.Trim(name[:40], "-")
	}
	if name == "" {
		name = "app"
	}
	return name
}

// randomSecret is a webhook secret.
func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type buildFlags struct {
	name, builder, contextDir, to, sourceSecret string
	buildEnv                                    []string
}

func (f *buildFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the name of what is created (default: the repository's name)")
	fl.StringVar(&f.builder, "builder", "", "the builder: go, python, nodejs, static, [project/]name:tag or HOST/PATH:TAG (default: detected from the repository)")
	fl.StringVar(&f.contextDir, "context-dir", "", "the directory of the repository to build")
	fl.StringArrayVar(&f.buildEnv, "build-env", nil, "an environment variable of the build, K=V (repeatable)")
	fl.StringVar(&f.sourceSecret, "source-secret", "", "the secret holding the repository's credentials (basic-auth token or ssh-auth key)")
}

// buildConfig makes the BuildConfig of new-build and new-app.
func (a *App) buildConfig(ctx context.Context, arg string, f *buildFlags) (*api.BuildConfig, error) {
	uri, ref, err := splitGitURL(arg)
	if err != nil {
		return nil, err
	}
	if f.name == "" {
		f.name = appName(uri)
	}
	builder := f.builder
	if builder == "" {
		d, err := source.Fetcher{}.Detect(ctx, source.Git{URI: uri, Ref: ref, ContextDir: f.contextDir})
		if errors.Is(err, source.ErrUndetected) {
			return nil, fmt.Errorf("%w: choose one with --builder (go, python, nodejs, static or an image)", err)
		}
		if err != nil {
			return nil, fmt.Errorf("detect the builder (or choose one with --builder): %w", err)
		}
		builder = d.Builder
		fmt.Fprintf(a.Stdout, "detected builder %s in %s (%s)\n", builder, uri, d.File)
	}
	from, err := builderRef(builder)
	if err != nil {
		return nil, err
	}
	env, _, err := parseEnvChanges(f.buildEnv)
	if err != nil {
		return nil, err
	}
	to := f.to
	if to == "" {
		to = f.name + ":latest"
	}
	bc := &api.BuildConfig{Kind: "BuildConfig", APIVersion: api.Version,
		Metadata: api.ObjectMeta{Name: f.name, Labels: map[string]string{"app": f.name}},
		Spec: api.BuildConfigSpec{
			CommonSpec: api.CommonSpec{
				Source:   api.BuildSource{Type: api.BuildSourceGit, Git: &api.GitBuildSource{URI: uri, Ref: ref}, ContextDir: f.contextDir},
				Strategy: api.BuildStrategy{Type: api.BuildStrategySource, SourceStrategy: &api.SourceBuildStrategy{From: from, Env: env}},
				Output:   api.BuildOutput{To: &api.ImageReference{Kind: api.ImageStreamTagKind, Name: to}},
			},
			Triggers: []api.BuildTriggerPolicy{
				{Type: api.GitHubWebHookBuildTrigger, GitHubWebHook: &api.WebHookTrigger{Secret: randomSecret()}},
				{Type: api.GitLabWebHookBuildTrigger, GitLabWebHook: &api.WebHookTrigger{Secret: randomSecret()}},
				{Type: api.GenericWebHookBuildTrigger, GenericWebHook: &api.WebHookTrigger{Secret: randomSecret()}},
				{Type: api.ImageChangeBuildTrigger, ImageChange: &api.BuildImageChangeTrigger{}},
				{Type: api.ConfigChangeBuildTrigger},
			},
		}}
	if from.Kind != api.ImageStreamTagKind {
		bc.Spec.Triggers = append(bc.Spec.Triggers[:3], bc.Spec.Triggers[4])
	}
	if f.sourceSecret != "" {
		bc.Spec.Source.SourceSecret = &api.LocalObjectReference{Name: f.sourceSecret}
	}
	return bc, nil
}

func (a *App) newBuildCommand() *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "new-build GIT-URL[#REF] [--name NAME] [--builder BUILDER] [--context-dir DIR] [--build-env K=V]",
		Short: "Create a build configuration from a Git repository (its first build starts at once)",
		Example: `  slip new-build https://github.com/shop/web.git
  slip new-build https://git.example.com/shop/api.git#v2 --builder go --name api --to api:v2`,
		Args: exactArgs("GIT-URL[#REF]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			bc, err := a.buildConfig(cmd.Context(), args[0], &f)
			if err != nil {
				return err
			}
			if err := s.client.Create(cmd.Context(), buildConfigsResource, project, bc, nil); err != nil {
				return failedTo(fmt.Sprintf("create buildconfig %q in project %q", bc.Metadata.Name, project), err)
			}
			fmt.Fprintf(a.Stdout, "buildconfig/%s created\nbuild %s-1 starts now; follow it with: slip logs -f build/%s-1\n", bc.Metadata.Name, bc.Metadata.Name, bc.Metadata.Name)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.to, "to", "", "the image stream tag to push to, name:tag (default: NAME:latest)")
	return cmd
}

func (a *App) newAppCommand() *cobra.Command {
	var f buildFlags
	var env []string
	var port int32
	cmd := &cobra.Command{
		Use:   "new-app GIT-URL[#REF] [--name NAME] [--builder BUILDER] [--context-dir DIR] [-e K=V] [--build-env K=V]",
		Short: "Build an application from Git and run it: a build configuration, a deployment and a service",
		Long: `Create what it takes to run an application from a Git repository: a build
configuration (its first build starts at once), a deployment that rolls out
every image the builds push (an automatic ImageChange trigger) and a service
in front of it. The builder is detected from the repository's files (go.mod,
requirements.txt or pyproject.toml, package.json, index.html) unless
--builder names one. slip expose service/NAME then gives it a URL.`,
		Example: `  slip new-app https://github.com/shop/web.git
  slip new-app https://git.example.com/shop/api.git#main --name api --builder go -e LOG_LEVEL=debug`,
		Args: exactArgs("GIT-URL[#REF]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			runEnv, _, err := parseEnvChanges(env)
			if err != nil {
				return err
			}
			bc, err := a.buildConfig(ctx, args[0], &f)
			if err != nil {
				return err
			}
			name := bc.Metadata.Name
			labels := map[string]string{"app": name}
			// Until the first build pushes, the deployment points at the tag
			// (its pods wait for the image); the trigger then pins digests.
			u, _ := url.Parse(s.ctx.Server)
			image := u.Host + "/" + project + "/" + name + ":latest"
			if strings.HasPrefix(u.Host, "127.0.0.1:") {
				image = "localhost:" + u.Port() + "/" + project + "/" + name + ":latest"
			}
			dep := api.Deployment{Kind: "Deployment", APIVersion: api.Version,
				Metadata: api.ObjectMeta{Name: name, Labels: labels},
				Spec: api.DeploymentSpec{
					Selector: &api.LabelSelector{MatchLabels: labels},
					Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: labels}, Spec: api.PodSpec{Containers: []api.Container{{
						Name: name, Image: image, Env: runEnv,
						Ports: []api.ContainerPort{{Name: "http", ContainerPort: port}},
					}}}},
					Triggers: []api.DeploymentTrigger{{Type: api.ImageChangeTrigger, ImageChange: &api.ImageChangeParams{
						From: bc.Spec.Output.To.Name, ContainerNames: []string{name}, Automatic: true}}},
				}}
			target := api.FromString("http")
			svc := api.Service{Kind: "Service", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name, Labels: labels},
				Spec: api.ServiceSpec{Selector: labels, Ports: []api.ServicePort{{Name: "http", Port: port, TargetPort: &target}}}}
			steps := []struct {
				res *api.Resource
				obj any
				ref string
			}{{deploymentsResource, dep, "deployment"}, {servicesResource, svc, "service"}, {buildConfigsResource, bc, "buildconfig"}}
			for _, st := range steps {
				if err := s.client.Create(ctx, st.res, project, st.obj, nil); err != nil {
					return failedTo(fmt.Sprintf("create %s %q in project %q", st.ref, name, project), err)
				}
				fmt.Fprintf(a.Stdout, "%s/%s created\n", st.ref, name)
			}
			fmt.Fprintf(a.Stdout, "build %s-1 starts now; follow it with: slip logs -f build/%s-1\nthen give the app a URL: slip expose service/%s\n", name, name, name)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "an environment variable of the application, K=V (repeatable)")
	cmd.Flags().Int32Var(&port, "port", 8080, "the port the application listens on")
	return cmd
}

// buildName accepts "NAME" or "build/NAME".
func buildName(arg string) (string, error) {
	return typedName(arg, "build/NAME", "build", "builds")
}

func (a *App) startBuildCommand() *cobra.Command {
	var follow bool
	var commit, fromDir, message string
	var env []string
	cmd := &cobra.Command{
		Use:   "start-build NAME [--follow] [--commit SHA] [--from-dir DIR] [-e K=V]",
		Short: "Start a build of a build configuration",
		Example: `  slip start-build web
  slip start-build web --commit 3f2a1bc --follow
  slip start-build web --from-dir .     # build the local directory instead of Git`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := typedName(args[0], "buildconfig/NAME", "bc", "buildconfig", "buildconfigs")
			if err != nil {
				return err
			}
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			path := "/api/v1/projects/" + url.PathEscape(project) + "/buildconfigs/" + url.PathEscape(name) + "/instantiate"
			var build api.Build
			if fromDir != "" {
				if len(env) > 0 {
					return usagef("--env cannot go with --from-dir")
				}
				archive, err := tarGz(fromDir)
				if err != nil {
					return err
				}
				q := url.Values{}
				if commit != "" {
					q.Set("commit", commit)
				}
				if message != "" {
					q.Set("message", message)
				}
				fmt.Fprintf(a.Stderr, "uploading %s (%d bytes)\n", fromDir, len(archive))
				err = s.client.Do(ctx, http.MethodPost, path+"?"+q.Encode(), "application/gzip", archive, &build)
				if err != nil {
					return failedTo(fmt.Sprintf("start a build of buildconfig %q in project %q", name, project), err)
				}
			} else {
				envVars, _, err := parseEnvChanges(env)
				if err != nil {
					return err
				}
				req := api.BuildRequest{Kind: "BuildRequest", APIVersion: api.Version, Env: envVars, Message: message}
				if commit != "" {
					req.Revision = &api.BuildRevision{Commit: commit}
				}
				if err := s.client.Do(ctx, http.MethodPost, path, "application/json", mustJSON(req), &build); err != nil {
					return failedTo(fmt.Sprintf("start a build of buildconfig %q in project %q", name, project), err)
				}
			}
			fmt.Fprintf(a.Stdout, "build/%s started\n", build.Metadata.Name)
			if !follow {
				return nil
			}
			return a.followBuild(ctx, s, project, build.Metadata.Name)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "F", false, "print the build's log as it runs and wait for it to finish")
	f.StringVar(&commit, "commit", "", "build this commit instead of the head of the configured ref")
	f.StringVar(&fromDir, "from-dir", "", "upload this directory (as a tar.gz) and build it instead of the Git source")
	f.StringVar(&message, "message", "", "a note recorded in the build's cause")
	f.StringArrayVarP(&env, "env", "e", nil, "an extra build environment variable, K=V (repeatable)")
	return cmd
}

// followBuild waits for the build's pod, streams its log, and waits for
// the build to finish; a build that does not complete is an error.
func (a *App) followBuild(ctx context.Context, s *session, project, name string) error {
	var b api.Build
	waitFor := func(done func() bool) error {
		for {
			if err := s.client.Get(ctx, buildsResource, project, name, &b); err != nil {
				return failedTo(fmt.Sprintf("get build %q in project %q", name, project), err)
			}
			if done() {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond): // polling the API for a user's progress display
			}
		}
	}
	shown := ""
	if err := waitFor(func() bool {
		phase := b.Status.Phase
		if msg := b.Status.Message; msg != "" && msg != shown && !api.BuildPhaseFinished(phase) {
			fmt.Fprintf(a.Stderr, "build %s: %s\n", name, msg)
			shown = msg
		}
		return phase == api.BuildPhaseRunning || api.BuildPhaseFinished(phase)
	}); err != nil {
		return err
	}
	// A build that ran has a log, followed while it runs, printed whole
	// when it already ended.
	if b.Status.Phase == api.BuildPhaseRunning || b.Status.StartTimestamp != nil || b.Status.PodName != "" {
		path := "/api/v1/projects/" + url.PathEscape(project) + "/builds/" + url.PathEscape(name) + "/log"
		if b.Status.Phase == api.BuildPhaseRunning {
			path += "?follow=true"
		}
		if body, err := s.client.Stream(ctx, http.MethodGet, path, "", nil); err == nil {
			_, _ = io.Copy(a.Stdout, body)
			body.Close()
		} else if b.Status.Phase != api.BuildPhaseCancelled {
			fmt.Fprintf(a.Stderr, "build %s: no log: %s\n", name, oneLine(err.Error()))
		}
		if err := waitFor(func() bool { return api.BuildPhaseFinished(b.Status.Phase) }); err != nil {
			return err
		}
	}
	if b.Status.Phase != api.BuildPhaseComplete {
		return fmt.Errorf("build %s %s: %s", name, strings.ToLower(b.Status.Phase), strings.TrimSpace(b.Status.Reason+" "+b.Status.Message))
	}
	fmt.Fprintf(a.Stdout, "build/%s complete: %s\n", name, strings.TrimSpace(b.Status.OutputDockerImageReference+" "+b.Status.OutputDigest))
	return nil
}

func (a *App) cancelBuildCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "cancel-build build/NAME...",
		Short:   "Cancel running or queued builds",
		Example: "  slip cancel-build web-3\n  slip cancel-build build/web-3 build/web-4",
		Args:    minArgs("build/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			var errs []error
			for _, arg := range args {
				name, err := buildName(arg)
				if err != nil {
					return err
				}
				var b api.Build
				if err := s.client.Get(cmd.Context(), buildsResource, project, name, &b); err != nil {
					errs = append(errs, failedTo(fmt.Sprintf("cancel build %q in project %q", name, project), err))
					continue
				}
				if api.BuildPhaseFinished(b.Status.Phase) {
					errs = append(errs, fmt.Errorf("build %q is already %s", name, strings.ToLower(b.Status.Phase)))
					continue
				}
				patch := map[string]any{"spec": map[string]any{"cancelled": true}}
				if err := s.client.Patch(cmd.Context(), buildsResource, project, name, patch, false, nil); err != nil {
					errs = append(errs, failedTo(fmt.Sprintf("cancel build %q in project %q", name, project), err))
					continue
				}
				fmt.Fprintf(a.Stdout, "build/%s cancelled\n", name)
			}
			return errors.Join(errs...)
		},
	}
}

// describeBuildConfig adds what a person wants to know of a build
// configuration: its webhook URLs, its last webhook deliveries and its
// builds.
func (a *App) describeBuildConfig(ctx context.Context, s *session, project string, obj *kinds.Object) error {
	var bc api.BuildConfig
	if err := decodeInto(obj, &bc); err != nil {
		return err
	}
	w := a.Stdout
	fmt.Fprintln(w, "\nWebhooks:")
	hooks := false
	for _, t := range bc.Spec.Triggers {
		wh := t.Webhook()
		if wh == nil {
			continue
		}
		hooks = true
		secret := wh.Secret
		if wh.SecretReference != nil {
			secret = "<secret " + wh.SecretReference.Name + "/" + api.WebHookSecretKey + ">"
		}
		signed := ""
		if wh.SigningSecret != "" {
			signed = " (signed)"
		}
		fmt.Fprintf(w, "  %s%s:\t%s%s\n", t.Type, signed, strings.TrimRight(s.ctx.Server, "/"), api.WebhookPath(project, bc.Metadata.Name, secret, t.Type))
	}
	if !hooks {
		fmt.Fprintln(w, "  <none>")
	}
	fmt.Fprintln(w, "\nWebhook deliveries:")
	if len(bc.Status.WebhookDeliveries) == 0 {
		fmt.Fprintln(w, "  <none>")
	} else {
		tw := output.NewTable(w)
		fmt.Fprintln(tw, "  TIME\tTYPE\tEVENT\tREF\tDELIVERY\tRESULT\tBUILD\tREASON")
		for _, d := range bc.Status.WebhookDeliveries {
			at := ""
			if d.Time != nil {
				at = d.Time.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", at, d.Type, dash(d.Event), dash(d.Ref), dash(d.DeliveryID), d.Result, dash(d.Build), dash(d.Reason))
		}
		tw.Flush()
	}
	var list api.List[api.Build]
	if err := s.client.List(ctx, buildsResource, project, api.ListOptions{LabelSelector: api.BuildConfigLabel + "=" + bc.Metadata.Name}, &list); err != nil {
		return failedTo("list the builds", err)
	}
	fmt.Fprintln(w, "\nBuilds:")
	if len(list.Items) == 0 {
		fmt.Fprintln(w, "  <none>")
		return nil
	}
	tw := output.NewTable(w)
	fmt.Fprintln(tw, "  NAME\tSTATUS\tCAUSE\tCOMMIT\tDIGEST")
	for _, b := range list.Items {
		cause, commit := "", ""
		if c := b.Status.Cause; c != nil {
			cause = c.Type
		}
		if r := b.Status.Revision; r != nil {
			commit = r.Commit
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", b.Metadata.Name, dash(b.Status.Phase), dash(cause), dash(commit), dash(b.Status.OutputDigest))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tarGz archives dir (without .git) as a gzip-compressed tar.
func tarGz(dir string) ([]byte, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, usagef("--from-dir: %v", err)
	}
	if !info.IsDir() {
		return nil, usagef("--from-dir %s is not a directory", dir)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil // sockets, devices: not source
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", dir, err)
	}
	return buf.Bytes(), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeInto decodes an object the CLI read into a typed one.
func decodeInto(o *kinds.Object, v any) error {
	if err := json.Unmarshal(o.Raw, v); err != nil {
		return fmt.Errorf("decode %s %q: %w", o.Kind(), o.Name(), err)
	}
	return nil
}
