package rbac_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/slipway/slipway/auth/rbac"
)

const (
	shop  = "shop"
	other = "other"
	infra = "infra"
)

// Identities of the matrix.
var (
	anonymous = rbac.UserInfo{}
	bob       = rbac.UserInfo{Name: "bob"} // authenticated, no role
	vera      = rbac.UserInfo{Name: "vera"}
	ed        = rbac.UserInfo{Name: "ed"}
	ada       = rbac.UserInfo{Name: "ada"}
	otto      = rbac.UserInfo{Name: "otto"} // admin of "other"
	rita      = rbac.UserInfo{Name: "rita"}
	root      = rbac.UserInfo{Name: "root"}
	gina      = rbac.UserInfo{Name: "gina", Groups: []string{"developers"}}
	node      = serviceAccount(infra, "node-1")
	router    = serviceAccount(infra, "router")
	builder   = serviceAccount(infra, "builder")
)

func serviceAccount(project, name string) rbac.UserInfo {
	return rbac.UserInfo{Name: rbac.ServiceAccountUser(project, name), ServiceAccount: true}
}

func user(name string) []rbac.Subject { return []rbac.Subject{{Kind: rbac.SubjectUser, Name: name}} }

func sa(project, name string) []rbac.Subject {
	return []rbac.Subject{{Kind: rbac.SubjectServiceAccount, Project: project, Name: name}}
}

// fixture returns an Authorizer holding the default bindings and one binding
// per identity of the matrix.
func fixture() *rbac.Authorizer {
	a := rbac.New()
	a.Replace(append(rbac.DefaultClusterRoleBindings(),
		rbac.ClusterRoleBinding{Name: "readers", Role: rbac.RoleClusterReader, Subjects: user("rita")},
		rbac.ClusterRoleBinding{Name: "root", Role: rbac.RoleClusterAdmin, Subjects: user("root")},
		rbac.ClusterRoleBinding{Name: "nodes", Role: rbac.RoleNode, Subjects: sa(infra, "node-1")},
		rbac.ClusterRoleBinding{Name: "routers", Role: rbac.RoleRouter, Subjects: sa(infra, "router")},
		rbac.ClusterRoleBinding{Name: "builders", Role: rbac.RoleBuilder, Subjects: sa(infra, "builder")},
	), []rbac.RoleBinding{
		{Project: shop, Name: "viewers", Role: rbac.RoleView, Subjects: user("vera")},
		{Project: shop, Name: "editors", Role: rbac.RoleEdit, Subjects: user("ed")},
		{Project: shop, Name: "admins", Role: rbac.RoleAdmin, Subjects: user("ada")},
		{Project: other, Name: "admins", Role: rbac.RoleAdmin, Subjects: user("otto")},
		{Project: shop, Name: "developers", Role: rbac.RoleEdit, Subjects: []rbac.Subject{{Kind: rbac.SubjectGroup, Name: "developers"}}},
	})
	return a
}

