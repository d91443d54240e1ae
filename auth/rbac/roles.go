package rbac

import (
	"fmt"
	"slices"
	"strings"

	"github.com/slipway/slipway/api"
)

// RoleScope says how a role may be bound.
type RoleScope int

const (
	// ClusterRole roles are bound only by ClusterRoleBindings and apply to
	// every resource they name, cluster-scoped or in any project.
	ClusterRole RoleScope = iota
	// ProjectRole roles are bound in one project by a RoleBinding, or in
	// every project by a ClusterRoleBinding. They name only project-scoped
	// resources and the project object itself ("projects", meaning the
	// project the binding applies to).
	ProjectRole
)

// Built-in role names.
const (
	RoleClusterAdmin    = "cluster-admin"
	RoleClusterReader   = "cluster-reader"
	RoleSelfProvisioner = "self-provisioner"
	RoleNode            = "system:node"
	RoleRouter          = "system:router"
	RoleSDN             = "system:sdn"
	RoleBuilder         = "system:builder"
	RoleWebhook         = "system:webhook"
	RoleAdmin           = "admin"
	RoleEdit            = "edit"
	RoleView            = "view"
)

// PolicyRule grants Verbs on Resources. A resource is "name",
// "name/subresource", "name/*" (the resource and all its subresources), "*"
// (every resource and subresource) or "*/subresource"; a verb "*" is every
// verb. Rules only grant: there is no deny.
type PolicyRule struct {
	Verbs     []string
	Resources []string
}

// Role is a named set of rules.
type Role struct {
	Name        string
	Scope       RoleScope
	Description string
	Rules       []PolicyRule
}

var (
	read      = []string{VerbGet, VerbList, VerbWatch}
	readWrite = []string{VerbGet, VerbList, VerbWatch, VerbCreate, VerbUpdate, VerbPatch, VerbDelete}
	modify    = []string{VerbUpdate, VerbPatch}
)

// Rules shared by the project roles. Status subresources are written by
// controllers and agents (spec and status have different owners), so users
// only read them; events are records written by the system and read-only too.
var (
	// editableInProject are the objects admin and edit manage.
	editableInProject = []string{
		"configmaps", "secrets", "serviceaccounts", "deployments", "replicasets", "pods",
		"services", "endpoints", "routes", "buildconfigs", "builds", "images",
		"jobs", "networkpolicies", "poddisruptionbudgets",
	}
	// workloadActions are the non-CRUD actions of admin and edit.
	workloadActions = []PolicyRule{
		{Verbs: []string{VerbGet, VerbUpdate, VerbPatch}, Resources: []string{"deployments/scale"}},
		{Verbs: []string{VerbCreate}, Resources: []string{"deployments/rollback", "buildconfigs/instantiate", "serviceaccounts/token", "pods/exec", "pods/eviction"}},
	}
	// readableDetails are the status, scale and log views that go with the
	// readable objects of every project role.
	readableDetails = []PolicyRule{
		{Verbs: read, Resources: []string{
			"deployments/status", "replicasets/status", "pods/status", "services/status", "routes/status",
			"buildconfigs/status", "builds/status", "jobs/status", "poddisruptionbudgets/status", "images/status", "events",
		}},
		{Verbs: []string{VerbGet}, Resources: []string{"deployments/log", "pods/log", "builds/log", "builds/source"}},
	}
)

