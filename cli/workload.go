package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/node/agent/execstream"
)

// exitCodeError ends slip with a command's own exit code (slip exec), with
// nothing printed: the command said what it had to.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string { return fmt.Sprintf("command exited with %d", e.code) }

// typedName accepts "NAME" or "KIND/NAME" where KIND is one of kinds
// (case-insensitive); expected says what a wrong kind should have been.
func typedName(arg, expected string, kinds ...string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return arg, nil
	}
	for _, k := range kinds {
		if strings.EqualFold(kind, k) && name != "" {
			return name, nil
		}
	}
	return "", usagef("%s: expected %s", arg, expected)
}

// podName accepts "NAME" or "pod/NAME".
func podName(arg string) (string, error) {
	return typedName(arg, "pod/NAME (only pods have logs and exec so far)", "pod", "pods", "po")
}

// buildAppearTimeout bounds how long `slip logs -f build/NAME` waits for a
// build that does not exist yet.
const buildAppearTimeout = 30 * time.Second

func (a *App) logsCommand() *cobra.Command {
	var container string
	var follow, previous bool
	tail := -1
	cmd := &cobra.Command{
		Use:   "logs pod/NAME|deployment/NAME|build/NAME",
		Short: "Print the logs of a pod's container, of a deployment's pod or of a build",
		Example: `  slip logs pod/web
  slip logs web -c sidecar --tail 20
  slip logs -f pod/web          # keep printing new lines
  slip logs --previous pod/web  # the container's previous run, after a restart
  slip logs deployment/web      # one of the deployment's pods (a ready one, the newest)
  slip logs -f build/web-3      # a build's output (its build pod's log)`,
		Args: exactArgs("pod/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource := "pods"
			name, err := typedName(args[0], "pod/NAME, deployment/NAME or build/NAME", "pod", "pods", "po")
			kind, rest, typed := strings.Cut(args[0], "/")
			switch {
			case typed && (strings.EqualFold(kind, "build") || strings.EqualFold(kind, "builds")):
				resource, name, err = "builds", rest, nil
			case typed && (strings.EqualFold(kind, "deployment") || strings.EqualFold(kind, "deployments") || strings.EqualFold(kind, "deploy")):
				name, err = rest, nil
			}
			if err != nil {
				return err
			}
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			if typed && resource == "pods" && !strings.HasPrefix(strings.ToLower(kind), "po") {
				if name, err = a.deploymentPod(cmd.Context(), s, project, rest); err != nil {
					return err
				}
			}
			q := url.Values{}
			if container != "" {
				q.Set("container", container)
			}
			if follow {
				q.Set("follow", "true")
			}
			if previous {
				q.Set("previous", "true")
			}
			if tail >= 0 {
				q.Set("tailLines", strconv.Itoa(tail))
			}
			path := "/api/v1/projects/" + url.PathEscape(project) + "/" + resource + "/" + url.PathEscape(name) + "/log?" + q.Encode()
			body, err := s.client.Stream(cmd.Context(), http.MethodGet, path, "", nil)
			if errors.Is(err, errdefs.ErrNotFound) && follow && resource == "builds" {
				// A build a trigger is about to start (new-app, a webhook):
				// wait for it as `oc logs -f` does.
				fmt.Fprintf(a.Stderr, "waiting for build %q to be created…\n", name)
				deadline := time.Now().Add(buildAppearTimeout)
				for errors.Is(err, errdefs.ErrNotFound) && time.Now().Before(deadline) {
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-time.After(500 * time.Millisecond):
					}
					body, err = s.client.Stream(cmd.Context(), http.MethodGet, path, "", nil)
				}
			}
			if err != nil {
				return failedTo(fmt.Sprintf("read the logs of %s %q in project %q", strings.TrimSuffix(resource, "s"), name, project), err)
			}
			defer body.Close()
			if _, err := io.Copy(a.Stdout, body); err != nil && cmd.Context().Err() == nil {
				return failedTo("read the logs", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "the container (needed when the pod has several)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until interrupted")
	f.BoolVarP(&previous, "previous", "p", false, "the previous run of a restarted container")
	f.IntVar(&tail, "tail", -1, "only the last N lines")
	return cmd
}

// deploymentPod picks the pod of a deployment whose logs to show: a ready
// one if any, the newest first, as `oc logs dc/NAME` does.
func (a *App) deploymentPod(ctx context.Context, s *session, project, deployment string) (string, error) {
	var list api.List[api.Pod]
	if err := s.client.List(ctx, podsResource, project, api.ListOptions{LabelSelector: api.DeploymentLabel + "=" + deployment}, &list); err != nil {
		return "", failedTo(fmt.Sprintf("list the pods of deployment %q", deployment), err)
	}
	var best *api.Pod
	better := func(p *api.Pod) bool {
		if best == nil {
			return true
		}
		if pr, br := podReadyNow(p), podReadyNow(best); pr != br {
			return pr
		}
		pc, bc := p.Metadata.CreationTimestamp, best.Metadata.CreationTimestamp
		return pc != nil && (bc == nil || pc.After(*bc))
	}
	for i := range list.Items {
		if p := &list.Items[i]; p.Metadata.DeletionTimestamp == nil && better(p) {
			best = p
		}
	}
	if best == nil {
		return "", fmt.Errorf("deployment %q in project %q has no pods", deployment, project)
	}
	return best.Metadata.Name, nil
}

func podReadyNow(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func (a *App) execCommand() *cobra.Command {
	var container string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "exec pod/NAME [-c CONTAINER] [-i] -- COMMAND [ARG...]",
		Short: "Run a command in a pod's container",
		Example: `  slip exec pod/web -- ls -l /tmp
  echo 'select 1' | slip exec -i pod/db -- psql`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return usagef("expected pod/NAME -- COMMAND [ARG...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := podName(args[0])
			if err != nil {
				return err
			}
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			q := url.Values{"command": args[1:]}
			if container != "" {
				q.Set("container", container)
			}
			var in io.Reader
			if stdin {
				in = a.Stdin
			}
			path := "/api/v1/projects/" + url.PathEscape(project) + "/pods/" + url.PathEscape(name) + "/exec?" + q.Encode()
			body, err := s.client.Stream(cmd.Context(), http.MethodPost, path, "application/octet-stream", in)
			if err != nil {
				return failedTo(fmt.Sprintf("exec in pod %q in project %q", name, project), err)
			}
			defer body.Close()
			code, err := execstream.Decode(body, a.Stdout, a.Stderr)
			if err != nil {
				return failedTo("exec", err)
			}
			if code != 0 {
				return &exitCodeError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&container, "container", "c", "", "the container (needed when the pod has several)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", false, "pass standard input to the command")
	return cmd
}