// req builds Attributes from "verb resource[/sub]".
func req(u rbac.UserInfo, verb, resource, project, name string) rbac.Attributes {
	res, sub, _ := cut(resource)
	return rbac.Attributes{User: u, Verb: verb, Resource: res, Subresource: sub, Project: project, Name: name}
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

const (
	byClusterAdmin  = `allowed by role "cluster-admin" bound cluster-wide`
	byClusterReader = `allowed by role "cluster-reader" bound cluster-wide`
	bySelfProv      = `allowed by role "self-provisioner" bound cluster-wide`
	byWebhook       = `allowed by role "system:webhook" bound cluster-wide`
	byNode          = `allowed by role "system:node" bound cluster-wide`
	byRouter        = `allowed by role "system:router" bound cluster-wide`
	byBuilder       = `allowed by role "system:builder" bound cluster-wide`
	byView          = `allowed by role "view" bound in the project`
	byEdit          = `allowed by role "edit" bound in the project`
	byAdmin         = `allowed by role "admin" bound in the project`
	ownUser         = "allowed: a user may get their own users object"
	ownPassword     = "allowed: a user may change their own password"
	ownTokens       = "allowed: a user may list, get and delete their own tokens"
	listProjects    = "allowed: a user may list the projects they can see"
)

func TestAuthorizeMatrix(t *testing.T) {
	t.Parallel()
	a := fixture()
	nodeName := node.Name
	tests := []struct {
		name    string
		attr    rbac.Attributes
		allowed bool
		ownOnly bool
		reason  string
	}{
		// Anonymous.
		{"anonymous get configmap", req(anonymous, "get", "configmaps", shop, "cfg"), false, false, `anonymous requests cannot get configmaps in project "shop"`},
		{"anonymous create project", req(anonymous, "create", "projects", "", ""), false, false, `anonymous requests cannot create projects`},
		{"anonymous list projects", req(anonymous, "list", "projects", "", ""), false, false, `anonymous requests cannot list projects`},
		{"anonymous list tokens", req(anonymous, "list", "tokens", "", ""), false, false, `anonymous requests cannot list tokens`},
		{"anonymous get user", req(anonymous, "get", "users", "", "bob"), false, false, `anonymous requests cannot get users`},
		{"anonymous webhook", req(anonymous, "create", "buildconfigs/webhooks", shop, "web"), true, false, byWebhook},
		{"anonymous cannot instantiate", req(anonymous, "create", "buildconfigs/instantiate", shop, "web"), false, false, `anonymous requests cannot create buildconfigs/instantiate in project "shop"`},
		{"anonymous groups ignored", req(rbac.UserInfo{Groups: []string{"developers"}, ServiceAccount: true}, "get", "configmaps", shop, "cfg"), false, false, `anonymous requests cannot get configmaps in project "shop"`},

		// Authenticated, no role.
		{"no role create project", req(bob, "create", "projects", "", ""), true, false, bySelfProv},
		{"no role get project", req(bob, "get", "projects", "", shop), false, false, `user "bob" cannot get projects "shop"`},
		{"no role list projects filtered", req(bob, "list", "projects", "", ""), true, true, listProjects},
		{"no role watch projects filtered", req(bob, "watch", "projects", "", ""), true, true, listProjects},
		{"no role watch a named project", req(bob, "watch", "projects", "", shop), false, false, `user "bob" cannot watch projects "shop"`},
		{"project list inside a project", req(bob, "list", "projects", shop, ""), false, false, `user "bob" cannot list projects: the collection of projects is not in project "shop"`},
		{"no role list configmaps", req(bob, "list", "configmaps", shop, ""), false, false, `user "bob" cannot list configmaps in project "shop"`},
		{"no role list pods everywhere", req(bob, "list", "pods", "", ""), false, false, `user "bob" cannot list pods across all projects`},
		{"get own user", req(bob, "get", "users", "", "bob"), true, false, ownUser},
		{"get other user", req(bob, "get", "users", "", "alice"), false, false, `user "bob" cannot get users other than their own`},
		{"list users", req(bob, "list", "users", "", ""), false, false, `user "bob" cannot list users`},
		{"delete own user", req(bob, "delete", "users", "", "bob"), false, false, `user "bob" cannot delete users`},
		{"change own password", req(bob, "update", "users/password", "", "bob"), true, false, ownPassword},
		{"change other password", req(bob, "update", "users/password", "", "alice"), false, false, `user "bob" cannot update users/password other than their own`},
		{"no role get node", req(bob, "get", "nodes", "", "n1"), false, false, `user "bob" cannot get nodes`},
		{"no role list groups", req(bob, "list", "groups", "", ""), false, false, `user "bob" cannot list groups`},
		{"no role webhook", req(bob, "create", "buildconfigs/webhooks", shop, "web"), true, false, byWebhook},

		// view in shop.
		{"view get project", req(vera, "get", "projects", "", shop), true, false, byView},
		{"view get project with project set", req(vera, "get", "projects", shop, shop), true, false, byView},
		{"view watch project", req(vera, "watch", "projects", "", shop), true, false, byView},
		{"view list projects filtered", req(vera, "list", "projects", "", ""), true, true, listProjects},
		{"view list configmaps", req(vera, "list", "configmaps", shop, ""), true, false, byView},
		{"view watch pods", req(vera, "watch", "pods", shop, ""), true, false, byView},
		{"view pod log", req(vera, "get", "pods/log", shop, "web-1"), true, false, byView},
		{"view deployment status", req(vera, "get", "deployments/status", shop, "web"), true, false, byView},
		{"view quota", req(vera, "get", "resourcequotas", shop, "q"), true, false, byView},
		{"view secret", req(vera, "get", "secrets", shop, "db"), false, false, `user "vera" cannot get secrets in project "shop"`},
		{"view list rolebindings", req(vera, "list", "rolebindings", shop, ""), false, false, `user "vera" cannot list rolebindings in project "shop"`},
		{"view create configmap", req(vera, "create", "configmaps", shop, ""), false, false, `user "vera" cannot create configmaps in project "shop"`},
		{"view scale", req(vera, "update", "deployments/scale", shop, "web"), false, false, `user "vera" cannot update deployments/scale in project "shop"`},
		{"view other project", req(vera, "get", "configmaps", other, "cfg"), false, false, `user "vera" cannot get configmaps in project "other"`},
		{"view delete project", req(vera, "delete", "projects", "", shop), false, false, `user "vera" cannot delete projects "shop"`},
		{"view list everywhere", req(vera, "list", "configmaps", "", ""), false, false, `user "vera" cannot list configmaps across all projects`},

		// edit in shop.
		{"edit create secret", req(ed, "create", "secrets", shop, ""), true, false, byEdit},
		{"edit get secret", req(ed, "get", "secrets", shop, "db"), true, false, byEdit},
		{"edit delete configmap", req(ed, "delete", "configmaps", shop, "cfg"), true, false, byEdit},
		{"edit patch deployment", req(ed, "patch", "deployments", shop, "web"), true, false, byEdit},
		{"edit rollback", req(ed, "create", "deployments/rollback", shop, "web"), true, false, byEdit},
		{"edit scale", req(ed, "update", "deployments/scale", shop, "web"), true, false, byEdit},
		{"edit instantiate", req(ed, "create", "buildconfigs/instantiate", shop, "app"), true, false, byEdit},
		{"edit service account token", req(ed, "create", "serviceaccounts/token", shop, "deployer"), true, false, byEdit},
		{"edit push image", req(ed, "update", "images", shop, "web"), true, false, byEdit},
		{"edit get project", req(ed, "get", "projects", "", shop), true, false, byEdit},
		{"edit list rolebindings", req(ed, "list", "rolebindings", shop, ""), false, false, `user "ed" cannot list rolebindings in project "shop"`},
		{"edit get quota", req(ed, "get", "resourcequotas", shop, "q"), false, false, `user "ed" cannot get resourcequotas in project "shop"`},
		{"edit list limitranges", req(ed, "list", "limitranges", shop, ""), false, false, `user "ed" cannot list limitranges in project "shop"`},
		{"edit pod status", req(ed, "update", "pods/status", shop, "web-1"), false, false, `user "ed" cannot update pods/status in project "shop"`},
		{"edit create event", req(ed, "create", "events", shop, ""), false, false, `user "ed" cannot create events in project "shop"`},
		{"edit update project", req(ed, "update", "projects", "", shop), false, false, `user "ed" cannot update projects "shop"`},

		// admin of other, looking at shop.
		{"foreign admin get configmap", req(otto, "get", "configmaps", shop, "cfg"), false, false, `user "otto" cannot get configmaps in project "shop"`},
		{"foreign admin get project", req(otto, "get", "projects", "", shop), false, false, `user "otto" cannot get projects "shop"`},
		{"foreign admin bind", req(otto, "create", "rolebindings", shop, ""), false, false, `user "otto" cannot create rolebindings in project "shop"`},
		{"foreign admin delete project", req(otto, "delete", "projects", "", shop), false, false, `user "otto" cannot delete projects "shop"`},
		{"foreign admin list everywhere", req(otto, "list", "pods", "", ""), false, false, `user "otto" cannot list pods across all projects`},
		{"foreign admin own project", req(otto, "delete", "projects", "", other), true, false, byAdmin},

		// admin of shop.
		{"admin create rolebinding", req(ada, "create", "rolebindings", shop, ""), true, false, byAdmin},
		{"admin delete rolebinding", req(ada, "delete", "rolebindings", shop, "editors"), true, false, byAdmin},
		{"admin cannot list projects in its project", req(ada, "list", "projects", shop, ""), false, false, `user "ada" cannot list projects: the collection of projects is not in project "shop"`},
		{"admin delete project", req(ada, "delete", "projects", "", shop), true, false, byAdmin},
		{"admin patch project", req(ada, "patch", "projects", shop, shop), true, false, byAdmin},
		{"admin get quota", req(ada, "get", "resourcequotas", shop, "q"), true, false, byAdmin},
		{"admin create quota", req(ada, "create", "resourcequotas", shop, ""), false, false, `user "ada" cannot create resourcequotas in project "shop"`},
		{"admin update limitrange", req(ada, "update", "limitranges", shop, "l"), false, false, `user "ada" cannot update limitranges in project "shop"`},
		{"admin project status", req(ada, "update", "projects/status", "", shop), false, false, `user "ada" cannot update projects/status "shop"`},
		{"admin list nodes", req(ada, "list", "nodes", "", ""), false, false, `user "ada" cannot list nodes`},
		{"admin delete clusterrolebinding", req(ada, "delete", "clusterrolebindings", "", "root"), false, false, `user "ada" cannot delete clusterrolebindings`},
		{"admin project mismatch", req(ada, "get", "projects", other, shop), false, false, `user "ada" cannot get projects "shop": request for project "shop" made in project "other"`},

		// cluster-reader.
		{"reader list pods everywhere", req(rita, "list", "pods", "", ""), true, false, byClusterReader},
		{"reader get configmap", req(rita, "get", "configmaps", shop, "cfg"), true, false, byClusterReader},
		{"reader watch nodes", req(rita, "watch", "nodes", "", ""), true, false, byClusterReader},
		{"reader get project", req(rita, "get", "projects", "", shop), true, false, byClusterReader},
		{"reader list rolebindings", req(rita, "list", "rolebindings", shop, ""), true, false, byClusterReader},
		{"reader list projects", req(rita, "list", "projects", "", ""), true, false, byClusterReader},
		{"reader secret", req(rita, "get", "secrets", shop, "db"), false, false, `user "rita" cannot get secrets in project "shop"`},
		{"reader secrets everywhere", req(rita, "list", "secrets", "", ""), false, false, `user "rita" cannot list secrets across all projects`},
		{"reader tokens only own", req(rita, "list", "tokens", "", ""), true, true, ownTokens},
		{"reader update", req(rita, "update", "configmaps", shop, "cfg"), false, false, `user "rita" cannot update configmaps in project "shop"`},

		// cluster-admin.
		{"root delete secret", req(root, "delete", "secrets", shop, "db"), true, false, byClusterAdmin},
		{"root create node", req(root, "create", "nodes", "", ""), true, false, byClusterAdmin},
		{"root delete clusterrolebinding", req(root, "delete", "clusterrolebindings", "", "readers"), true, false, byClusterAdmin},
		{"root list all tokens", req(root, "list", "tokens", "", ""), true, false, byClusterAdmin},
		{"root create quota", req(root, "create", "resourcequotas", shop, ""), true, false, byClusterAdmin},
		{"root project status", req(root, "update", "projects/status", "", shop), true, false, byClusterAdmin},
		{"root unknown resource", req(root, "get", "widgets", shop, "w"), false, false, `user "root" cannot get widgets in project "shop": resource "widgets" has no access policy`},
		{"root unknown subresource", req(root, "create", "pods/attach", shop, "web-1"), false, false, `user "root" cannot create pods/attach in project "shop": resource "pods" has no subresource "attach"`},
		{"root unknown verb", req(root, "escalate", "pods", shop, ""), false, false, `user "root" cannot escalate pods in project "shop": unknown verb "escalate"`},
		{"root wildcard verb", req(root, "*", "pods", shop, ""), false, false, `user "root" cannot * pods in project "shop": unknown verb "*"`},
		{"root cluster-scoped in project", req(root, "get", "nodes", shop, "n1"), false, false, `user "root" cannot get nodes: nodes are cluster-scoped but the request names project "shop"`},

		// Service account bound to system:node.
		{"node list pods everywhere", req(node, "list", "pods", "", ""), true, false, byNode},
		{"node watch pods", req(node, "watch", "pods", "", ""), true, false, byNode},
		{"node get secret", req(node, "get", "secrets", shop, "db"), true, false, byNode},
		{"node pod status", req(node, "update", "pods/status", shop, "web-1"), true, false, byNode},
		{"node node status", req(node, "patch", "nodes/status", "", "n1"), true, false, byNode},
		{"node register", req(node, "create", "nodes", "", ""), true, false, byNode},
		{"node event", req(node, "create", "events", shop, ""), true, false, byNode},
		{"node pull image", req(node, "get", "images", shop, "web"), true, false, byNode},
		{"node update pod", req(node, "update", "pods", shop, "web-1"), false, false, fmt.Sprintf(`service account %q cannot update pods in project "shop"`, nodeName)},
		{"node delete node", req(node, "delete", "nodes", "", "n1"), false, false, fmt.Sprintf(`service account %q cannot delete nodes`, nodeName)},
		{"node list secrets", req(node, "list", "secrets", "", ""), true, false, byNode},
		{"node rolebindings", req(node, "list", "rolebindings", shop, ""), false, false, fmt.Sprintf(`service account %q cannot list rolebindings in project "shop"`, nodeName)},
		{"impostor is not the node", req(rbac.UserInfo{Name: nodeName}, "list", "pods", "", ""), false, false, fmt.Sprintf(`user %q cannot list pods across all projects`, nodeName)},

		// Router and builder.
		{"router watch routes", req(router, "watch", "routes", "", ""), true, false, byRouter},
		{"router route status", req(router, "patch", "routes/status", shop, "web"), true, false, byRouter},
		{"router update route", req(router, "update", "routes", shop, "web"), false, false, fmt.Sprintf(`service account %q cannot update routes in project "shop"`, router.Name)},
		{"router secret", req(router, "get", "secrets", shop, "tls"), false, false, fmt.Sprintf(`service account %q cannot get secrets in project "shop"`, router.Name)},
		{"builder push", req(builder, "create", "images", shop, ""), true, false, byBuilder},
		{"builder build status", req(builder, "update", "builds/status", shop, "app-1"), true, false, byBuilder},
		{"builder read buildconfig", req(builder, "get", "buildconfigs", shop, "app"), true, false, byBuilder},
		{"builder delete build", req(builder, "delete", "builds", shop, "app-1"), false, false, fmt.Sprintf(`service account %q cannot delete builds in project "shop"`, builder.Name)},

		// A group binding.
		{"group create deployment", req(gina, "create", "deployments", shop, ""), true, false, byEdit},
		{"group get project", req(gina, "get", "projects", "", shop), true, false, byEdit},
		{"group rolebindings", req(gina, "list", "rolebindings", shop, ""), false, false, `user "gina" cannot list rolebindings in project "shop"`},
		{"group other project", req(gina, "get", "configmaps", other, "cfg"), false, false, `user "gina" cannot get configmaps in project "other"`},
		{"group not held", req(bob, "create", "deployments", shop, ""), false, false, `user "bob" cannot create deployments in project "shop"`},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := a.Authorize(tc.attr)
			if d.Allowed != tc.allowed || d.OwnOnly != tc.ownOnly || d.Reason != tc.reason {
				t.Errorf("Authorize(%+v) = {Allowed:%v OwnOnly:%v Reason:%q}, want {Allowed:%v OwnOnly:%v Reason:%q}",
					tc.attr, d.Allowed, d.OwnOnly, d.Reason, tc.allowed, tc.ownOnly, tc.reason)
			}
		})
	}
}

func TestOwnTokens(t *testing.T) {
	t.Parallel()
	a := fixture()
	tokens := func(u rbac.UserInfo, verb, name, owner string) rbac.Attributes {
		return rbac.Attributes{User: u, Verb: verb, Resource: "tokens", Name: name, Owner: owner}
	}
	tests := []struct {
		name    string
		attr    rbac.Attributes
		allowed bool
		ownOnly bool
		reason  string
	}{
		{"list all is filtered", tokens(bob, "list", "", ""), true, true, ownTokens},
		{"watch all is filtered", tokens(bob, "watch", "", ""), true, true, ownTokens},
		{"list restricted to self", tokens(bob, "list", "", "bob"), true, false, ownTokens},
		{"list restricted to another", tokens(bob, "list", "", "alice"), false, false, `user "bob" cannot list tokens other than their own`},
		{"get own", tokens(bob, "get", "t1", "bob"), true, false, ownTokens},
		{"delete own", tokens(bob, "delete", "t1", "bob"), true, false, ownTokens},
		{"get another's", tokens(bob, "get", "t2", "alice"), false, false, `user "bob" cannot get tokens other than their own`},
		{"delete another's", tokens(bob, "delete", "t2", "alice"), false, false, `user "bob" cannot delete tokens other than their own`},
		{"owner unknown fails closed", tokens(bob, "get", "t1", ""), false, false, `user "bob" cannot get tokens other than their own`},
		{"no create", tokens(bob, "create", "", "bob"), false, false, `user "bob" cannot create tokens`},
		{"no update", tokens(bob, "update", "t1", "bob"), false, false, `user "bob" cannot update tokens`},
		{"anonymous with empty owner", tokens(anonymous, "get", "t1", ""), false, false, `anonymous requests cannot get tokens`},
		{"service account own", tokens(node, "delete", "t3", node.Name), true, false, ownTokens},
		{"cluster-admin any", tokens(root, "delete", "t2", "alice"), true, false, byClusterAdmin},
		{"cluster-reader not all", tokens(rita, "get", "t2", "alice"), false, false, `user "rita" cannot get tokens other than their own`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := a.Authorize(tc.attr)
			if d.Allowed != tc.allowed || d.OwnOnly != tc.ownOnly || d.Reason != tc.reason {
				t.Errorf("got {Allowed:%v OwnOnly:%v Reason:%q}, want {Allowed:%v OwnOnly:%v Reason:%q}",
					d.Allowed, d.OwnOnly, d.Reason, tc.allowed, tc.ownOnly, tc.reason)
			}
		})
	}

	t.Run("Admits filters a listing", func(t *testing.T) {
		t.Parallel()
		d := a.Authorize(tokens(bob, "list", "", ""))
		for owner, want := range map[string]bool{"bob": true, "alice": false, "": false} {
			if got := d.Admits(owner); got != want {
				t.Errorf("Admits(%q) = %v, want %v", owner, got, want)
			}
		}
		all := a.Authorize(tokens(root, "list", "", ""))
		if !all.Admits("alice") || !all.Admits("bob") {
			t.Errorf("cluster-admin listing should admit every token")
		}
		if denied := a.Authorize(tokens(anonymous, "list", "", "")); denied.Admits("") {
			t.Errorf("a denied decision admits nothing")
		}
	})
}

