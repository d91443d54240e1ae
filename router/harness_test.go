package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/router/haproxy"
	"github.com/slipway/slipway/router/internal/testcert"
	"github.com/slipway/slipway/router/route"
)

// harness is a Router on loopback ports chosen at run time, and clients
// that reach it by host name.
type harness struct {
	t          testing.TB
	router     *Router
	ca         *testcert.CA
	httpPort   int
	httpsPort  int
	metrics    string // host:port of /metrics and /stats
	defaultCN  string
	httpClient *http.Client
	runtime    haproxy.Runtime // the current worker's admin socket
}

func freePort(t testing.TB) int { return testpeer.FreePort(t) }

// startHarness starts a router on loopback ports; adjust changes its options
// before the start.
func startHarness(t testing.TB, minReload time.Duration, adjust ...func(*Options)) *harness {
	t.Helper()
	bin := testpeer.RequireBinary(t, "haproxy", "haproxy")
	h := &harness{t: t, ca: testcert.NewCA(t, "router test CA"), httpPort: freePort(t), httpsPort: freePort(t), defaultCN: "*.apps.test"}
	h.metrics = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	def := h.ca.Issue(t, h.defaultCN)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := Options{
		Dir: t.TempDir(), Binary: bin, BindAddress: "127.0.0.1", HTTPPort: h.httpPort, HTTPSPort: h.httpsPort,
		DefaultCertificate: def.CertPEM + def.KeyPEM, MinReloadInterval: minReload,
		HardStopAfter: 5 * time.Second,
		MetricsBind:   h.metrics, StatsUser: statsUser, StatsPassword: statsPassword,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, f := range adjust {
		f(&opts)
	}
	h.runtime = haproxy.Runtime{Socket: filepath.Join(opts.Dir, runtimeSocket)}
	r, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.router = r
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop router: %v", err)
		}
	})
	h.httpClient = h.client(nil, false)
	return h
}

// The harness's credentials for /metrics and /stats.
const statsUser, statsPassword = "stats", "s3cret-stats"

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client dials the router whatever the URL's host, so URLs carry the
// route's host name; roots verifies HTTPS (nil: the harness CA).
func (h *harness) client(roots *tls.Config, keepAlive bool) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			port := h.httpPort
			if strings.HasSuffix(addr, ":443") {
				port = h.httpsPort
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
		},
		TLSClientConfig:     &tls.Config{RootCAs: h.ca.Pool},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 16,
	}
	if roots != nil {
		tr.TLSClientConfig = roots
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (h *harness) apply(routes ...route.Route) Outcome {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.router.Apply(ctx, routes)
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return out
}

func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.router.Flush(ctx); err != nil {
		h.t.Fatalf("flush: %v", err)
	}
}

// reply is what a request through the router got.
type reply struct {
	status int
	body   string
	header http.Header
	peerCN string // common name of the certificate the client saw
}

func (h *harness) get(c *http.Client, url string) (reply, error) {
	resp, err := c.Get(url)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	rep := reply{status: resp.StatusCode, body: string(body), header: resp.Header}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		rep.peerCN = resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	return rep, nil
}

// eventually polls check every 5 ms until it returns nil or within passes,
// and returns how long it took (the benchmarks' latencies).
func eventually(t testing.TB, within time.Duration, check func() error) time.Duration {
	t.Helper()
	return testwait.Every(t, within, 5*time.Millisecond, "the router's answer", check)
}

// expect checks a reply: status, and body prefix when want is non-empty.
func (h *harness) expect(c *http.Client, url string, status int, body string) error {
	rep, err := h.get(c, url)
	if err != nil {
		return err
	}
	if rep.status != status || !strings.HasPrefix(rep.body, body) {
		return fmt.Errorf("GET %s = %d %q, want %d %q", url, rep.status, firstLine(rep.body), status, body)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// backendServer is an endpoint: it answers its name to every request.
type backendServer struct {
	name string
	srv  *httptest.Server
}

func startBackend(t testing.TB, name string) *backendServer {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return &backendServer{name: name, srv: srv}
}

// startTLSBackend answers its name over TLS with a certificate for names.
func startTLSBackend(t testing.TB, name string, leaf testcert.Leaf) *backendServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &backendServer{name: name, srv: srv}
}

func (b *backendServer) endpoint() route.Endpoint {
	addr := b.srv.Listener.Addr().(*net.TCPAddr)
	return route.Endpoint{Name: b.name, IP: addr.IP.String(), Port: addr.Port}
}

func endpointsOf(backends ...*backendServer) []route.Endpoint {
	var eps []route.Endpoint
	for _, b := range backends {
		eps = append(eps, b.endpoint())
	}
	return eps
}

func plainRoute(project, name, host string, backends ...*backendServer) route.Route {
	return route.Route{Project: project, Name: name, Host: host,
		Backends: []route.Backend{{Name: "web", Endpoints: endpointsOf(backends...)}}}
}

var errNotYet = errors.New("not yet")
