package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// ServiceExternalID names the service of a load balancer.
const ServiceExternalID = "slipway:service"

// serviceVIP returns the service's cluster IP, if it has one.
func serviceVIP(s *api.Service) (netip.Addr, bool) {
	ip := s.Spec.ClusterIP
	if ip == "" {
		ip = s.Status.ClusterIP
	}
	a, err := netip.ParseAddr(ip)
	return a, err == nil && a.Is4()
}

// addServices names each service NAME.PROJECT.svc in DNS and adds one
// load balancer per service and protocol: each
// service port's VIP over the ready endpoints, the service port's target
// as the endpoints list it. Services without ready endpoints get none
// (their VIP answers nothing), and each project with services lets its
// pods receive hairpin traffic (a backend calling its own service comes
// back from the VIP).
func addServices(t *topology, services []*api.Service, endpoints map[string]*api.Endpoints) {
	vipsByProject := map[string][]string{}
	for _, s := range services {
		vip, ok := serviceVIP(s)
		if !ok || s.Metadata.DeletionTimestamp != nil {
			continue
		}
		t.dnsRecords[s.Metadata.Name+"."+s.Metadata.Project+".svc"] = vip.String()
		ep := endpoints[s.Metadata.Project+"/"+s.Metadata.Name]
		byProto := map[string]map[string]string{}
		for _, sp := range s.Spec.Ports {
			proto := strings.ToUpper(sp.Protocol)
			if proto == "" {
				proto = "TCP"
			}
			var backends []string
			if ep != nil {
				for _, sub := range ep.Spec.Subsets {
					for _, p := range sub.Ports {
						pp := strings.ToUpper(p.Protocol)
						if pp == "" {
							pp = "TCP"
						}
						if p.Name != sp.Name || pp != proto {
							continue
						}
						for _, a := range sub.Addresses {
							if ip, err := netip.ParseAddr(a.IP); err == nil && ip.Is4() {
								backends = append(backends, netip.AddrPortFrom(ip, uint16(p.Port)).String())
							}
						}
					}
				}
			}
			if len(backends) == 0 {
				continue
			}
			slices.Sort(backends)
			backends = slices.Compact(backends)
			if byProto[proto] == nil {
				byProto[proto] = map[string]string{}
			}
			byProto[proto][netip.AddrPortFrom(vip, uint16(sp.Port)).String()] = strings.Join(backends, ",")
		}
		for proto, vips := range byProto {
			p := strings.ToLower(proto)
			key := fmt.Sprintf("lb/%s/%s/%s", s.Metadata.Project, s.Metadata.Name, p)
			t.loadBalancers[key] = ovsdb.LoadBalancer{Name: fmt.Sprintf("slw_svc_%s_%s_%s", s.Metadata.Project, s.Metadata.Name, p),
				VIPs: vips, Protocol: &p, ExternalIDs: ids(KeyExternalID, key, ProjectExternalID, s.Metadata.Project, ServiceExternalID, s.Metadata.Name)}
		}
		if len(byProto) > 0 {
			vipsByProject[s.Metadata.Project] = append(vipsByProject[s.Metadata.Project], vip.String())
		}
	}
	for project, vips := range vipsByProject {
		pg := t.portGroups["pg/project/"+project]
		if pg == nil {
			continue
		}
		slices.Sort(vips)
		vips = slices.Compact(vips)
		key := "pg/project/" + project + "/hairpin"
		pg.acls[key] = acl(key, priorityAllow, fmt.Sprintf("outport == @%s && ip4.src == {%s}", pg.pg.Name, strings.Join(vips, ", ")), "allow-related")
	}
}

// diffLoadBalancers plans the load balancer rows and returns a reference
// to each wanted one, for the switches' load_balancer column.
func diffLoadBalancers(p *plan, cur []ovsdb.LoadBalancer, want map[string]ovsdb.LoadBalancer) []any {
	lbs, extra := pickOwned(cur, func(lb ovsdb.LoadBalancer) string { return lb.ExternalIDs[KeyExternalID] })
	for _, lb := range extra {
		p.add(ovsdb.Delete(ovsdb.TableLoadBalancer, byUUID(lb.UUID)...))
	}
	var refs []any
	for _, key := range sortedKeys(want) {
		w := want[key]
		c, ok := lbs[key]
		if !ok {
			name := p.newName()
			p.add(ovsdb.Insert(ovsdb.TableLoadBalancer, w.Row(), name))
			refs = append(refs, ovsdb.NamedUUID(name))
			continue
		}
		refs = append(refs, c.UUID)
		if c.Name != w.Name || !mapsEqual(c.VIPs, w.VIPs) || c.Protocol == nil || *c.Protocol != *w.Protocol ||
			!mapsEqual(c.ExternalIDs, w.ExternalIDs) || !mapsEqual(c.Options, w.Options) {
			p.add(ovsdb.Update(ovsdb.TableLoadBalancer, byUUID(c.UUID), w.Row()))
		}
	}
	for key, c := range lbs {
		if _, keep := want[key]; !keep {
			p.add(ovsdb.Delete(ovsdb.TableLoadBalancer, byUUID(c.UUID)...))
		}
	}
	return refs
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// DNSKey is the KeyExternalID of the cluster's one DNS row.
const dnsKey = "dns/services"

// diffDNS plans the DNS row of service names and returns references for
// the switches' dns_records column (none without services).
func diffDNS(p *plan, cur []ovsdb.Row, want map[string]string) []any {
	var mine []ovsdb.Row
	for _, r := range cur {
		if ext, err := r.StringMap("external_ids"); err == nil && ext[KeyExternalID] == dnsKey {
			mine = append(mine, r)
		}
	}
	for _, r := range mine[min(1, len(mine)):] {
		u, _ := r.UUID()
		p.add(ovsdb.Delete("DNS", byUUID(u)...))
	}
	row := map[string]any{"records": ovsdb.Map[string, string](want), "external_ids": ovsdb.Map[string, string]{KeyExternalID: dnsKey}}
	if len(want) == 0 {
		if len(mine) > 0 {
			u, _ := mine[0].UUID()
			p.add(ovsdb.Delete("DNS", byUUID(u)...))
		}
		return nil
	}
	if len(mine) == 0 {
		name := p.newName()
		p.add(ovsdb.Insert("DNS", row, name))
		return []any{ovsdb.NamedUUID(name)}
	}
	u, _ := mine[0].UUID()
	if records, err := mine[0].StringMap("records"); err != nil || !mapsEqual(records, want) {
		p.add(ovsdb.Update("DNS", byUUID(u), row))
	}
	return []any{u}
}
