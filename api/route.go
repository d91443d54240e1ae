package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// Route exposes a service outside the cluster under a host name (and an
// optional path prefix), in OpenShift's shape (route.openshift.io/v1 Route).
// Routers watch routes, serve them and report in status.ingress whether
// they admitted each one.
//
// spec.host may be left empty: each router then serves the route as
// <name>-<project>.<its apps domain> and reports that host in
// status.ingress. Validation here is syntactic; a router parses
// certificates and keys and settles host ownership (the oldest route's
// project owns a host) and reports the outcome as the Admitted condition.
type Route struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   ObjectMeta  `json:"metadata"`
	Spec       RouteSpec   `json:"spec"`
	Status     RouteStatus `json:"status,omitempty"`
}

// RouteSpec is the desired state of a Route.
type RouteSpec struct {
	// Host is a lower-case DNS name; empty lets the router name it.
	Host string `json:"host,omitempty"`
	// Path is an optional prefix starting with '/'.
	Path string `json:"path,omitempty"`
	// To is the service traffic goes to.
	To RouteTargetReference `json:"to"`
	// AlternateBackends share the traffic with To, by weight.
	AlternateBackends []RouteTargetReference `json:"alternateBackends,omitempty"`
	// Port picks the service port; nil uses the service's first port.
	Port *RoutePort `json:"port,omitempty"`
	// TLS is nil for a plain-HTTP route.
	TLS *TLSConfig `json:"tls,omitempty"`
}

// RouteTargetReference is a service behind a route.
type RouteTargetReference struct {
	// Kind is Service (the default and only kind).
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
	// Weight in 0..256; nil means 100; 0 sends no traffic.
	Weight *int32 `json:"weight,omitempty"`
}

// RoutePort names the service port a route sends traffic to.
type RoutePort struct {
	// TargetPort is a service port's name, or a number matched against the
	// service ports' targetPort and then port.
	TargetPort IntOrString `json:"targetPort"`
}

// TLSConfig is a route's TLS configuration; PEM-encoded material.
type TLSConfig struct {
	// Termination is edge, passthrough or reencrypt.
	Termination string `json:"termination"`
	// Certificate and Key serve the host (edge and reencrypt); empty uses
	// the router's default certificate.
	Certificate string `json:"certificate,omitempty"`
	Key         string `json:"key,omitempty"`
	// CACertificate is the chain sent after Certificate.
	CACertificate string `json:"caCertificate,omitempty"`
	// DestinationCACertificate verifies the endpoints of a reencrypt route.
	DestinationCACertificate string `json:"destinationCACertificate,omitempty"`
	// InsecureEdgeTerminationPolicy is None (default), Allow or Redirect.
	InsecureEdgeTerminationPolicy string `json:"insecureEdgeTerminationPolicy,omitempty"`
}

// Route TLS terminations and insecure policies, as in OpenShift.
const (
	TLSTerminationEdge        = "edge"
	TLSTerminationPassthrough = "passthrough"
	TLSTerminationReencrypt   = "reencrypt"

	InsecurePolicyNone     = "None"
	InsecurePolicyAllow    = "Allow"
	InsecurePolicyRedirect = "Redirect"
)

// Per-route router options, as annotations (OpenShift's
// haproxy.router.openshift.io/* under Slipway's prefix).
const (
	// RouteBalanceAnnotation is roundrobin, leastconn or source.
	RouteBalanceAnnotation = "router.slipway.io/balance"
	// RouteStickyAnnotation "true" pins a client to an endpoint with a cookie.
	RouteStickyAnnotation = "router.slipway.io/sticky"
	// RouteTimeoutAnnotation bounds the wait for a response: a duration
	// ("30s", "2m", "1h30m") up to 24h.
	RouteTimeoutAnnotation = "router.slipway.io/timeout"
	// RouteHSTSAnnotation is the Strict-Transport-Security header value
	// added to responses over TLS.
	RouteHSTSAnnotation = "router.slipway.io/hsts"
	// RouteAllowlistAnnotation admits only clients from these addresses
	// or networks, separated by spaces or commas ("10.0.0.0/8 192.0.2.7");
	// others get 403.
	RouteAllowlistAnnotation = "router.slipway.io/ip-allowlist"
	// RouteRateLimitAnnotation is the requests per second one client IP
	// may send (averaged over 10 s); beyond it the router answers 429.
	RouteRateLimitAnnotation = "router.slipway.io/rate-limit-rps"
)