// builtinRoles is the role table. Order is irrelevant; names are unique.
var builtinRoles = []Role{
	{
		Name: RoleClusterAdmin, Scope: ClusterRole,
		Description: "Every verb on every resource, everywhere.",
		Rules:       []PolicyRule{{Verbs: []string{"*"}, Resources: []string{"*"}}},
	},
	{
		Name: RoleClusterReader, Scope: ClusterRole,
		Description: "Read every resource everywhere except secrets and tokens (both are credentials).",
		Rules: []PolicyRule{
			{Verbs: read, Resources: []string{
				"projects", "projects/status", "users", "users/status", "groups", "clusterrolebindings",
				"nodes", "nodes/status", "leases",
				"configmaps", "rolebindings", "serviceaccounts",
				"deployments", "deployments/status", "replicasets", "replicasets/status", "pods", "pods/status",
				"services", "services/status", "endpoints", "routes", "routes/status",
				"buildconfigs", "buildconfigs/status", "builds", "builds/status", "images", "images/status", "events",
				"resourcequotas", "resourcequotas/status", "limitranges",
				"jobs", "jobs/status", "networkpolicies", "poddisruptionbudgets", "poddisruptionbudgets/status",
			}},
			{Verbs: []string{VerbGet}, Resources: []string{"deployments/scale", "deployments/log", "pods/log", "builds/log", "nodes/stats"}},
		},
	},
	{
		Name: RoleSelfProvisioner, Scope: ClusterRole,
		Description: "Create projects (the creator becomes their admin).",
		Rules:       []PolicyRule{{Verbs: []string{VerbCreate}, Resources: []string{"projects"}}},
	},
	{
		// The node agent watches the pods of every project (it filters to
		// its node), reads what it needs to run them (config maps, secrets,
		// images to pull, services and endpoints), registers and updates
		// its Node, reports pod and node status and records events. get on
		// images lets it pull from the registry in every project.
		Name: RoleNode, Scope: ClusterRole,
		Description: "The node agent: run pods, report pod and node status, record events.",
		Rules: []PolicyRule{
			{Verbs: read, Resources: []string{"pods", "nodes", "services", "endpoints", "configmaps", "secrets"}},
			// Images to pull, and the uploaded source of binary builds.
			{Verbs: []string{VerbGet}, Resources: []string{"images", "builds/source"}},
			{Verbs: append(slices.Clone(read), modify...), Resources: []string{"pods/status", "nodes/status"}},
			{Verbs: []string{VerbCreate, VerbUpdate, VerbPatch}, Resources: []string{"nodes", "events"}},
			// Releasing a deleted pod's termination finalizer once it stopped
			// it (metadata is not writable through pods/status).
			{Verbs: []string{VerbPatch}, Resources: []string{"pods"}},
			// Its serving certificate, signed by the cluster CA.
			{Verbs: []string{VerbCreate}, Resources: []string{"nodes/certificate"}},
			// Its heartbeat: a Lease named after the node.
			{Verbs: []string{VerbGet, VerbCreate, VerbUpdate, VerbPatch}, Resources: []string{"leases"}},
		},
	},
	{
		Name: RoleRouter, Scope: ClusterRole,
		Description: "The router: watch routes, their backends and projects (for sharding), report route admission.",
		Rules: []PolicyRule{
			{Verbs: read, Resources: []string{"routes", "services", "endpoints", "projects"}},
			{Verbs: modify, Resources: []string{"routes/status"}},
		},
	},
	{
		// The SDN controller assigns node subnets and pod addresses as
		// annotations (metadata: written by patching the object itself).
		Name: RoleSDN, Scope: ClusterRole,
		Description: "The SDN controller: watch the network's inputs, record node subnets and pod addresses.",
		Rules: []PolicyRule{
			{Verbs: read, Resources: []string{"pods", "nodes", "projects", "networkpolicies", "services", "endpoints"}},
			{Verbs: []string{VerbPatch}, Resources: []string{"pods", "nodes"}},
		},
	},
	{
		// A build reads its Build and BuildConfig and its uploaded source,
		// pushes its image to the registry (which checks get/create/update
		// on images) and reports progress through builds/status. The build
		// controller binds it in each project to that project's "builder"
		// service account, whose short-lived token build pods push with.
		Name: RoleBuilder, Scope: ProjectRole,
		Description: "Build pods: read builds and their source, push images, report build status.",
		Rules: []PolicyRule{
			{Verbs: []string{VerbGet}, Resources: []string{"buildconfigs", "builds", "builds/source"}},
			{Verbs: []string{VerbGet, VerbCreate, VerbUpdate, VerbPatch}, Resources: []string{"images"}},
			{Verbs: modify, Resources: []string{"builds/status"}},
		},
	},
	{
		// Git providers call webhooks without a token; the webhook handler
		// authenticates them with the secret in the URL instead.
		Name: RoleWebhook, Scope: ClusterRole,
		Description: "Trigger builds through buildconfig webhooks (the secret in the URL is checked by the handler).",
		Rules:       []PolicyRule{{Verbs: []string{VerbCreate}, Resources: []string{"buildconfigs/webhooks"}}},
	},
	{
		// Quotas and limit ranges bound what the project's admins may use,
		// so they only read them; a cluster-admin sets them.
		Name: RoleAdmin, Scope: ProjectRole,
		Description: "Everything in the project, including role bindings; quotas and limit ranges are read-only.",
		Rules: slices.Concat([]PolicyRule{
			{Verbs: readWrite, Resources: append(slices.Clone(editableInProject), "rolebindings")},
			{Verbs: read, Resources: []string{"resourcequotas", "resourcequotas/status", "limitranges"}},
			{Verbs: []string{VerbGet, VerbWatch, VerbUpdate, VerbPatch, VerbDelete}, Resources: []string{"projects"}},
		}, workloadActions, readableDetails),
	},
	{
		Name: RoleEdit, Scope: ProjectRole,
		Description: "Everything in the project except role bindings, resource quotas and limit ranges (not even read).",
		Rules: slices.Concat([]PolicyRule{
			{Verbs: readWrite, Resources: editableInProject},
			{Verbs: []string{VerbGet, VerbWatch}, Resources: []string{"projects"}},
		}, workloadActions, readableDetails),
	},
	{
		Name: RoleView, Scope: ProjectRole,
		Description: "Read everything in the project except secrets and role bindings.",
		Rules: slices.Concat([]PolicyRule{
			{Verbs: read, Resources: []string{
				"configmaps", "serviceaccounts", "deployments", "replicasets", "pods",
				"services", "endpoints", "routes", "buildconfigs", "builds", "images",
				"resourcequotas", "resourcequotas/status", "limitranges", "jobs", "networkpolicies", "poddisruptionbudgets",
			}},
			{Verbs: []string{VerbGet, VerbWatch}, Resources: []string{"projects"}},
			{Verbs: []string{VerbGet}, Resources: []string{"deployments/scale"}},
		}, readableDetails),
	},
}