func TestBindingUpdates(t *testing.T) {
	t.Parallel()
	get := req(bob, "get", "configmaps", shop, "cfg")
	create := req(bob, "create", "configmaps", shop, "")
	type step struct {
		name        string
		do          func(a *rbac.Authorizer)
		get, create bool
		rolesInShop []string
	}
	steps := []step{
		{"nothing yet", func(*rbac.Authorizer) {}, false, false, nil},
		{"bind view", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b1", Role: rbac.RoleView, Subjects: user("bob")})
		}, true, false, []string{"view"}},
		{"change the binding to edit", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b1", Role: rbac.RoleEdit, Subjects: user("bob")})
		}, true, true, []string{"edit"}},
		{"second binding, duplicated subject", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b2", Role: rbac.RoleEdit, Subjects: append(user("bob"), user("bob")...)})
		}, true, true, []string{"edit"}},
		{"delete the first", func(a *rbac.Authorizer) { a.DeleteRoleBinding(shop, "b1") }, true, true, []string{"edit"}},
		{"drop bob from the second", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b2", Role: rbac.RoleEdit, Subjects: user("carol")})
		}, false, false, nil},
		{"same name in another project is distinct", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: other, Name: "b2", Role: rbac.RoleAdmin, Subjects: user("bob")})
		}, false, false, nil},
		{"cluster-wide view", func(a *rbac.Authorizer) {
			a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "c1", Role: rbac.RoleView, Subjects: user("bob")})
		}, true, false, []string{"view"}},
		{"cluster binding changed to cluster-admin", func(a *rbac.Authorizer) {
			a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "c1", Role: rbac.RoleClusterAdmin, Subjects: user("bob")})
		}, true, true, []string{"cluster-admin"}},
		{"delete the cluster binding", func(a *rbac.Authorizer) { a.DeleteClusterRoleBinding("c1") }, false, false, nil},
		{"deleting twice is harmless", func(a *rbac.Authorizer) {
			a.DeleteClusterRoleBinding("c1")
			a.DeleteRoleBinding(shop, "b1")
			a.DeleteRoleBinding("nowhere", "b1")
		}, false, false, nil},
		{"unknown role grants nothing", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b3", Role: "superuser", Subjects: user("bob")})
		}, false, false, nil},
		{"unknown role replaced by a real one", func(a *rbac.Authorizer) {
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b3", Role: rbac.RoleAdmin, Subjects: user("bob")})
		}, true, true, []string{"admin"}},
	}
	a := rbac.New()
	for _, s := range steps {
		s.do(a)
		if got := a.Authorize(get).Allowed; got != s.get {
			t.Errorf("after %q: get allowed = %v, want %v", s.name, got, s.get)
		}
		if got := a.Authorize(create).Allowed; got != s.create {
			t.Errorf("after %q: create allowed = %v, want %v", s.name, got, s.create)
		}
		if got := a.RolesOf(bob, shop); !slices.Equal(got, s.rolesInShop) {
			t.Errorf("after %q: RolesOf(bob, shop) = %v, want %v", s.name, got, s.rolesInShop)
		}
	}
}

