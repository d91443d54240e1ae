package rbac

import (
	"slices"
	"strings"

	"github.com/slipway/slipway/api"
)

// Resource is one entry of the policy table: a resource the API serves, its
// scope and the subresources requests may name. Authorize denies any
// resource or subresource that is not in the table.
type Resource struct {
	// Name is the plural resource name, as in the URL ("configmaps").
	Name  string
	Scope api.Scope
	// Subresources are the subresource names the API serves under the
	// resource, sorted.
	Subresources []string
}

// owner says how a resource's objects belong to a user, for the
// self-service rules.
type owner uint8

const (
	ownerNone  owner = iota
	ownerName        // the object's name is its owner's user name (users)
	ownerField       // the owner travels in Attributes.Owner (tokens)
)

// policyEntry is the evaluator's view of a table entry.
type policyEntry struct {
	Resource
	owner owner
	// id is the index of the resource itself in permission vectors; the
	// subresources follow at id+1+i.
	id int
}

// policyTable lists every resource Slipway serves or will serve. Adding a
// resource here without adding it to the roles leaves it reachable only by
// cluster-admin; TestRoleTablesClassifyEveryResource makes that a choice.
var policyTable = []policyEntry{
	// Cluster-scoped.
	{Resource: Resource{Name: "projects", Scope: api.ClusterScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "users", Scope: api.ClusterScoped, Subresources: []string{"password", "status"}}, owner: ownerName},
	{Resource: Resource{Name: "groups", Scope: api.ClusterScoped}},
	{Resource: Resource{Name: "tokens", Scope: api.ClusterScoped, Subresources: []string{"status"}}, owner: ownerField},
	{Resource: Resource{Name: "clusterrolebindings", Scope: api.ClusterScoped}},
	{Resource: Resource{Name: "nodes", Scope: api.ClusterScoped, Subresources: []string{"certificate", "stats", "status"}}},
	{Resource: Resource{Name: "leases", Scope: api.ClusterScoped}},
	// Project-scoped.
	{Resource: Resource{Name: "configmaps", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "secrets", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "rolebindings", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "serviceaccounts", Scope: api.ProjectScoped, Subresources: []string{"token"}}},
	{Resource: Resource{Name: "deployments", Scope: api.ProjectScoped, Subresources: []string{"log", "rollback", "scale", "status"}}},
	{Resource: Resource{Name: "pods", Scope: api.ProjectScoped, Subresources: []string{"eviction", "exec", "log", "status"}}},
	{Resource: Resource{Name: "replicasets", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "services", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "endpoints", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "routes", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "buildconfigs", Scope: api.ProjectScoped, Subresources: []string{"instantiate", "status", "webhooks"}}},
	{Resource: Resource{Name: "builds", Scope: api.ProjectScoped, Subresources: []string{"log", "source", "status"}}},
	{Resource: Resource{Name: "images", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "events", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "resourcequotas", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "limitranges", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "jobs", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
	{Resource: Resource{Name: "networkpolicies", Scope: api.ProjectScoped}},
	{Resource: Resource{Name: "poddisruptionbudgets", Scope: api.ProjectScoped, Subresources: []string{"status"}}},
}

// Indexes over policyTable, built once at init.
var (
	entries     map[string]*policyEntry // by resource name
	numIDs      int                     // length of a permission vector
	idNames     []string                // "pods", "pods/status", … by id
	projectsRes *policyEntry
)

// indexPolicyTable numbers the table's resources and subresources.
func indexPolicyTable() {
	entries = make(map[string]*policyEntry, len(policyTable))
	for i := range policyTable {
		e := &policyTable[i]
		if _, dup := entries[e.Name]; dup {
			panic("rbac: resource " + e.Name + " listed twice in the policy table")
		}
		if !slices.IsSorted(e.Subresources) {
			panic("rbac: subresources of " + e.Name + " are not sorted")
		}
		e.id = numIDs
		idNames = append(idNames, e.Name)
		for _, s := range e.Subresources {
			idNames = append(idNames, e.Name+"/"+s)
		}
		numIDs = len(idNames)
		entries[e.Name] = e
	}
	projectsRes = entries[api.ProjectsResource]
}

// subresourceID returns the permission-vector index of the resource (sub
// == "") or of one of its subresources.
func (e *policyEntry) subresourceID(sub string) (int, bool) {
	if sub == "" {
		return e.id, true
	}
	for i, s := range e.Subresources {
		if s == sub {
			return e.id + 1 + i, true
		}
	}
	return 0, false
}

// KnownResources returns the policy table sorted by name: every resource
// Authorize has a policy for. The API server's tests assert that each
// catalogue entry appears here with the same scope.
func KnownResources() []Resource {
	out := make([]Resource, len(policyTable))
	for i, e := range policyTable {
		out[i] = e.Resource
		out[i].Subresources = slices.Clone(e.Subresources)
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}
