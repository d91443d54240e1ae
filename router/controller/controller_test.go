package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/router"
	"github.com/slipway/slipway/router/controller"
	"github.com/slipway/slipway/router/haproxycfg"
	"github.com/slipway/slipway/router/internal/testcert"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var cat = api.NewCatalogue()

func mustLookup(t *testing.T, plural string) *api.Resource {
	t.Helper()
	r, ok := cat.Lookup(plural)
	if !ok {
		t.Fatalf("no resource %s", plural)
	}
	return r
}

func freePort(t *testing.T) int { return testpeer.FreePort(t) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// eventually polls check until it returns nil, for at most 30 s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what, check)
}

// TestRoutesThroughHAProxy runs a real API server, a real HAProxy router
// and the controller between them as the system:router service account,
// with a Go HTTP server as the endpoint of a selector-less service.
func TestRoutesThroughHAProxy(t *testing.T) {
	bin := testpeer.RequireBinary(t, "haproxy", "haproxy")
	env := servertest.Start(t, server.Config{BookmarkEvery: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))

	httpPort := freePort(t)
	def := testcert.NewCA(t, "router test CA").Issue(t, "*.apps.test")
	rt, err := router.Start(ctx, router.Options{Dir: t.TempDir(), Binary: bin, BindAddress: "127.0.0.1",
		HTTPPort: httpPort, HTTPSPort: freePort(t), MinReloadInterval: 50 * time.Millisecond,
		HardStopAfter: 5 * time.Second, DefaultCertificate: def.CertPEM + def.KeyPEM, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := rt.Stop(ctx); err != nil {
			t.Errorf("stop router: %v", err)
		}
	})

	token, err := env.Server.ServiceAccountToken(ctx, "slipway-system", "router", "system:router")
	if err != nil {
		t.Fatal(err)
	}
	c, err := controller.New(controller.Config{Client: env.Client(t, token), Router: rt, RouterName: "default",
		Domain: "apps.test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from web, path %s", r.URL.Path)
	}))
	defer backend.Close()
	backendPort, _ := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])

	admin := env.Admin
	projects, services, endpoints, routes := mustLookup(t, "projects"), mustLookup(t, "services"), mustLookup(t, "endpoints"), mustLookup(t, "routes")
	for _, p := range []string{"shop", "other"} {
		if err := admin.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": p}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	svc := api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{
		Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: ptr(api.FromInt(8080))}}}}
	if err := admin.Create(ctx, services, "shop", svc, nil); err != nil {
		t.Fatal(err)
	}
	eps := api.Endpoints{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.EndpointsSpec{Subsets: []api.EndpointSubset{{
		Addresses: []api.EndpointAddress{{IP: "127.0.0.1"}},
		Ports:     []api.EndpointPort{{Name: "http", Port: int32(backendPort)}}}}}}
	if err := admin.Create(ctx, endpoints, "shop", eps, nil); err != nil {
		t.Fatal(err)
	}
	web := api.Route{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.RouteSpec{
		To: api.RouteTargetReference{Kind: "Service", Name: "web"}, Port: &api.RoutePort{TargetPort: api.FromString("http")}}}
	if err := admin.Create(ctx, routes, "shop", web, nil); err != nil {
		t.Fatal(err)
	}

	get := func(host, path string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:"+strconv.Itoa(httpPort)+path, nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	// spec.host is empty: the route is served as <name>-<project>.<domain>.
	eventually(t, "the route serves the backend", func() error {
		code, body, err := get("web-shop.apps.test", "/cart")
		if err != nil || code != 200 || body != "hello from web, path /cart" {
			return fmt.Errorf("GET = %d %q, %v", code, body, err)
		}
		return nil
	})
	admitted := func(project, name string) (api.RouteIngress, error) {
		var r api.Route
		if err := admin.Get(ctx, routes, project, name, &r); err != nil {
			return api.RouteIngress{}, err
		}
		if len(r.Status.Ingress) != 1 || r.Status.Ingress[0].RouterName != "default" || len(r.Status.Ingress[0].Conditions) != 1 {
			return api.RouteIngress{}, fmt.Errorf("status %+v: want one ingress of router default with one condition", r.Status)
		}
		return r.Status.Ingress[0], nil
	}
	eventually(t, "shop/web admitted", func() error {
		in, err := admitted("shop", "web")
		if err != nil {
			return err
		}
		if c := in.Conditions[0]; in.Host != "web-shop.apps.test" || c.Type != api.RouteAdmitted || c.Status != "True" {
			return fmt.Errorf("ingress %+v", in)
		}
		return nil
	})

	// Another project claims the host: the older route keeps it.
	steal := api.Route{Metadata: api.ObjectMeta{Name: "steal"}, Spec: api.RouteSpec{Host: "web-shop.apps.test",
		To: api.RouteTargetReference{Name: "thief"}}}
	if err := admin.Create(ctx, routes, "other", steal, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "other/steal rejected", func() error {
		in, err := admitted("other", "steal")
		if err != nil {
			return err
		}
		c := in.Conditions[0]
		if c.Status != "False" || c.Reason != controller.ReasonHostAlreadyClaimed || !strings.Contains(c.Message, "belongs to project shop") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if in, err := admitted("shop", "web"); err != nil || in.Conditions[0].Status != "True" {
		t.Fatalf("shop/web after the conflict: %+v, %v", in, err)
	}
	if code, body, err := get("web-shop.apps.test", "/"); err != nil || code != 200 || !strings.HasPrefix(body, "hello from web") {
		t.Fatalf("GET after the conflict = %d %q, %v", code, body, err)
	}

	// The endpoints go: the route answers 503 with the "not available" page.
	if err := admin.Delete(ctx, endpoints, "shop", "web", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "503 without endpoints", func() error {
		code, body, err := get("web-shop.apps.test", "/")
		if err != nil || code != 503 || !strings.Contains(body, haproxycfg.NotAvailableTitle) {
			return fmt.Errorf("GET = %d %q, %v", code, body, err)
		}
		return nil
	})

	// Deleting the route takes the host off the router.
	if err := admin.Delete(ctx, routes, "shop", "web", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "other/steal admitted once shop/web is gone", func() error {
		in, err := admitted("other", "steal")
		if err != nil {
			return err
		}
		if in.Conditions[0].Status != "True" {
			return fmt.Errorf("condition %+v", in.Conditions[0])
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }
