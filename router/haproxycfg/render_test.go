package haproxycfg

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/router/haproxy"
	"github.com/slipway/slipway/router/internal/testcert"
	"github.com/slipway/slipway/router/route"
)

func endpoints(ports ...int) []route.Endpoint {
	var eps []route.Endpoint
	for _, p := range ports {
		eps = append(eps, route.Endpoint{IP: "10.0.0.1", Port: p})
	}
	return eps
}

func plain(project, name, host string, ports ...int) route.Route {
	return route.Route{Project: project, Name: name, Host: host,
		Backends: []route.Backend{{Name: "web", Endpoints: endpoints(ports...)}}}
}

func testOptions(t testing.TB, dir string) Options {
	ca := testcert.NewCA(t, "test CA")
	leaf := ca.Issue(t, "*.apps.test")
	return Options{
		ConfDir: dir, RuntimeSocket: filepath.Join(dir, "admin.sock"), TLSSocket: filepath.Join(dir, "https.sock"),
		BindAddress: "127.0.0.1", HTTPPort: 18080, HTTPSPort: 18443,
		DefaultCertificate: leaf.CertPEM + leaf.KeyPEM,
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	ca := testcert.NewCA(t, "test CA")
	leaf := ca.Issue(t, "e.apps.test")
	var routes []route.Route
	for i := range 50 {
		r := plain("p", "r"+string(rune('a'+i%26))+string(rune('a'+i/26)), "h"+string(rune('a'+i%26))+string(rune('a'+i/26))+".apps.test", 8000+i, 9000+i)
		if i%5 == 0 {
			r.TLS = &route.TLS{Termination: route.TerminationEdge, Certificate: leaf.CertPEM, Key: leaf.KeyPEM}
		}
		routes = append(routes, r)
	}
	opts := testOptions(t, "/srv/router/conf-1")
	first, err := Render(routes, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		shuffled := slices.Clone(routes)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for i := range shuffled {
			slices.Reverse(shuffled[i].Backends[0].Endpoints)
		}
		again, err := Render(shuffled, opts)
		if err != nil {
			t.Fatal(err)
		}
		if again.Structure != first.Structure || len(again.Files) != len(first.Files) {
			t.Fatalf("structure differs for the same routes in another order")
		}
		for name, content := range first.Files {
			if string(again.Files[name]) != string(content) {
				t.Fatalf("file %s differs for the same routes in another order", name)
			}
		}
	}
}

func TestStructure(t *testing.T) {
	opts := testOptions(t, "/srv/router/conf-1")
	base := []route.Route{plain("p", "a", "a.apps.test", 8000), plain("p", "b", "b.apps.test", 8001)}
	tests := []struct {
		name      string
		change    func([]route.Route) []route.Route
		wantSame  bool
		wantSlots int // slots of be_http_p_a after the change
	}{
		{"endpoint added within slots", func(rs []route.Route) []route.Route {
			rs[0].Backends[0].Endpoints = endpoints(8000, 8002, 8003, 8004)
			return rs
		}, true, 4},
		{"endpoints replaced", func(rs []route.Route) []route.Route {
			rs[0].Backends[0].Endpoints = endpoints(9000)
			return rs
		}, true, 4},
		{"all endpoints gone", func(rs []route.Route) []route.Route {
			rs[0].Backends[0].Endpoints = nil
			return rs
		}, true, 4},
		{"weight changed", func(rs []route.Route) []route.Route {
			rs[0].Backends[0].Weight = route.Weight(7)
			return rs
		}, true, 4},
		{"endpoints outgrow slots", func(rs []route.Route) []route.Route {
			rs[0].Backends[0].Endpoints = endpoints(1, 2, 3, 4, 5)
			return rs
		}, false, 8},
		{"route added", func(rs []route.Route) []route.Route {
			return append(rs, plain("p", "c", "c.apps.test", 8005))
		}, false, 4},
		{"host changed", func(rs []route.Route) []route.Route {
			rs[1].Host = "bb.apps.test"
			return rs
		}, false, 4},
		{"sticky turned on", func(rs []route.Route) []route.Route {
			rs[1].Sticky = true
			return rs
		}, false, 4},
	}
	before, err := Render(base, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			routes := slices.Clone(base)
			for i := range routes {
				routes[i].Backends = slices.Clone(routes[i].Backends)
			}
			opts := opts
			opts.Previous = before.Slots
			after, err := Render(tc.change(routes), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := after.Structure == before.Structure; got != tc.wantSame {
				t.Errorf("same structure = %v, want %v", got, tc.wantSame)
			}
			if got := len(after.Slots["be_http_p_a"]); got != tc.wantSlots {
				t.Errorf("slots = %d, want %d", got, tc.wantSlots)
			}
		})
	}
}

