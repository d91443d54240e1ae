package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestServeMetrics(t *testing.T) {
	m, err := serveMetrics("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "slipway_test_total", Help: "test"})
	m.Registry().MustRegister(c)
	c.Add(3)
	resp, err := http.Get("http://" + m.addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "slipway_test_total 3") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("/metrics:\n%.500s", body)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + m.addr.String() + "/metrics"); err == nil {
		t.Fatal("still serving after Stop")
	}
}