func TestBindingIsCopied(t *testing.T) {
	t.Parallel()
	a := rbac.New()
	subjects := user("bob")
	a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b", Role: rbac.RoleView, Subjects: subjects})
	subjects[0].Name = "mallory"
	if !a.Authorize(req(bob, "get", "pods", shop, "p")).Allowed {
		t.Error("changing the caller's slice after SetRoleBinding changed the grant")
	}
	if a.Authorize(req(rbac.UserInfo{Name: "mallory"}, "get", "pods", shop, "p")).Allowed {
		t.Error("changing the caller's slice after SetRoleBinding granted mallory")
	}
	a.DeleteRoleBinding(shop, "b")
	if a.Authorize(req(bob, "get", "pods", shop, "p")).Allowed {
		t.Error("delete after the caller changed its slice left bob's grant behind")
	}
}

func TestSelfProvisionerRemoval(t *testing.T) {
	t.Parallel()
	a := fixture()
	create := req(bob, "create", "projects", "", "")
	if !a.Authorize(create).Allowed {
		t.Fatal("with the default bindings an authenticated user should create projects")
	}
	a.DeleteClusterRoleBinding(rbac.BindingSelfProvisioners)
	d := a.Authorize(create)
	if d.Allowed || d.Reason != `user "bob" cannot create projects` {
		t.Errorf("after deleting %s: %+v, want denied", rbac.BindingSelfProvisioners, d)
	}
	if !a.Authorize(req(root, "create", "projects", "", "")).Allowed {
		t.Error("cluster-admin should still create projects")
	}
	// Re-granting to a single group restores it for that group only.
	a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "provisioners", Role: rbac.RoleSelfProvisioner,
		Subjects: []rbac.Subject{{Kind: rbac.SubjectGroup, Name: "developers"}}})
	if !a.Authorize(req(gina, "create", "projects", "", "")).Allowed || a.Authorize(create).Allowed {
		t.Error("self-provisioner granted to developers should allow gina and not bob")
	}
}

