package ovsdb

import (
	"context"
	"fmt"
)

// NorthboundDB is the name of the OVN Northbound database.
const NorthboundDB = "OVN_Northbound"

// OVN Northbound table names.
const (
	TableNBGlobal                 = "NB_Global"
	TableLogicalSwitch            = "Logical_Switch"
	TableLogicalSwitchPort        = "Logical_Switch_Port"
	TableLogicalRouter            = "Logical_Router"
	TableLogicalRouterPort        = "Logical_Router_Port"
	TableACL                      = "ACL"
	TablePortGroup                = "Port_Group"
	TableLoadBalancer             = "Load_Balancer"
	TableLogicalRouterPolicy      = "Logical_Router_Policy"
	TableLogicalRouterStaticRoute = "Logical_Router_Static_Route"
)

// Each Northbound type below has Row, the writable columns for an insert or
// update (UUID and columns owned by OVN itself left out), and a
// ...FromRow function that decodes a row read by select or monitor.

// LogicalSwitch is a row of Logical_Switch. Names are not unique in this
// table: key switches by ExternalIDs.
type LogicalSwitch struct {
	UUID          UUID
	Name          string
	Ports         []UUID
	ACLs          []UUID
	LoadBalancers []UUID
	DNSRecords    []UUID
	OtherConfig   map[string]string
	ExternalIDs   map[string]string
}

// Row returns ls's writable columns.
func (ls LogicalSwitch) Row() map[string]any {
	return map[string]any{
		"name":          ls.Name,
		"ports":         Set[UUID](ls.Ports),
		"acls":          Set[UUID](ls.ACLs),
		"load_balancer": Set[UUID](ls.LoadBalancers),
		"dns_records":   Set[UUID](ls.DNSRecords),
		"other_config":  stringMap(ls.OtherConfig),
		"external_ids":  stringMap(ls.ExternalIDs),
	}
}

// LogicalSwitchFromRow decodes a Logical_Switch row.
func LogicalSwitchFromRow(row Row) (LogicalSwitch, error) {
	r := rowReader{row: row}
	ls := LogicalSwitch{
		UUID: r.uuid(), Name: r.str("name"), Ports: r.uuids("ports"), ACLs: r.uuids("acls"),
		LoadBalancers: r.uuids("load_balancer"), DNSRecords: r.uuids("dns_records"), OtherConfig: r.strMap("other_config"),
		ExternalIDs: r.strMap("external_ids"),
	}
	return ls, wrapRowErr(TableLogicalSwitch, r.err)
}

// LogicalSwitchPort is a row of Logical_Switch_Port (unique by Name). Up is
// set by OVN once the port is bound on a chassis: a pod's readiness.
type LogicalSwitchPort struct {
	UUID         UUID
	Name         string
	Type         string
	Addresses    []string // e.g. "0a:58:0a:00:00:0b 10.0.0.11", or "router"
	PortSecurity []string
	Options      map[string]string
	Enabled      *bool
	Up           *bool
	ExternalIDs  map[string]string
}

// Row returns p's writable columns.
func (p LogicalSwitchPort) Row() map[string]any {
	return map[string]any{
		"name":          p.Name,
		"type":          p.Type,
		"addresses":     Set[string](p.Addresses),
		"port_security": Set[string](p.PortSecurity),
		"options":       stringMap(p.Options),
		"enabled":       optional(p.Enabled),
		"external_ids":  stringMap(p.ExternalIDs),
	}
}

// LogicalSwitchPortFromRow decodes a Logical_Switch_Port row.
func LogicalSwitchPortFromRow(row Row) (LogicalSwitchPort, error) {
	r := rowReader{row: row}
	p := LogicalSwitchPort{
		UUID: r.uuid(), Name: r.str("name"), Type: r.str("type"), Addresses: r.strings("addresses"),
		PortSecurity: r.strings("port_security"), Options: r.strMap("options"), Enabled: r.optBool("enabled"),
		Up: r.optBool("up"), ExternalIDs: r.strMap("external_ids"),
	}
	return p, wrapRowErr(TableLogicalSwitchPort, r.err)
}

// LogicalRouter is a row of Logical_Router (names not unique).
type LogicalRouter struct {
	UUID          UUID
	Name          string
	Ports         []UUID
	LoadBalancers []UUID
	Policies      []UUID
	StaticRoutes  []UUID
	Enabled       *bool
	Options       map[string]string
	ExternalIDs   map[string]string
}

