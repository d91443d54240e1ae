package controller

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/sdn/netconf"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// Every row the controller owns carries KeyExternalID: its identity across
// restarts. Rows without it are left alone.
const (
	KeyExternalID     = "slipway:key"
	ProjectExternalID = "slipway:project"
	NodeExternalID    = "slipway:node"
	PodExternalID     = "slipway:pod"
)

// RouterName is the cluster router's name.
const RouterName = "slipway-cluster"

// Port groups every cluster has; ACL matches use @name and $name_ip4.
const (
	podsPortGroup = "slw_pods" // every pod: default deny, host access
	mgmtPortGroup = "slw_mgmt" // every node's management port
)

// Router policy priorities: cluster traffic is routed normally, the rest
// goes to the source node's host.
const (
	priorityClusterRoute = 103
	priorityEgressDenied = 102
	priorityEgress       = 101
)

// EgressAnnotation on a Project set to "deny" keeps its pods from reaching
// anything outside the cluster network.
const EgressAnnotation = "slipway.io/egress"

// ACL priorities: allows above the default drop.
const (
	priorityAllow = 1001
	priorityDrop  = 900
)

// topology is the Northbound state the controller wants, every row keyed
// by KeyExternalID.
type topology struct {
	router      ovsdb.LogicalRouter
	routerPorts map[string]ovsdb.LogicalRouterPort
	switches    map[string]*switchSpec
	portGroups  map[string]*portGroupSpec
	// loadBalancers are attached to every node switch.
	loadBalancers map[string]ovsdb.LoadBalancer
	// routerPolicies send each node's egress to its host.
	routerPolicies map[string]ovsdb.LogicalRouterPolicy
	// staticRoutes: a default route, so that egress reaches the policy
	// stage (which comes after routing) instead of being dropped.
	staticRoutes map[string]ovsdb.LogicalRouterStaticRoute
	// dnsRecords maps NAME.PROJECT.svc to the service's cluster IP; OVN
	// answers these names on every node switch.
	dnsRecords map[string]string
}

type switchSpec struct {
	ls    ovsdb.LogicalSwitch
	ports map[string]ovsdb.LogicalSwitchPort // by key
}

type portGroupSpec struct {
	pg      ovsdb.PortGroup
	members []string // keys of logical switch ports
	acls    map[string]ovsdb.ACL
}

// nodeNet is a node with its subnet.
type nodeNet struct {
	name   string
	subnet netip.Prefix
}

// podNet is a pod with its address.
type podNet struct {
	pod *api.Pod
	net netconf.PodNetwork
}

