package main

import (
	"strings"
	"testing"
)

func TestCheckEncapFlags(t *testing.T) {
	for _, c := range []struct {
		ip, iface, wantErr string
	}{
		{"", "", ""},
		{"10.251.1.2", "", ""},
		{"10.251.1.2/30", "", ""},
		{"10.251.1.2/30", "lo", ""},
		{"10.251.1.x", "", "--ovn-encap-ip"},
		{"10.251.1.2", "lo", "--ovn-encap-interface: needs --ovn-encap-ip ADDR/LEN"},
		{"", "lo", "--ovn-encap-interface: needs --ovn-encap-ip ADDR/LEN"},
		{"10.251.1.2/30", "slw-no-such0", `--ovn-encap-interface: no interface "slw-no-such0"`},
	} {
		err := checkEncapFlags(c.ip, c.iface)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("checkEncapFlags(%q, %q) = %v, want an error containing %q", c.ip, c.iface, err, c.wantErr)
		}
	}
}