// Row returns lr's writable columns.
func (lr LogicalRouter) Row() map[string]any {
	return map[string]any{
		"name":          lr.Name,
		"ports":         Set[UUID](lr.Ports),
		"policies":      Set[UUID](lr.Policies),
		"static_routes": Set[UUID](lr.StaticRoutes),
		"load_balancer": Set[UUID](lr.LoadBalancers),
		"enabled":       optional(lr.Enabled),
		"options":       stringMap(lr.Options),
		"external_ids":  stringMap(lr.ExternalIDs),
	}
}

// LogicalRouterFromRow decodes a Logical_Router row.
func LogicalRouterFromRow(row Row) (LogicalRouter, error) {
	r := rowReader{row: row}
	lr := LogicalRouter{
		UUID: r.uuid(), Name: r.str("name"), Ports: r.uuids("ports"), LoadBalancers: r.uuids("load_balancer"),
		Policies: r.uuids("policies"), StaticRoutes: r.uuids("static_routes"), Enabled: r.optBool("enabled"), Options: r.strMap("options"), ExternalIDs: r.strMap("external_ids"),
	}
	return lr, wrapRowErr(TableLogicalRouter, r.err)
}

// LogicalRouterPolicy is a row of Logical_Router_Policy: Action "allow",
// "drop" or "reroute" (to Nexthops) for packets matching Match, highest
// Priority first.
type LogicalRouterPolicy struct {
	UUID        UUID
	Priority    int64
	Match       string
	Action      string
	Nexthops    []string
	Options     map[string]string
	ExternalIDs map[string]string
}

// Row returns p's writable columns.
func (p LogicalRouterPolicy) Row() map[string]any {
	return map[string]any{
		"priority":     p.Priority,
		"match":        p.Match,
		"action":       p.Action,
		"nexthops":     Set[string](p.Nexthops),
		"options":      stringMap(p.Options),
		"external_ids": stringMap(p.ExternalIDs),
	}
}

// LogicalRouterPolicyFromRow decodes a Logical_Router_Policy row.
func LogicalRouterPolicyFromRow(row Row) (LogicalRouterPolicy, error) {
	r := rowReader{row: row}
	p := LogicalRouterPolicy{
		UUID: r.uuid(), Priority: r.integer("priority"), Match: r.str("match"), Action: r.str("action"),
		Nexthops: r.strings("nexthops"), Options: r.strMap("options"), ExternalIDs: r.strMap("external_ids"),
	}
	return p, wrapRowErr(TableLogicalRouterPolicy, r.err)
}

// LogicalRouterPort is a row of Logical_Router_Port (unique by Name).
type LogicalRouterPort struct {
	UUID        UUID
	Name        string
	MAC         string
	Networks    []string // e.g. "10.1.0.1/24"
	Peer        *string
	Enabled     *bool
	Options     map[string]string
	ExternalIDs map[string]string
}

// Row returns p's writable columns.
func (p LogicalRouterPort) Row() map[string]any {
	return map[string]any{
		"name":         p.Name,
		"mac":          p.MAC,
		"networks":     Set[string](p.Networks),
		"peer":         optional(p.Peer),
		"enabled":      optional(p.Enabled),
		"options":      stringMap(p.Options),
		"external_ids": stringMap(p.ExternalIDs),
	}
}

// LogicalRouterPortFromRow decodes a Logical_Router_Port row.
func LogicalRouterPortFromRow(row Row) (LogicalRouterPort, error) {
	r := rowReader{row: row}
	p := LogicalRouterPort{
		UUID: r.uuid(), Name: r.str("name"), MAC: r.str("mac"), Networks: r.strings("networks"),
		Peer: r.optString("peer"), Enabled: r.optBool("enabled"), Options: r.strMap("options"), ExternalIDs: r.strMap("external_ids"),
	}
	return p, wrapRowErr(TableLogicalRouterPort, r.err)
}

// ACL is a row of ACL: Direction "from-lport" or "to-lport", Action
// "allow", "allow-related", "allow-stateless", "drop" or "reject".
type ACL struct {
	UUID        UUID
	Name        *string
	Direction   string
	Priority    int64
	Match       string
	Action      string
	Log         bool
	Severity    *string
	ExternalIDs map[string]string
}