func TestReplace(t *testing.T) {
	t.Parallel()
	a := fixture()
	a.Replace(
		[]rbac.ClusterRoleBinding{{Name: "root", Role: rbac.RoleClusterAdmin, Subjects: user("newroot")}},
		[]rbac.RoleBinding{{Project: other, Name: "admins", Role: rbac.RoleAdmin, Subjects: user("ada")}},
	)
	tests := []struct {
		name    string
		attr    rbac.Attributes
		allowed bool
	}{
		{"old cluster-admin gone", req(root, "delete", "nodes", "", "n1"), false},
		{"new cluster-admin", req(rbac.UserInfo{Name: "newroot"}, "delete", "nodes", "", "n1"), true},
		{"old project binding gone", req(ada, "create", "rolebindings", shop, ""), false},
		{"new project binding", req(ada, "create", "rolebindings", other, ""), true},
		{"defaults gone too", req(bob, "create", "projects", "", ""), false},
		{"self-service stays", req(bob, "get", "users", "", "bob"), true},
	}
	for _, tc := range tests {
		if got := a.Authorize(tc.attr).Allowed; got != tc.allowed {
			t.Errorf("%s: allowed = %v, want %v", tc.name, got, tc.allowed)
		}
	}
	// A relist may carry a binding twice (same name): the last one wins.
	a.Replace(nil, []rbac.RoleBinding{
		{Project: shop, Name: "b", Role: rbac.RoleAdmin, Subjects: user("bob")},
		{Project: shop, Name: "b", Role: rbac.RoleView, Subjects: user("bob")},
	})
	if got := a.RolesOf(bob, shop); !slices.Equal(got, []string{"view"}) {
		t.Errorf("RolesOf after a relist with a repeated binding = %v, want [view]", got)
	}
}

