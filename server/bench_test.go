package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/store/pgserver"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	// runs makes object names unique across the repeated runs of a benchmark.
	runs atomic.Int64
)

// benchServer runs the real API server (TLS, metrics, store) over a private
// PostgreSQL with fsync on, as `slipway up` does.
func benchServer(b *testing.B) *server.Server {
	b.Helper()
	dir, err := os.MkdirTemp("", "slipway-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	pg, err := pgserver.Start(context.Background(), pgserver.Config{Dir: filepath.Join(dir, "postgres"), Logger: quiet})
	if err != nil {
		testpeer.Missing(b, "PostgreSQL 15", err)
	}
	b.Cleanup(func() { _ = pg.Stop(context.Background()) })
	srv, err := server.Start(context.Background(), server.Config{
		Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: pg.DSN(), Logger: quiet, BootstrapPassword: benchPassword,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

const benchPassword = "bench-admin-password"

// adminToken logs in as the bootstrap admin, once per server.
func adminToken(b *testing.B, srv *server.Server) string {
	b.Helper()
	if t, ok := tokens.Load(srv); ok {
		return t.(string)
	}
	anon, err := client.New(client.Config{Server: srv.URL(), CAFile: srv.CAFile()})
	if err != nil {
		b.Fatal(err)
	}
	var res struct{ Token string }
	body := []byte(`{"username":"admin","password":"` + benchPassword + `"}`)
	if err := anon.Do(context.Background(), "POST", "/auth/login", "application/json", body, &res); err != nil {
		b.Fatal(err)
	}
	tokens.Store(srv, res.Token)
	return res.Token
}

var tokens sync.Map // *server.Server → admin token

// http1Client is one client with its own keep-alive HTTP/1.1 connections.
func http1Client(b *testing.B, srv *server.Server) *client.Client {
	return benchClient(b, srv, false)
}

// http2Client multiplexes its requests over HTTP/2 connections, as browsers
// and the default Go client do (a connection carries up to 250 streams).
func http2Client(b *testing.B, srv *server.Server) *client.Client {
	return benchClient(b, srv, true)
}

func benchClient(b *testing.B, srv *server.Server, h2 bool) *client.Client {
	b.Helper()
	pem, err := os.ReadFile(srv.CAFile())
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1
		MaxIdleConnsPerHost: 4,
	}
	if h2 {
		tr.TLSNextProto = nil
		tr.ForceAttemptHTTP2 = true
	}
	b.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(client.Config{Server: srv.URL(), HTTPClient: &http.Client{Transport: tr}, Token: adminToken(b, srv)})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// objectName finds metadata.name cheaply: in the server's encoding it is
// the first "name" member (kind and apiVersion come before metadata).
func objectName(obj []byte) string {
	const key = `"name":"`
	i := bytes.Index(obj, []byte(key))
	if i < 0 {
		return ""
	}
	rest := obj[i+len(key):]
	return string(rest[:max(0, bytes.IndexByte(rest, '"'))])
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func report(b *testing.B, latencies []time.Duration) {
	slices.Sort(latencies)
	b.ReportMetric(float64(percentile(latencies, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(latencies, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkCreate measures API create throughput and latency with 1, 8 and
// 32 concurrent clients, each with its own connection: b.N creates of
// config maps in all (run with e.g. -benchtime 20000x), through
// authentication, authorisation, validation and the store. Clients and
// server share the machine.
func BenchmarkCreate(b *testing.B) {
	srv := benchServer(b)
	cat := api.NewCatalogue()
	res, _ := cat.Lookup("configmaps")
	projects, _ := cat.Lookup("projects")
	if err := http1Client(b, srv).Create(context.Background(), projects, "", []byte(`{"metadata":{"name":"bench"}}`), nil); err != nil {
		b.Fatal(err)
	}
	for _, clients := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			cs := make([]*client.Client, clients)
			for i := range cs {
				cs[i] = http1Client(b, srv)
				// Warm the connection.
				if err := cs[i].Get(context.Background(), res, "bench", "none", nil); err != nil && !strings.Contains(err.Error(), "not found") {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			run := runs.Add(1)
			lat := make([][]time.Duration, clients)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					body := []byte(nil)
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						body = fmt.Appendf(body[:0], `{"metadata":{"name":"c%d-%d","labels":{"bench":"create"}},"data":{"key":"value %d"}}`, run, n, n)
						t0 := time.Now()
						if err := cs[i].Create(context.Background(), res, "bench", body, nil); err != nil {
							b.Error(err)
							return
						}
						lat[i] = append(lat[i], time.Since(t0))
					}
				}(i)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
			report(b, slices.Concat(lat...))
		})
	}
}

// BenchmarkWatchDelivery measures the latency from the start of a create to
// its event arriving at each of 1, 100 and 1,000 watchers (each its own
// watch stream, multiplexed over HTTP/2 connections), with b.N creates paced
// at 100 per second (run with e.g. -benchtime 300x).
func BenchmarkWatchDelivery(b *testing.B) {
	srv := benchServer(b)
	cat := api.NewCatalogue()
	res, _ := cat.Lookup("configmaps")
	projects, _ := cat.Lookup("projects")
	writer := http1Client(b, srv)
	if err := writer.Create(context.Background(), projects, "", []byte(`{"metadata":{"name":"bench"}}`), nil); err != nil {
		b.Fatal(err)
	}
	for _, watchers := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var sent sync.Map // name → time the create started
			run := runs.Add(1)
			var rv string
			var list api.List[api.ConfigMap]
			if err := writer.List(ctx, res, "bench", api.ListOptions{Limit: 1}, &list); err != nil {
				b.Fatal(err)
			}
			rv = list.Metadata.ResourceVersion
			lat := make([][]time.Duration, watchers)
			var wg sync.WaitGroup
			var ready sync.WaitGroup
			c := http2Client(b, srv)
			for i := 0; i < watchers; i++ {
				w, err := c.Watch(ctx, res, "bench", api.ListOptions{ResourceVersion: rv})
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				ready.Add(1)
				go func(i int, w *client.Watcher) {
					defer wg.Done()
					defer w.Close()
					ready.Done()
					for len(lat[i]) < b.N {
						ev, err := w.Next()
						if err != nil {
							if ctx.Err() == nil {
								b.Errorf("watcher %d: %v", i, err)
							}
							return
						}
						if ev.Type == api.Bookmark {
							continue
						}
						if t0, ok := sent.Load(objectName(ev.Object)); ok {
							lat[i] = append(lat[i], time.Since(t0.(time.Time)))
						}
					}
				}(i, w)
			}
			ready.Wait()
			b.ResetTimer()
			tick := time.NewTicker(10 * time.Millisecond)
			for n := 0; n < b.N; n++ {
				<-tick.C
				name := fmt.Sprintf("w%d-%d", run, n)
				sent.Store(name, time.Now())
				if err := writer.Create(ctx, res, "bench", map[string]any{"metadata": map[string]any{"name": name}}, nil); err != nil {
					b.Fatal(err)
				}
			}
			tick.Stop()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				b.Fatal("watchers did not receive every event within 60 s")
			}
			b.StopTimer()
			report(b, slices.Concat(lat...))
		})
	}
}

// BenchmarkLogin measures password logins per second (bcrypt cost 10,
// then a token write) from 8 concurrent clients: b.N logins in all.
func BenchmarkLogin(b *testing.B) {
	srv := benchServer(b)
	anon := http1Client(b, srv)
	body := []byte(`{"username":"admin","password":"` + benchPassword + `"}`)
	var next atomic.Int64
	lat := make([][]time.Duration, 8)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range lat {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := anon.Do(context.Background(), "POST", "/auth/login", "application/json", body, nil); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	report(b, slices.Concat(lat...))
}
