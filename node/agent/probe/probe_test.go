package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/slipway/slipway/api"
)

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	port := int32(addr.Port())
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	target := Target{IP: addr.Addr(), Ports: []api.ContainerPort{{Name: "http", ContainerPort: port}},
		Exec: func(_ context.Context, cmd []string) (int, error) {
			if cmd[0] == "broken" {
				return 0, errors.New("no such container")
			}
			return len(cmd) - 1, nil
		}}
	tests := []struct {
		name string
		p    api.Probe
		ok   bool
	}{
		{"http 200", api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/ok", Port: api.FromInt(port)}}, true},
		{"http named port", api.Probe{HTTPGet: &api.HTTPGetAction{Path: "ok", Port: api.FromString("http")}}, true},
		{"http redirect is success", api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/redirect", Port: api.FromInt(port)}}, true},
		{"http 503", api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/bad", Port: api.FromInt(port)}}, false},
		{"http unknown port name", api.Probe{HTTPGet: &api.HTTPGetAction{Port: api.FromString("nope")}}, false},
		{"tcp open", api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(port)}}, true},
		{"tcp closed", api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(int32(closedPort))}}, false},
		{"exec 0", api.Probe{Exec: &api.ExecAction{Command: []string{"true"}}}, true},
		{"exec 1", api.Probe{Exec: &api.ExecAction{Command: []string{"false", "x"}}}, false},
		{"exec error", api.Probe{Exec: &api.ExecAction{Command: []string{"broken"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(context.Background(), &tc.p, target)
			if (err == nil) != tc.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRunThresholds(t *testing.T) {
	results := []bool{false, true, true, false, false, false, true}
	i := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := Target{Exec: func(context.Context, []string) (int, error) {
		if i >= len(results) {
			cancel()
			return 0, nil
		}
		r := results[i]
		i++
		if r {
			return 0, nil
		}
		return 1, nil
	}}
	var got []bool
	p := &api.Probe{Exec: &api.ExecAction{Command: []string{"x"}}, PeriodSeconds: 0, SuccessThreshold: 2, FailureThreshold: 2}
	loop(ctx, p, target, 0, func(ok bool, _ error) { got = append(got, ok) })
	// Successes at 2 and 3 → true; failures at 4,5 → false; the sixth adds nothing.
	if len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("reports %v, want [true false]", got)
	}
}
