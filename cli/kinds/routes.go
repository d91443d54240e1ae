package kinds

import (
	"fmt"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
)

func init() {
	extras[api.RoutesResource] = Kind{
		Columns: []Column{{"HOST", routeHost}, text("PATH", "spec", "path"), {"SERVICES", routeServices},
			text("TERMINATION", "spec", "tls", "termination"), {"ADMITTED", routeAdmitted}}}
}

// routeHost is spec.host, or the host a router chose for a route without
// one.
func routeHost(o *Object, _ time.Time) string {
	if h := o.String("spec", "host"); h != "" {
		return h
	}
	for _, in := range items(o, "status", "ingress") {
		if h, _ := in["host"].(string); h != "" {
			return h
		}
	}
	return "<pending>"
}

// routeServices lists the backends, with their weights when traffic is
// split.
func routeServices(o *Object, _ time.Time) string {
	backends := append([]map[string]any{}, asMap(o.Field("spec", "to")))
	backends = append(backends, items(o, "spec", "alternateBackends")...)
	var out []string
	for _, b := range backends {
		name, _ := b["name"].(string)
		if name == "" {
			continue
		}
		if w, ok := b["weight"]; ok && len(backends) > 1 {
			name = fmt.Sprintf("%s(%v)", name, w)
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

// routeAdmitted is each router's verdict, "True" or "False (Reason)".
func routeAdmitted(o *Object, _ time.Time) string {
	var out []string
	for _, in := range items(o, "status", "ingress") {
		conds, _ := in["conditions"].([]any)
		for _, c := range conds {
			cm := asMap(c)
			if cm["type"] != api.RouteAdmitted {
				continue
			}
			v, _ := cm["status"].(string)
			if r, _ := cm["reason"].(string); v != "True" && r != "" {
				v += " (" + r + ")"
			}
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return "Pending"
	}
	return strings.Join(out, ",")
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