// MaxRouteRateLimit bounds RouteRateLimitAnnotation.
const MaxRouteRateLimit = 100000

// ParseRouteAllowlist reads RouteAllowlistAnnotation: addresses become
// single-address networks.
func ParseRouteAllowlist(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a network (CIDR)", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("names no address or network")
	}
	return out, nil
}

// ParseRouteRateLimit reads RouteRateLimitAnnotation.
func ParseRouteRateLimit(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxRouteRateLimit {
		return 0, fmt.Errorf("%q is not a whole number of requests per second from 1 to %d", v, MaxRouteRateLimit)
	}
	return n, nil
}

// MaxRouteWeight is the largest backend weight, as in OpenShift.
const MaxRouteWeight = 256

// MaxRouteTimeout is the largest router.slipway.io/timeout.
const MaxRouteTimeout = 24 * time.Hour

// RouteStatus reports each router's view of the route.
type RouteStatus struct {
	Ingress []RouteIngress `json:"ingress,omitempty"`
}

// RouteIngress is one router's view of the route.
type RouteIngress struct {
	RouterName string                  `json:"routerName"`
	Host       string                  `json:"host,omitempty"`
	Conditions []RouteIngressCondition `json:"conditions,omitempty"`
}

// RouteIngressCondition is a condition of a route on one router.
type RouteIngressCondition struct {
	// Type is Admitted.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status             string     `json:"status"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
}

// RouteAdmitted is the condition a router reports for each route.
const RouteAdmitted = "Admitted"

// RoutesResource is the plural name of routes.
const RoutesResource = "routes"

