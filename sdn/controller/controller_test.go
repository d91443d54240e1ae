package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/auth/rbac"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/sdn/controller"
	"github.com/slipway/slipway/sdn/netconf"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var cat = api.NewCatalogue()

func res(plural string) *api.Resource {
	r, ok := cat.Lookup(plural)
	if !ok {
		panic(plural)
	}
	return r
}

// eventually polls check until it returns nil, for at most 20 s.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	testwait.Until(t, 20*time.Second, what, check)
}

// startNB runs a lone Northbound ovsdb-server in a temp dir.
func startNB(t testing.TB) *ovsdb.Client {
	t.Helper()
	testpeer.RequireBinary(t, "ovsdb-server", "ovsdb-server")
	testpeer.RequireBinary(t, "ovsdb-tool", "ovsdb-tool")
	if _, err := os.Stat(ovnstack.NorthboundSchema); err != nil {
		testpeer.Missing(t, "OVN Northbound schema", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := ovnstack.StartDatabase(ctx, ovnstack.DatabaseConfig{Dir: t.TempDir(), Name: "nb", Schema: ovnstack.NorthboundSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Stop(context.Background()) })
	nb, err := ovsdb.Dial(ctx, db.Endpoint(), ovsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close() })
	return nb
}

type env struct {
	api   *servertest.Env
	admin *client.Client
	sdn   *client.Client
	nb    *ovsdb.Client
}

func newEnv(t testing.TB) *env {
	t.Helper()
	nb := startNB(t)
	e := servertest.Start(t, server.Config{BookmarkEvery: 200 * time.Millisecond})
	token, err := e.Server.ServiceAccountToken(context.Background(), "slipway-system", "sdn", rbac.RoleSDN)
	if err != nil {
		t.Fatal(err)
	}
	return &env{api: e, admin: e.Admin, sdn: e.Client(t, token), nb: nb}
}

// run starts a controller and returns it; it stops with the test or stop.
func (e *env) run(t testing.TB) (*controller.Controller, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := controller.New(controller.Config{Client: e.sdn, NB: e.nb, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controller: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return c, stop
}

func (e *env) create(t testing.TB, plural, project string, obj any) {
	t.Helper()
	if err := e.admin.Create(context.Background(), res(plural), project, obj, nil); err != nil {
		t.Fatalf("create %s: %v", plural, err)
	}
}

func (e *env) project(t testing.TB, name string, labels map[string]string) {
	e.create(t, api.ProjectsResource, "", api.Project{Metadata: api.ObjectMeta{Name: name, Labels: labels}})
}

func (e *env) node(t testing.TB, name string) {
	e.create(t, api.NodesResource, "", api.Node{Metadata: api.ObjectMeta{Name: name}})
}

func (e *env) pod(t testing.TB, project, name, node string, labels map[string]string) {
	e.create(t, api.PodsResource, project, api.Pod{Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "app", Image: "localhost:8443/" + project + "/app:1"}}}})
}

// deletePod deletes a pod and releases it as its node agent would.
func (e *env) deletePod(t testing.TB, project, name string) {
	t.Helper()
	ctx := context.Background()
	if err := e.admin.Delete(ctx, res(api.PodsResource), project, name, nil); err != nil {
		t.Fatal(err)
	}
	patch := map[string]any{"metadata": map[string]any{"finalizers": nil}}
	if err := e.admin.Patch(ctx, res(api.PodsResource), project, name, patch, false, nil); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
}

