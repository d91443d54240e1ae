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
