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
