package controller

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/router/route"
)

type fakeBackends struct {
	services  map[string]*api.Service
	endpoints map[string]*api.Endpoints
}

func (f fakeBackends) lookupService(project, name string) *api.Service {
	return f.services[project+"/"+name]
}

func (f fakeBackends) lookupEndpoints(project, name string) *api.Endpoints {
	return f.endpoints[project+"/"+name]
}

func TestTranslate(t *testing.T) {
	target := func(v api.IntOrString) *api.IntOrString { return &v }
	src := fakeBackends{
		services: map[string]*api.Service{"shop/web": {Spec: api.ServiceSpec{Ports: []api.ServicePort{
			{Name: "http", Port: 80, TargetPort: target(api.FromInt(8080))},
			{Name: "admin", Port: 9000, TargetPort: target(api.FromInt(9090))},
		}}}},
		endpoints: map[string]*api.Endpoints{"shop/web": {Spec: api.EndpointsSpec{Subsets: []api.EndpointSubset{{
			Addresses:         []api.EndpointAddress{{IP: "10.0.0.1", TargetRef: &api.ObjectReference{Kind: "Pod", Name: "web-1"}}, {IP: "10.0.0.2"}},
			NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.3"}},
			Ports:             []api.EndpointPort{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}},
		}}}}},
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		port      *api.RoutePort
		wantPorts []int
	}{
		{"first port by default", nil, []int{8080, 8080}},
		{"port name", &api.RoutePort{TargetPort: api.FromString("admin")}, []int{9090, 9090}},
		{"target port number", &api.RoutePort{TargetPort: api.FromInt(9090)}, []int{9090, 9090}},
		{"service port number", &api.RoutePort{TargetPort: api.FromInt(80)}, []int{8080, 8080}},
		{"unknown port", &api.RoutePort{TargetPort: api.FromString("nope")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &api.Route{Metadata: api.ObjectMeta{Name: "web", Project: "shop", CreationTimestamp: &created,
				Annotations: map[string]string{api.RouteBalanceAnnotation: "leastconn", api.RouteStickyAnnotation: "true", api.RouteTimeoutAnnotation: "90s",
					api.RouteAllowlistAnnotation: "10.0.0.0/8,192.0.2.7", api.RouteRateLimitAnnotation: "20"}},
				Spec: api.RouteSpec{To: api.RouteTargetReference{Name: "web"}, AlternateBackends: []api.RouteTargetReference{{Name: "gone", Weight: route.Weight(0)}}, Port: tc.port}}
			got := translate(r, "apps.test", "default", src)
			if got.Host != "web-shop.apps.test" || !got.Created.Equal(created) || got.Balance != route.BalanceLeastConn || !got.Sticky || got.Timeout != 90*time.Second {
				t.Fatalf("translate = %+v", got)
			}
			if fmt.Sprint(got.AllowedSources) != "[10.0.0.0/8 192.0.2.7/32]" || got.RateLimit != 20 {
				t.Fatalf("allow-list %v, rate limit %d", got.AllowedSources, got.RateLimit)
			}
			if len(got.Backends) != 2 || got.Backends[1].Name != "gone" || len(got.Backends[1].Endpoints) != 0 {
				t.Fatalf("backends = %+v", got.Backends)
			}
			var ports []int
			for _, e := range got.Backends[0].Endpoints {
				ports = append(ports, e.Port)
			}
			if !slices.Equal(ports, tc.wantPorts) {
				t.Errorf("endpoint ports = %v, want %v", ports, tc.wantPorts)
			}
			if err := route.Validate(&got); err != nil {
				t.Errorf("the router refuses the translation: %v", err)
			}
		})
	}
}

func TestAdmittedRouteKeepsItsHostWithinTheSameSecond(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(project string, admitted bool) *api.Route {
		r := &api.Route{Metadata: api.ObjectMeta{Name: "web", Project: project, CreationTimestamp: &created},
			Spec: api.RouteSpec{Host: "www.example.com", To: api.RouteTargetReference{Name: "web"}}}
		if admitted {
			r.Status.Ingress = []api.RouteIngress{ingressFor("default", "www.example.com", true, "", "", created)}
		}
		return r
	}
	// "alpha" sorts first, but "zulu" holds the host already.
	routes := []route.Route{translate(mk("alpha", false), "apps.test", "default", fakeBackends{}),
		translate(mk("zulu", true), "apps.test", "default", fakeBackends{})}
	admitted, rejected := route.Admit(routes)
	if len(admitted) != 1 || admitted[0].Project != "zulu" || len(rejected) != 1 || rejected[0].Project != "alpha" {
		t.Fatalf("admitted %v, rejected %v", admitted, rejected)
	}
}
