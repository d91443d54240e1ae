// Package route is the router's input model: the routes it must serve, shaped
// after OpenShift's Route (spec.host, spec.path, spec.tls, spec.to and
// spec.alternateBackends) so the API resource maps onto it field by field,
// plus the endpoints currently ready behind each backend service.
package route

import (
	"net/netip"
	"time"
)

// Termination says where TLS ends for a route.
type Termination string

// Terminations supported, as in OpenShift's spec.tls.termination.
const (
	// TerminationEdge ends TLS at the router and forwards plain HTTP.
	TerminationEdge Termination = "edge"
	// TerminationPassthrough forwards the TLS stream untouched, chosen by SNI.
	TerminationPassthrough Termination = "passthrough"
	// TerminationReencrypt ends TLS at the router and opens a new TLS
	// connection to the endpoint.
	TerminationReencrypt Termination = "reencrypt"
)

// InsecurePolicy says what happens to plain-HTTP requests for a TLS route.
type InsecurePolicy string

// Policies, as in OpenShift's spec.tls.insecureEdgeTerminationPolicy.
const (
	// InsecureNone (the default) answers plain HTTP with the "not available" page.
	InsecureNone InsecurePolicy = "None"
	// InsecureAllow serves the route over plain HTTP too (edge only).
	InsecureAllow InsecurePolicy = "Allow"
	// InsecureRedirect redirects plain HTTP to HTTPS.
	InsecureRedirect InsecurePolicy = "Redirect"
)

// Balance is the load-balancing algorithm among a route's endpoints.
type Balance string

// Algorithms supported; the empty value means BalanceRoundRobin for HTTP
// routes and BalanceSource for passthrough routes.
const (
	BalanceRoundRobin Balance = "roundrobin"
	BalanceLeastConn  Balance = "leastconn"
	BalanceSource     Balance = "source"
)

// DefaultWeight is a backend's weight when Weight is nil, as in OpenShift.
const DefaultWeight = 100

// MaxWeight is the largest backend weight accepted, as in OpenShift.
const MaxWeight = 256

// Route is one hostname (and optional path prefix) served by the router.
type Route struct {
	// Project and Name identify the route; both are DNS-1123 labels.
	Project string
	Name    string
	// Created orders admission: when two projects claim one host, the
	// oldest route keeps it.
	Created time.Time
	// Incumbent marks a route already admitted (by this router): creation
	// times have one-second resolution, so between two routes of the same
	// second the incumbent keeps its host and a newcomer cannot take it.
	Incumbent bool
	// Host is the fully qualified, lower-case host name.
	Host string
	// Path is an optional prefix ("/api"); it matches "/api" and anything
	// after it ("/api/x", and also "/apix", as in HAProxy prefix matching).
	Path string
	// TLS is nil for a plain-HTTP route.
	TLS *TLS
	// HSTS is the value of the Strict-Transport-Security header added to
	// responses sent over TLS ("max-age=31536000;includeSubDomains"); empty
	// adds none.
	HSTS string
	// Balance chooses the algorithm; empty picks the default (see Balance).
	Balance Balance
	// Sticky pins a client to one endpoint with a cookie (HTTP routes only).
	Sticky bool
	// Timeout bounds the wait for the endpoint's response; zero keeps the
	// router's default (30 s).
	Timeout time.Duration
	// AllowedSources, when not empty, admits only clients from these
	// networks; others get 403 (HTTP) or a closed connection (passthrough).
	AllowedSources []netip.Prefix
	// RateLimit, when positive, is the requests per second one client IP
	// may send, averaged over 10 s; beyond it the router answers 429.
	// HTTP routes only (a passthrough route's requests are opaque).
	RateLimit int
	// Backends are the services behind the route: the first is spec.to,
	// the others spec.alternateBackends. Traffic splits by weight.
	Backends []Backend
}

// TLS is a route's TLS configuration; PEM-encoded material.
type TLS struct {
	Termination Termination
	// Certificate and Key serve the host (edge and reencrypt); empty uses
	// the router's default certificate.
	Certificate string
	Key         string
	// CACertificate is the chain sent after Certificate.
	CACertificate string
	// DestinationCACertificate verifies the endpoints of a reencrypt route;
	// empty skips verification.
	DestinationCACertificate string
	// InsecureEdgeTerminationPolicy handles plain HTTP; empty means InsecureNone.
	InsecureEdgeTerminationPolicy InsecurePolicy
}

// Backend is a service behind a route with its share of the traffic.
type Backend struct {
	// Name is the service name, a DNS-1123 label unique within the route.
	Name string
	// Weight in 0..MaxWeight; nil means DefaultWeight; 0 sends no traffic.
	Weight *int32
	// Endpoints are the service's ready endpoints.
	Endpoints []Endpoint
}

// Endpoint is one ready address of a service (a pod's IP and target port).
type Endpoint struct {
	Name string
	IP   string
	Port int
}

// Key identifies a route across updates.
func (r *Route) Key() string { return r.Project + "/" + r.Name }

// Termination reports the route's TLS termination, empty for plain HTTP.
func (r *Route) Termination() Termination {
	if r.TLS == nil {
		return ""
	}
	return r.TLS.Termination
}

// InsecurePolicy reports the effective policy for plain HTTP requests.
func (r *Route) InsecurePolicy() InsecurePolicy {
	switch {
	case r.TLS == nil:
		return InsecureAllow
	case r.TLS.InsecureEdgeTerminationPolicy == "":
		return InsecureNone
	default:
		return r.TLS.InsecureEdgeTerminationPolicy
	}
}

// EffectiveBalance reports the algorithm used, resolving the default.
func (r *Route) EffectiveBalance() Balance {
	switch {
	case r.Balance != "":
		return r.Balance
	case r.Termination() == TerminationPassthrough:
		return BalanceSource
	default:
		return BalanceRoundRobin
	}
}

// EffectiveWeight reports the backend's weight, resolving the default.
func (b *Backend) EffectiveWeight() int {
	if b.Weight == nil {
		return DefaultWeight
	}
	return int(*b.Weight)
}

// Weight returns a pointer to w, for Backend.Weight literals.
func Weight(w int32) *int32 { return &w }
