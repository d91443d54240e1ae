package router

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/router/route"
)

// serverStates returns HAProxy's operational state of each server of a
// backend by address ("ip:port" → "UP" or "DOWN"), from "show servers state".
func (h *harness) serverStates(t *testing.T, backend string) map[string]string {
	t.Helper()
	out, err := h.runtime.Do(t.Context(), "show servers state "+backend)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "# ") {
		t.Fatalf("show servers state %s: %q", backend, out)
	}
	column := map[string]int{}
	for i, name := range strings.Fields(strings.TrimPrefix(lines[1], "# ")) {
		column[name] = i
	}
	states := map[string]string{}
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) <= column["srv_port"] {
			continue
		}
		state := "DOWN"
		if f[column["srv_op_state"]] == "2" { // SRV_ST_RUNNING
			state = "UP"
		}
		states[net.JoinHostPort(f[column["srv_addr"]], f[column["srv_port"]])] = state
	}
	return states
}

// TestFailedServerLeavesRotation: a server whose connection fails under
// traffic (a pod that died, or one on a lost node) is taken out at once
// instead of costing a retry on every other request until the endpoints
// change, and is back in rotation once it answers again.
func TestFailedServerLeavesRotation(t *testing.T) {
	h := startHarness(t, 50*time.Millisecond)
	good := startBackend(t, "good")
	deadPort := freePort(t) // nothing listens there: connections are refused
	deadAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(deadPort))
	r := plainRoute("shop", "health", "health.apps.test", good)
	r.Backends[0].Endpoints = append(r.Backends[0].Endpoints, route.Endpoint{Name: "dead", IP: "127.0.0.1", Port: deadPort})
	h.apply(r)
	h.flush()
	const backend = "be_http_shop_health"
	for range 10 {
		if err := h.expect(h.httpClient, "http://health.apps.test/", 200, "good"); err != nil {
			t.Fatalf("with one server refusing connections: %v", err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if st := h.serverStates(t, backend)[deadAddr]; st != "DOWN" {
			return fmt.Errorf("the refusing server is %q, want DOWN", st)
		}
		return nil
	})
	if st := h.serverStates(t, backend)[good.srv.Listener.Addr().String()]; st != "UP" {
		t.Fatalf("the answering server is %q, want UP", st)
	}

	// The dead endpoint answers again: health checks bring it back.
	l, err := net.Listen("tcp", deadAddr)
	if err != nil {
		t.Fatal(err)
	}
	revived := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "revived") }))
	revived.Listener.Close()
	revived.Listener = l
	revived.Start()
	t.Cleanup(revived.Close)
	eventually(t, 10*time.Second, func() error {
		rep, err := h.get(h.httpClient, "http://health.apps.test/")
		if err != nil {
			return err
		}
		if rep.body != "revived" {
			return fmt.Errorf("answer from %q", rep.body)
		}
		return nil
	})
}
