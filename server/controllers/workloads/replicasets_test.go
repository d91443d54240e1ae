package workloads_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/controllers/workloads"
)

func replicaSet(name string, replicas int32) *api.ReplicaSet {
	return &api.ReplicaSet{Metadata: api.ObjectMeta{Name: name}, Spec: api.ReplicaSetSpec{
		Replicas: int32p(replicas),
		Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: map[string]string{"app": name}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: imageV1,
				Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}},
	}}
}

// waitPods waits until the replica set has n active pods, all ready when
// ready is set, and returns them.
func waitPods(t *testing.T, h *harness, rs string, n int, ready bool) []*api.Pod {
	t.Helper()
	var out []*api.Pod
	eventually(t, fmt.Sprintf("%s has %d pods", rs, n), func() error {
		out = out[:0]
		for _, p := range list[api.Pod](h, api.PodsResource, api.ReplicaSetLabel+"="+rs) {
			if p.Metadata.DeletionTimestamp == nil && p.Status.Phase != api.PodFailed {
				if ready && !isReady(p) {
					return fmt.Errorf("pod %s not ready", p.Metadata.Name)
				}
				out = append(out, p)
			}
		}
		if len(out) != n {
			return fmt.Errorf("%d pods", len(out))
		}
		return nil
	})
	return out
}

func names(pods []*api.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Metadata.Name)
	}
	slices.Sort(out)
	return out
}

// A ReplicaSet replaces deleted and failed pods, and scaling down removes
// not-ready pods before ready ones.
func TestReplicaSetKeepsItsPods(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newStore(t), nil)
	h.create(api.ReplicaSetsResource, replicaSet("cache", 3))
	pods := waitPods(t, h, "cache", 3, true)
	for _, p := range pods {
		if p.Metadata.Labels["app"] != "cache" || p.Metadata.Labels[api.ReplicaSetLabel] != "cache" {
			t.Fatalf("pod labels %v", p.Metadata.Labels)
		}
	}
	// A deleted pod is replaced.
	if _, _, err := h.svc.Delete(h.ctx, h.res(api.PodsResource), pods[0].Metadata.Name, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod replaced", func() error {
		got := waitPods(t, h, "cache", 3, true)
		if slices.Contains(names(got), pods[0].Metadata.Name) {
			return fmt.Errorf("still %v", names(got))
		}
		return nil
	})
	// A failed pod is replaced.
	pods = waitPods(t, h, "cache", 3, true)
	body, _ := json.Marshal(map[string]any{"status": map[string]any{"phase": api.PodFailed}})
	if _, err := h.svc.Patch(h.ctx, h.res(api.PodsResource), pods[1].Metadata.Name, body, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed pod replaced", func() error {
		got := waitPods(t, h, "cache", 3, true)
		if slices.Contains(names(got), pods[1].Metadata.Name) {
			return fmt.Errorf("still %v", names(got))
		}
		return nil
	})
	// Scaling down removes the not-ready pod first.
	pods = waitPods(t, h, "cache", 3, true)
	h.setReady(pods[2].Metadata.Name, false)
	eventually(t, "status counts the not-ready pod", func() error {
		rs, err := get[api.ReplicaSet](h, api.ReplicaSetsResource, "cache")
		if err != nil || rs.Status.ReadyReplicas != 2 || rs.Status.Replicas != 3 {
			return fmt.Errorf("status %+v %v", rs.Status, err)
		}
		return nil
	})
	h.patch(api.ReplicaSetsResource, "cache", `{"spec":{"replicas":2}}`)
	got := waitPods(t, h, "cache", 2, true)
	if slices.Contains(names(got), pods[2].Metadata.Name) {
		t.Fatalf("scale-down kept the not-ready pod %s: %v", pods[2].Metadata.Name, names(got))
	}
	eventually(t, "status", func() error {
		rs, _ := get[api.ReplicaSet](h, api.ReplicaSetsResource, "cache")
		if rs.Status.Replicas != 2 || rs.Status.AvailableReplicas != 2 || rs.Status.ObservedGeneration != rs.Metadata.Generation {
			return fmt.Errorf("status %+v", rs.Status)
		}
		return nil
	})
}