var (
	routeHost = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// The characters a router can match a path on: no spaces, query or fragment.
	routePath = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`)
)

// Validate checks a route's spec; errors name the field.
func (s *RouteSpec) Validate() error {
	if s.Host != "" && (len(s.Host) > 253 || !routeHost.MatchString(s.Host)) {
		return errdefs.Invalidf("spec.host", "%q is not a lower-case DNS name", s.Host)
	}
	if s.Path != "" && !routePath.MatchString(s.Path) {
		return errdefs.Invalidf("spec.path", "%q must start with '/' and hold only URL path characters", s.Path)
	}
	if err := s.To.validate("spec.to"); err != nil {
		return err
	}
	seen := map[string]bool{s.To.Name: true}
	for i, b := range s.AlternateBackends {
		field := fmt.Sprintf("spec.alternateBackends[%d]", i)
		if err := b.validate(field); err != nil {
			return err
		}
		if seen[b.Name] {
			return errdefs.Invalidf(field+".name", "service %q is already a backend of the route", b.Name)
		}
		seen[b.Name] = true
	}
	if s.Port != nil {
		if err := validatePort("spec.port.targetPort", s.Port.TargetPort); err != nil {
			return err
		}
	}
	if s.TLS != nil {
		if err := s.TLS.validate(s.Path != ""); err != nil {
			return err
		}
		return s.TLS.checkCertificate(s.Host, time.Now())
	}
	return nil
}

// checkCertificate checks the route's own certificate: the key matches it,
// it is valid now, and it covers host (a route without spec.host gets its
// host from the router, which checks it then).
func (t *TLSConfig) checkCertificate(host string, now time.Time) error {
	if t.Certificate == "" {
		return nil
	}
	pair, err := tls.X509KeyPair([]byte(t.Certificate), []byte(t.Key))
	if err != nil {
		return errdefs.Invalidf("spec.tls.key", "does not go with spec.tls.certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return errdefs.Invalidf("spec.tls.certificate", "%v", err)
	}
	switch {
	case now.After(leaf.NotAfter):
		return errdefs.Invalidf("spec.tls.certificate", "expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return errdefs.Invalidf("spec.tls.certificate", "is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if host != "" {
		if err := leaf.VerifyHostname(host); err != nil {
			return errdefs.Invalidf("spec.tls.certificate", "does not cover spec.host %q (it names %s)", host,
				strings.Join(append([]string{leaf.Subject.CommonName}, leaf.DNSNames...), ", "))
		}
	}
	return nil
}

func (r *RouteTargetReference) validate(field string) error {
	if r.Kind != "" && r.Kind != "Service" {
		return errdefs.Invalidf(field+".kind", "must be Service, got %q", r.Kind)
	}
	if err := ValidateName(field+".name", r.Name); err != nil {
		return err
	}
	if r.Weight != nil && (*r.Weight < 0 || *r.Weight > MaxRouteWeight) {
		return errdefs.Invalidf(field+".weight", "%d is outside 0..%d", *r.Weight, MaxRouteWeight)
	}
	return nil
}

func (t *TLSConfig) validate(hasPath bool) error {
	switch t.Termination {
	case TLSTerminationEdge, TLSTerminationReencrypt:
	case TLSTerminationPassthrough:
		if hasPath {
			return errdefs.Invalidf("spec.path", "a passthrough route cannot have a path: the router sees only the SNI")
		}
		if t.Certificate != "" || t.Key != "" || t.CACertificate != "" || t.DestinationCACertificate != "" {
			return errdefs.Invalidf("spec.tls", "a passthrough route carries no certificates")
		}
	case "":
		return errdefs.Invalidf("spec.tls.termination", "is required (edge, passthrough or reencrypt)")
	default:
		return errdefs.Invalidf("spec.tls.termination", "%q is not one of edge, passthrough, reencrypt", t.Termination)
	}
	switch t.InsecureEdgeTerminationPolicy {
	case "", InsecurePolicyNone, InsecurePolicyRedirect:
	case InsecurePolicyAllow:
		if t.Termination == TLSTerminationPassthrough {
			return errdefs.Invalidf("spec.tls.insecureEdgeTerminationPolicy", "Allow is not possible with passthrough termination")
		}
	default:
		return errdefs.Invalidf("spec.tls.insecureEdgeTerminationPolicy", "%q is not one of None, Allow, Redirect", t.InsecureEdgeTerminationPolicy)
	}
	if (t.Certificate == "") != (t.Key == "") {
		return errdefs.Invalidf("spec.tls.key", "certificate and key go together")
	}
	if t.CACertificate != "" && t.Certificate == "" {
		return errdefs.Invalidf("spec.tls.caCertificate", "needs a certificate")
	}
	if t.DestinationCACertificate != "" && t.Termination != TLSTerminationReencrypt {
		return errdefs.Invalidf("spec.tls.destinationCACertificate", "needs reencrypt termination")
	}
	for _, f := range []struct{ field, data, want string }{
		{"spec.tls.certificate", t.Certificate, "CERTIFICATE"},
		{"spec.tls.key", t.Key, "PRIVATE KEY"},
		{"spec.tls.caCertificate", t.CACertificate, "CERTIFICATE"},
		{"spec.tls.destinationCACertificate", t.DestinationCACertificate, "CERTIFICATE"},
	} {
		if f.data == "" {
			continue
		}
		if err := pemBlocks(f.field, f.data, f.want); err != nil {
			return err
		}
	}
	return nil
}

// pemBlocks checks data is a sequence of PEM blocks whose type ends in
// want.
func pemBlocks(field, data, want string) error {
	rest := []byte(data)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if !strings.HasSuffix(b.Type, want) {
			return errdefs.Invalidf(field, "unexpected PEM block %q, want %s", b.Type, want)
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return errdefs.Invalidf(field, "is not PEM-encoded %s data", want)
	}
	if want == "PRIVATE KEY" && n != 1 {
		return errdefs.Invalidf(field, "holds %d keys, want one", n)
	}
	return nil
}

// ParseRouteTimeout reads router.slipway.io/timeout: a Go duration, or a
// bare number of seconds.
func ParseRouteTimeout(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		v = strconv.Itoa(n) + "s"
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > MaxRouteTimeout {
		return 0, fmt.Errorf("%q is not a duration in (0, %s]", v, MaxRouteTimeout)
	}
	return d, nil
}

// validateRouteAnnotations checks the router options a route carries.
func validateRouteAnnotations(a map[string]string) error {
	field := func(k string) string { return "metadata.annotations[" + k + "]" }
	if v, ok := a[RouteBalanceAnnotation]; ok {
		switch v {
		case "roundrobin", "leastconn", "source":
		default:
			return errdefs.Invalidf(field(RouteBalanceAnnotation), "%q is not one of roundrobin, leastconn, source", v)
		}
	}
	if v, ok := a[RouteStickyAnnotation]; ok && v != "true" && v != "false" {
		return errdefs.Invalidf(field(RouteStickyAnnotation), "%q is not true or false", v)
	}
	if v, ok := a[RouteTimeoutAnnotation]; ok {
		if _, err := ParseRouteTimeout(v); err != nil {
			return errdefs.Invalidf(field(RouteTimeoutAnnotation), "%v", err)
		}
	}
	if v, ok := a[RouteHSTSAnnotation]; ok && strings.ContainsAny(v, "\"\\\r\n") {
		return errdefs.Invalidf(field(RouteHSTSAnnotation), "must not hold quotes, backslashes or line breaks")
	}
	if v, ok := a[RouteAllowlistAnnotation]; ok {
		if _, err := ParseRouteAllowlist(v); err != nil {
			return errdefs.Invalidf(field(RouteAllowlistAnnotation), "%v", err)
		}
	}
	if v, ok := a[RouteRateLimitAnnotation]; ok {
		if _, err := ParseRouteRateLimit(v); err != nil {
			return errdefs.Invalidf(field(RouteRateLimitAnnotation), "%v", err)
		}
	}
	return nil
}

// Validate checks the routers' reports.
func (s *RouteStatus) Validate() error {
	for i, in := range s.Ingress {
		field := fmt.Sprintf("status.ingress[%d]", i)
		if in.RouterName == "" {
			return errdefs.Invalidf(field+".routerName", "is required")
		}
		if in.Host != "" && !routeHost.MatchString(in.Host) {
			return errdefs.Invalidf(field+".host", "%q is not a lower-case DNS name", in.Host)
		}
		for j, c := range in.Conditions {
			cf := fmt.Sprintf("%s.conditions[%d]", field, j)
			if c.Type == "" {
				return errdefs.Invalidf(cf+".type", "is required")
			}
			switch c.Status {
			case "True", "False", "Unknown":
			default:
				return errdefs.Invalidf(cf+".status", "%q is not one of True, False, Unknown", c.Status)
			}
		}
	}
	return nil
}

func routeResource() *Resource {
	return &Resource{Plural: RoutesResource, Kind: "Route", Scope: ProjectScoped, HasStatus: true,
		validateSpec: func(o *Object) error {
			if err := forbid(o.Data, "data", "Route"); err != nil {
				return err
			}
			if len(o.Spec) == 0 || string(o.Spec) == "null" {
				return errdefs.Invalidf("spec", "is required")
			}
			if err := validateRouteAnnotations(o.Metadata.Annotations); err != nil {
				return err
			}
			return strictField[RouteSpec](o.Spec, "spec")
		},
		validateStatus: func(o *Object) error { return strictField[RouteStatus](o.Status, "status") }}
}
