package router

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/router/haproxycfg"
	"github.com/slipway/slipway/router/route"
)

// TestRouting serves one configuration holding every kind of route and
// checks what clients get for each host, path and scheme.
func TestRouting(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	a, b, api := startBackend(t, "app-a"), startBackend(t, "app-b"), startBackend(t, "app-api")
	edgeLeaf := h.ca.Issue(t, "secure.apps.test")
	ptLeaf := h.ca.Issue(t, "pt.apps.test")
	pt := startTLSBackend(t, "app-passthrough", ptLeaf)
	reLeaf := h.ca.Issue(t, "re.apps.test")
	re := startTLSBackend(t, "app-reencrypt", reLeaf)

	withTLS := func(r route.Route, tls route.TLS) route.Route { r.TLS = &tls; return r }
	pathRoute := plainRoute("shop", "api", "shop.apps.test", api)
	pathRoute.Path = "/api"
	edge := withTLS(plainRoute("shop", "secure", "secure.apps.test", a), route.TLS{
		Termination: route.TerminationEdge, Certificate: edgeLeaf.CertPEM, Key: edgeLeaf.KeyPEM,
		InsecureEdgeTerminationPolicy: route.InsecureRedirect})
	edge.HSTS = "max-age=31536000;includeSubDomains"
	routes := []route.Route{
		plainRoute("shop", "front", "shop.apps.test", a),
		pathRoute,
		plainRoute("blog", "web", "blog.apps.test", b),
		plainRoute("blog", "empty", "empty.apps.test"),
		edge,
		withTLS(plainRoute("shop", "allow", "allow.apps.test", b), route.TLS{
			Termination: route.TerminationEdge, InsecureEdgeTerminationPolicy: route.InsecureAllow}),
		withTLS(plainRoute("shop", "none", "none.apps.test", b), route.TLS{Termination: route.TerminationEdge}),
		withTLS(plainRoute("shop", "pt", "pt.apps.test", pt), route.TLS{Termination: route.TerminationPassthrough}),
		withTLS(plainRoute("shop", "re", "re.apps.test", re), route.TLS{
			Termination: route.TerminationReencrypt, DestinationCACertificate: h.ca.PEM}),
		// Claims a host another project holds: rejected, never served.
		plainRoute("intruder", "steal", "blog.apps.test", a),
	}
	routes[len(routes)-1].Created = time.Now()
	out := h.apply(routes...)
	if len(out.Rejected) != 1 || out.Rejected[0].Project != "intruder" {
		t.Fatalf("rejected %v, want only intruder/steal", out.Rejected)
	}
	h.flush()

	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
		wantCN     string // certificate the client sees
		wantHeader map[string]string
	}{
		{"host routes to its backend", "http://shop.apps.test/", 200, "app-a", "", nil},
		{"another host, another project", "http://blog.apps.test/x", 200, "app-b", "", nil},
		{"host header is case-insensitive", "http://SHOP.apps.test/", 200, "app-a", "", nil},
		{"path prefix wins over host route", "http://shop.apps.test/api/v1/items", 200, "app-api", "", nil},
		{"other paths fall to host route", "http://shop.apps.test/apx", 200, "app-a", "", nil},
		{"unknown host gets the 503 page", "http://nobody.apps.test/", 503, "<!DOCTYPE html>", "", nil},
		{"route without endpoints gets the 503 page", "http://empty.apps.test/", 503, "<!DOCTYPE html>", "", nil},
		{"host suffix does not match", "http://shop.apps.test.evil/", 503, "<!DOCTYPE html>", "", nil},
		{"edge with own certificate and HSTS", "https://secure.apps.test/", 200, "app-a", "secure.apps.test",
			map[string]string{"Strict-Transport-Security": "max-age=31536000;includeSubDomains"}},
		{"edge redirects plain HTTP", "http://secure.apps.test/page", 302, "", "",
			map[string]string{"Location": "https://secure.apps.test/page"}},
		{"edge allow serves plain HTTP", "http://allow.apps.test/", 200, "app-b", "", nil},
		{"edge allow over TLS uses the default certificate", "https://allow.apps.test/", 200, "app-b", "*.apps.test", nil},
		{"edge none refuses plain HTTP", "http://none.apps.test/", 503, "<!DOCTYPE html>", "", nil},
		{"no HSTS on plain HTTP", "http://allow.apps.test/", 200, "app-b", "", map[string]string{"Strict-Transport-Security": ""}},
		{"passthrough by SNI reaches the endpoint's certificate", "https://pt.apps.test/", 200, "app-passthrough", "pt.apps.test", nil},
		{"reencrypt verifies the endpoint", "https://re.apps.test/", 200, "app-reencrypt", "*.apps.test", nil},
		{"unknown host over TLS gets the 503 page", "https://nobody.apps.test/", 503, "<!DOCTYPE html>", "*.apps.test", nil},
	}
	client := h.client(&tls.Config{RootCAs: h.ca.Pool}, false)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := h.get(client, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if rep.status != tc.wantStatus || !strings.HasPrefix(rep.body, tc.wantBody) {
				t.Errorf("got %d %q, want %d %q", rep.status, firstLine(rep.body), tc.wantStatus, tc.wantBody)
			}
			if tc.wantStatus == 503 && !strings.Contains(rep.body, haproxycfg.NotAvailableTitle) {
				t.Errorf("503 body lacks %q: %q", haproxycfg.NotAvailableTitle, rep.body)
			}
			if rep.peerCN != tc.wantCN {
				t.Errorf("certificate %q, want %q", rep.peerCN, tc.wantCN)
			}
			for k, v := range tc.wantHeader {
				if got := rep.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestRouteLifecycle adds, scales, replaces and removes a route and
// reports how long each change takes to reach clients.
func TestRouteLifecycle(t *testing.T) {
	h := startHarness(t, 100*time.Millisecond)
	first, second := startBackend(t, "v1"), startBackend(t, "v2")
	url := "http://life.apps.test/"
	r := plainRoute("shop", "life", "life.apps.test", first)

	steps := []struct {
		name       string
		route      *route.Route // nil removes the route
		wantChange Change
		wantStatus int
		wantBody   string
	}{
		{"add", &r, ChangeReload, 200, "v1"},
		{"replace endpoint", withEndpoints(r, second), ChangeRuntime, 200, "v2"},
		{"no endpoints", withEndpoints(r), ChangeRuntime, 503, "<!DOCTYPE html>"},
		{"endpoint back", withEndpoints(r, first), ChangeRuntime, 200, "v1"},
		{"remove", nil, ChangeReload, 503, "<!DOCTYPE html>"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			var routes []route.Route
			if step.route != nil {
				routes = append(routes, *step.route)
			}
			start := time.Now()
			out := h.apply(routes...)
			if out.Change != step.wantChange {
				t.Errorf("change %s, want %s", out.Change, step.wantChange)
			}
			eventually(t, 10*time.Second, func() error { return h.expect(h.httpClient, url, step.wantStatus, step.wantBody) })
			t.Logf("%s: live %s after Apply (%s)", step.name, time.Since(start).Round(100*time.Microsecond), out.Change)
		})
	}
}

func withEndpoints(r route.Route, backends ...*backendServer) *route.Route {
	r.Backends = []route.Backend{{Name: r.Backends[0].Name, Endpoints: endpointsOf(backends...)}}
	return &r
}

// TestScaleWithinSlotsAvoidsReload scales 1→4→1 through the runtime API,
// then to 5, which outgrows the four slots and reloads.
func TestScaleWithinSlotsAvoidsReload(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	var pods []*backendServer
	for i := range 5 {
		pods = append(pods, startBackend(t, fmt.Sprintf("pod-%d", i)))
	}
	r := plainRoute("shop", "scale", "scale.apps.test", pods[0])
	h.apply(r)
	h.flush()
	tests := []struct {
		name       string
		pods       int
		wantChange Change
	}{
		{"up to four", 4, ChangeRuntime},
		{"down to one", 1, ChangeRuntime},
		{"up to five outgrows the slots", 5, ChangeReload},
		{"down to two", 2, ChangeRuntime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := h.apply(*withEndpoints(r, pods[:tc.pods]...))
			if out.Change != tc.wantChange {
				t.Errorf("change %s, want %s", out.Change, tc.wantChange)
			}
			want := map[string]bool{}
			for _, p := range pods[:tc.pods] {
				want[p.name] = true
			}
			eventually(t, 10*time.Second, func() error {
				seen := map[string]bool{}
				for range 4 * tc.pods {
					rep, err := h.get(h.httpClient, "http://scale.apps.test/")
					if err != nil {
						return err
					}
					if !want[rep.body] {
						return fmt.Errorf("answer from %q, not one of %v", rep.body, want)
					}
					seen[rep.body] = true
				}
				if len(seen) != tc.pods {
					return fmt.Errorf("saw %v, want all of %v", seen, want)
				}
				return nil
			})
		})
	}
}