// Row returns a's writable columns.
func (a ACL) Row() map[string]any {
	return map[string]any{
		"name":         optional(a.Name),
		"direction":    a.Direction,
		"priority":     a.Priority,
		"match":        a.Match,
		"action":       a.Action,
		"log":          a.Log,
		"severity":     optional(a.Severity),
		"external_ids": stringMap(a.ExternalIDs),
	}
}

// ACLFromRow decodes an ACL row.
func ACLFromRow(row Row) (ACL, error) {
	r := rowReader{row: row}
	a := ACL{
		UUID: r.uuid(), Name: r.optString("name"), Direction: r.str("direction"), Priority: r.integer("priority"),
		Match: r.str("match"), Action: r.str("action"), Log: r.boolean("log"), Severity: r.optString("severity"),
		ExternalIDs: r.strMap("external_ids"),
	}
	return a, wrapRowErr(TableACL, r.err)
}

// PortGroup is a row of Port_Group (unique by Name; referenced in ACL
// matches as @name, its addresses as $name_ip4).
type PortGroup struct {
	UUID        UUID
	Name        string
	Ports       []UUID
	ACLs        []UUID
	ExternalIDs map[string]string
}

// Row returns pg's writable columns.
func (pg PortGroup) Row() map[string]any {
	return map[string]any{
		"name":         pg.Name,
		"ports":        Set[UUID](pg.Ports),
		"acls":         Set[UUID](pg.ACLs),
		"external_ids": stringMap(pg.ExternalIDs),
	}
}

// PortGroupFromRow decodes a Port_Group row.
func PortGroupFromRow(row Row) (PortGroup, error) {
	r := rowReader{row: row}
	pg := PortGroup{UUID: r.uuid(), Name: r.str("name"), Ports: r.uuids("ports"), ACLs: r.uuids("acls"), ExternalIDs: r.strMap("external_ids")}
	return pg, wrapRowErr(TablePortGroup, r.err)
}

// LoadBalancer is a row of Load_Balancer: VIPs maps "10.96.0.10:80" to
// "10.1.0.12:8080,10.2.0.11:8080"; Protocol "tcp", "udp" or "sctp".
type LoadBalancer struct {
	UUID        UUID
	Name        string
	VIPs        map[string]string
	Protocol    *string
	Options     map[string]string
	ExternalIDs map[string]string
}

// Row returns lb's writable columns.
func (lb LoadBalancer) Row() map[string]any {
	return map[string]any{
		"name":         lb.Name,
		"vips":         stringMap(lb.VIPs),
		"protocol":     optional(lb.Protocol),
		"options":      stringMap(lb.Options),
		"external_ids": stringMap(lb.ExternalIDs),
	}
}

// LoadBalancerFromRow decodes a Load_Balancer row.
func LoadBalancerFromRow(row Row) (LoadBalancer, error) {
	r := rowReader{row: row}
	lb := LoadBalancer{
		UUID: r.uuid(), Name: r.str("name"), VIPs: r.strMap("vips"), Protocol: r.optString("protocol"),
		Options: r.strMap("options"), ExternalIDs: r.strMap("external_ids"),
	}
	return lb, wrapRowErr(TableLoadBalancer, r.err)
}

// NBGlobal is the single row of NB_Global. NBCfg is bumped by clients that
// want to know when their changes reached the chassis: northd copies it to
// SBCfg, and HVCfg once every chassis has caught up.
type NBGlobal struct {
	UUID        UUID
	Name        string
	NBCfg       int64
	SBCfg       int64
	HVCfg       int64
	Options     map[string]string
	ExternalIDs map[string]string
}

// Row returns g's writable columns.
func (g NBGlobal) Row() map[string]any {
	return map[string]any{
		"name":         g.Name,
		"options":      stringMap(g.Options),
		"external_ids": stringMap(g.ExternalIDs),
	}
}

// NBGlobalFromRow decodes the NB_Global row.
func NBGlobalFromRow(row Row) (NBGlobal, error) {
	r := rowReader{row: row}
	g := NBGlobal{
		UUID: r.uuid(), Name: r.str("name"), NBCfg: r.integer("nb_cfg"), SBCfg: r.integer("sb_cfg"),
		HVCfg: r.integer("hv_cfg"), Options: r.strMap("options"), ExternalIDs: r.strMap("external_ids"),
	}
	return g, wrapRowErr(TableNBGlobal, r.err)
}

