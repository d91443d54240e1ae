package controller

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/sdn/netconf"
	"github.com/slipway/slipway/sdn/ovnstack"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// syntheticCluster is n pods over 10 projects and 10 nodes, each project
// with one policy opening its app=web pods to the next project.
func syntheticCluster(n int) ([]nodeNet, []podNet, []*api.Project, []*api.NetworkPolicy) {
	var nodes []nodeNet
	for i := 0; i < 10; i++ {
		nodes = append(nodes, nodeNet{name: fmt.Sprintf("n%d", i), subnet: netip.MustParsePrefix(fmt.Sprintf("10.128.%d.0/24", i))})
	}
	allocs := map[string]*podAllocator{}
	for _, nn := range nodes {
		allocs[nn.name] = newPodAllocator(nn.subnet)
	}
	var projects []*api.Project
	var policies []*api.NetworkPolicy
	port := api.FromInt(80)
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("proj%d", i)
		projects = append(projects, &api.Project{Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{"idx": fmt.Sprint(i)}}})
		policies = append(policies, &api.NetworkPolicy{Metadata: api.ObjectMeta{Name: "web", Project: name},
			Spec: api.NetworkPolicySpec{PodSelector: api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Ingress: []api.NetworkPolicyIngressRule{{From: []api.NetworkPolicyPeer{{NamespaceSelector: &api.LabelSelector{
					MatchLabels: map[string]string{"idx": fmt.Sprint((i + 1) % 10)}}}}, Ports: []api.NetworkPolicyPort{{Port: &port}}}}}})
	}
	var pods []podNet
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		node := nodes[i%10].name
		app := "db"
		if i%2 == 0 {
			app = "web"
		}
		p := &api.Pod{Metadata: api.ObjectMeta{Name: fmt.Sprintf("pod%d", i), Project: fmt.Sprintf("proj%d", (i/10)%10), UID: uid,
			Labels: map[string]string{"app": app}}, Spec: api.PodSpec{NodeName: node}}
		pn, err := allocs[node].allocate(uid, netconf.DefaultMTU)
		if err != nil {
			panic(err)
		}
		pods = append(pods, podNet{pod: p, net: pn})
	}
	return nodes, pods, projects, policies
}

func countRows(ctx context.Context, nb *ovsdb.Client) (int, error) {
	tables := []string{ovsdb.TableLogicalRouter, ovsdb.TableLogicalRouterPort, ovsdb.TableLogicalSwitch,
		ovsdb.TableLogicalSwitchPort, ovsdb.TablePortGroup, ovsdb.TableACL}
	var ops []ovsdb.Operation
	for _, t := range tables {
		ops = append(ops, ovsdb.Select(t, nil, "_uuid"))
	}
	res, err := nb.Transact(ctx, ovsdb.NorthboundDB, ops...)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range res {
		n += len(r.Rows)
	}
	return n, nil
}

// BenchmarkNorthboundProgramming measures, for 10 to 1,000 pods across 10
// projects and 10 nodes against a real Northbound ovsdb-server: the rows
// written, the time to program everything from an empty database, the time
// of a sync that finds nothing to do, and of a sync adding one pod.
func BenchmarkNorthboundProgramming(b *testing.B) {
	testpeer.RequireBinary(b, "ovsdb-server", "ovsdb-server")
	if _, err := os.Stat(ovnstack.NorthboundSchema); err != nil {
		testpeer.Missing(b, "OVN Northbound schema", err)
	}
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			ctx := context.Background()
			nodes, pods, projects, policies := syntheticCluster(n + 1)
			extra, pods := pods[n], pods[:n]
			var full, noop, one time.Duration
			var rows, ops int
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				db, err := ovnstack.StartDatabase(ctx, ovnstack.DatabaseConfig{Dir: b.TempDir(), Name: "nb", Schema: ovnstack.NorthboundSchema})
				if err != nil {
					b.Fatal(err)
				}
				nb, err := ovsdb.Dial(ctx, db.Endpoint(), ovsdb.Options{})
				if err != nil {
					b.Fatal(err)
				}
				cache, err := startCache(ctx, nb)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				// One controller sync: compare with the monitor-fed cache,
				// write the difference, wait for the cache to see it.
				sync := func(pods []podNet) int {
					cur, err := cache.state()
					if err != nil {
						b.Fatal(err)
					}
					p := diff(cur, buildTopology(netip.MustParsePrefix(netconf.DefaultClusterCIDR), nodes, pods, projects, policies, nil, nil))
					if len(p.ops) > 0 {
						if _, err := nb.Transact(ctx, ovsdb.NorthboundDB, p.ops...); err != nil {
							b.Fatal(err)
						}
						if err := cache.settle(ctx); err != nil {
							b.Fatal(err)
						}
					}
					return len(p.ops)
				}
				start := time.Now()
				ops = sync(pods)
				full += time.Since(start)
				start = time.Now()
				if w := sync(pods); w != 0 {
					b.Fatalf("second sync wrote %d operations", w)
				}
				noop += time.Since(start)
				start = time.Now()
				sync(append(pods, extra))
				one += time.Since(start)
				b.StopTimer()
				if rows, err = countRows(ctx, nb); err != nil {
					b.Fatal(err)
				}
				if fresh, err := readNB(ctx, nb); err != nil {
					b.Fatal(err)
				} else if w := diff(fresh, buildTopology(netip.MustParsePrefix(netconf.DefaultClusterCIDR), nodes, append(pods, extra), projects, policies, nil, nil)); len(w.ops) != 0 {
					b.Fatalf("the database differs from the wanted state by %d operations", len(w.ops))
				}
				cache.close(ctx)
				nb.Close()
				_ = db.Stop(ctx)
				b.StartTimer()
			}
			b.ReportMetric(float64(rows), "nb-rows")
			b.ReportMetric(float64(ops), "initial-ops")
			b.ReportMetric(float64(full.Milliseconds())/float64(b.N), "ms-program-all")
			b.ReportMetric(float64(noop.Microseconds())/1000/float64(b.N), "ms-converged-sync")
			b.ReportMetric(float64(one.Microseconds())/1000/float64(b.N), "ms-add-one-pod")
		})
	}
}
