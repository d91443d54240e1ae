package router

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
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

// BenchmarkRenderReload measures a structural change with 1,000 and
// 10,000 routes in force: render, write, "haproxy -c", swap, reload, new
// worker listed.
func BenchmarkRenderReload(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			h := startHarness(b, time.Millisecond)
			backend := startBackend(b, "app")
			routes := benchRoutes(n, backend)
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
		})
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

// BenchmarkEndpointChangeToTrafficShifted measures, with 1,000 routes in
// force, the time from Apply of an endpoint change (the route's only pod
// replaced by another) to the first response from the new pod: the runtime
// API path, no reload.
func BenchmarkEndpointChangeToTrafficShifted(b *testing.B) {
	h := startHarness(b, DefaultMinReloadInterval)
	one, two := startBackend(b, "one"), startBackend(b, "two")
	routes := benchRoutes(1000, one)
	h.apply(routes...)
	h.flush()
	c := h.client(nil, true)
	eventually(b, 10*time.Second, func() error { return h.expect(c, "http://r0.apps.test/", 200, "one") })
	ctx := context.Background()
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		next := two
		if i%2 == 1 {
			next = one
		}
		routes[0] = *withEndpoints(routes[0], next)
		start := time.Now()
		if out, err := h.router.Apply(ctx, routes); err != nil || out.Change != ChangeRuntime {
			b.Fatalf("%v %v", out.Change, err)
		}
		eventually(b, 10*time.Second, func() error { return h.expect(c, "http://r0.apps.test/", 200, next.name) })
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, took)
}

// BenchmarkRouteCreatedToFirst200 measures, with 100 routes in force and
// the production reload interval, the time from Apply of a new route to
// its first 200 (reloads are coalesced: at most one per interval).
func BenchmarkRouteCreatedToFirst200(b *testing.B) {
	h := startHarness(b, DefaultMinReloadInterval)
	backend := startBackend(b, "app")
	routes := benchRoutes(100, backend)
	h.apply(routes...)
	h.flush()
	ctx := context.Background()
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		host := fmt.Sprintf("new%d.apps.test", i)
		routes = append(routes, plainRoute("bench", fmt.Sprintf("new%d", i), host, backend))
		start := time.Now()
		if _, err := h.router.Apply(ctx, routes); err != nil {
			b.Fatal(err)
		}
		eventually(b, 10*time.Second, func() error { return h.expect(h.httpClient, "http://"+host+"/", 200, "app") })
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, took)
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkThroughputViaRouter compares requests/s through the router with
// requests/s straight to the backend (keep-alive, 32 concurrent clients so
// both paths are bound by CPU rather than by one client's round trips;
// each iteration is a 100 ms window of each).
func BenchmarkThroughputViaRouter(b *testing.B) {
	h := startHarness(b, time.Millisecond)
	backend := startBackend(b, "app")
	h.apply(plainRoute("shop", "fast", "fast.apps.test", backend))
	h.flush()
	eventually(b, 10*time.Second, func() error { return h.expect(h.httpClient, "http://fast.apps.test/", 200, "app") })
	const clients, window = 32, 100 * time.Millisecond
	viaClients, directClients := make([]*http.Client, clients), make([]*http.Client, clients)
	for i := range clients {
		viaClients[i] = h.client(nil, true)
		directClients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	}
	count := func(url string, cs []*http.Client) int64 {
		var total atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(window)
		for _, c := range cs {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if err := h.expect(c, url, 200, "app"); err != nil {
						b.Error(err)
						return
					}
					total.Add(1)
				}
			})
		}
		wg.Wait()
		return total.Load()
	}
	var via, direct int64
	b.ResetTimer()
	for range b.N {
		direct += count(backend.srv.URL+"/", directClients)
		via += count("http://fast.apps.test/", viaClients)
	}
	seconds := float64(b.N) * window.Seconds()
	b.ReportMetric(float64(via)/seconds, "router-req/s")
	b.ReportMetric(float64(direct)/seconds, "direct-req/s")
	b.ReportMetric(float64(via)/float64(direct), "ratio")
}