func TestAssignSlots(t *testing.T) {
	addr := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port) }
	inUse := func(slots []Slot) []uint16 {
		var ports []uint16
		for _, s := range slots {
			ports = append(ports, s.Addr.Port())
		}
		return ports
	}
	tests := []struct {
		name     string
		previous []int
		current  []int
		want     []uint16 // port per slot, 0 = unused
	}{
		{"first render gets four slots", nil, []int{3, 1}, []uint16{1, 3, 0, 0}},
		{"endpoints keep their slots", []int{1, 3}, []int{3, 5, 1}, []uint16{1, 3, 5, 0}},
		{"a freed slot is reused", []int{1, 3, 5}, []int{5, 7}, []uint16{7, 0, 5, 0}},
		{"slots double when outgrown", []int{1, 2, 3, 4}, []int{1, 2, 3, 4, 5}, []uint16{1, 2, 3, 4, 5, 0, 0, 0}},
		{"slots never shrink", []int{1, 2, 3, 4, 5}, []int{9}, []uint16{9, 0, 0, 0, 0, 0, 0, 0}},
		{"nine endpoints take sixteen slots", nil, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var previous []Slot
			if tc.previous != nil {
				r := plain("p", "a", "a.apps.test", tc.previous...)
				previous = assignSlots(&r, nil)
			}
			r := plain("p", "a", "a.apps.test", tc.current...)
			got := assignSlots(&r, previous)
			if !slices.Equal(inUse(got), tc.want) {
				t.Errorf("slots hold ports %v, want %v", inUse(got), tc.want)
			}
			for i, s := range got {
				if s.InUse() && s.Weight != 256 {
					t.Errorf("slot %d weight %d, want 256", i, s.Weight)
				}
				if s.InUse() && s.Addr != addr(s.Addr.Port()) {
					t.Errorf("slot %d addr %v", i, s.Addr)
				}
			}
		})
	}
}