func TestVisibleProjects(t *testing.T) {
	t.Parallel()
	a := fixture()
	a.SetRoleBinding(rbac.RoleBinding{Project: other, Name: "viewers", Role: rbac.RoleView, Subjects: user("vera")})
	a.SetRoleBinding(rbac.RoleBinding{Project: "third", Name: "devs", Role: rbac.RoleView,
		Subjects: []rbac.Subject{{Kind: rbac.SubjectGroup, Name: "developers"}}})
	// A binding to an unknown role makes no one a member.
	a.SetRoleBinding(rbac.RoleBinding{Project: "ghost", Name: "x", Role: "nonesuch", Subjects: user("bob")})
	a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "auditors", Role: rbac.RoleView,
		Subjects: []rbac.Subject{{Kind: rbac.SubjectGroup, Name: "auditors"}}})
	tests := []struct {
		name string
		user rbac.UserInfo
		all  bool
		want []string
	}{
		{"anonymous", anonymous, false, nil},
		{"no role", bob, false, nil},
		{"viewer of two", vera, false, []string{other, shop}},
		{"editor", ed, false, []string{shop}},
		{"group member", gina, false, []string{shop, "third"}},
		{"cluster-reader", rita, true, nil},
		{"cluster-admin", root, true, nil},
		{"cluster-wide project role", rbac.UserInfo{Name: "audrey", Groups: []string{"auditors"}}, true, nil},
		{"node sees no projects", node, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			all, projects := a.VisibleProjects(tc.user)
			got := slices.Sorted(maps.Keys(projects))
			if all != tc.all || !slices.Equal(got, tc.want) {
				t.Errorf("VisibleProjects = (%v, %v), want (%v, %v)", all, got, tc.all, tc.want)
			}
			// Visible means exactly: may get the project object.
			for _, p := range []string{shop, other, "third", "ghost"} {
				canGet := a.Authorize(req(tc.user, "get", "projects", "", p)).Allowed
				if canGet != (all || projects[p]) {
					t.Errorf("project %s: get allowed = %v but visible = %v", p, canGet, all || projects[p])
				}
			}
		})
	}
}

