package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/slipway/slipway/sdn/ovsdb"
)

// nbState is the controller's rows as read from the Northbound database:
// only rows carrying KeyExternalID, by key.
type nbState struct {
	routers  []ovsdb.LogicalRouter
	lrps     map[ovsdb.UUID]ovsdb.LogicalRouterPort
	switches []ovsdb.LogicalSwitch
	lsps     map[ovsdb.UUID]ovsdb.LogicalSwitchPort
	pgs      []ovsdb.PortGroup
	acls     map[ovsdb.UUID]ovsdb.ACL
	lbs      []ovsdb.LoadBalancer
	policies map[ovsdb.UUID]ovsdb.LogicalRouterPolicy
	routes   map[ovsdb.UUID]ovsdb.LogicalRouterStaticRoute
	dns      []ovsdb.Row
}

// readNB reads every row of the tables the controller writes in one
// transaction (a consistent snapshot) and keeps the controller's own.
func readNB(ctx context.Context, nb *ovsdb.Client) (*nbState, error) {
	ops := make([]ovsdb.Operation, len(cachedTables))
	for i, t := range cachedTables {
		ops[i] = ovsdb.Select(t, nil)
	}
	res, err := nb.Transact(ctx, ovsdb.NorthboundDB, ops...)
	if err != nil {
		return nil, fmt.Errorf("read Northbound: %w", err)
	}
	raw := make(map[string][]ovsdb.Row, len(cachedTables))
	for i, t := range cachedTables {
		raw[t] = res[i].Rows
	}
	return decodeState(raw)
}

// decodeState keeps the controller's rows of each table (by cachedTables
// name).
func decodeState(raw map[string][]ovsdb.Row) (*nbState, error) {
	s := &nbState{lrps: map[ovsdb.UUID]ovsdb.LogicalRouterPort{}, lsps: map[ovsdb.UUID]ovsdb.LogicalSwitchPort{},
		acls: map[ovsdb.UUID]ovsdb.ACL{}, policies: map[ovsdb.UUID]ovsdb.LogicalRouterPolicy{},
		routes: map[ovsdb.UUID]ovsdb.LogicalRouterStaticRoute{}}
	var err error
	if s.routers, err = decodeOwned(raw[ovsdb.TableLogicalRouter], ovsdb.LogicalRouterFromRow, func(r ovsdb.LogicalRouter) map[string]string { return r.ExternalIDs }); err != nil {
		return nil, err
	}
	if err := decodeInto(raw[ovsdb.TableLogicalRouterPort], ovsdb.LogicalRouterPortFromRow, func(r ovsdb.LogicalRouterPort) map[string]string { return r.ExternalIDs },
		func(r ovsdb.LogicalRouterPort) { s.lrps[r.UUID] = r }); err != nil {
		return nil, err
	}
	if s.switches, err = decodeOwned(raw[ovsdb.TableLogicalSwitch], ovsdb.LogicalSwitchFromRow, func(r ovsdb.LogicalSwitch) map[string]string { return r.ExternalIDs }); err != nil {
		return nil, err
	}
	if err := decodeInto(raw[ovsdb.TableLogicalSwitchPort], ovsdb.LogicalSwitchPortFromRow, func(r ovsdb.LogicalSwitchPort) map[string]string { return r.ExternalIDs },
		func(r ovsdb.LogicalSwitchPort) { s.lsps[r.UUID] = r }); err != nil {
		return nil, err
	}
	if s.pgs, err = decodeOwned(raw[ovsdb.TablePortGroup], ovsdb.PortGroupFromRow, func(r ovsdb.PortGroup) map[string]string { return r.ExternalIDs }); err != nil {
		return nil, err
	}
	if err := decodeInto(raw[ovsdb.TableACL], ovsdb.ACLFromRow, func(r ovsdb.ACL) map[string]string { return r.ExternalIDs },
		func(r ovsdb.ACL) { s.acls[r.UUID] = r }); err != nil {
		return nil, err
	}
	if s.lbs, err = decodeOwned(raw[ovsdb.TableLoadBalancer], ovsdb.LoadBalancerFromRow, func(r ovsdb.LoadBalancer) map[string]string { return r.ExternalIDs }); err != nil {
		return nil, err
	}
	if err := decodeInto(raw[ovsdb.TableLogicalRouterPolicy], ovsdb.LogicalRouterPolicyFromRow, func(r ovsdb.LogicalRouterPolicy) map[string]string { return r.ExternalIDs },
		func(r ovsdb.LogicalRouterPolicy) { s.policies[r.UUID] = r }); err != nil {
		return nil, err
	}
	if err := decodeInto(raw[ovsdb.TableLogicalRouterStaticRoute], ovsdb.LogicalRouterStaticRouteFromRow, func(r ovsdb.LogicalRouterStaticRoute) map[string]string { return r.ExternalIDs },
		func(r ovsdb.LogicalRouterStaticRoute) { s.routes[r.UUID] = r }); err != nil {
		return nil, err
	}
	s.dns = raw["DNS"]
	return s, nil
}

