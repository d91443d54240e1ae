package router

import (
	"bufio"
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

// startEchoBackend upgrades every request to an echo of lines, as a
// websocket server upgrades to its own protocol.
func startEchoBackend(t testing.TB) *backendServer {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "echo") {
			http.Error(w, "upgrade to echo", http.StatusUpgradeRequired)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString("echo " + line)
			rw.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return &backendServer{name: "echo", srv: srv}
}

// tunnel is an upgraded connection through the router.
type tunnel struct {
	conn net.Conn
	r    *bufio.Reader
}

func (h *harness) openTunnel(t *testing.T, host string) (*tunnel, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.httpPort)), 5*time.Second)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", host)
	tn := &tunnel{conn: conn, r: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(tn.r, nil)
	if err != nil {
		return nil, fmt.Errorf("upgrade through the router: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("upgrade through the router: %s %s", resp.Status, firstLine(string(body)))
	}
	return tn, nil
}

// roundTrip sends a line and reads its echo.
func (tn *tunnel) roundTrip(msg string) error {
	tn.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tn.conn, msg+"\n"); err != nil {
		return fmt.Errorf("send %q: %w", msg, err)
	}
	got, err := tn.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("echo of %q: %w", msg, err)
	}
	if got != "echo "+msg+"\n" {
		return fmt.Errorf("echo of %q = %q", msg, got)
	}
	return nil
}

// TestLongLivedConnectionsOutliveReloads keeps an upgraded connection (as a
// websocket) open across reloads: the old worker goes on serving it, new
// connections go to the new worker, and the old worker leaves once its last
// connection has closed (well before hard-stop-after, a minute here).
func TestLongLivedConnectionsOutliveReloads(t *testing.T) {
	h := startHarness(t, 10*time.Millisecond, func(o *Options) { o.HardStopAfter = time.Minute })
	h.apply(plainRoute("shop", "chat", "chat.apps.test", startEchoBackend(t)))
	h.flush()
	var first *tunnel
	eventually(t, 10*time.Second, func() (err error) {
		if first, err = h.openTunnel(t, "chat.apps.test"); err != nil {
			return err
		}
		return first.roundTrip("hello")
	})

	routes := []route.Route{plainRoute("shop", "chat", "chat.apps.test", startEchoBackend(t))}
	for i := range 3 {
		routes = append(routes, plainRoute("shop", fmt.Sprintf("other-%d", i), fmt.Sprintf("other-%d.apps.test", i), startBackend(t, "other")))
		if out := h.apply(routes...); out.Change != ChangeReload {
			t.Fatalf("adding a route: %s, want a reload", out.Change)
		}
		h.flush()
		if err := first.roundTrip(fmt.Sprintf("after reload %d", i+1)); err != nil {
			t.Fatalf("the connection opened before reload %d: %v", i+1, err)
		}
		later, err := h.openTunnel(t, "chat.apps.test")
		if err == nil {
			err = later.roundTrip("new")
		}
		if err != nil {
			t.Fatalf("a connection opened after reload %d: %v", i+1, err)
		}
		later.conn.Close()
	}
	st, err := h.router.HAProxy().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.OldWorkers) == 0 {
		t.Fatalf("no old worker holds the first connection after three reloads: %+v", st)
	}

	first.conn.Close()
	eventually(t, 10*time.Second, func() error {
		st, err := h.router.HAProxy().Status(t.Context())
		if err != nil {
			return err
		}
		if len(st.OldWorkers) > 0 {
			return fmt.Errorf("old workers %v still run after their connections closed", st.OldWorkers)
		}
		return nil
	})
}