func TestRolesOf(t *testing.T) {
	t.Parallel()
	a := fixture()
	a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: "dev-view", Role: rbac.RoleView,
		Subjects: []rbac.Subject{{Kind: rbac.SubjectGroup, Name: "developers"}}})
	tests := []struct {
		name    string
		user    rbac.UserInfo
		project string
		want    []string
	}{
		{"anonymous", anonymous, shop, []string{rbac.RoleWebhook}},
		{"no role", bob, shop, []string{rbac.RoleSelfProvisioner, rbac.RoleWebhook}},
		{"admin in shop", ada, shop, []string{rbac.RoleAdmin, rbac.RoleSelfProvisioner, rbac.RoleWebhook}},
		{"admin elsewhere", ada, other, []string{rbac.RoleSelfProvisioner, rbac.RoleWebhook}},
		{"cluster-wide only", ada, "", []string{rbac.RoleSelfProvisioner, rbac.RoleWebhook}},
		{"group, project and cluster-wide", gina, shop, []string{rbac.RoleEdit, rbac.RoleSelfProvisioner, rbac.RoleWebhook, rbac.RoleView}},
		{"node", node, "", []string{rbac.RoleSelfProvisioner, rbac.RoleNode, rbac.RoleWebhook}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := a.RolesOf(tc.user, tc.project); !slices.Equal(got, tc.want) {
				t.Errorf("RolesOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServiceAccountSubjects(t *testing.T) {
	t.Parallel()
	deployer := serviceAccount(shop, "deployer")
	tests := []struct {
		name    string
		subject rbac.Subject
		user    rbac.UserInfo
		allowed bool
	}{
		{"the service account", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: shop, Name: "deployer"}, deployer, true},
		{"same name in another project", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: other, Name: "deployer"}, deployer, false},
		{"a user with the account's name is not the account", rbac.Subject{Kind: rbac.SubjectServiceAccount, Project: shop, Name: "deployer"}, rbac.UserInfo{Name: deployer.Name}, false},
		{"User subject by full name", rbac.Subject{Kind: rbac.SubjectUser, Name: deployer.Name}, deployer, true},
		{"all accounts of the project", rbac.Subject{Kind: rbac.SubjectGroup, Name: "system:serviceaccounts:shop"}, deployer, true},
		{"all accounts of another project", rbac.Subject{Kind: rbac.SubjectGroup, Name: "system:serviceaccounts:other"}, deployer, false},
		{"all accounts", rbac.Subject{Kind: rbac.SubjectGroup, Name: rbac.GroupServiceAccounts}, deployer, true},
		{"all accounts excludes people", rbac.Subject{Kind: rbac.SubjectGroup, Name: rbac.GroupServiceAccounts}, bob, false},
		{"explicit project group from the authenticator", rbac.Subject{Kind: rbac.SubjectGroup, Name: "system:serviceaccounts:shop"},
			rbac.UserInfo{Name: "x", Groups: []string{"system:serviceaccounts:shop"}}, true},
		{"every authenticated user", rbac.Subject{Kind: rbac.SubjectGroup, Name: rbac.GroupAuthenticated}, deployer, true},
		{"malformed account name gets no account groups", rbac.Subject{Kind: rbac.SubjectGroup, Name: rbac.GroupServiceAccounts},
			rbac.UserInfo{Name: "system:serviceaccount:broken", ServiceAccount: true}, false},
		{"empty user subject matches no one", rbac.Subject{Kind: rbac.SubjectUser}, anonymous, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := rbac.New()
			a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: "b", Role: rbac.RoleEdit, Subjects: []rbac.Subject{tc.subject}})
			if got := a.Authorize(req(tc.user, "update", "deployments", shop, "web")).Allowed; got != tc.allowed {
				t.Errorf("allowed = %v, want %v", got, tc.allowed)
			}
		})
	}
}

func TestParseServiceAccountUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		project, name string
		ok            bool
	}{
		{"system:serviceaccount:shop:deployer", "shop", "deployer", true},
		{"system:serviceaccount:shop", "", "", false},
		{"system:serviceaccount::deployer", "", "", false},
		{"system:serviceaccount:shop:", "", "", false},
		{"system:serviceaccount:shop:a:b", "", "", false},
		{"bob", "", "", false},
	}
	for _, tc := range tests {
		p, n, ok := rbac.ParseServiceAccountUser(tc.in)
		if p != tc.project || n != tc.name || ok != tc.ok {
			t.Errorf("ParseServiceAccountUser(%q) = %q, %q, %v; want %q, %q, %v", tc.in, p, n, ok, tc.project, tc.name, tc.ok)
		}
	}
	if got := rbac.ServiceAccountUser("shop", "deployer"); got != "system:serviceaccount:shop:deployer" {
		t.Errorf("ServiceAccountUser = %q", got)
	}
}

// TestConcurrentUpdates runs readers against writers; run with -race.
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	a := fixture()
	stop := make(chan struct{})
	var writers, readers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i%50)
				a.SetRoleBinding(rbac.RoleBinding{Project: shop, Name: name, Role: rbac.RoleEdit, Subjects: user(name)})
				a.SetClusterRoleBinding(rbac.ClusterRoleBinding{Name: name, Role: rbac.RoleView, Subjects: user(name)})
				if i%7 == 0 {
					a.DeleteRoleBinding(shop, name)
					a.DeleteClusterRoleBinding(name)
				}
				if i%500 == 499 {
					a.Replace(rbac.DefaultClusterRoleBindings(), nil)
				}
			}
		})
	}
	for range 4 {
		readers.Go(func() {
			for range 5000 {
				// Writers replace the fixture's bindings, so only the
				// self-service rule has a stable answer.
				if !a.Authorize(req(bob, "get", "users", "", "bob")).Allowed {
					t.Error("self-service denied during updates")
					return
				}
				a.Authorize(req(rbac.UserInfo{Name: "w0-3"}, "update", "configmaps", shop, "cfg"))
				a.VisibleProjects(rbac.UserInfo{Name: "w1-5"})
				a.RolesOf(rbac.UserInfo{Name: "w1-5"}, shop)
			}
		})
	}
	readers.Wait()
	close(stop)
	writers.Wait()
}
