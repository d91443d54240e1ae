package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
)

// `slipway up` runs a router: a route created through the API is served at
// its default host over HTTP, and over HTTPS with the apps domain's
// wildcard certificate from the cluster CA.
func TestUpServesRoutes(t *testing.T) {
	ctx := context.Background()
	up := startUp(t, dataDir(t), "--no-node")
	c := up.client(t)
	cat := api.NewCatalogue()
	lookup := func(plural string) *api.Resource {
		r, ok := cat.Lookup(plural)
		if !ok {
			t.Fatalf("no resource %s", plural)
		}
		return r
	}

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from shop, path %s", r.URL.Path)
	}))
	defer backend.Close()
	backendPort, _ := strconv.Atoi(backend.URL[strings.LastIndex(backend.URL, ":")+1:])

	if err := c.Create(ctx, lookup("projects"), "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	// A service without a selector whose endpoints name the test's server.
	svc := api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{
		Ports: []api.ServicePort{{Name: "http", Port: 80}}}}
	if err := c.Create(ctx, lookup("services"), "shop", svc, nil); err != nil {
		t.Fatal(err)
	}
	eps := api.Endpoints{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.EndpointsSpec{Subsets: []api.EndpointSubset{{
		Addresses: []api.EndpointAddress{{IP: "127.0.0.1"}},
		Ports:     []api.EndpointPort{{Name: "http", Port: int32(backendPort)}}}}}}
	if err := c.Create(ctx, lookup("endpoints"), "shop", eps, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []api.Route{
		{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.RouteSpec{To: api.RouteTargetReference{Kind: "Service", Name: "web"}}},
		{Metadata: api.ObjectMeta{Name: "secure"}, Spec: api.RouteSpec{To: api.RouteTargetReference{Kind: "Service", Name: "web"},
			TLS: &api.TLSConfig{Termination: api.TLSTerminationEdge}}},
	} {
		if err := c.Create(ctx, lookup("routes"), "shop", r, nil); err != nil {
			t.Fatal(err)
		}
	}

	caPEM, err := os.ReadFile(up.ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	get := func(scheme string, port int, host string) error {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}}}
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s://127.0.0.1:%d/cart", scheme, port), nil)
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != "hello from shop, path /cart" {
			return fmt.Errorf("GET %s://%s = %d %q, %v", scheme, host, resp.StatusCode, body, err)
		}
		return nil
	}
	eventually(t, "the route serves over HTTP at its default host", func() error {
		return get("http", up.routerHTTP, "web-shop.apps.localhost")
	})
	eventually(t, "the edge route serves over HTTPS with the CA-signed wildcard certificate", func() error {
		return get("https", up.routerHTTPS, "secure-shop.apps.localhost")
	})
	var web api.Route
	if err := c.Get(ctx, lookup("routes"), "shop", "web", &web); err != nil {
		t.Fatal(err)
	}
	if len(web.Status.Ingress) != 1 || web.Status.Ingress[0].Host != "web-shop.apps.localhost" {
		t.Fatalf("route status: %+v", web.Status)
	}
	up.stop(t)
}
