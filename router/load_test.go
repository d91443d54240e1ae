package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/router/route"
)

// TestZeroDropUnderChanges sends constant keep-alive traffic through one
// route while its endpoints scale 1→5→1, are replaced by new ones, and ten
// unrelated routes are added (reloads). The pass mark is zero failed
// requests. Requests are POSTs so that Go's transport does not silently
// retry on a connection the router closed: every failure is counted.
func TestZeroDropUnderChanges(t *testing.T) {
	h := startHarness(t, 200*time.Millisecond)
	var pods []*backendServer
	for i := range 5 {
		pods = append(pods, startBackend(t, fmt.Sprintf("old-%d", i)))
	}
	fresh := []*backendServer{startBackend(t, "new-0"), startBackend(t, "new-1")}
	spare := startBackend(t, "other")
	load := plainRoute("shop", "load", "load.apps.test", pods[0])
	h.apply(load)
	h.flush()

	const clients = 4
	ctx, stop := context.WithTimeout(context.Background(), 15*time.Second) // bound even if the script hangs
	defer stop()
	var sent, failed atomic.Int64
	var firstErrs sync.Map
	seen := sync.Map{} // backend name → true
	client := h.client(nil, true)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://load.apps.test/", http.NoBody)
				if err != nil {
					panic(err)
				}
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return // stopping, not a failure
				}
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstErrs.LoadOrStore(c, err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					firstErrs.LoadOrStore(c, fmt.Sprintf("%d %q %v", resp.StatusCode, firstLine(string(body)), err))
					continue
				}
				seen.Store(string(body), true)
			}
		}()
	}

	var others []route.Route
	script := []struct {
		name   string
		routes func() []route.Route
	}{
		{"scale to 5", func() []route.Route { return []route.Route{*withEndpoints(load, pods...)} }},
		{"scale to 1", func() []route.Route { return []route.Route{*withEndpoints(load, pods[0])} }},
		{"replace by new endpoints", func() []route.Route { return []route.Route{*withEndpoints(load, fresh...)} }},
	}
	for i := range 10 {
		script = append(script, struct {
			name   string
			routes func() []route.Route
		}{fmt.Sprintf("add unrelated route %d", i), func() []route.Route {
			others = append(others, plainRoute("other", fmt.Sprintf("r%d", i), fmt.Sprintf("r%d.apps.test", i), spare))
			return append([]route.Route{*withEndpoints(load, fresh...)}, others...)
		}})
	}
	script = append(script, struct {
		name   string
		routes func() []route.Route
	}{"scale to 5 again", func() []route.Route {
		return append([]route.Route{*withEndpoints(load, append(fresh, pods[2:]...)...)}, others...)
	}})

	tick := time.NewTicker(400 * time.Millisecond)
	defer tick.Stop()
	reloads := 0
	for _, step := range script {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("load test ran out of time at %q", step.name)
		}
		out, err := h.router.Apply(ctx, step.routes())
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if out.Change == ChangeReload {
			reloads++
		}
	}
	if err := h.router.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Keep the traffic flowing a little after the last reload.
	select {
	case <-tick.C:
	case <-ctx.Done():
	}
	stop()
	wg.Wait()

	for _, name := range []string{"new-0", "new-1", "old-0", "old-4"} {
		if _, ok := seen.Load(name); !ok {
			t.Errorf("no request reached %s", name)
		}
	}
	t.Logf("%d clients, %d requests, %d failed, %d structural changes (reloads, coalesced by a 200 ms minimum interval)",
		clients, sent.Load(), failed.Load(), reloads)
	if failed.Load() != 0 {
		firstErrs.Range(func(k, v any) bool { t.Errorf("client %v: %v", k, v); return true })
		t.Fatalf("%d of %d requests failed", failed.Load(), sent.Load())
	}
	if sent.Load() < 1000 {
		t.Errorf("only %d requests sent: the load was not constant", sent.Load())
	}
}