func decodeInto[T any](rows []ovsdb.Row, decode func(ovsdb.Row) (T, error), extIDs func(T) map[string]string, put func(T)) error {
	owned, err := decodeOwned(rows, decode, extIDs)
	for _, r := range owned {
		put(r)
	}
	return err
}

func decodeOwned[T any](rows []ovsdb.Row, decode func(ovsdb.Row) (T, error), extIDs func(T) map[string]string) ([]T, error) {
	var out []T
	for _, row := range rows {
		v, err := decode(row)
		if err != nil {
			return nil, err
		}
		if extIDs(v)[KeyExternalID] != "" {
			out = append(out, v)
		}
	}
	return out, nil
}

// plan collects the operations that turn the current rows into the
// wanted ones; nothing is written for rows that already match.
type plan struct {
	ops   []ovsdb.Operation
	names int
}

func (p *plan) add(ops ...ovsdb.Operation) { p.ops = append(p.ops, ops...) }

func (p *plan) newName() string {
	p.names++
	return fmt.Sprintf("row%d", p.names)
}

func byUUID(u ovsdb.UUID) []ovsdb.Condition { return []ovsdb.Condition{ovsdb.Equal("_uuid", u)} }

func refWhere(ref any) []ovsdb.Condition { return []ovsdb.Condition{ovsdb.Equal("_uuid", ref)} }

func insertInto(p *plan, parentTable string, parent any, column, table string, row map[string]any) ovsdb.NamedUUID {
	name := p.newName()
	p.add(ovsdb.InsertReferenced(parentTable, parent, column, table, row, name)...)
	return ovsdb.NamedUUID(name)
}

func removeFrom(p *plan, table string, parent ovsdb.UUID, column string, children []ovsdb.UUID) {
	if len(children) == 0 {
		return
	}
	p.add(ovsdb.Mutate(table, byUUID(parent), ovsdb.Mutation{Column: column, Mutator: "delete", Value: ovsdb.Set[ovsdb.UUID](children)}))
}

// pickOwned returns the row per key and the surplus rows (duplicates of a
// key, which only a crash between two writers could leave).
func pickOwned[T any](rows []T, key func(T) string) (map[string]T, []T) {
	out := map[string]T{}
	var extra []T
	for _, r := range rows {
		k := key(r)
		if _, dup := out[k]; dup {
			extra = append(extra, r)
			continue
		}
		out[k] = r
	}
	return out, extra
}

