package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
)

var (
	deploymentsResource = mustResource(api.DeploymentsResource)
	replicaSetsResource = mustResource(api.ReplicaSetsResource)
)

// deploymentName accepts "NAME", "deployment/NAME" or "deploy/NAME".
func deploymentName(arg string) (string, error) {
	return typedName(arg, "deployment/NAME", "deployment", "deployments", "deploy")
}

func (a *App) scaleCommand() *cobra.Command {
	var replicas int
	cmd := &cobra.Command{
		Use:     "scale deployment/NAME --replicas N",
		Short:   "Set the number of a deployment's pods",
		Example: `  slip scale deployment/web --replicas 3`,
		Args:    exactArgs("deployment/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 {
				return usagef("--replicas must be zero or more")
			}
			name, err := deploymentName(args[0])
			if err != nil {
				return err
			}
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
			path := "/api/v1/projects/" + url.PathEscape(project) + "/deployments/" + url.PathEscape(name) + "/scale"
			if err := s.client.Do(cmd.Context(), http.MethodPatch, path, "application/merge-patch+json", []byte(patch), nil); err != nil {
				return failedTo(fmt.Sprintf("scale deployment %q in project %q", name, project), err)
			}
			fmt.Fprintf(a.Stdout, "deployment/%s scaled to %d\n", name, replicas)
			return nil
		},
	}
	cmd.Flags().IntVar(&replicas, "replicas", -1, "the number of pods")
	_ = cmd.MarkFlagRequired("replicas")
	return cmd
}

func (a *App) rolloutCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow, list, undo, pause and resume a deployment's rollouts",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	withDeployment := func(use, short, example string, run func(cmd *cobra.Command, s *session, project, name string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Example: example, Args: exactArgs("deployment/NAME"),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, err := deploymentName(args[0])
				if err != nil {
					return err
				}
				s, project, err := a.projectSession()
				if err != nil {
					return err
				}
				return run(cmd, s, project, name)
			}}
	}
	pause := func(on bool) func(cmd *cobra.Command, s *session, project, name string) error {
		return func(cmd *cobra.Command, s *session, project, name string) error {
			patch := fmt.Sprintf(`{"spec":{"paused":%t}}`, on)
			if err := s.client.Patch(cmd.Context(), deploymentsResource, project, name, []byte(patch), false, nil); err != nil {
				return failedTo(fmt.Sprintf("update deployment %q", name), err)
			}
			state := "resumed"
			if on {
				state = "paused"
			}
			fmt.Fprintf(a.Stdout, "deployment/%s %s\n", name, state)
			return nil
		}
	}
	var toRevision int
	undo := withDeployment("undo deployment/NAME [--to-revision N]", "Roll back to an earlier revision (the exact images it ran; never rebuilds)",
		"  slip rollout undo deployment/web\n  slip rollout undo deployment/web --to-revision 2",
		func(cmd *cobra.Command, s *session, project, name string) error {
			body, _ := json.Marshal(map[string]int{"toRevision": toRevision})
			path := "/api/v1/projects/" + url.PathEscape(project) + "/deployments/" + url.PathEscape(name) + "/rollback"
			if err := s.client.Do(cmd.Context(), http.MethodPost, path, "application/json", body, nil); err != nil {
				return failedTo(fmt.Sprintf("roll back deployment %q", name), err)
			}
			fmt.Fprintf(a.Stdout, "deployment/%s rolled back; automatic image triggers are off (slip set triggers --auto turns them on)\n", name)
			return nil
		})
	undo.Flags().IntVar(&toRevision, "to-revision", 0, "the revision to go back to (default: the previous one)")
	history := withDeployment("history deployment/NAME", "List a deployment's revisions", "  slip rollout history deployment/web",
		func(cmd *cobra.Command, s *session, project, name string) error {
			var list api.List[api.ReplicaSet]
			if err := s.client.List(cmd.Context(), replicaSetsResource, project, api.ListOptions{LabelSelector: api.DeploymentLabel + "=" + name}, &list); err != nil {
				return failedTo("list revisions", err)
			}
			slices.SortFunc(list.Items, func(x, y api.ReplicaSet) int { return revisionOf(x) - revisionOf(y) })
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tREPLICAS\tIMAGES\tCREATED")
			for _, rs := range list.Items {
				var imgs []string
				for _, c := range rs.Spec.Template.Spec.Containers {
					imgs = append(imgs, c.Image)
				}
				created := ""
				if rs.Metadata.CreationTimestamp != nil {
					created = rs.Metadata.CreationTimestamp.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", revisionOf(rs), rs.Status.Replicas, strings.Join(imgs, ","), created)
			}
			return tw.Flush()
		})
	var timeout time.Duration
	status := withDeployment("status deployment/NAME", "Wait until a deployment's rollout is done (or failed)", "  slip rollout status deployment/web",
		func(cmd *cobra.Command, s *session, project, name string) error {
			deadline := time.Now().Add(timeout)
			last := ""
			for {
				var d api.Deployment
				if err := s.client.Get(cmd.Context(), deploymentsResource, project, name, &d); err != nil {
					return failedTo(fmt.Sprintf("get deployment %q", name), err)
				}
				want := d.Spec.EffectiveReplicas()
				msg := fmt.Sprintf("%d of %d updated pods available", d.Status.AvailableReplicas, want)
				if msg != last {
					fmt.Fprintf(a.Stdout, "Waiting for deployment %q: %s...\n", name, msg)
					last = msg
				}
				for _, c := range d.Status.Conditions {
					if c.Type == "Progressing" && c.Status == "False" {
						return fmt.Errorf("deployment %q rollout failed: %s", name, c.Message)
					}
				}
				if d.Status.ObservedGeneration >= d.Metadata.Generation && d.Status.UpdatedReplicas == want &&
					d.Status.AvailableReplicas == want && d.Status.Replicas == want {
					fmt.Fprintf(a.Stdout, "deployment %q successfully rolled out\n", name)
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("deployment %q: rollout not done after %s", name, timeout)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
		})
	status.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	cmd.AddCommand(status, history, undo,
		withDeployment("pause deployment/NAME", "Stop rolling out template changes", "  slip rollout pause deployment/web", pause(true)),
		withDeployment("resume deployment/NAME", "Roll out template changes again", "  slip rollout resume deployment/web", pause(false)))
	return cmd
}

func revisionOf(rs api.ReplicaSet) int {
	n, _ := strconv.Atoi(rs.Metadata.Annotations[api.RevisionAnnotation])
	return n
}
