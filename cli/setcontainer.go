package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
)

// updateContainers reads a deployment, lets change edit the template's
// containers (all, or the one named container) and writes them back with
// the resourceVersion it read, so a concurrent change is a conflict rather
// than a lost update. A conflict (the deployment controller writes the
// object too) reads it again and reapplies change, a few times. Every
// template change is a new rollout.
func (a *App) updateContainers(ctx context.Context, target, container string, change func(*api.Container) error) error {
	name, err := deploymentName(target)
	if err != nil {
		return err
	}
	s, project, err := a.projectSession()
	if err != nil {
		return err
	}
	err = retryOnConflict(func() error {
		var d api.Deployment
		if err := s.client.Get(ctx, deploymentsResource, project, name, &d); err != nil {
			return failedTo(fmt.Sprintf("get deployment %q", name), err)
		}
		containers := d.Spec.Template.Spec.Containers
		found := false
		for i := range containers {
			if container == "" || containers[i].Name == container {
				if err := change(&containers[i]); err != nil {
					return err
				}
				found = true
			}
		}
		if !found {
			return usagef("deployment %q has no container %q", name, container)
		}
		// A merge patch replaces the containers list whole.
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": d.Metadata.ResourceVersion},
			"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"containers": containers}}},
		})
		if err := s.client.Patch(ctx, deploymentsResource, project, name, patch, false, nil); err != nil {
			return failedTo(fmt.Sprintf("update deployment %q", name), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "deployment/%s updated\n", name)
	return nil
}

// parseResourceList reads "cpu=250m,memory=256Mi"; the API validates the
// quantities and names the field when one is wrong.
func parseResourceList(flag, s string) (api.ResourceList, error) {
	if s == "" {
		return nil, nil
	}
	out := api.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || v == "" {
			return nil, usagef("--%s %q: expected NAME=QUANTITY[,NAME=QUANTITY] such as cpu=250m,memory=256Mi", flag, s)
		}
		if k != api.ResourceCPU && k != api.ResourceMemory {
			return nil, usagef("--%s: unknown resource %q (cpu and memory are)", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

func (a *App) setResourcesCommand() *cobra.Command {
	var container, requests, limits string
	cmd := &cobra.Command{
		Use:   "resources deployment/NAME [--requests cpu=…,memory=…] [--limits cpu=…,memory=…]",
		Short: "Set the CPU and memory requests and limits of a deployment's containers (a new rollout)",
		Example: `  slip set resources deployment/web --requests cpu=250m,memory=256Mi --limits memory=512Mi
  slip set resources deployment/web -c worker --limits cpu=2`,
		Args: exactArgs("deployment/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := parseResourceList("requests", requests)
			if err != nil {
				return err
			}
			lim, err := parseResourceList("limits", limits)
			if err != nil {
				return err
			}
			if req == nil && lim == nil {
				return usagef("give --requests, --limits or both")
			}
			return a.updateContainers(cmd.Context(), args[0], container, func(c *api.Container) error {
				for k, v := range req {
					if c.Resources.Requests == nil {
						c.Resources.Requests = api.ResourceList{}
					}
					c.Resources.Requests[k] = v
				}
				for k, v := range lim {
					if c.Resources.Limits == nil {
						c.Resources.Limits = api.ResourceList{}
					}
					c.Resources.Limits[k] = v
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&container, "container", "c", "", "change only this container (default: every container)")
	f.StringVar(&requests, "requests", "", "what the scheduler reserves, e.g. cpu=250m,memory=256Mi")
	f.StringVar(&limits, "limits", "", "the most the container may use, e.g. cpu=1,memory=512Mi")
	return cmd
}

// probeOptions are the flags of `slip set probe`.
type probeOptions struct {
	container                          string
	liveness, readiness, startup       bool
	remove                             bool
	getURL, openTCP                    string
	initialDelay, period, timeout      int32
	successThreshold, failureThreshold int32
}

// probe builds the probe the flags describe, with the command after --
// for an exec probe.
func (o *probeOptions) probe(command []string) (*api.Probe, error) {
	n := 0
	for _, set := range []bool{o.getURL != "", o.openTCP != "", len(command) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, usagef("give exactly one check: --get-url, --open-tcp, or a command after --")
	}
	p := &api.Probe{InitialDelaySeconds: o.initialDelay, PeriodSeconds: o.period, TimeoutSeconds: o.timeout,
		SuccessThreshold: o.successThreshold, FailureThreshold: o.failureThreshold}
	switch {
	case o.getURL != "":
		u, err := url.Parse(o.getURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
			return nil, usagef("--get-url %q: expected http://:PORT/PATH or https://:PORT/PATH (the pod's own address is used)", o.getURL)
		}
		p.HTTPGet = &api.HTTPGetAction{Path: u.RequestURI(), Port: portValue(u.Port()), Scheme: strings.ToUpper(u.Scheme)}
	case o.openTCP != "":
		p.TCPSocket = &api.TCPSocketAction{Port: portValue(o.openTCP)}
	default:
		p.Exec = &api.ExecAction{Command: command}
	}
	return p, nil
}

// portValue is a port number, or a port's name.
func portValue(s string) api.IntOrString {
	if n, err := strconv.Atoi(s); err == nil {
		return api.FromInt(int32(n))
	}
	return api.FromString(s)
}

func (a *App) setProbeCommand() *cobra.Command {
	var o probeOptions
	cmd := &cobra.Command{
		Use:   "probe deployment/NAME --liveness|--readiness|--startup (--get-url URL | --open-tcp PORT | --remove | -- COMMAND...)",
		Short: "Set or remove a health probe of a deployment's containers (a new rollout)",
		Example: `  slip set probe deployment/web --readiness --get-url http://:8080/healthz --period-seconds 5
  slip set probe deployment/web --liveness --open-tcp 8080 --initial-delay-seconds 10
  slip set probe deployment/db --liveness -- pg_isready -q
  slip set probe deployment/web --readiness --remove`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() == 0 || len(args) == 0 {
				return fmt.Errorf("expected deployment/NAME before any command")
			}
			if dash := cmd.ArgsLenAtDash(); dash > 1 || (dash < 0 && len(args) != 1) {
				return fmt.Errorf("expected one deployment/NAME, got %d arguments (put an exec probe's command after --)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kinds := 0
			for _, on := range []bool{o.liveness, o.readiness, o.startup} {
				if on {
					kinds++
				}
			}
			if kinds == 0 {
				return usagef("say which probe: --liveness, --readiness or --startup")
			}
			var probe *api.Probe
			if !o.remove {
				var err error
				if probe, err = o.probe(args[1:]); err != nil {
					return err
				}
			} else if o.getURL != "" || o.openTCP != "" || len(args) > 1 {
				return usagef("--remove takes no check")
			}
			return a.updateContainers(cmd.Context(), args[0], o.container, func(c *api.Container) error {
				if o.liveness {
					c.LivenessProbe = probe
				}
				if o.readiness {
					c.ReadinessProbe = probe
				}
				if o.startup {
					c.StartupProbe = probe
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "change only this container (default: every container)")
	f.BoolVar(&o.liveness, "liveness", false, "the liveness probe: the container is restarted when it fails")
	f.BoolVar(&o.readiness, "readiness", false, "the readiness probe: the pod gets traffic only while it passes")
	f.BoolVar(&o.startup, "startup", false, "the startup probe: holds the others until the app has started")
	f.BoolVar(&o.remove, "remove", false, "remove the probe")
	f.StringVar(&o.getURL, "get-url", "", "probe with an HTTP GET of this URL on the pod (http://:8080/healthz)")
	f.StringVar(&o.openTCP, "open-tcp", "", "probe by opening a TCP connection to this port (number or name)")
	f.Int32Var(&o.initialDelay, "initial-delay-seconds", 0, "wait this long after the container starts")
	f.Int32Var(&o.period, "period-seconds", 0, "probe this often (default 10)")
	f.Int32Var(&o.timeout, "timeout-seconds", 0, "a probe taking longer fails (default 1)")
	f.Int32Var(&o.successThreshold, "success-threshold", 0, "passes in a row to count as healthy (default 1)")
	f.Int32Var(&o.failureThreshold, "failure-threshold", 0, "failures in a row to count as unhealthy (default 3)")
	return cmd
}
