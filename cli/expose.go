package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
)

var (
	servicesResource = mustResource(api.ServicesResource)
	routesResource   = mustResource(api.RoutesResource)
)

// serviceName accepts "NAME", "service/NAME", "services/NAME" or "svc/NAME".
func serviceName(arg string) (string, error) {
	return typedName(arg, "service/NAME (only services can be exposed)", "service", "services", "svc")
}

func (a *App) exposeCommand() *cobra.Command {
	var hostname, path, port, name string
	cmd := &cobra.Command{
		Use:   "expose service/NAME [--hostname HOST] [--path PATH] [--port PORT] [--name NAME]",
		Short: "Make a service reachable from outside through a route",
		Long: `Create a route to a service and print its URL.

Without --hostname the router serves the route as <name>-<project>.<apps domain>
and reports that host in the route's status.ingress. --port picks the service
port by name or number (default: the service's first port).`,
		Example: "  slip expose service/web\n  slip expose svc/web --hostname www.example.com --path /shop --port http",
		Args:    exactArgs("service/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svcName, err := serviceName(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				name = svcName
			}
			s, project, err := a.projectSession()
			if err != nil {
				return err
			}
			var svc api.Service
			if err := s.client.Get(cmd.Context(), servicesResource, project, svcName, &svc); err != nil {
				return failedTo(fmt.Sprintf("get service %q in project %q", svcName, project), err)
			}
			target, err := routePort(&svc, port)
			if err != nil {
				return err
			}
			r := api.Route{Kind: "Route", APIVersion: api.Version,
				Metadata: api.ObjectMeta{Name: name, Labels: svc.Metadata.Labels},
				Spec: api.RouteSpec{Host: hostname, Path: path,
					To: api.RouteTargetReference{Kind: "Service", Name: svcName}}}
			if target != nil {
				r.Spec.Port = &api.RoutePort{TargetPort: *target}
			}
			var created api.Route
			if err := s.client.Create(cmd.Context(), routesResource, project, r, &created); err != nil {
				return failedTo(fmt.Sprintf("create route %q in project %q", name, project), err)
			}
			if created.Spec.Host == "" {
				fmt.Fprintf(a.Stdout, "route/%s created\nhttp://%s-%s.<apps domain>%s (the router names the host: see status.ingress)\n",
					name, name, project, created.Spec.Path)
				return nil
			}
			fmt.Fprintf(a.Stdout, "route/%s created\nhttp://%s%s\n", name, created.Spec.Host, created.Spec.Path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&hostname, "hostname", "", "the host name to serve the route under (default: chosen by the router)")
	f.StringVar(&path, "path", "", "serve only requests whose path starts with this prefix")
	f.StringVar(&port, "port", "", "the service port, by name or number (default: the first)")
	f.StringVar(&name, "name", "", "the route's name (default: the service's)")
	return cmd
}

// routePort resolves --port against the service's ports, as the router
// will: a port name, or a number matching a targetPort or a port. It
// names the port by its name when it has one, which survives renumbering.
func routePort(svc *api.Service, port string) (*api.IntOrString, error) {
	ports := svc.Spec.Ports
	var names []string
	for _, p := range ports {
		names = append(names, p.Name+"/"+strconv.Itoa(int(p.Port)))
	}
	pick := func(p api.ServicePort) *api.IntOrString {
		if p.Name != "" {
			v := api.FromString(p.Name)
			return &v
		}
		v := api.FromInt(p.Port)
		return &v
	}
	if port == "" {
		if len(ports) == 0 {
			return nil, nil
		}
		return pick(ports[0]), nil
	}
	n, numErr := strconv.Atoi(port)
	for _, p := range ports {
		if p.Name == port {
			return pick(p), nil
		}
	}
	if numErr == nil {
		for _, p := range ports {
			if p.TargetPort != nil && !p.TargetPort.IsStr && int(p.TargetPort.IntVal) == n {
				v := api.FromInt(int32(n))
				return &v, nil
			}
		}
		for _, p := range ports {
			if int(p.Port) == n {
				return pick(p), nil
			}
		}
	}
	return nil, fmt.Errorf("service %q has no port %q (it has %s)", svc.Metadata.Name, port, strings.Join(names, ", "))
}
