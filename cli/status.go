package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
)

// statusCommand is `slip status`: a summary of the current project for
// people, the way `oc status` gives one — each service with its routes and
// the deployment behind it, then deployments without a service, then
// warnings that need someone's attention.
func (a *App) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Summarise the current project: apps, rollouts, routes and warnings",
		Example: `  slip status
  slip status -n shop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			st, err := loadProjectState(cmd.Context(), s, project)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "In project %s on server %s\n", project, s.ctx.Server)
			st.write(a.Stdout)
			return nil
		},
	}
}

// projectState is what slip status reads.
type projectState struct {
	deployments []api.Deployment
	services    []api.Service
	routes      []api.Route
	pods        []api.Pod
	bcs         []api.BuildConfig
	builds      []api.Build
	shownBC     map[string]bool // build configs printed under a deployment
}

func loadProjectState(ctx context.Context, s *session, project string) (*projectState, error) {
	var st projectState
	var deployments api.List[api.Deployment]
	var services api.List[api.Service]
	var routes api.List[api.Route]
	var pods api.List[api.Pod]
	var bcs api.List[api.BuildConfig]
	var builds api.List[api.Build]
	for _, l := range []struct {
		res  *api.Resource
		into any
	}{{deploymentsResource, &deployments}, {servicesResource, &services}, {routesResource, &routes}, {podsResource, &pods},
		{buildConfigsResource, &bcs}, {buildsResource, &builds}} {
		if err := s.client.List(ctx, l.res, project, api.ListOptions{}, l.into); err != nil {
			return nil, failedTo("list "+l.res.Plural, err)
		}
	}
	st.deployments, st.services, st.routes, st.pods = deployments.Items, services.Items, routes.Items, pods.Items
	st.bcs, st.builds = bcs.Items, builds.Items
	return &st, nil
}

func (st *projectState) write(w io.Writer) {
	shown := map[string]bool{} // deployments printed under a service
	st.shownBC = map[string]bool{}
	if len(st.deployments) == 0 && len(st.services) == 0 && len(st.routes) == 0 && len(st.bcs) == 0 {
		fmt.Fprintln(w, "\nYou have no apps yet. Create one with:\n  slip new-app <git-url>")
		return
	}
	for _, svc := range st.services {
		fmt.Fprintln(w)
		var urls []string
		for _, r := range st.routes {
			if r.Spec.To.Name == svc.Metadata.Name {
				urls = append(urls, routeURL(&r))
			}
		}
		ports := make([]string, 0, len(svc.Spec.Ports))
		for _, p := range svc.Spec.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
		line := fmt.Sprintf("svc/%s - %s ports %s", svc.Metadata.Name, orNone(svc.Spec.ClusterIP), strings.Join(ports, ","))
		if len(urls) > 0 {
			line = strings.Join(urls, ", ") + " to " + line
		}
		fmt.Fprintln(w, line)
		for _, d := range st.deployments {
			if api.SelectorMatches(svc.Spec.Selector, d.Spec.Template.Metadata.Labels) {
				shown[d.Metadata.Name] = true
				st.writeDeployment(w, &d)
			}
		}
	}
	for _, d := range st.deployments {
		if !shown[d.Metadata.Name] {
			fmt.Fprintln(w)
			st.writeDeployment(w, &d)
		}
	}
	for i := range st.bcs {
		if !st.shownBC[st.bcs[i].Metadata.Name] {
			fmt.Fprintln(w)
			st.writeBuildConfig(w, &st.bcs[i], "")
		}
	}
	if warnings := st.warnings(); len(warnings) > 0 {
		fmt.Fprintf(w, "\n%d warning(s):\n", len(warnings))
		for _, m := range warnings {
			fmt.Fprintf(w, "  * %s\n", m)
		}
	}
	fmt.Fprintf(w, "\n%d deployment(s), %d service(s), %d route(s), %d pod(s).\n",
		len(st.deployments), len(st.services), len(st.routes), len(st.pods))
}

func (st *projectState) writeDeployment(w io.Writer, d *api.Deployment) {
	images := make([]string, 0, len(d.Spec.Template.Spec.Containers))
	for _, c := range d.Spec.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	fmt.Fprintf(w, "  deployment/%s deploys %s\n", d.Metadata.Name, strings.Join(images, ", "))
	want := d.Spec.EffectiveReplicas()
	state := fmt.Sprintf("%d/%d pods ready", d.Status.ReadyReplicas, want)
	switch {
	case d.Spec.Paused:
		state += " (rollout paused)"
	case d.Status.ObservedGeneration < d.Metadata.Generation || d.Status.UpdatedReplicas < want || d.Status.Replicas > want:
		state += fmt.Sprintf(" (rolling out: %d of %d updated)", d.Status.UpdatedReplicas, want)
	}
	fmt.Fprintf(w, "    %s\n", state)
	for _, t := range d.Spec.Triggers {
		ic := t.ImageChange
		if ic == nil {
			continue
		}
		for i := range st.bcs {
			bc := &st.bcs[i]
			if to := bc.Spec.Output.To; to != nil && (to.Name == ic.From || d.Metadata.Project+"/"+to.Name == ic.From) {
				st.shownBC[bc.Metadata.Name] = true
				st.writeBuildConfig(w, bc, "    ")
			}
		}
	}
}

// writeBuildConfig says what a build config builds and how its latest
// build went.
func (st *projectState) writeBuildConfig(w io.Writer, bc *api.BuildConfig, indent string) {
	from := "uploaded source"
	if g := bc.Spec.Source.Git; g != nil {
		from = g.URI
		if g.Ref != "" {
			from += "#" + g.Ref
		}
	}
	builder := ""
	if ss := bc.Spec.Strategy.SourceStrategy; ss != nil {
		builder = " with " + ss.From.Name
	}
	to := ""
	if bc.Spec.Output.To != nil {
		to = " into " + bc.Spec.Output.To.Name
	}
	fmt.Fprintf(w, "%sbc/%s builds %s%s%s\n", indent, bc.Metadata.Name, from, builder, to)
	if b := st.latestBuild(bc.Metadata.Name); b != nil {
		phase := b.Status.Phase
		if phase == "" {
			phase = api.BuildPhaseNew
		}
		fmt.Fprintf(w, "%s  build/%s %s\n", indent, b.Metadata.Name, strings.ToLower(phase))
	} else {
		fmt.Fprintf(w, "%s  no builds yet: slip start-build %s\n", indent, bc.Metadata.Name)
	}
}

// latestBuild is the highest-numbered build of a config.
func (st *projectState) latestBuild(config string) *api.Build {
	var latest *api.Build
	var n int64
	for i := range st.builds {
		b := &st.builds[i]
		c, bn, ok := api.ParseBuildName(b.Metadata.Name)
		if ok && c == config && b.Metadata.Labels[api.BuildConfigLabel] == config && bn > n {
			latest, n = b, bn
		}
	}
	return latest
}

// warnings lists what needs attention: failed rollouts, pods that crash,
// wait for an image or cannot be scheduled, and routes no router admitted.
func (st *projectState) warnings() []string {
	var out []string
	for _, d := range st.deployments {
		for _, c := range d.Status.Conditions {
			if c.Type == api.DeploymentProgressing && c.Status == api.ConditionFalse {
				out = append(out, fmt.Sprintf("deployment/%s: rollout failed (%s): %s", d.Metadata.Name, c.Reason, c.Message))
			}
		}
	}
	for _, p := range st.pods {
		if p.Metadata.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == api.PodScheduled && c.Status == api.ConditionFalse {
				out = append(out, fmt.Sprintf("pod/%s cannot be scheduled: %s", p.Metadata.Name, c.Message))
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if wt := cs.State.Waiting; wt != nil && slices.Contains([]string{"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"}, wt.Reason) {
				out = append(out, fmt.Sprintf("pod/%s container %s is in %s (restarted %d times)", p.Metadata.Name, cs.Name, wt.Reason, cs.RestartCount))
			}
		}
	}
	for _, bc := range st.bcs {
		if b := st.latestBuild(bc.Metadata.Name); b != nil && (b.Status.Phase == api.BuildPhaseFailed || b.Status.Phase == api.BuildPhaseError) {
			out = append(out, fmt.Sprintf("build/%s %s (%s): %s; see slip logs build/%s", b.Metadata.Name, strings.ToLower(b.Status.Phase),
				b.Status.Reason, b.Status.Message, b.Metadata.Name))
		}
	}
	for _, r := range st.routes {
		for _, in := range r.Status.Ingress {
			for _, c := range in.Conditions {
				if c.Type == api.RouteAdmitted && c.Status == "False" {
					out = append(out, fmt.Sprintf("route/%s was rejected by router %s: %s", r.Metadata.Name, in.RouterName, c.Message))
				}
			}
		}
	}
	return out
}

// routeURL is where a route answers, as its first router reports it.
func routeURL(r *api.Route) string {
	host := r.Spec.Host
	for _, in := range r.Status.Ingress {
		if in.Host != "" {
			host = in.Host
			break
		}
	}
	if host == "" {
		return "route/" + r.Metadata.Name + " (not admitted yet)"
	}
	scheme := "http"
	if r.Spec.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + host + r.Spec.Path
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