func TestStickySession(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	pods := []*backendServer{startBackend(t, "s1"), startBackend(t, "s2"), startBackend(t, "s3")}
	r := plainRoute("shop", "sticky", "sticky.apps.test", pods...)
	r.Sticky = true
	h.apply(r)
	h.flush()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	sticky := h.client(nil, false)
	sticky.Jar = jar
	tests := []struct {
		name     string
		client   *http.Client
		wantPods int
	}{
		{"with the cookie one pod answers", sticky, 1},
		{"without cookies all pods answer", h.httpClient, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]int{}
			for range 30 {
				rep, err := h.get(tc.client, "http://sticky.apps.test/")
				if err != nil || rep.status != 200 {
					t.Fatalf("%v %d", err, rep.status)
				}
				seen[rep.body]++
			}
			if len(seen) != tc.wantPods {
				t.Errorf("answers %v, want %d pods", seen, tc.wantPods)
			}
		})
	}
}

func TestWeightedBackends(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	main, canary, idle := startBackend(t, "main"), startBackend(t, "canary"), startBackend(t, "idle")
	r := route.Route{Project: "shop", Name: "split", Host: "split.apps.test", Backends: []route.Backend{
		{Name: "main", Weight: route.Weight(75), Endpoints: endpointsOf(main)},
		{Name: "canary", Weight: route.Weight(25), Endpoints: endpointsOf(canary)},
		{Name: "idle", Weight: route.Weight(0), Endpoints: endpointsOf(idle)},
	}}
	h.apply(r)
	h.flush()
	tests := []struct {
		name  string
		route route.Route
		want  map[string]float64
	}{
		{"75/25", r, map[string]float64{"main": 0.75, "canary": 0.25}},
		{"weights changed at runtime to 50/50", func() route.Route {
			r := r
			r.Backends = []route.Backend{
				{Name: "main", Weight: route.Weight(50), Endpoints: endpointsOf(main)},
				{Name: "canary", Weight: route.Weight(50), Endpoints: endpointsOf(canary)},
				{Name: "idle", Weight: route.Weight(0), Endpoints: endpointsOf(idle)},
			}
			return r
		}(), map[string]float64{"main": 0.5, "canary": 0.5}},
	}
	const n = 400
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out := h.apply(tc.route); out.Change == ChangeReload {
				t.Errorf("weight change needed a reload")
			}
			seen := map[string]int{}
			for range n {
				rep, err := h.get(h.httpClient, "http://split.apps.test/")
				if err != nil || rep.status != 200 {
					t.Fatalf("%v %d", err, rep.status)
				}
				seen[rep.body]++
			}
			for name, share := range tc.want {
				got := float64(seen[name]) / n
				if got < share-0.05 || got > share+0.05 {
					t.Errorf("%s got %.2f of %d requests, want %.2f±0.05 (all: %v)", name, got, n, share, seen)
				}
			}
			if seen["idle"] != 0 {
				t.Errorf("weight-0 backend got %d requests", seen["idle"])
			}
		})
	}
}