func wrapRowErr(table string, err error) error {
	if err != nil {
		return fmt.Errorf("decode %s row: %w", table, err)
	}
	return nil
}

// InsertReferenced returns the operations that insert child (a row of a
// non-root table such as Logical_Switch_Port) and add it to the set column
// refColumn of the parent row, in one transaction: a non-root row that no
// parent references is deleted by the server at commit. parent is a UUID
// or a NamedUUID from an earlier insert of the same transaction.
func InsertReferenced(parentTable string, parent any, refColumn, childTable string, child map[string]any, childName string) []Operation {
	return []Operation{
		Insert(childTable, child, childName),
		Mutate(parentTable, []Condition{Equal("_uuid", parent)},
			Mutation{Column: refColumn, Mutator: "insert", Value: Set[NamedUUID]{NamedUUID(childName)}}),
	}
}

// SelectRows runs one select on db and decodes every row with decode
// (e.g. LogicalSwitchPortFromRow).
func SelectRows[T any](ctx context.Context, c *Client, db, table string, where []Condition, decode func(Row) (T, error)) ([]T, error) {
	res, err := c.Transact(ctx, db, Select(table, where))
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(res[0].Rows))
	for _, row := range res[0].Rows {
		v, err := decode(row)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// WaitHV bumps NB_Global.nb_cfg and waits until every chassis has applied
// the Northbound contents up to that point (hv_cfg >= nb_cfg): the
// equivalent of ovn-nbctl --wait=hv. It polls with a server-side wait, so
// it returns promptly after the chassis catch up, or when ctx ends.
func WaitHV(ctx context.Context, c *Client) error {
	res, err := c.Transact(ctx, NorthboundDB,
		Mutate(TableNBGlobal, nil, Mutation{Column: "nb_cfg", Mutator: "+=", Value: 1}),
		Select(TableNBGlobal, nil, "nb_cfg"))
	if err != nil {
		return fmt.Errorf("bump nb_cfg: %w", err)
	}
	if res[0].Count != 1 || len(res[1].Rows) != 1 {
		return fmt.Errorf("bump nb_cfg: NB_Global has %d rows, want 1", res[0].Count)
	}
	target, err := res[1].Rows[0].Int("nb_cfg")
	if err != nil {
		return fmt.Errorf("bump nb_cfg: %w", err)
	}
	for {
		rows, err := SelectRows(ctx, c, NorthboundDB, TableNBGlobal, nil, NBGlobalFromRow)
		if err != nil {
			return fmt.Errorf("wait for hv_cfg %d: %w", target, err)
		}
		if len(rows) != 1 {
			return fmt.Errorf("wait for hv_cfg %d: NB_Global has %d rows, want 1", target, len(rows))
		}
		if rows[0].HVCfg >= target {
			return nil
		}
		// Block in the server until hv_cfg changes or 500 ms pass.
		_, err = c.Transact(ctx, NorthboundDB, Wait(TableNBGlobal, 500, nil, []string{"hv_cfg"}, "!=",
			[]map[string]any{{"hv_cfg": rows[0].HVCfg}}))
		if err != nil && !isTimedOut(err) {
			return fmt.Errorf("wait for hv_cfg %d: %w", target, err)
		}
	}
}

// LogicalRouterStaticRoute is a row of Logical_Router_Static_Route:
// packets to IPPrefix go to Nexthop.
type LogicalRouterStaticRoute struct {
	UUID        UUID
	IPPrefix    string
	Nexthop     string
	ExternalIDs map[string]string
}

// Row returns r's writable columns.
func (r LogicalRouterStaticRoute) Row() map[string]any {
	return map[string]any{"ip_prefix": r.IPPrefix, "nexthop": r.Nexthop, "external_ids": stringMap(r.ExternalIDs)}
}

// LogicalRouterStaticRouteFromRow decodes a Logical_Router_Static_Route row.
func LogicalRouterStaticRouteFromRow(row Row) (LogicalRouterStaticRoute, error) {
	r := rowReader{row: row}
	sr := LogicalRouterStaticRoute{UUID: r.uuid(), IPPrefix: r.str("ip_prefix"), Nexthop: r.str("nexthop"), ExternalIDs: r.strMap("external_ids")}
	return sr, wrapRowErr(TableLogicalRouterStaticRoute, r.err)
}
