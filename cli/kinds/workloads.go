package kinds

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
)

// Columns of pods and nodes, in kubectl's habits.
func init() {
	extras[api.PodsResource] = Kind{ShortNames: []string{"po"},
		Columns: []Column{{"READY", podReady}, {"STATUS", podStatus}, {"RESTARTS", podRestarts}},
		Wide:    []Column{text("IP", "status", "podIP"), text("NODE", "spec", "nodeName")}}
	extras[api.NodesResource] = Kind{ShortNames: []string{"no"},
		Columns: []Column{{"STATUS", nodeStatus}, text("VERSION", "status", "nodeInfo", "agentVersion")},
		Wide: []Column{{"INTERNAL-IP", nodeIP}, text("CONTAINER-RUNTIME", "status", "nodeInfo", "containerRuntimeVersion"),
			text("NETWORK", "status", "nodeInfo", "podNetwork"),
			{"CPU", func(o *Object, _ time.Time) string { return o.String("status", "allocatable", "cpu") }},
			{"MEMORY", func(o *Object, _ time.Time) string { return o.String("status", "allocatable", "memory") }}}}
}

func items(o *Object, path ...string) []map[string]any {
	raw, _ := o.Field(path...).([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func podReady(o *Object, _ time.Time) string {
	total := len(items(o, "spec", "containers"))
	ready := 0
	for _, cs := range items(o, "status", "containerStatuses") {
		if r, _ := cs["ready"].(bool); r {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, total)
}

// podStatus is the phase, or the reason a container is waiting or ended
// (CrashLoopBackOff, ImagePullBackOff, OOMKilled), or Terminating.
func podStatus(o *Object, _ time.Time) string {
	if o.String("metadata", "deletionTimestamp") != "" {
		return "Terminating"
	}
	for _, cs := range items(o, "status", "containerStatuses") {
		state, _ := cs["state"].(map[string]any)
		for _, s := range []string{"waiting", "terminated"} {
			if st, ok := state[s].(map[string]any); ok {
				if reason, _ := st["reason"].(string); reason != "" && reason != "Completed" {
					return reason
				}
			}
		}
	}
	if phase := o.String("status", "phase"); phase != "" {
		return phase
	}
	return "Pending"
}

func podRestarts(o *Object, _ time.Time) string {
	var n int64
	for _, cs := range items(o, "status", "containerStatuses") {
		if c, ok := cs["restartCount"].(json.Number); ok {
			v, _ := c.Int64()
			n += v
		}
	}
	return fmt.Sprintf("%d", n)
}

func nodeStatus(o *Object, _ time.Time) string {
	status := "Unknown"
	for _, c := range items(o, "status", "conditions") {
		if c["type"] == api.NodeReady {
			status = "NotReady"
			if c["status"] == "True" {
				status = "Ready"
			}
		}
	}
	if unschedulable, _ := o.Field("spec", "unschedulable").(bool); unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

func nodeIP(o *Object, _ time.Time) string {
	var ips []string
	for _, a := range items(o, "status", "addresses") {
		if a["type"] == "InternalIP" {
			ip, _ := a["address"].(string)
			ips = append(ips, ip)
		}
	}
	return strings.Join(ips, ",")
}

// Columns of the workload kinds.
func init() {
	extras[api.DeploymentsResource] = Kind{ShortNames: []string{"deploy"},
		Columns: []Column{{"READY", readyOf("spec", "replicas")}, text("UP-TO-DATE", "status", "updatedReplicas"),
			text("AVAILABLE", "status", "availableReplicas")},
		Wide: []Column{{"IMAGES", images}}}
	extras[api.ReplicaSetsResource] = Kind{ShortNames: []string{"rs"},
		Columns: []Column{text("DESIRED", "spec", "replicas"), text("CURRENT", "status", "replicas"), text("READY", "status", "readyReplicas")},
		Wide:    []Column{{"IMAGES", images}}}
	extras[api.ServicesResource] = Kind{ShortNames: []string{"svc"},
		Columns: []Column{text("CLUSTER-IP", "spec", "clusterIP"), {"PORTS", servicePorts}}}
	extras[api.EndpointsResource] = Kind{ShortNames: []string{"ep"},
		Columns: []Column{{"ENDPOINTS", endpointAddresses}}}
	extras[api.JobsResource] = Kind{
		Columns: []Column{{"COMPLETIONS", readyOf("spec", "completions")}, text("ACTIVE", "status", "active"), text("FAILED", "status", "failed")}}
}

// readyOf shows "ready/desired" for workloads.
func readyOf(path ...string) func(o *Object, _ time.Time) string {
	return func(o *Object, _ time.Time) string {
		want := o.String(path...)
		if want == "" {
			want = "1"
		}
		done := o.String("status", "readyReplicas")
		if path[len(path)-1] == "completions" {
			done = o.String("status", "succeeded")
		}
		if done == "" {
			done = "0"
		}
		return done + "/" + want
	}
}

func images(o *Object, _ time.Time) string {
	var out []string
	for _, c := range items(o, "spec", "template", "spec", "containers") {
		if img, ok := c["image"].(string); ok {
			out = append(out, img)
		}
	}
	return strings.Join(out, ",")
}

func servicePorts(o *Object, _ time.Time) string {
	var out []string
	for _, p := range items(o, "spec", "ports") {
		proto, _ := p["protocol"].(string)
		if proto == "" {
			proto = "TCP"
		}
		out = append(out, fmt.Sprintf("%v/%s", p["port"], proto))
	}
	return strings.Join(out, ",")
}

func endpointAddresses(o *Object, _ time.Time) string {
	var out []string
	for _, s := range items(o, "spec", "subsets") {
		addrs, _ := s["addresses"].([]any)
		ports, _ := s["ports"].([]any)
		for _, a := range addrs {
			am, _ := a.(map[string]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				out = append(out, fmt.Sprintf("%v:%v", am["ip"], pm["port"]))
			}
		}
	}
	if len(out) == 0 {
		return "<none>"
	}
	return strings.Join(out, ",")
}