func (e *env) getPod(t testing.TB, project, name string) api.Pod {
	t.Helper()
	var p api.Pod
	if err := e.admin.Get(context.Background(), res(api.PodsResource), project, name, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// nbView is the Northbound contents by name, for assertions.
type nbView struct {
	routerPorts []string
	switches    map[string][]string // switch → port names
	portGroups  map[string][]string // group → port names
	acls        map[string][]string // group → "priority action match"
	lspAddr     map[string]string
}

func readView(t testing.TB, nb *ovsdb.Client) nbView {
	t.Helper()
	ctx := context.Background()
	v := nbView{switches: map[string][]string{}, portGroups: map[string][]string{}, acls: map[string][]string{}, lspAddr: map[string]string{}}
	lsps, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableLogicalSwitchPort, nil, ovsdb.LogicalSwitchPortFromRow)
	if err != nil {
		t.Fatal(err)
	}
	lspName := map[ovsdb.UUID]string{}
	for _, p := range lsps {
		lspName[p.UUID] = p.Name
		if len(p.Addresses) > 0 {
			v.lspAddr[p.Name] = p.Addresses[0]
		}
	}
	names := func(us []ovsdb.UUID) []string {
		var out []string
		for _, u := range us {
			out = append(out, lspName[u])
		}
		sort.Strings(out)
		return out
	}
	lss, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableLogicalSwitch, nil, ovsdb.LogicalSwitchFromRow)
	if err != nil {
		t.Fatal(err)
	}
	for _, ls := range lss {
		v.switches[ls.Name] = names(ls.Ports)
	}
	lrps, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableLogicalRouterPort, nil, ovsdb.LogicalRouterPortFromRow)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lrps {
		v.routerPorts = append(v.routerPorts, p.Name+" "+strings.Join(p.Networks, ","))
	}
	sort.Strings(v.routerPorts)
	acls, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TableACL, nil, ovsdb.ACLFromRow)
	if err != nil {
		t.Fatal(err)
	}
	aclText := map[ovsdb.UUID]string{}
	for _, a := range acls {
		aclText[a.UUID] = fmt.Sprintf("%d %s %s", a.Priority, a.Action, a.Match)
		if a.Direction != "to-lport" {
			aclText[a.UUID] += " (" + a.Direction + ")"
		}
	}
	pgs, err := ovsdb.SelectRows(ctx, nb, ovsdb.NorthboundDB, ovsdb.TablePortGroup, nil, ovsdb.PortGroupFromRow)
	if err != nil {
		t.Fatal(err)
	}
	for _, pg := range pgs {
		v.portGroups[pg.Name] = names(pg.Ports)
		for _, a := range pg.ACLs {
			v.acls[pg.Name] = append(v.acls[pg.Name], aclText[a])
		}
		sort.Strings(v.acls[pg.Name])
	}
	return v
}

func podNetwork(p api.Pod) (netconf.PodNetwork, error) {
	s, ok := p.Metadata.Annotations[netconf.PodNetworkAnnotation]
	if !ok {
		return netconf.PodNetwork{}, fmt.Errorf("pod %s has no %s annotation", p.Metadata.Name, netconf.PodNetworkAnnotation)
	}
	return netconf.ParsePodNetwork(s)
}

func same(a, b []string) bool { return slices.Equal(a, b) }