// diff plans the writes from cur to want.
func diff(cur *nbState, want *topology) *plan {
	p := &plan{}
	// The router and its ports.
	routers, extraRouters := pickOwned(cur.routers, func(r ovsdb.LogicalRouter) string { return r.ExternalIDs[KeyExternalID] })
	for _, r := range extraRouters {
		p.add(ovsdb.Delete(ovsdb.TableLogicalRouter, byUUID(r.UUID)...))
	}
	var routerRef any
	curRouter, ok := routers["router"]
	if !ok {
		name := p.newName()
		p.add(ovsdb.Insert(ovsdb.TableLogicalRouter, want.router.Row(), name))
		routerRef = ovsdb.NamedUUID(name)
	} else {
		routerRef = curRouter.UUID
		if curRouter.Name != want.router.Name || !maps.Equal(curRouter.ExternalIDs, want.router.ExternalIDs) {
			p.add(ovsdb.Update(ovsdb.TableLogicalRouter, byUUID(curRouter.UUID), map[string]any{
				"name": want.router.Name, "external_ids": ovsdb.Map[string, string](want.router.ExternalIDs)}))
		}
	}
	curLRPs := map[string]ovsdb.LogicalRouterPort{}
	if ok {
		for _, u := range curRouter.Ports {
			if lrp, mine := cur.lrps[u]; mine {
				curLRPs[lrp.ExternalIDs[KeyExternalID]] = lrp
			}
		}
	}
	for _, key := range sortedKeys(want.routerPorts) {
		w := want.routerPorts[key]
		if c, exists := curLRPs[key]; exists {
			if c.Name != w.Name || c.MAC != w.MAC || !sameStrings(c.Networks, w.Networks) || !maps.Equal(c.ExternalIDs, w.ExternalIDs) {
				p.add(ovsdb.Update(ovsdb.TableLogicalRouterPort, byUUID(c.UUID), w.Row()))
			}
			continue
		}
		insertInto(p, ovsdb.TableLogicalRouter, routerRef, "ports", ovsdb.TableLogicalRouterPort, w.Row())
	}
	if ok {
		var gone []ovsdb.UUID
		for key, c := range curLRPs {
			if _, keep := want.routerPorts[key]; !keep {
				gone = append(gone, c.UUID)
			}
		}
		removeFrom(p, ovsdb.TableLogicalRouter, curRouter.UUID, "ports", gone)
	}
	curPolicies := map[string]ovsdb.LogicalRouterPolicy{}
	if ok {
		for _, u := range curRouter.Policies {
			if pol, mine := cur.policies[u]; mine {
				curPolicies[pol.ExternalIDs[KeyExternalID]] = pol
			}
		}
	}
	for _, key := range sortedKeys(want.routerPolicies) {
		w := want.routerPolicies[key]
		if c, exists := curPolicies[key]; exists {
			if c.Priority != w.Priority || c.Match != w.Match || c.Action != w.Action || !sameStrings(c.Nexthops, w.Nexthops) ||
				!maps.Equal(c.ExternalIDs, w.ExternalIDs) {
				p.add(ovsdb.Update(ovsdb.TableLogicalRouterPolicy, byUUID(c.UUID), w.Row()))
			}
			continue
		}
		insertInto(p, ovsdb.TableLogicalRouter, routerRef, "policies", ovsdb.TableLogicalRouterPolicy, w.Row())
	}
	if ok {
		var gone []ovsdb.UUID
		for key, c := range curPolicies {
			if _, keep := want.routerPolicies[key]; !keep {
				gone = append(gone, c.UUID)
			}
		}
		slices.Sort(gone)
		removeFrom(p, ovsdb.TableLogicalRouter, curRouter.UUID, "policies", gone)
	}
	curRoutes := map[string]ovsdb.LogicalRouterStaticRoute{}
	if ok {
		for _, u := range curRouter.StaticRoutes {
			if r, mine := cur.routes[u]; mine {
				curRoutes[r.ExternalIDs[KeyExternalID]] = r
			}
		}
	}
	for _, key := range sortedKeys(want.staticRoutes) {
		w := want.staticRoutes[key]
		if c, exists := curRoutes[key]; exists {
			if c.IPPrefix != w.IPPrefix || c.Nexthop != w.Nexthop || !maps.Equal(c.ExternalIDs, w.ExternalIDs) {
				p.add(ovsdb.Update(ovsdb.TableLogicalRouterStaticRoute, byUUID(c.UUID), w.Row()))
			}
			continue
		}
		insertInto(p, ovsdb.TableLogicalRouter, routerRef, "static_routes", ovsdb.TableLogicalRouterStaticRoute, w.Row())
	}
	if ok {
		var gone []ovsdb.UUID
		for key, c := range curRoutes {
			if _, keep := want.staticRoutes[key]; !keep {
				gone = append(gone, c.UUID)
			}
		}
		slices.Sort(gone)
		removeFrom(p, ovsdb.TableLogicalRouter, curRouter.UUID, "static_routes", gone)
	}

	// Load balancers, attached to every switch below.
	lbRefs := diffLoadBalancers(p, cur.lbs, want.loadBalancers)
	dnsRefs := diffDNS(p, cur.dns, want.dnsRecords)

	// Switches and their ports; lspRef resolves port keys for port groups.
	lspRef := map[string]any{}
	switches, extraSwitches := pickOwned(cur.switches, func(s ovsdb.LogicalSwitch) string { return s.ExternalIDs[KeyExternalID] })
	for _, s := range extraSwitches {
		p.add(ovsdb.Delete(ovsdb.TableLogicalSwitch, byUUID(s.UUID)...))
	}
	for _, key := range sortedKeys(want.switches) {
		w := want.switches[key]
		c, exists := switches[key]
		var ref any
		curPorts := map[string]ovsdb.LogicalSwitchPort{}
		if exists {
			ref = c.UUID
			if c.Name != w.ls.Name || !maps.Equal(c.ExternalIDs, w.ls.ExternalIDs) || !sameMembers(c.LoadBalancers, lbRefs) ||
				!sameMembers(c.DNSRecords, dnsRefs) {
				p.add(ovsdb.Update(ovsdb.TableLogicalSwitch, byUUID(c.UUID), map[string]any{
					"name": w.ls.Name, "external_ids": ovsdb.Map[string, string](w.ls.ExternalIDs),
					"load_balancer": ovsdb.Set[any](lbRefs), "dns_records": ovsdb.Set[any](dnsRefs)}))
			}
			for _, u := range c.Ports {
				if lsp, mine := cur.lsps[u]; mine {
					curPorts[lsp.ExternalIDs[KeyExternalID]] = lsp
				}
			}
		} else {
			name := p.newName()
			p.add(ovsdb.Insert(ovsdb.TableLogicalSwitch, map[string]any{
				"name": w.ls.Name, "external_ids": ovsdb.Map[string, string](w.ls.ExternalIDs),
				"load_balancer": ovsdb.Set[any](lbRefs), "dns_records": ovsdb.Set[any](dnsRefs)}, name))
			ref = ovsdb.NamedUUID(name)
		}
		for _, pkey := range sortedKeys(w.ports) {
			wp := w.ports[pkey]
			if cp, ok := curPorts[pkey]; ok {
				lspRef[pkey] = cp.UUID
				if !sameLSP(cp, wp) {
					p.add(ovsdb.Update(ovsdb.TableLogicalSwitchPort, byUUID(cp.UUID), wp.Row()))
				}
				continue
			}
			lspRef[pkey] = insertInto(p, ovsdb.TableLogicalSwitch, ref, "ports", ovsdb.TableLogicalSwitchPort, wp.Row())
		}
		if exists {
			var gone []ovsdb.UUID
			for pkey, cp := range curPorts {
				if _, keep := w.ports[pkey]; !keep {
					gone = append(gone, cp.UUID)
				}
			}
			slices.Sort(gone)
			removeFrom(p, ovsdb.TableLogicalSwitch, c.UUID, "ports", gone)
		}
	}
	for key, c := range switches {
		if _, keep := want.switches[key]; !keep {
			p.add(ovsdb.Delete(ovsdb.TableLogicalSwitch, byUUID(c.UUID)...))
		}
	}

	// Port groups with their members and ACLs.
	pgs, extraPGs := pickOwned(cur.pgs, func(g ovsdb.PortGroup) string { return g.ExternalIDs[KeyExternalID] })
	for _, g := range extraPGs {
		p.add(ovsdb.Delete(ovsdb.TablePortGroup, byUUID(g.UUID)...))
	}
	for _, key := range sortedKeys(want.portGroups) {
		w := want.portGroups[key]
		var members []any
		for _, m := range w.members {
			if r, ok := lspRef[m]; ok {
				members = append(members, r)
			}
		}
		c, exists := pgs[key]
		if !exists {
			var aclRefs []any
			for _, akey := range sortedKeys(w.acls) {
				name := p.newName()
				p.add(ovsdb.Insert(ovsdb.TableACL, w.acls[akey].Row(), name))
				aclRefs = append(aclRefs, ovsdb.NamedUUID(name))
			}
			p.add(ovsdb.Insert(ovsdb.TablePortGroup, map[string]any{
				"name": w.pg.Name, "external_ids": ovsdb.Map[string, string](w.pg.ExternalIDs),
				"ports": ovsdb.Set[any](members), "acls": ovsdb.Set[any](aclRefs)}, ""))
			continue
		}
		row := map[string]any{}
		if c.Name != w.pg.Name || !maps.Equal(c.ExternalIDs, w.pg.ExternalIDs) {
			row["name"], row["external_ids"] = w.pg.Name, ovsdb.Map[string, string](w.pg.ExternalIDs)
		}
		if !sameMembers(c.Ports, members) {
			row["ports"] = ovsdb.Set[any](members)
		}
		if len(row) > 0 {
			p.add(ovsdb.Update(ovsdb.TablePortGroup, byUUID(c.UUID), row))
		}
		curACLs := map[string]ovsdb.ACL{}
		for _, u := range c.ACLs {
			if a, mine := cur.acls[u]; mine {
				curACLs[a.ExternalIDs[KeyExternalID]] = a
			}
		}
		var gone []ovsdb.UUID
		for akey, ca := range curACLs {
			if _, keep := w.acls[akey]; !keep {
				gone = append(gone, ca.UUID)
			}
		}
		slices.Sort(gone)
		removeFrom(p, ovsdb.TablePortGroup, c.UUID, "acls", gone)
		for _, akey := range sortedKeys(w.acls) {
			wa := w.acls[akey]
			if ca, ok := curACLs[akey]; ok {
				if ca.Direction != wa.Direction || ca.Priority != wa.Priority || ca.Match != wa.Match || ca.Action != wa.Action ||
					!maps.Equal(ca.ExternalIDs, wa.ExternalIDs) {
					p.add(ovsdb.Update(ovsdb.TableACL, byUUID(ca.UUID), wa.Row()))
				}
				continue
			}
			insertInto(p, ovsdb.TablePortGroup, c.UUID, "acls", ovsdb.TableACL, wa.Row())
		}
	}
	for key, c := range pgs {
		if _, keep := want.portGroups[key]; !keep {
			p.add(ovsdb.Delete(ovsdb.TablePortGroup, byUUID(c.UUID)...))
		}
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sameLSP(c, w ovsdb.LogicalSwitchPort) bool {
	return c.Name == w.Name && c.Type == w.Type && sameStrings(c.Addresses, w.Addresses) &&
		sameStrings(c.PortSecurity, w.PortSecurity) && maps.Equal(nilEmpty(c.Options), nilEmpty(w.Options)) &&
		maps.Equal(c.ExternalIDs, w.ExternalIDs)
}

func nilEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// sameMembers compares a port group's current ports with the wanted
// references; a named (just inserted) port always differs.
func sameMembers(cur []ovsdb.UUID, want []any) bool {
	if len(cur) != len(want) {
		return false
	}
	set := make(map[ovsdb.UUID]bool, len(cur))
	for _, u := range cur {
		set[u] = true
	}
	for _, w := range want {
		u, ok := w.(ovsdb.UUID)
		if !ok || !set[u] {
			return false
		}
	}
	return true
}
