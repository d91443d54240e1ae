package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
)

func (a *App) setCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Change one aspect of a deployment: environment, resources, probes or triggers",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(a.setEnvCommand(), a.setResourcesCommand(), a.setProbeCommand(), a.setTriggersCommand())
	return cmd
}

// parseEnvChanges splits "K=V" (set) from "K-" (remove).
func parseEnvChanges(args []string) (set []api.EnvVar, remove []string, err error) {
	for _, arg := range args {
		if name, ok := strings.CutSuffix(arg, "-"); ok && !strings.Contains(arg, "=") {
			if name == "" {
				return nil, nil, usagef("%q: expected NAME- to remove a variable", arg)
			}
			remove = append(remove, name)
			continue
		}
		name, value, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			return nil, nil, usagef("%q: expected NAME=VALUE or NAME-", arg)
		}
		set = append(set, api.EnvVar{Name: name, Value: value})
	}
	return set, remove, nil
}

// applyEnv sets and removes variables in c, keeping the order of the
// variables it already has.
func applyEnv(c *api.Container, set []api.EnvVar, remove []string) {
	c.Env = slices.DeleteFunc(c.Env, func(e api.EnvVar) bool { return slices.Contains(remove, e.Name) })
	for _, e := range set {
		i := slices.IndexFunc(c.Env, func(x api.EnvVar) bool { return x.Name == e.Name })
		if i >= 0 {
			c.Env[i] = e
		} else {
			c.Env = append(c.Env, e)
		}
	}
}

func (a *App) setEnvCommand() *cobra.Command {
	var container string
	cmd := &cobra.Command{
		Use:   "env deployment/NAME NAME=VALUE... [NAME-...]",
		Short: "Set or remove environment variables of a deployment's containers (a new rollout)",
		Example: `  slip set env deployment/web LOG_LEVEL=debug
  slip set env deployment/web -c web LOG_LEVEL-`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("expected deployment/NAME and at least one NAME=VALUE or NAME-, got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			set, remove, err := parseEnvChanges(args[1:])
			if err != nil {
				return err
			}
			return a.updateContainers(cmd.Context(), args[0], container, func(c *api.Container) error {
				applyEnv(c, set, remove)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&container, "container", "c", "", "change only this container (default: every container)")
	return cmd
}

func (a *App) setTriggersCommand() *cobra.Command {
	var auto, manual bool
	cmd := &cobra.Command{
		Use:   "triggers deployment/NAME --auto|--manual",
		Short: "Turn a deployment's automatic image-change rollouts on or off",
		Example: `  slip set triggers deployment/web --manual
  slip set triggers deployment/web --auto`,
		Args: exactArgs("deployment/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if auto == manual {
				return usagef("exactly one of --auto or --manual is required")
			}
			name, err := deploymentName(args[0])
			if err != nil {
				return err
			}
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			n := 0
			err = retryOnConflict(func() error {
				var d api.Deployment
				if err := s.client.Get(cmd.Context(), deploymentsResource, project, name, &d); err != nil {
					return failedTo(fmt.Sprintf("get deployment %q", name), err)
				}
				n = 0
				for _, tr := range d.Spec.Triggers {
					if tr.Type == api.ImageChangeTrigger && tr.ImageChange != nil {
						tr.ImageChange.Automatic = auto
						n++
					}
				}
				if n == 0 {
					return fmt.Errorf("deployment %q has no image change triggers", name)
				}
				patch, _ := json.Marshal(map[string]any{
					"metadata": map[string]any{"resourceVersion": d.Metadata.ResourceVersion},
					"spec":     map[string]any{"triggers": d.Spec.Triggers},
				})
				if err := s.client.Patch(cmd.Context(), deploymentsResource, project, name, patch, false, nil); err != nil {
					return failedTo(fmt.Sprintf("update deployment %q", name), err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			mode := "manual"
			if auto {
				mode = "automatic"
			}
			fmt.Fprintf(a.Stdout, "deployment/%s: %d image change trigger(s) %s\n", name, n, mode)
			return nil
		},
	}
	cmd.Flags().BoolVar(&auto, "auto", false, "roll out every new image automatically")
	cmd.Flags().BoolVar(&manual, "manual", false, "stop rolling out new images automatically")
	return cmd
}