func TestServerWeights(t *testing.T) {
	tests := []struct {
		name     string
		backends []route.Backend
		want     map[string]int // service → weight of each of its servers
	}{
		{"one service", []route.Backend{{Name: "a", Endpoints: endpoints(1, 2)}}, map[string]int{"a": 256}},
		{"three to one", []route.Backend{
			{Name: "a", Weight: route.Weight(75), Endpoints: endpoints(1)},
			{Name: "b", Weight: route.Weight(25), Endpoints: endpoints(2)},
		}, map[string]int{"a": 256, "b": 85}},
		{"equal weights, endpoints share", []route.Backend{
			{Name: "a", Endpoints: endpoints(1)},
			{Name: "b", Endpoints: endpoints(2, 3)},
		}, map[string]int{"a": 256, "b": 128}},
		{"weight zero gets no traffic", []route.Backend{
			{Name: "a", Endpoints: endpoints(1)},
			{Name: "b", Weight: route.Weight(0), Endpoints: endpoints(2)},
		}, map[string]int{"a": 256, "b": 0}},
		{"tiny share is still one", []route.Backend{
			{Name: "a", Weight: route.Weight(256), Endpoints: endpoints(1)},
			{Name: "b", Weight: route.Weight(1), Endpoints: endpoints(2, 3, 4)},
		}, map[string]int{"a": 256, "b": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := route.Route{Project: "p", Name: "a", Host: "a.apps.test", Backends: tc.backends}
			for _, s := range assignSlots(&r, nil) {
				if s.InUse() && s.Weight != tc.want[s.Service] {
					t.Errorf("%s weight %d, want %d", s.Name, s.Weight, tc.want[s.Service])
				}
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	ca := testcert.NewCA(t, "test CA")
	leaf := ca.Issue(t, "x.apps.test")
	other := ca.Issue(t, "y.apps.test")
	older, newer := time.Unix(1000, 0), time.Unix(2000, 0)
	at := func(r route.Route, created time.Time) route.Route { r.Created = created; return r }
	withPath := func(r route.Route, path string) route.Route { r.Path = path; return r }
	withTLS := func(r route.Route, tls route.TLS) route.Route { r.TLS = &tls; return r }
	tests := []struct {
		name         string
		routes       []route.Route
		wantAdmitted []string
		wantErr      map[string]error
	}{
		{"oldest project keeps the host", []route.Route{
			at(plain("b", "web", "x.apps.test", 1), older),
			at(plain("a", "web", "x.apps.test", 1), newer),
		}, []string{"b/web"}, map[string]error{"a/web": route.ErrHostTaken}},
		{"within one second the incumbent keeps the host", []route.Route{
			at(plain("a", "web", "x.apps.test", 1), older),
			func() route.Route { r := at(plain("b", "web", "x.apps.test", 1), older); r.Incumbent = true; return r }(),
		}, []string{"b/web"}, map[string]error{"a/web": route.ErrHostTaken}},
		{"same project shares a host by path", []route.Route{
			plain("a", "web", "x.apps.test", 1),
			withPath(plain("a", "api", "x.apps.test", 1), "/api"),
		}, []string{"a/api", "a/web"}, nil},
		{"same host and path twice", []route.Route{
			plain("a", "one", "x.apps.test", 1),
			plain("a", "two", "x.apps.test", 1),
		}, []string{"a/one"}, map[string]error{"a/two": route.ErrHostTaken}},
		{"passthrough takes the host whole", []route.Route{
			at(withTLS(plain("a", "pt", "x.apps.test", 1), route.TLS{Termination: route.TerminationPassthrough}), older),
			at(withPath(plain("a", "api", "x.apps.test", 1), "/api"), newer),
		}, []string{"a/pt"}, map[string]error{"a/api": route.ErrHostTaken}},
		{"invalid routes", []route.Route{
			plain("a", "Upper", "x.apps.test", 1),
			plain("a", "badhost", "x_y.apps.test", 1),
			withPath(plain("a", "badpath", "x.apps.test", 1), "api"),
			withTLS(plain("a", "mismatch", "x.apps.test", 1), route.TLS{Termination: route.TerminationEdge, Certificate: leaf.CertPEM, Key: other.KeyPEM}),
			withTLS(plain("a", "garbage", "x.apps.test", 1), route.TLS{Termination: route.TerminationEdge, Certificate: "junk", Key: "junk"}),
			withTLS(plain("a", "ptallow", "x.apps.test", 1), route.TLS{Termination: route.TerminationPassthrough, InsecureEdgeTerminationPolicy: route.InsecureAllow}),
			{Project: "a", Name: "nobackend", Host: "x.apps.test"},
			plain("a", "badport", "x.apps.test", 70000),
		}, nil, map[string]error{
			"a/Upper": route.ErrInvalid, "a/badhost": route.ErrInvalid, "a/badpath": route.ErrInvalid,
			"a/mismatch": route.ErrInvalid, "a/garbage": route.ErrInvalid, "a/ptallow": route.ErrInvalid,
			"a/nobackend": route.ErrInvalid, "a/badport": route.ErrInvalid,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			admitted, rejected := route.Admit(tc.routes)
			var names []string
			for _, r := range admitted {
				names = append(names, r.Key())
			}
			if !slices.Equal(names, tc.wantAdmitted) {
				t.Errorf("admitted %v, want %v", names, tc.wantAdmitted)
			}
			if len(rejected) != len(tc.wantErr) {
				t.Errorf("rejected %v, want %d", rejected, len(tc.wantErr))
			}
			for _, rej := range rejected {
				if want := tc.wantErr[rej.Project+"/"+rej.Name]; !errors.Is(rej.Err, want) {
					t.Errorf("%s/%s rejected with %v, want %v", rej.Project, rej.Name, rej.Err, want)
				}
			}
		})
	}
}

// TestRenderedConfigIsValid feeds every kind of route to "haproxy -c".
func TestRenderedConfigIsValid(t *testing.T) {
	bin := testpeer.RequireBinary(t, "haproxy", "haproxy")
	ca := testcert.NewCA(t, "test CA")
	leaf := ca.Issue(t, "e.apps.test")
	dir := t.TempDir()
	opts := testOptions(t, dir)
	opts.Threads, opts.BusyPolling = 1, true // a router with a CPU of its own
	withTLS := func(r route.Route, tls route.TLS) route.Route { r.TLS = &tls; return r }
	edge := withTLS(plain("p", "edge", "e.apps.test", 1), route.TLS{Termination: route.TerminationEdge,
		Certificate: leaf.CertPEM, Key: leaf.KeyPEM, CACertificate: ca.PEM, InsecureEdgeTerminationPolicy: route.InsecureRedirect})
	edge.HSTS, edge.Sticky, edge.Timeout = "max-age=31536000", true, time.Minute
	edge.Backends = append(edge.Backends, route.Backend{Name: "canary", Weight: route.Weight(10), Endpoints: endpoints(2)})
	reencrypt := withTLS(plain("p", "re", "re.apps.test", 1), route.TLS{Termination: route.TerminationReencrypt, DestinationCACertificate: ca.PEM})
	reencrypt.Backends[0].Endpoints = []route.Endpoint{{IP: "::1", Port: 8443}}
	leastconn := plain("p", "lc", "lc.apps.test", 1)
	leastconn.Balance = route.BalanceLeastConn
	routes := []route.Route{
		plain("p", "plain", "a.apps.test", 1, 2, 3, 4, 5),
		edge, reencrypt, leastconn,
		withTLS(plain("p", "pt", "pt.apps.test", 1), route.TLS{Termination: route.TerminationPassthrough, InsecureEdgeTerminationPolicy: route.InsecureRedirect}),
		withTLS(plain("p", "noverify", "nv.apps.test", 1), route.TLS{Termination: route.TerminationReencrypt, InsecureEdgeTerminationPolicy: route.InsecureAllow}),
	}
	res, err := Render(routes, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 0 {
		t.Fatalf("rejected: %v", res.Rejected)
	}
	for name, content := range res.Files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := haproxy.Check(t.Context(), bin, filepath.Join(dir, ConfigFile)); err != nil {
		t.Fatalf("rendered configuration rejected: %v\n%s", err, res.Files[ConfigFile])
	}
	if cfg := string(res.Files[ConfigFile]); !strings.Contains(cfg, "\n    nbthread 1\n    busy-polling\n") {
		t.Errorf("global section lacks nbthread 1 and busy-polling:\n%s", cfg)
	}
	for _, want := range []string{
		"e.apps.test/ be_redirect_https", "a.apps.test/ be_http_p_plain", "nv.apps.test/ be_secure_p_noverify",
	} {
		if !strings.Contains(string(res.Files[HTTPMapFile]), want+"\n") {
			t.Errorf("http.map lacks %q:\n%s", want, res.Files[HTTPMapFile])
		}
	}
	if got := string(res.Files[SNIMapFile]); got != "pt.apps.test be_tcp_p_pt\n" {
		t.Errorf("passthrough.map = %q", got)
	}
}

func BenchmarkRender(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			routes := make([]route.Route, n)
			for i := range routes {
				routes[i] = plain("p"+strconv.Itoa(i%50), "r"+strconv.Itoa(i), "r"+strconv.Itoa(i)+".apps.test", 8000+i%1000)
			}
			opts := testOptions(b, "/srv/router/conf-1")
			b.ResetTimer()
			for range b.N {
				if _, err := Render(routes, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
