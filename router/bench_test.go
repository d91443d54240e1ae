package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/slipway/slipway/router/route"
)

func benchRoutes(n int, backend *backendServer) []route.Route {
	routes := make([]route.Route, n)
	for i := range routes {
		routes[i] = plainRoute(fmt.Sprintf("p%d", i%50), fmt.Sprintf("r%d", i), fmt.Sprintf("r%d.apps.test", i), backend)
	}
	return routes
}

// BenchmarkRenderReload1000 measures a structural change with 1,000 routes
// in force: render, write, "haproxy -c", swap, reload, new worker listed.
func BenchmarkRenderReload1000(b *testing.B) {
	h := startHarness(b, time.Millisecond)
	backend := startBackend(b, "app")
	routes := benchRoutes(1000, backend)
	h.apply(routes...)
	h.flush()
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		routes[0].Host = fmt.Sprintf("changed%d.apps.test", i)
		if out, err := h.router.Apply(ctx, routes); err != nil || out.Change != ChangeReload {
			b.Fatalf("%v %v", out.Change, err)
		}
		if err := h.router.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEndpointChange1000 measures an endpoint change with 1,000
// routes in force: render, diff, rewrite haproxy.cfg, runtime API calls.
func BenchmarkEndpointChange1000(b *testing.B) {
	h := startHarness(b, time.Millisecond)
	one, two := startBackend(b, "one"), startBackend(b, "two")
	routes := benchRoutes(1000, one)
	h.apply(routes...)
	h.flush()
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		next := one
		if i%2 == 0 {
			next = two
		}
		routes[0] = *withEndpoints(routes[0], next)
		if out, err := h.router.Apply(ctx, routes); err != nil || out.Change != ChangeRuntime {
			b.Fatalf("%v %v", out.Change, err)
		}
	}
}