// TestNorthbound drives the controller through a real API server and a
// real Northbound ovsdb-server: subnets and addresses are assigned, the
// topology and isolation rows appear, a restarted controller writes
// nothing, a policy adds its groups, and deleting pods and nodes removes
// their rows.
func TestNorthbound(t *testing.T) {
	e := newEnv(t)
	e.project(t, "alpha", nil)
	e.project(t, "beta", map[string]string{"team": "b"})
	e.node(t, "n1")
	e.node(t, "n2")
	e.pod(t, "alpha", "a1", "n1", map[string]string{"app": "web"})
	e.pod(t, "alpha", "a2", "n2", map[string]string{"app": "db"})
	e.pod(t, "beta", "b1", "n1", nil)
	e.pod(t, "beta", "unbound", "", nil)

	c, stop := e.run(t)

	// Subnets and addresses.
	subnets := map[string]netip.Prefix{}
	eventually(t, "node subnets", func() error {
		for _, n := range []string{"n1", "n2"} {
			var node api.Node
			if err := e.admin.Get(context.Background(), res(api.NodesResource), "", n, &node); err != nil {
				return err
			}
			p, err := netip.ParsePrefix(node.Metadata.Annotations[netconf.NodeSubnetAnnotation])
			if err != nil {
				return err
			}
			subnets[n] = p
		}
		return nil
	})
	if subnets["n1"] == subnets["n2"] || subnets["n1"].Bits() != 24 || !netip.MustParsePrefix(netconf.DefaultClusterCIDR).Contains(subnets["n2"].Addr()) {
		t.Fatalf("node subnets %v", subnets)
	}
	addrs := map[string]netconf.PodNetwork{}
	eventually(t, "pod addresses", func() error {
		for _, pp := range [][3]string{{"alpha", "a1", "n1"}, {"alpha", "a2", "n2"}, {"beta", "b1", "n1"}} {
			p := e.getPod(t, pp[0], pp[1])
			pn, err := podNetwork(p)
			if err != nil {
				return err
			}
			pfx, _ := pn.Prefix()
			if !subnets[pp[2]].Contains(pfx.Addr()) || pn.Gateway != netconf.GatewayAddr(subnets[pp[2]]).String() || pn.MTU != netconf.DefaultMTU {
				return fmt.Errorf("pod %s got %+v outside node %s's %s", pp[1], pn, pp[2], subnets[pp[2]])
			}
			addrs[pp[1]] = pn
		}
		return nil
	})
	if addrs["a1"].IP == addrs["b1"].IP {
		t.Fatalf("two pods share %s", addrs["a1"].IP)
	}
	if _, ok := e.getPod(t, "beta", "unbound").Metadata.Annotations[netconf.PodNetworkAnnotation]; ok {
		t.Fatal("an unbound pod got an address")
	}

	uid := func(project, name string) string { return e.getPod(t, project, name).Metadata.UID }
	a1, a2, b1 := netconf.PodPortName(uid("alpha", "a1")), netconf.PodPortName(uid("alpha", "a2")), netconf.PodPortName(uid("beta", "b1"))
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	eventually(t, "topology", func() error {
		v := readView(t, e.nb)
		want := sorted("rtos-n1 "+netip.PrefixFrom(netconf.GatewayAddr(subnets["n1"]), 24).String(),
			"rtos-n2 "+netip.PrefixFrom(netconf.GatewayAddr(subnets["n2"]), 24).String())
		if !same(v.routerPorts, want) {
			return fmt.Errorf("router ports %v, want %v", v.routerPorts, want)
		}
		if got, want := v.switches["node-n1"], sorted("stor-n1", "mgmt-n1", a1, b1); !same(got, want) {
			return fmt.Errorf("switch node-n1 ports %v, want %v", got, want)
		}
		if got, want := v.switches["node-n2"], sorted("stor-n2", "mgmt-n2", a2); !same(got, want) {
			return fmt.Errorf("switch node-n2 ports %v, want %v", got, want)
		}
		for pg, want := range map[string][]string{"slw_pods": sorted(a1, a2, b1), "slw_p_alpha": sorted(a1, a2),
			"slw_p_beta": {b1}, "slw_mgmt": sorted("mgmt-n1", "mgmt-n2")} {
			if !same(v.portGroups[pg], want) {
				return fmt.Errorf("port group %s has %v, want %v", pg, v.portGroups[pg], want)
			}
		}
		pfx, _ := addrs["a1"].Prefix()
		if got := v.lspAddr[a1]; got != addrs["a1"].MAC+" "+pfx.Addr().String() {
			return fmt.Errorf("a1's port addresses %q", got)
		}
		hosts := "(ip4.src == $slw_mgmt_ip4 && ip4.dst == $slw_pods_ip4) || (ip4.src == $slw_pods_ip4 && ip4.dst == $slw_mgmt_ip4)"
		if got := v.acls["slw_pods"]; !same(got, []string{"1001 allow-stateless " + hosts, "1001 allow-stateless " + hosts + " (from-lport)",
			"900 drop outport == @slw_pods && ip4"}) {
			return fmt.Errorf("slw_pods ACLs %v", got)
		}
		if got := v.acls["slw_p_alpha"]; !same(got, []string{"1001 allow-related outport == @slw_p_alpha && ip4.src == $slw_p_alpha_ip4"}) {
			return fmt.Errorf("slw_p_alpha ACLs %v", got)
		}
		return nil
	})

	// Converged: another sync writes nothing; a new controller neither.
	eventually(t, "a sync with nothing to write", func() error {
		if c.LastSync().Operations != 0 {
			c2 := c.Syncs()
			e.admin.Patch(context.Background(), res(api.ProjectsResource), "", "alpha", map[string]any{"metadata": map[string]any{"annotations": map[string]string{"poke": fmt.Sprint(c2)}}}, false, nil)
			return fmt.Errorf("last sync wrote %d operations", c.LastSync().Operations)
		}
		return nil
	})
	before := readView(t, e.nb)
	stop()
	c2, stop2 := e.run(t)
	eventually(t, "restarted controller's first sync", func() error {
		if c2.Syncs() == 0 {
			return fmt.Errorf("no sync yet")
		}
		return nil
	})
	if c2.Transactions() != 0 || c2.Operations() != 0 {
		t.Fatalf("restarted controller wrote %d transactions (%d operations) to a converged database", c2.Transactions(), c2.Operations())
	}
	if after := readView(t, e.nb); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rows changed across the restart:\n%v\n%v", before, after)
	}

	// A policy opens alpha's web pods to team=b projects on TCP 80.
	port := api.FromInt(80)
	e.create(t, api.NetworkPoliciesResource, "alpha", api.NetworkPolicy{Metadata: api.ObjectMeta{Name: "from-b"},
		Spec: api.NetworkPolicySpec{PodSelector: api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []api.NetworkPolicyIngressRule{{
				From:  []api.NetworkPolicyPeer{{NamespaceSelector: &api.LabelSelector{MatchLabels: map[string]string{"team": "b"}}}},
				Ports: []api.NetworkPolicyPort{{Port: &port}}}}}})
	eventually(t, "policy rows", func() error {
		v := readView(t, e.nb)
		var target, source string
		for pg := range v.portGroups {
			if strings.HasPrefix(pg, "slw_np_") {
				if strings.HasSuffix(pg, "_0_0") {
					source = pg
				} else {
					target = pg
				}
			}
		}
		if target == "" || source == "" {
			return fmt.Errorf("policy port groups missing: %v", v.portGroups)
		}
		if !same(v.portGroups[target], []string{a1}) || !same(v.portGroups[source], []string{b1}) {
			return fmt.Errorf("policy groups %v / %v", v.portGroups[target], v.portGroups[source])
		}
		want := fmt.Sprintf("1001 allow-related outport == @%s && ip4.src == $%s_ip4 && (tcp.dst == 80)", target, source)
		if !same(v.acls[target], []string{want}) {
			return fmt.Errorf("policy ACLs %v, want %q", v.acls[target], want)
		}
		return nil
	})

	// A new pod in beta joins the policy's sources; deleting pods and a
	// node removes their rows.
	e.pod(t, "beta", "b2", "n2", nil)
	eventually(t, "b2 joins", func() error {
		v := readView(t, e.nb)
		if len(v.portGroups["slw_p_beta"]) != 2 {
			return fmt.Errorf("slw_p_beta %v", v.portGroups["slw_p_beta"])
		}
		return nil
	})
	b2 := netconf.PodPortName(uid("beta", "b2"))
	e.deletePod(t, "alpha", "a2")
	e.deletePod(t, "beta", "b1")
	e.deletePod(t, "beta", "b2")
	if err := e.admin.Delete(context.Background(), res(api.NodesResource), "", "n2", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rows removed", func() error {
		v := readView(t, e.nb)
		if _, ok := v.switches["node-n2"]; ok {
			return fmt.Errorf("switch node-n2 still there")
		}
		if len(v.routerPorts) != 1 {
			return fmt.Errorf("router ports %v", v.routerPorts)
		}
		if got, want := v.switches["node-n1"], sorted("stor-n1", "mgmt-n1", a1); !same(got, want) {
			return fmt.Errorf("switch node-n1 ports %v, want %v", got, want)
		}
		if _, ok := v.portGroups["slw_p_beta"]; ok {
			return fmt.Errorf("slw_p_beta still there")
		}
		for name := range v.lspAddr {
			if name == a2 || name == b1 || name == b2 {
				return fmt.Errorf("port %s still there", name)
			}
		}
		if !same(v.portGroups["slw_pods"], []string{a1}) {
			return fmt.Errorf("slw_pods %v", v.portGroups["slw_pods"])
		}
		return nil
	})
	stop2()
}
