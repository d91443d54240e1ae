package controller

import (
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/router/route"
)

// backendSource finds a route's services and their endpoints.
type backendSource interface {
	lookupService(project, name string) *api.Service
	lookupEndpoints(project, name string) *api.Endpoints
}

// DefaultHost is the host a route without spec.host is served under.
func DefaultHost(name, project, domain string) string {
	return name + "-" + project + "." + domain
}

// routeHost is the host r is served under by a router of domain.
func routeHost(r *api.Route, domain string) string {
	if r.Spec.Host != "" {
		return r.Spec.Host
	}
	return DefaultHost(r.Metadata.Name, r.Metadata.Project, domain)
}

// translate builds the router's model of r; backends resolve through src
// to the ready endpoints of each service on the route's port. A route this
// router admitted before is the incumbent of its host (route.Admit).
func translate(r *api.Route, domain, routerName string, src backendSource) route.Route {
	out := route.Route{
		Project: r.Metadata.Project,
		Name:    r.Metadata.Name,
		Host:    routeHost(r, domain),
		Path:    r.Spec.Path,
	}
	if ts := r.Metadata.CreationTimestamp; ts != nil {
		out.Created = *ts
	}
	out.Incumbent = isAdmitted(r, routerName)
	a := r.Metadata.Annotations
	out.Balance = route.Balance(a[api.RouteBalanceAnnotation])
	out.Sticky = a[api.RouteStickyAnnotation] == "true"
	out.HSTS = a[api.RouteHSTSAnnotation]
	if v, ok := a[api.RouteTimeoutAnnotation]; ok {
		// The API validated it; a value it did not is left at the default.
		if d, err := api.ParseRouteTimeout(v); err == nil {
			out.Timeout = d
		}
	}
	// The API validated these too.
	if v, ok := a[api.RouteAllowlistAnnotation]; ok {
		out.AllowedSources, _ = api.ParseRouteAllowlist(v)
	}
	if v, ok := a[api.RouteRateLimitAnnotation]; ok {
		out.RateLimit, _ = api.ParseRouteRateLimit(v)
	}
	if t := r.Spec.TLS; t != nil {
		out.TLS = &route.TLS{
			Termination:                   route.Termination(t.Termination),
			Certificate:                   t.Certificate,
			Key:                           t.Key,
			CACertificate:                 t.CACertificate,
			DestinationCACertificate:      t.DestinationCACertificate,
			InsecureEdgeTerminationPolicy: route.InsecurePolicy(t.InsecureEdgeTerminationPolicy),
		}
	}
	var port *api.IntOrString
	if r.Spec.Port != nil {
		port = &r.Spec.Port.TargetPort
	}
	for _, ref := range append([]api.RouteTargetReference{r.Spec.To}, r.Spec.AlternateBackends...) {
		b := route.Backend{Name: ref.Name, Weight: ref.Weight}
		b.Endpoints = readyEndpoints(src.lookupService(r.Metadata.Project, ref.Name), src.lookupEndpoints(r.Metadata.Project, ref.Name), port)
		out.Backends = append(out.Backends, b)
	}
	return out
}

// isAdmitted reports whether routerName reports r admitted.
func isAdmitted(r *api.Route, routerName string) bool {
	for _, in := range r.Status.Ingress {
		if in.RouterName != routerName {
			continue
		}
		for _, c := range in.Conditions {
			if c.Type == api.RouteAdmitted {
				return c.Status == "True"
			}
		}
	}
	return false
}

// servicePort picks the service port a route sends to: by name, or by
// number against targetPort then port; nil picks the first port.
func servicePort(svc *api.Service, want *api.IntOrString) (api.ServicePort, bool) {
	ports := svc.Spec.Ports
	if len(ports) == 0 {
		return api.ServicePort{}, false
	}
	if want == nil {
		return ports[0], true
	}
	if want.IsStr {
		for _, p := range ports {
			if p.Name == want.StrVal {
				return p, true
			}
		}
		return api.ServicePort{}, false
	}
	for _, p := range ports {
		if p.TargetPort != nil && !p.TargetPort.IsStr && p.TargetPort.IntVal == want.IntVal {
			return p, true
		}
	}
	for _, p := range ports {
		if p.Port == want.IntVal {
			return p, true
		}
	}
	return api.ServicePort{}, false
}

// readyEndpoints lists the ready addresses of eps on the endpoint port
// named after the chosen service port (an endpoints port carries the
// service port's name, as in Kubernetes).
func readyEndpoints(svc *api.Service, eps *api.Endpoints, want *api.IntOrString) []route.Endpoint {
	if svc == nil || eps == nil {
		return nil
	}
	sp, ok := servicePort(svc, want)
	if !ok {
		return nil
	}
	var out []route.Endpoint
	seen := map[string]bool{}
	for _, sub := range eps.Spec.Subsets {
		port := 0
		for _, p := range sub.Ports {
			if p.Name == sp.Name && (p.Protocol == "" || p.Protocol == "TCP") {
				port = int(p.Port)
			}
		}
		if port == 0 {
			continue
		}
		for _, a := range sub.Addresses {
			name := a.IP + ":" + strconv.Itoa(port)
			if seen[name] {
				continue
			}
			seen[name] = true
			if a.TargetRef != nil && a.TargetRef.Name != "" {
				name = a.TargetRef.Name
			}
			out = append(out, route.Endpoint{Name: name, IP: a.IP, Port: port})
		}
	}
	return out
}

// Admission reasons written to the Admitted condition.
const (
	ReasonHostAlreadyClaimed = "HostAlreadyClaimed"
	ReasonInvalid            = "ExtendedValidationFailed"
)

// ingressFor is this router's status entry for a route.
func ingressFor(routerName, host string, admitted bool, reason, message string, now time.Time) api.RouteIngress {
	status := "True"
	if !admitted {
		status = "False"
	}
	t := now.UTC().Truncate(time.Second)
	return api.RouteIngress{RouterName: routerName, Host: host, Conditions: []api.RouteIngressCondition{{
		Type: api.RouteAdmitted, Status: status, Reason: reason, Message: strings.TrimSpace(message), LastTransitionTime: &t,
	}}}
}

// sameIngress compares two entries ignoring transition times.
func sameIngress(a, b api.RouteIngress) bool {
	if a.RouterName != b.RouterName || a.Host != b.Host || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}
