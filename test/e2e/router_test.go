package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testpeer"
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

	// The router's per-route metrics, behind its stats password.
	password, err := os.ReadFile(filepath.Join(up.data, "router", "haproxy", "stats-password"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", up.routerMetrics), nil)
	req.SetBasicAuth("stats", strings.TrimSpace(string(password)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(metrics), `haproxy_backend_http_responses_total{proxy="be_http_shop_web",code="2xx"}`) {
		t.Fatalf("router /metrics: %d, no counter of route shop/web", resp.StatusCode)
	}

	// The router controller's own metrics are on the API's /metrics.
	eventually(t, "router controller metrics on the API's /metrics", func() error {
		body, err := c.Stream(ctx, "GET", "/metrics", "", nil)
		if err != nil {
			return err
		}
		defer body.Close()
		text, err := io.ReadAll(body)
		if err != nil || !strings.Contains(string(text), `slipway_router_routes{router="default",state="admitted"} 2`) {
			return fmt.Errorf("no admitted-routes gauge of 2 in /metrics (%d bytes, %v)", len(text), err)
		}
		return nil
	})

	// A second router (`slipway router`) serves only its shard's routes
	// (route labelled shard=b, in a project labelled tier=gold) and reports
	// them under its own name.
	shard := api.Route{Metadata: api.ObjectMeta{Name: "b", Labels: map[string]string{"shard": "b"}},
		Spec: api.RouteSpec{To: api.RouteTargetReference{Kind: "Service", Name: "web"}}}
	if err := c.Create(ctx, lookup("routes"), "shop", shard, nil); err != nil {
		t.Fatal(err)
	}
	httpPort, httpsPort := freeLoopbackPort(t), freeLoopbackPort(t)
	stopShard := startShardRouter(t, up, "--name", "shard-b", "--route-selector", "shard=b", "--project-selector", "tier=gold",
		"--address", "127.0.0.1", "--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(httpsPort))
	// Only once its project joins the shard.
	eventually(t, "the shard router answers", func() error {
		if err := get("http", httpPort, "b-shop.apps.localhost"); err == nil || !strings.Contains(err.Error(), "= 503") {
			return fmt.Errorf("want 503 while the project is outside the shard: %v", err)
		}
		return nil
	})
	if err := c.Patch(ctx, lookup("projects"), "", "shop", []byte(`{"metadata":{"labels":{"tier":"gold"}}}`), false, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shard router serves its route", func() error {
		return get("http", httpPort, "b-shop.apps.localhost")
	})
	if err := get("http", httpPort, "web-shop.apps.localhost"); err == nil || !strings.Contains(err.Error(), "= 503") {
		t.Fatalf("the shard router serves a route outside its shard: %v", err)
	}
	eventually(t, "route b admitted by both routers", func() error {
		var b api.Route
		if err := c.Get(ctx, lookup("routes"), "shop", "b", &b); err != nil {
			return err
		}
		names := map[string]bool{}
		for _, in := range b.Status.Ingress {
			names[in.RouterName] = true
		}
		if len(names) != 2 || !names["default"] || !names["shard-b"] {
			return fmt.Errorf("status.ingress %+v", b.Status.Ingress)
		}
		return nil
	})
	// Relabelled out of the shard: the shard router stops serving it and
	// withdraws its status entry.
	if err := c.Patch(ctx, lookup("routes"), "shop", "b", []byte(`{"metadata":{"labels":{"shard":"c"}}}`), false, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "route b left shard-b", func() error {
		if err := get("http", httpPort, "b-shop.apps.localhost"); err == nil || !strings.Contains(err.Error(), "= 503") {
			return fmt.Errorf("the shard router still serves it: %v", err)
		}
		var b api.Route
		if err := c.Get(ctx, lookup("routes"), "shop", "b", &b); err != nil {
			return err
		}
		if len(b.Status.Ingress) != 1 || b.Status.Ingress[0].RouterName != "default" {
			return fmt.Errorf("status.ingress %+v, want only the default router's", b.Status.Ingress)
		}
		return nil
	})
	stopShard()
	up.stop(t)
}

// startShardRouter runs `slipway router` against up as the admin, with a
// self-signed default certificate; the returned func stops it and requires
// a clean exit.
func startShardRouter(t *testing.T, up *upProcess, flags ...string) func() {
	t.Helper()
	dir, err := os.MkdirTemp("", "rt-") // short: HAProxy's unix sockets live here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	certFile := filepath.Join(dir, "default.pem")
	if err := os.WriteFile(certFile, selfSignedPEM(t, "*.apps.localhost"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"router", "--server", up.url, "--certificate-authority", up.ca, "--token", up.token(t),
		"--default-certificate", certFile, "--data-dir", filepath.Join(dir, "h"), "--metrics-listen", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(binary(t, "slipway"), args...)
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("slipway router exited with %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("slipway router did not stop within 30 s\n%s", stderr.String())
		}
	}
}

func selfSignedPEM(t *testing.T, host string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
}

func freeLoopbackPort(t *testing.T) int { return testpeer.FreePort(t) }