func ids(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func nodeSwitchKey(node string) string { return "switch/" + node }
func routerPortKey(node string) string { return "rtos/" + node }
func podPortKey(uid string) string     { return "pod/" + uid }
func mgmtPortKey(node string) string   { return "mgmt/" + node }

// portGroupName turns a key into a valid port group name (letters, digits
// and '_'; the name also names its $name_ip4 address set).
func portGroupName(prefix, id string) string {
	return prefix + strings.NewReplacer("-", "_", ".", "_").Replace(id)
}

func shortHash(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}

// buildTopology computes the wanted Northbound rows.
func buildTopology(cluster netip.Prefix, nodes []nodeNet, pods []podNet, projects []*api.Project, policies []*api.NetworkPolicy,
	services []*api.Service, endpoints map[string]*api.Endpoints) *topology {
	t := &topology{
		router:      ovsdb.LogicalRouter{Name: RouterName, ExternalIDs: ids(KeyExternalID, "router")},
		routerPorts: map[string]ovsdb.LogicalRouterPort{}, switches: map[string]*switchSpec{},
		portGroups: map[string]*portGroupSpec{}, loadBalancers: map[string]ovsdb.LoadBalancer{},
		routerPolicies: map[string]ovsdb.LogicalRouterPolicy{}, staticRoutes: map[string]ovsdb.LogicalRouterStaticRoute{},
		dnsRecords: map[string]string{},
	}
	// Egress: traffic leaving the cluster network goes to the pod's own
	// node host (its management port), which masquerades it.
	if cluster.IsValid() {
		t.routerPolicies["policy/cluster"] = ovsdb.LogicalRouterPolicy{Priority: priorityClusterRoute,
			Match: "ip4.dst == " + cluster.Masked().String(), Action: "allow", ExternalIDs: ids(KeyExternalID, "policy/cluster")}
	}
	nodeSwitch := map[string]*switchSpec{}
	mgmt := &portGroupSpec{pg: ovsdb.PortGroup{Name: mgmtPortGroup, ExternalIDs: ids(KeyExternalID, "pg/mgmt")}, acls: map[string]ovsdb.ACL{}}
	for _, n := range nodes {
		gw := netconf.GatewayAddr(n.subnet)
		lrp := "rtos-" + n.name
		t.routerPorts[routerPortKey(n.name)] = ovsdb.LogicalRouterPort{Name: lrp, MAC: netconf.MAC(gw),
			Networks:    []string{netip.PrefixFrom(gw, n.subnet.Bits()).String()},
			ExternalIDs: ids(KeyExternalID, routerPortKey(n.name), NodeExternalID, n.name)}
		sw := &switchSpec{
			ls: ovsdb.LogicalSwitch{Name: "node-" + n.name,
				ExternalIDs: ids(KeyExternalID, nodeSwitchKey(n.name), NodeExternalID, n.name, "slipway:subnet", n.subnet.String())},
			ports: map[string]ovsdb.LogicalSwitchPort{},
		}
		sw.ports["stor/"+n.name] = ovsdb.LogicalSwitchPort{Name: "stor-" + n.name, Type: "router", Addresses: []string{"router"},
			Options: map[string]string{"router-port": lrp}, ExternalIDs: ids(KeyExternalID, "stor/"+n.name, NodeExternalID, n.name)}
		m := netconf.ManagementAddr(n.subnet)
		addr := netconf.MAC(m) + " " + m.String()
		// Port security on the MAC only: the host forwards pods' egress
		// (to and from any address) through this port.
		sw.ports[mgmtPortKey(n.name)] = ovsdb.LogicalSwitchPort{Name: netconf.ManagementPortName(n.name), Addresses: []string{addr},
			PortSecurity: []string{netconf.MAC(m)}, ExternalIDs: ids(KeyExternalID, mgmtPortKey(n.name), NodeExternalID, n.name)}
		mgmt.members = append(mgmt.members, mgmtPortKey(n.name))
		if cluster.IsValid() {
			k := "policy/egress/" + n.name
			t.routerPolicies[k] = ovsdb.LogicalRouterPolicy{Priority: priorityEgress, Match: "ip4.src == " + n.subnet.Masked().String(),
				Action: "reroute", Nexthops: []string{m.String()}, ExternalIDs: ids(KeyExternalID, k, NodeExternalID, n.name)}
		}
		t.switches[nodeSwitchKey(n.name)] = sw
		nodeSwitch[n.name] = sw
	}
	t.portGroups["pg/mgmt"] = mgmt
	if cluster.IsValid() && len(nodes) > 0 {
		first := slices.MinFunc(nodes, func(a, b nodeNet) int { return strings.Compare(a.name, b.name) })
		t.staticRoutes["route/default"] = ovsdb.LogicalRouterStaticRoute{IPPrefix: "0.0.0.0/0",
			Nexthop: netconf.ManagementAddr(first.subnet).String(), ExternalIDs: ids(KeyExternalID, "route/default")}
	}

	all := &portGroupSpec{pg: ovsdb.PortGroup{Name: podsPortGroup, ExternalIDs: ids(KeyExternalID, "pg/pods")}, acls: map[string]ovsdb.ACL{}}
	all.acls["pg/pods/drop"] = acl("pg/pods/drop", priorityDrop, fmt.Sprintf("outport == @%s && ip4", podsPortGroup), "drop")
	// Hosts (their management ports) reach every pod, without conntrack:
	// the router's and the probes' connections are a host's busiest, and
	// Open vSwitch 3.1's userspace conntrack crashes (assertion in
	// conn_update_state) under such connection churn. Both directions and
	// both pipelines must skip it, or replies would be tracked as invalid.
	hosts := fmt.Sprintf("(ip4.src == $%[1]s_ip4 && ip4.dst == $%[2]s_ip4) || (ip4.src == $%[2]s_ip4 && ip4.dst == $%[1]s_ip4)",
		mgmtPortGroup, podsPortGroup)
	for key, dir := range map[string]string{"pg/pods/hosts": "to-lport", "pg/pods/hosts-ingress": "from-lport"} {
		a := acl(key, priorityAllow, hosts, "allow-stateless")
		a.Direction = dir
		all.acls[key] = a
	}
	t.portGroups["pg/pods"] = all

	byProject := map[string][]podNet{}
	for _, p := range pods {
		sw := nodeSwitch[p.pod.Spec.NodeName]
		if sw == nil {
			continue
		}
		pfx, _ := p.net.Prefix()
		addr := p.net.MAC + " " + pfx.Addr().String()
		key := podPortKey(p.pod.Metadata.UID)
		sw.ports[key] = ovsdb.LogicalSwitchPort{Name: netconf.PodPortName(p.pod.Metadata.UID), Addresses: []string{addr}, PortSecurity: []string{addr},
			ExternalIDs: ids(KeyExternalID, key, ProjectExternalID, p.pod.Metadata.Project, PodExternalID, p.pod.Metadata.Name,
				NodeExternalID, p.pod.Spec.NodeName)}
		all.members = append(all.members, key)
		byProject[p.pod.Metadata.Project] = append(byProject[p.pod.Metadata.Project], p)
	}

	// A port group per project with pods: its pods reach each other.
	for project, members := range byProject {
		key := "pg/project/" + project
		name := portGroupName("slw_p_", project)
		pg := &portGroupSpec{pg: ovsdb.PortGroup{Name: name, ExternalIDs: ids(KeyExternalID, key, ProjectExternalID, project)},
			acls: map[string]ovsdb.ACL{}}
		for _, p := range members {
			pg.members = append(pg.members, podPortKey(p.pod.Metadata.UID))
		}
		pg.acls[key+"/same-project"] = acl(key+"/same-project", priorityAllow,
			fmt.Sprintf("outport == @%s && ip4.src == $%s_ip4", name, name), "allow-related")
		t.portGroups[key] = pg
	}

	projectLabels := map[string]map[string]string{}
	for _, p := range projects {
		projectLabels[p.Metadata.Name] = p.Metadata.Labels
		if pg := t.portGroups["pg/project/"+p.Metadata.Name]; pg != nil && cluster.IsValid() && p.Metadata.Annotations[EgressAnnotation] == "deny" {
			k := "policy/egress-denied/" + p.Metadata.Name
			t.routerPolicies[k] = ovsdb.LogicalRouterPolicy{Priority: priorityEgressDenied,
				Match:  fmt.Sprintf("ip4.src == $%s_ip4 && ip4.dst != %s", pg.pg.Name, cluster.Masked()),
				Action: "drop", ExternalIDs: ids(KeyExternalID, k, ProjectExternalID, p.Metadata.Name)}
		}
	}
	for _, np := range policies {
		addPolicy(t, np, byProject, projectLabels)
	}
	addServices(t, services, endpoints)
	for _, pg := range t.portGroups {
		sort.Strings(pg.members)
	}
	return t
}

func acl(key string, priority int64, match, action string) ovsdb.ACL {
	return ovsdb.ACL{Direction: "to-lport", Priority: priority, Match: match, Action: action, ExternalIDs: ids(KeyExternalID, key)}
}

// addPolicy adds a policy's port groups: one of the pods it opens, with an
// allow ACL per ingress rule, and one per rule peer holding its sources.
func addPolicy(t *topology, np *api.NetworkPolicy, byProject map[string][]podNet, projectLabels map[string]map[string]string) {
	project := np.Metadata.Project
	id := shortHash(project + "/" + np.Metadata.Name)
	key := "pg/policy/" + project + "/" + np.Metadata.Name
	name := "slw_np_" + id
	pg := &portGroupSpec{pg: ovsdb.PortGroup{Name: name, ExternalIDs: ids(KeyExternalID, key, ProjectExternalID, project, "slipway:policy", np.Metadata.Name)},
		acls: map[string]ovsdb.ACL{}}
	for _, p := range byProject[project] {
		if np.Spec.PodSelector.SelectsLabels(p.pod.Metadata.Labels) {
			pg.members = append(pg.members, podPortKey(p.pod.Metadata.UID))
		}
	}
	t.portGroups[key] = pg
	for i, rule := range np.Spec.Ingress {
		ports := portsMatch(rule.Ports)
		if len(rule.From) == 0 {
			k := fmt.Sprintf("%s/rule%d", key, i)
			pg.acls[k] = acl(k, priorityAllow, fmt.Sprintf("outport == @%s && ip4%s", name, ports), "allow-related")
			continue
		}
		for j, peer := range rule.From {
			srcKey := fmt.Sprintf("%s/rule%d/from%d", key, i, j)
			srcName := fmt.Sprintf("%s_%d_%d", name, i, j)
			src := &portGroupSpec{pg: ovsdb.PortGroup{Name: srcName, ExternalIDs: ids(KeyExternalID, srcKey, ProjectExternalID, project)},
				acls: map[string]ovsdb.ACL{}}
			for proj, members := range byProject {
				if peer.NamespaceSelector == nil {
					if proj != project {
						continue
					}
				} else if !peer.NamespaceSelector.SelectsLabels(projectLabels[proj]) {
					continue
				}
				for _, p := range members {
					if peer.PodSelector == nil || peer.PodSelector.SelectsLabels(p.pod.Metadata.Labels) {
						src.members = append(src.members, podPortKey(p.pod.Metadata.UID))
					}
				}
			}
			t.portGroups[srcKey] = src
			k := srcKey + "/allow"
			pg.acls[k] = acl(k, priorityAllow, fmt.Sprintf("outport == @%s && ip4.src == $%s_ip4%s", name, srcName, ports), "allow-related")
		}
	}
}

// portsMatch renders a rule's ports as " && (tcp.dst == 80 || udp)".
func portsMatch(ports []api.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return ""
	}
	var terms []string
	for _, p := range ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if p.Port == nil {
			terms = append(terms, proto)
		} else {
			terms = append(terms, fmt.Sprintf("%s.dst == %d", proto, p.Port.IntVal))
		}
	}
	slices.Sort(terms)
	terms = slices.Compact(terms)
	return " && (" + strings.Join(terms, " || ") + ")"
}