// TestMetricsPerRoute reads per-route figures from HAProxy's Prometheus
// exporter, which answers only with the stats credentials.
func TestMetricsPerRoute(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	r := plainRoute("shop", "counted", "counted.apps.test", startBackend(t, "v1"))
	h.apply(r)
	eventually(t, 10*time.Second, func() error { return h.expect(h.httpClient, "http://counted.apps.test/", 200, "v1") })
	for range 4 {
		if err := h.expect(h.httpClient, "http://counted.apps.test/", 200, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path, user, password string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+h.metrics+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/metrics", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	if code, _ := get("/stats", statsUser, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("/stats with a wrong password: %d, want 401", code)
	}
	// At least the five requests above (the first wait may add more). A
	// worker counts a request when it ends the stream, which may come a
	// moment after the client has read the answer: poll.
	re := regexp.MustCompile(`haproxy_backend_http_responses_total\{proxy="be_http_shop_counted",code="2xx"\} (\d+)`)
	var body string
	eventually(t, 10*time.Second, func() error {
		var code int
		code, body = get("/metrics", statsUser, statsPassword)
		m := re.FindStringSubmatch(body)
		if code != 200 || m == nil {
			return fmt.Errorf("/metrics: %d, no 2xx counter for the route in:\n%.2000s", code, body)
		}
		if n, _ := strconv.Atoi(m[1]); n < 5 {
			return fmt.Errorf("2xx responses of the route = %d, want ≥ 5", n)
		}
		return nil
	})
	if !strings.Contains(body, `haproxy_backend_response_time_average_seconds{proxy="be_http_shop_counted"}`) {
		t.Fatal("/metrics has no response time of the route")
	}
	if code, body := get("/stats", statsUser, statsPassword); code != 200 || !strings.Contains(body, "be_http_shop_counted") {
		t.Fatalf("/stats: %d", code)
	}
}

// TestAllowListAndRateLimit: a route admitting other networks refuses this
// client with 403; a rate-limited route answers 429 past its budget.
func TestAllowListAndRateLimit(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	backend := startBackend(t, "v1")
	closed := plainRoute("shop", "closed", "closed.apps.test", backend)
	closed.AllowedSources = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	open := plainRoute("shop", "open", "open.apps.test", backend)
	open.AllowedSources = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("127.0.0.0/8")}
	limited := plainRoute("shop", "limited", "limited.apps.test", backend)
	limited.RateLimit = 1 // 10 requests per 10 s
	h.apply(closed, open, limited)
	eventually(t, 10*time.Second, func() error { return h.expect(h.httpClient, "http://open.apps.test/", 200, "v1") })
	if err := h.expect(h.httpClient, "http://closed.apps.test/", 403, ""); err != nil {
		t.Fatalf("a client outside the allow-list: %v", err)
	}
	codes := map[int]int{}
	for range 15 {
		rep, err := h.get(h.httpClient, "http://limited.apps.test/")
		if err != nil {
			t.Fatal(err)
		}
		codes[rep.status]++
	}
	if codes[200] != 10 || codes[429] != 5 {
		t.Fatalf("15 requests at a 1 rps (10 per 10 s) limit: %v, want 10×200 and 5×429", codes)
	}
}
