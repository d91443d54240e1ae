package kinds

import (
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		typed, wantPlural string
	}{
		{"cm", "configmaps"}, {"ConfigMap", "configmaps"}, {"configmap", "configmaps"}, {"CONFIGMAPS", "configmaps"},
		{"project", "projects"}, {"proj", "projects"}, {"sa", "serviceaccounts"}, {"rb", "rolebindings"},
		{"clusterrolebinding", "clusterrolebindings"}, {"users", "users"}, {"Token", "tokens"}, {"widgets", ""},
	}
	for _, tc := range tests {
		t.Run(tc.typed, func(t *testing.T) {
			k, ok := r.Lookup(tc.typed)
			switch {
			case tc.wantPlural == "" && ok:
				t.Fatalf("found %s, want nothing", k.Resource.Plural)
			case tc.wantPlural != "" && (!ok || k.Resource.Plural != tc.wantPlural):
				t.Fatalf("found %v, want %s", k, tc.wantPlural)
			}
		})
	}
	r.Learn([]Discovered{{Name: "widgets", Kind: "Widget", ProjectScoped: true}})
	if k, ok := r.Lookup("widget"); !ok || !k.ProjectScoped() {
		t.Fatalf("a discovered kind is not found: %v", k)
	}
}

func TestPodAndNodeColumns(t *testing.T) {
	pod, err := Decode([]byte(`{"metadata":{"name":"web"},"spec":{"containers":[{"name":"a"},{"name":"b"}],"nodeName":"n1"},
		"status":{"phase":"Running","podIP":"10.0.0.5","containerStatuses":[
		{"name":"a","ready":true,"restartCount":2,"state":{"running":{}}},
		{"name":"b","ready":false,"restartCount":3,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if got := podReady(pod, now) + " " + podStatus(pod, now) + " " + podRestarts(pod, now); got != "1/2 CrashLoopBackOff 5" {
		t.Fatalf("pod columns %q", got)
	}
	node, err := Decode([]byte(`{"spec":{"unschedulable":true},"status":{"conditions":[{"type":"Ready","status":"True"}],
		"addresses":[{"type":"InternalIP","address":"192.0.2.2"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeStatus(node, now) + " " + nodeIP(node, now); got != "Ready,SchedulingDisabled 192.0.2.2" {
		t.Fatalf("node columns %q", got)
	}
}

func TestRouteColumns(t *testing.T) {
	now := time.Now()
	split, err := Decode([]byte(`{"spec":{"host":"shop.example.com","to":{"kind":"Service","name":"a","weight":90},
		"alternateBackends":[{"kind":"Service","name":"b","weight":10}]},
		"status":{"ingress":[{"routerName":"default","host":"shop.example.com","conditions":[
		{"type":"Admitted","status":"False","reason":"HostAlreadyClaimed"}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := routeHost(split, now) + " " + routeServices(split, now) + " " + routeAdmitted(split, now); got != "shop.example.com a(90),b(10) False (HostAlreadyClaimed)" {
		t.Fatalf("route columns %q", got)
	}
	fresh, err := Decode([]byte(`{"spec":{"to":{"kind":"Service","name":"web"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := routeHost(fresh, now) + " " + routeServices(fresh, now) + " " + routeAdmitted(fresh, now); got != "<pending> web Pending" {
		t.Fatalf("route columns %q", got)
	}
	served, err := Decode([]byte(`{"spec":{"to":{"name":"web"}},"status":{"ingress":[{"host":"web-shop.apps.localhost",
		"conditions":[{"type":"Admitted","status":"True"}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := routeHost(served, now) + " " + routeAdmitted(served, now); got != "web-shop.apps.localhost True" {
		t.Fatalf("route columns %q", got)
	}
}

func TestImageColumns(t *testing.T) {
	now := time.Now()
	img, err := Decode([]byte(`{"status":{"repository":"localhost:8443/shop/web","tags":[
		{"tag":"latest","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","created":"2026-01-01T00:00:00Z"},
		{"tag":"v2","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","created":"2026-02-01T00:00:00Z"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := imageTags(img, now) + " " + imageDigest(img, now); got != "latest,v2 sha256:111111111111" {
		t.Fatalf("image columns %q", got)
	}
	empty, _ := Decode([]byte(`{"metadata":{"name":"web"}}`))
	if got := imageTags(empty, now) + " " + imageDigest(empty, now); got != "<none> <none>" {
		t.Fatalf("empty image columns %q", got)
	}
}
