package node_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
)

// quantiles reports p50 and p99 of ds in milliseconds under name.
func quantiles(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
}

// BenchmarkPodReachable measures, on a real single-node OVN stack driven
// by the API and the SDN controller, the time from a pod's creation in the
// API to its first TCP answer to a pod of its project, and from its
// attachment (when the node would report it Running) to that answer.
func BenchmarkPodReachable(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	_, a0, a0ns := s.runPod(b, "alpha", "a0", nil)
	serve(b, a0ns, "a0", 80)
	var fromCreate, fromRunning []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("p%d-%d", b.N, i)
		start := time.Now()
		_, _, ns := s.runPod(b, "alpha", name, nil)
		running := time.Now()
		for tcp(ns, a0, 80, 20*time.Millisecond) != nil {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("pod %s not reachable within 30 s", name)
			}
		}
		fromCreate = append(fromCreate, time.Since(start))
		fromRunning = append(fromRunning, time.Since(running))
	}
	b.StopTimer()
	quantiles(b, "created-to-reachable", fromCreate)
	quantiles(b, "running-to-reachable", fromRunning)
	_ = ctx
}

// BenchmarkPolicyEnforced measures the time from creating a NetworkPolicy
// in the API to the first connection it allows, and from deleting it to
// the first connection refused again (probes every ~20 ms).
func BenchmarkPolicyEnforced(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	_, a1, a1ns := s.runPod(b, "alpha", "a1", map[string]string{"app": "web"})
	_, _, b1ns := s.runPod(b, "beta", "b1", nil)
	serve(b, a1ns, "a1", 80)
	for tcp(a1ns, a1, 80, 50*time.Millisecond) != nil {
		time.Sleep(10 * time.Millisecond) // the first pod's port comes up
	}
	port := api.FromInt(80)
	policy := api.NetworkPolicy{Metadata: api.ObjectMeta{Name: "from-b"},
		Spec: api.NetworkPolicySpec{PodSelector: api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []api.NetworkPolicyIngressRule{{
				From:  []api.NetworkPolicyPeer{{NamespaceSelector: &api.LabelSelector{MatchLabels: map[string]string{"team": "b"}}}},
				Ports: []api.NetworkPolicyPort{{Port: &port}}}}}}
	wait := func(open bool, since time.Time, to netip.Addr) time.Duration {
		for (tcp(b1ns, to, 80, 20*time.Millisecond) == nil) != open {
			if time.Since(since) > 30*time.Second {
				b.Fatalf("policy effect (open=%v) not seen within 30 s", open)
			}
		}
		return time.Since(since)
	}
	var opened, closed []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := s.admin.Create(ctx, res(api.NetworkPoliciesResource), "alpha", policy, nil); err != nil {
			b.Fatal(err)
		}
		opened = append(opened, wait(true, start, a1))
		start = time.Now()
		if err := s.admin.Delete(ctx, res(api.NetworkPoliciesResource), "alpha", "from-b", nil); err != nil {
			b.Fatal(err)
		}
		closed = append(closed, wait(false, start, a1))
	}
	b.StopTimer()
	quantiles(b, "policy-opens", opened)
	quantiles(b, "policy-closes", closed)
}
