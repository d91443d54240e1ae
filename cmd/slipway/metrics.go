package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves a daemon's Prometheus metrics over plain HTTP (the
// convention of node-level exporters; bind it to a private address).
type metricsServer struct {
	addr net.Addr
	reg  *prometheus.Registry
	srv  *http.Server
	done chan error
}

// serveMetrics listens on addr and serves /metrics with the Go and process
// collectors plus whatever the daemon registers on Registry.
func serveMetrics(addr string, log *slog.Logger) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{addr: l.Addr(), reg: reg, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() {
		err := m.srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	log.Info("serving metrics", "address", l.Addr().String())
	return m, nil
}

// Registry receives the daemon's metrics.
func (m *metricsServer) Registry() prometheus.Registerer { return m.reg }

// Stop closes the listener and waits for the server to end.
func (m *metricsServer) Stop(ctx context.Context) error {
	return errors.Join(m.srv.Shutdown(ctx), <-m.done)
}
