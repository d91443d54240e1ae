package server

import (
	"net"
	"testing"
)

// A server listening on one specific address is reached there by its own
// components and clients; on every address or a loopback one, through
// localhost.
func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, "localhost:8443"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8443}, "localhost:8443"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8443}, "localhost:8443"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8443}, "localhost:8443"},
		{&net.TCPAddr{Port: 8443}, "localhost:8443"},
		{&net.TCPAddr{IP: net.IPv4(10, 251, 0, 1), Port: 40873}, "10.251.0.1:40873"},
		{&net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 8443}, "[fd00::1]:8443"},
	} {
		if got := hostPort(tc.addr); got != tc.want {
			t.Errorf("hostPort(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
