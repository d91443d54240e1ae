package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
// each iteration is a 100 ms window of each, alternating).
//
// The clients and the backend are one Go process, and the router is a
// second hop for every request: the ratio depends on where the router
// runs, so it is measured two ways.
//   - own-cpu: the router has a CPU of its own (as on a dedicated router
//     node) with one thread that busy-polls; the clients and the backend
//     share the other CPUs in both arms. This is the router's own figure:
//     whether it keeps up with what the backend can serve.
//   - shared: everything on the same CPUs with the default configuration,
//     as `slipway up` runs on one machine. Here every request pays for the
//     router out of the backend's CPU time (two loopback TCP hops instead
//     of one, about 35 µs of CPU per request on this kind of machine).
func BenchmarkThroughputViaRouter(b *testing.B) {
	b.Run("own-cpu", func(b *testing.B) {
		if runtime.NumCPU() < 2 {
			b.Skip("the router needs a CPU of its own and one is all there is")
		}
		h := startHarness(b, time.Millisecond, func(o *Options) { o.Threads, o.BusyPolling = 1, true })
		routerCPU := runtime.NumCPU() - 1
		if err := pinProcessGroup(h.router.HAProxy().PID(), []int{routerCPU}); err != nil {
			b.Fatal(err)
		}
		rest := make([]int, routerCPU)
		for i := range rest {
			rest[i] = i
		}
		restore, err := pinSelf(rest)
		if err != nil {
			b.Fatal(err)
		}
		defer restore()
		measureThroughput(b, h)
	})
	b.Run("shared", func(b *testing.B) {
		measureThroughput(b, startHarness(b, time.Millisecond))
	})
}

func measureThroughput(b *testing.B, h *harness) {
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

// pinProcessGroup binds every thread of the processes in a process group
// (HAProxy's master and its workers; workers forked later inherit it).
func pinProcessGroup(pgid int, cpus []int) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	pinned := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := unix.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		if err := pinThreads(pid, cpus); err != nil {
			return err
		}
		pinned++
	}
	if pinned == 0 {
		return fmt.Errorf("no process in group %d", pgid)
	}
	return nil
}

// pinSelf binds this process's threads to cpus and sizes GOMAXPROCS to
// them; restore undoes both.
func pinSelf(cpus []int) (restore func(), err error) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		return nil, fmt.Errorf("read this process's CPU affinity: %w", err)
	}
	if err := pinThreads(os.Getpid(), cpus); err != nil {
		return nil, err
	}
	procs := runtime.GOMAXPROCS(len(cpus))
	return func() {
		runtime.GOMAXPROCS(procs)
		_ = setThreadsAffinity(os.Getpid(), &before)
	}, nil
}

func pinThreads(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return setThreadsAffinity(pid, &set)
}

// setThreadsAffinity sets the affinity of each of a process's threads (the
// call binds one thread; threads created later inherit their creator's).
func setThreadsAffinity(pid int, set *unix.CPUSet) error {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return fmt.Errorf("list the threads of %d: %w", pid, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("set the CPU affinity of thread %d: %w", tid, err)
		}
	}
	return nil
}
