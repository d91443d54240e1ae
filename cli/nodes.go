package cli

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
)

var (
	nodesResource = mustResource(api.NodesResource)
	podsResource  = mustResource(api.PodsResource)
)

// nodeCommands are `slip adm cordon|uncordon|drain NODE`.
func (a *App) nodeCommands() []*cobra.Command {
	setUnschedulable := func(cmd *cobra.Command, node string, on bool) error {
		s, err := a.session()
		if err != nil {
			return err
		}
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
		if err := s.client.Patch(cmd.Context(), nodesResource, "", node, []byte(patch), false, nil); err != nil {
			return failedTo(fmt.Sprintf("update node %q", node), err)
		}
		return nil
	}
	cordon := &cobra.Command{
		Use:     "cordon NODE",
		Short:   "Mark a node unschedulable: it keeps its pods but gets no new ones",
		Example: `  slip adm cordon node-1`,
		Args:    exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := setUnschedulable(cmd, args[0], true); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "node %q cordoned\n", args[0])
			return nil
		},
	}
	uncordon := &cobra.Command{
		Use:     "uncordon NODE",
		Short:   "Mark a node schedulable again",
		Example: `  slip adm uncordon node-1`,
		Args:    exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := setUnschedulable(cmd, args[0], false); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "node %q uncordoned\n", args[0])
			return nil
		},
	}
	var timeout time.Duration
	drain := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and evict its pods (respecting disruption budgets), so their owners run them elsewhere",
		Example: `  # Before maintenance
  slip adm drain node-1
  slip adm uncordon node-1   # afterwards`,
		Args: exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			node := args[0]
			if err := setUnschedulable(cmd, node, true); err != nil {
				return err
			}
			s, err := a.session()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			onNode := func() ([]api.Pod, error) {
				var list api.List[api.Pod]
				if err := s.client.List(ctx, podsResource, "", api.ListOptions{}, &list); err != nil {
					return nil, failedTo("list pods", err)
				}
				var out []api.Pod
				for _, p := range list.Items {
					if p.Spec.NodeName == node {
						out = append(out, p)
					}
				}
				return out, nil
			}
			deadline := time.Now().Add(timeout)
			refused := map[string]string{} // pod → the budget's last refusal, printed once
			for {
				left, err := onNode()
				if err != nil {
					return err
				}
				if len(left) == 0 {
					fmt.Fprintf(a.Stdout, "node %q drained\n", node)
					return nil
				}
				for _, p := range left {
					if p.Metadata.DeletionTimestamp != nil {
						continue
					}
					key := p.Metadata.Project + "/" + p.Metadata.Name
					path := "/api/v1/projects/" + url.PathEscape(p.Metadata.Project) + "/pods/" + url.PathEscape(p.Metadata.Name) + "/eviction"
					err := s.client.Do(ctx, "POST", path, "application/json", []byte("{}"), nil)
					switch {
					case errors.Is(err, errdefs.ErrTooManyRequests):
						// A disruption budget says not now: wait for
						// replacements to become ready elsewhere.
						if msg := err.Error(); refused[key] != msg {
							refused[key] = msg
							fmt.Fprintf(a.Stderr, "waiting to evict pod %s: %s\n", key, msg)
						}
					case errors.Is(err, errdefs.ErrNotFound):
					case err != nil:
						return failedTo(fmt.Sprintf("evict pod %q in project %q", p.Metadata.Name, p.Metadata.Project), err)
					default:
						fmt.Fprintf(a.Stdout, "evicting pod %s\n", key)
					}
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("node %q still has %d pods after %s", node, len(left), timeout)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second):
				}
			}
		},
	}
	drain.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up waiting for the pods to go after this long")
	return []*cobra.Command{cordon, uncordon, drain}
}