// A Service gets a cluster IP from the service network, held immutable;
// its Endpoints follow its pods' readiness with named target ports
// resolved; a service without a selector leaves its Endpoints alone.
func TestServiceEndpointsFollowReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newStore(t), func(d *workloads.Deps) { d.ServiceCIDR = netip.MustParsePrefix("10.96.0.0/24") })
	h.create(api.ReplicaSetsResource, replicaSet("web", 2))
	pods := waitPods(t, h, "web", 2, true)
	tp := api.FromString("http")
	h.create(api.ServicesResource, &api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []api.ServicePort{{Name: "http", Port: 80, TargetPort: &tp}},
	}})
	var ip string
	eventually(t, "cluster IP allocated", func() error {
		svc, err := get[api.Service](h, api.ServicesResource, "web")
		if err != nil {
			return err
		}
		addr, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !netip.MustParsePrefix("10.96.0.0/24").Contains(addr) || svc.Status.ClusterIP != svc.Spec.ClusterIP {
			return fmt.Errorf("spec %q status %q", svc.Spec.ClusterIP, svc.Status.ClusterIP)
		}
		ip = svc.Spec.ClusterIP
		return nil
	})
	endpoints := func(ready, notReady int) func() error {
		return func() error {
			ep, err := get[api.Endpoints](h, api.EndpointsResource, "web")
			if err != nil {
				return err
			}
			if len(ep.Spec.Subsets) != 1 {
				return fmt.Errorf("subsets %+v", ep.Spec.Subsets)
			}
			s := ep.Spec.Subsets[0]
			if len(s.Addresses) != ready || len(s.NotReadyAddresses) != notReady {
				return fmt.Errorf("%d ready, %d not ready", len(s.Addresses), len(s.NotReadyAddresses))
			}
			if len(s.Ports) != 1 || s.Ports[0] != (api.EndpointPort{Name: "http", Port: 8080, Protocol: "TCP"}) {
				return fmt.Errorf("ports %+v", s.Ports)
			}
			for _, a := range append(s.Addresses, s.NotReadyAddresses...) {
				if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName != "n1" || a.IP == "" {
					return fmt.Errorf("address %+v", a)
				}
			}
			return nil
		}
	}
	eventually(t, "both pods in addresses", endpoints(2, 0))
	h.setReady(pods[0].Metadata.Name, false)
	eventually(t, "not-ready pod moved to notReadyAddresses", endpoints(1, 1))
	h.setReady(pods[0].Metadata.Name, true)
	eventually(t, "pod ready again", endpoints(2, 0))
	h.patch(api.ReplicaSetsResource, "web", `{"spec":{"replicas":3}}`)
	eventually(t, "new pod added", endpoints(3, 0))

	// The cluster IP cannot be changed.
	h.patch(api.ServicesResource, "web", `{"spec":{"clusterIP":"10.96.0.77"}}`)
	eventually(t, "cluster IP restored", func() error {
		svc, _ := get[api.Service](h, api.ServicesResource, "web")
		if svc.Spec.ClusterIP != ip {
			return fmt.Errorf("cluster IP %s, want %s", svc.Spec.ClusterIP, ip)
		}
		return nil
	})

	// Endpoints a user writes before their service are left alone.
	h.create(api.EndpointsResource, &api.Endpoints{Metadata: api.ObjectMeta{Name: "early"}, Spec: api.EndpointsSpec{
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.168.10.6"}}}}}})

	// A selector-less service: its Endpoints are the user's.
	h.create(api.ServicesResource, &api.Service{Metadata: api.ObjectMeta{Name: "external"}, Spec: api.ServiceSpec{
		Ports: []api.ServicePort{{Port: 5432}}}})
	h.create(api.EndpointsResource, &api.Endpoints{Metadata: api.ObjectMeta{Name: "external"}, Spec: api.EndpointsSpec{
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.168.10.5"}}, Ports: []api.EndpointPort{{Port: 5432}}}}}})
	eventually(t, "external service allocated", func() error {
		svc, _ := get[api.Service](h, api.ServicesResource, "external")
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == ip {
			return fmt.Errorf("cluster IP %q (web has %s)", svc.Spec.ClusterIP, ip)
		}
		return nil
	})
	ep, err := get[api.Endpoints](h, api.EndpointsResource, "external")
	if err != nil || len(ep.Spec.Subsets) != 1 || ep.Spec.Subsets[0].Addresses[0].IP != "192.168.10.5" {
		t.Fatalf("user's endpoints changed: %+v, %v", ep, err)
	}

	// A taken or foreign address is refused with a condition.
	h.create(api.ServicesResource, &api.Service{Metadata: api.ObjectMeta{Name: "greedy"}, Spec: api.ServiceSpec{
		ClusterIP: ip, Ports: []api.ServicePort{{Port: 80}}}})
	eventually(t, "taken address refused", func() error {
		svc, _ := get[api.Service](h, api.ServicesResource, "greedy")
		if len(svc.Status.Conditions) == 1 && svc.Status.Conditions[0].Status == api.ConditionFalse && svc.Status.ClusterIP == "" {
			return nil
		}
		return fmt.Errorf("status %+v", svc.Status)
	})

	if _, err := get[api.Endpoints](h, api.EndpointsResource, "early"); err != nil {
		t.Fatalf("endpoints written before their service: %v", err)
	}

	// Once settled, nothing writes: no controller loops on its own writes.
	before, err := h.svc.Store().CurrentRevision(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-time.After(500 * time.Millisecond) // an observation window, not a synchronisation
	if after, _ := h.svc.Store().CurrentRevision(h.ctx); after != before {
		t.Fatalf("the store moved from revision %d to %d with nothing to do", before, after)
	}

	// The endpoints go with their service.
	if _, _, err := h.svc.Delete(h.ctx, h.res(api.ServicesResource), "web", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "endpoints deleted", func() error {
		if _, err := get[api.Endpoints](h, api.EndpointsResource, "web"); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
}
