package node

import (
	"net/netip"
	"testing"
)

func TestResolvConf(t *testing.T) {
	host := []byte("# from DHCP\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver 10.128.0.2\nnameserver fd00::1\nnameserver 192.0.2.3\noptions edns0\n")
	got := string(resolvConf("shop", netip.MustParseAddr("10.128.0.2"), host))
	want := "# Written by Slipway's node for this pod.\n" +
		"search shop.svc svc\n" +
		"nameserver 10.128.0.2\n" +
		"nameserver 192.0.2.1\n" +
		"nameserver fd00::1\n" +
		"options ndots:2 timeout:1 attempts:2\n"
	if got != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, want)
	}
	if got := string(resolvConf("shop", netip.MustParseAddr("10.128.0.2"), nil)); got != "# Written by Slipway's node for this pod.\nsearch shop.svc svc\nnameserver 10.128.0.2\noptions ndots:2 timeout:1 attempts:2\n" {
		t.Errorf("without host resolvers:\n%s", got)
	}
}