// compiledRole is a role as the evaluator uses it.
type compiledRole struct {
	Role
	idx int
	// perms[id] is the set of verbs the role grants on resource id.
	perms []verbSet
	// Precomputed reasons, so an allowed decision allocates nothing.
	clusterWideReason, inProjectReason string
}

var (
	compiledRoles []*compiledRole
	rolesByName   map[string]*compiledRole
)

// compileRoles compiles the role table; it runs after indexPolicyTable.
func compileRoles() {
	rolesByName = make(map[string]*compiledRole, len(builtinRoles))
	for i, r := range builtinRoles {
		c, err := compileRole(r)
		if err != nil {
			panic(err)
		}
		if _, dup := rolesByName[r.Name]; dup {
			panic("rbac: role " + r.Name + " defined twice")
		}
		c.idx = i
		compiledRoles = append(compiledRoles, c)
		rolesByName[r.Name] = c
	}
}

// compileRole turns a role's rules into a permission vector, rejecting
// unknown verbs and resources and, for project roles, cluster-scoped
// resources other than projects.
func compileRole(r Role) (*compiledRole, error) {
	c := &compiledRole{
		Role:              r,
		perms:             make([]verbSet, numIDs),
		clusterWideReason: fmt.Sprintf("allowed by role %q bound cluster-wide", r.Name),
		inProjectReason:   fmt.Sprintf("allowed by role %q bound in the project", r.Name),
	}
	for _, rule := range r.Rules {
		var verbs verbSet
		for _, v := range rule.Verbs {
			b, ok := parseVerb(v)
			if !ok {
				return nil, fmt.Errorf("rbac: role %s: unknown verb %q", r.Name, v)
			}
			verbs |= b
		}
		for _, res := range rule.Resources {
			ids, err := matchResource(res)
			if err != nil {
				return nil, fmt.Errorf("rbac: role %s: %w", r.Name, err)
			}
			for _, id := range ids {
				if r.Scope == ProjectRole && !projectRoleMayName(id) {
					return nil, fmt.Errorf("rbac: project role %s names cluster-scoped %s", r.Name, idNames[id])
				}
				c.perms[id] |= verbs
			}
		}
	}
	return c, nil
}

// projectRoleMayName reports whether a project role may grant on id: any
// project-scoped resource, and the projects resource itself.
func projectRoleMayName(id int) bool {
	for i := range policyTable {
		e := &policyTable[i]
		if id >= e.id && id <= e.id+len(e.Subresources) {
			return e.Scope == api.ProjectScoped || e == projectsRes
		}
	}
	return false
}

// matchResource expands a rule's resource pattern to permission-vector ids.
func matchResource(pattern string) ([]int, error) {
	res, sub, hasSub := strings.Cut(pattern, "/")
	var ids []int
	for i := range policyTable {
		e := &policyTable[i]
		if res != "*" && res != e.Name {
			continue
		}
		switch {
		case res == "*" && !hasSub:
			for id := e.id; id <= e.id+len(e.Subresources); id++ {
				ids = append(ids, id)
			}
		case !hasSub:
			ids = append(ids, e.id)
		case sub == "*":
			for id := e.id + 1; id <= e.id+len(e.Subresources); id++ {
				ids = append(ids, id)
			}
		default:
			if id, ok := e.subresourceID(sub); ok && sub != "" {
				ids = append(ids, id)
			} else if res != "*" {
				return nil, fmt.Errorf("unknown subresource %q", pattern)
			}
		}
	}
	if len(ids) == 0 && res != "*" {
		return nil, fmt.Errorf("unknown resource %q", pattern)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("resource pattern %q matches nothing", pattern)
	}
	return ids, nil
}

// Roles returns every built-in role, cluster roles first, then by name. The
// result is a copy the caller may keep.
func Roles() []Role {
	out := make([]Role, len(builtinRoles))
	for i, r := range builtinRoles {
		out[i] = cloneRole(r)
	}
	slices.SortFunc(out, func(a, b Role) int {
		if a.Scope != b.Scope {
			return int(a.Scope) - int(b.Scope)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// LookupRole returns the built-in role called name.
func LookupRole(name string) (Role, bool) {
	c, ok := rolesByName[name]
	if !ok {
		return Role{}, false
	}
	return cloneRole(c.Role), true
}

func cloneRole(r Role) Role {
	rules := make([]PolicyRule, len(r.Rules))
	for i, rule := range r.Rules {
		rules[i] = PolicyRule{Verbs: slices.Clone(rule.Verbs), Resources: slices.Clone(rule.Resources)}
	}
	r.Rules = rules
	return r
}
