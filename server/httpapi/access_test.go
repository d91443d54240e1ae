package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store"
)

var (
	users               = mustLookup("users")
	rolebindings        = mustLookup("rolebindings")
	clusterrolebindings = mustLookup("clusterrolebindings")
	serviceaccounts     = mustLookup("serviceaccounts")
)

// createUser makes a local account as the admin.
func (e *env) createUser(t testing.TB, name, password string) {
	t.Helper()
	ctx := context.Background()
	if err := e.client.Create(ctx, users, "", map[string]any{"metadata": map[string]any{"name": name},
		"spec": map[string]any{"identities": []string{"local:" + name}}}, nil); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	body, _ := json.Marshal(map[string]string{"password": password})
	if err := e.client.Do(ctx, "PUT", "/api/v1/users/"+name+"/password", "application/json", body, nil); err != nil {
		t.Fatalf("set password of %s: %v", name, err)
	}
}

// bind grants a role in a project (or cluster-wide when project is "").
func bind(t testing.TB, c *client.Client, project, name, role string, subjects ...api.Subject) {
	t.Helper()
	res := rolebindings
	if project == "" {
		res = clusterrolebindings
	}
	spec := api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: role}, Subjects: subjects}
	if err := c.Create(context.Background(), res, project, map[string]any{"metadata": map[string]any{"name": name}, "spec": spec}, nil); err != nil {
		t.Fatalf("bind %s in %q: %v", role, project, err)
	}
}

func user(name string) api.Subject { return api.Subject{Kind: api.UserSubject, Name: name} }

// identity is one caller of the authorization matrix.
type identity struct {
	name   string
	client *client.Client // raw requests use its token
	token  string
}

// expect says what an identity may do, restating the access policy of the
// identity issue: cluster-admin everything; project admin everything in
// its project including role bindings; edit everything but role bindings;
// view read-only (no secrets, no role bindings); every logged-in user may
// create projects, see the projects they belong to, read their own user
// and list their own tokens; the node agent reads what it runs cluster-wide.
// A resource without an entry fails the test: a new route needs a policy.
func expect(t *testing.T, who, verb, resource, sub, project, name string) bool {
	read := verb == "get" || verb == "list" || verb == "watch"
	projectScoped := map[string]bool{"configmaps": true, "serviceaccounts": true, "rolebindings": true, "pods": true,
		"deployments": true, "replicasets": true, "services": true, "endpoints": true, "jobs": true,
		"resourcequotas": true, "limitranges": true, "routes": true, "networkpolicies": true, "poddisruptionbudgets": true, "images": true,
		"secrets": true, "buildconfigs": true, "builds": true}
	known := map[string]bool{"projects": true, "users": true, "groups": true, "tokens": true, "clusterrolebindings": true,
		"nodes": true, "leases": true}
	if !projectScoped[resource] && !known[resource] {
		t.Fatalf("the access matrix has no expectation for resource %q: state its policy here", resource)
	}
	if resource == "buildconfigs" && sub == "webhooks" {
		return true // authenticated by the secret in the URL, not by a token
	}
	switch who {
	case "cluster-admin":
		return true
	case "anonymous":
		return false
	}
	roles := map[string]string{"viewer/shop": "view", "editor/shop": "edit", "shop-admin/shop": "admin", "other-admin/other": "admin"}
	if projectScoped[resource] {
		if who == "node" {
			switch resource {
			case "configmaps":
				return read && sub == ""
			case "pods":
				// Status, and a patch to release a stopped pod's finalizer.
				return read && (sub == "" || sub == "status") || sub == "status" && (verb == "update" || verb == "patch") ||
					sub == "" && verb == "patch"
			case "services", "endpoints":
				return read && sub == "" // what its pods' networking needs
			case "images":
				return verb == "get" && sub == "" // the registry lets it pull
			case "secrets":
				return read && sub == "" // env valueFrom.secretKeyRef of its pods
			case "builds":
				return sub == "source" // binary builds' uploaded source
			}
			return false
		}
		role := roles[who+"/"+project]
		if role == "" {
			return false
		}
		switch resource {
		case "rolebindings":
			return role == "admin" && sub == ""
		case "resourcequotas", "limitranges":
			// They bound the project's admins, so a cluster-admin sets them;
			// edit does not even read them.
			return read && role != "edit"
		case "serviceaccounts":
			if sub == "token" {
				return role != "view"
			}
		case "pods":
			switch sub {
			case "status", "log":
				return read // status is written by the scheduler and node agents only
			case "exec", "eviction":
				return role != "view"
			}
		case "secrets":
			return role != "view" // credentials: view does not read them
		case "builds":
			switch sub {
			case "status", "log", "source":
				return read // status is the build controller's
			}
		case "buildconfigs":
			switch sub {
			case "status":
				return read
			case "instantiate":
				return role != "view"
			}
		case "deployments", "replicasets", "services", "jobs", "routes", "poddisruptionbudgets", "images":
			switch sub {
			case "status":
				return read // written by their controllers (routes: by the routers, images: by the registry)
			case "scale":
				return verb == "get" || role != "view"
			case "rollback":
				return role != "view"
			}
		}
		return read || role != "view"
	}
	switch resource {
	case "projects":
		role := roles[who+"/"+name]
		switch {
		case name == "" && (verb == "list" || verb == "watch" || verb == "create"):
			return true // filtered lists; self-provisioning
		case sub != "" || role == "":
			return false
		case verb == "get" || verb == "watch":
			return true
		}
		return role == "admin"
	case "users":
		return name == who && (verb == "get" && sub == "" || sub == "password" && verb == "update")
	case "tokens":
		return name == "" && (verb == "list" || verb == "watch")
	case "nodes":
		switch sub {
		case "certificate":
			return who == "node" && verb == "create"
		case "stats":
			return false // cluster admins and readers (slip adm top)
		}
		return who == "node" && (read || verb != "delete")
	case "leases":
		return who == "node" && (verb == "get" || verb == "create" || verb == "update" || verb == "patch")
	}
	return false
}

type route struct {
	verb, method, path, resource, sub, project, name string
	body                                             string
}

// routes enumerates every API route from the server's own discovery
// document: collections and items of every resource, every subresource
// with its verbs, cross-project lists. A route added to the server is in
// the matrix without anyone remembering to add it.
func routes(t *testing.T, e *env) []route {
	var discovery api.APIResourceList
	if err := e.client.Do(context.Background(), "GET", "/api/v1", "", nil, &discovery); err != nil {
		t.Fatal(err)
	}
	if len(discovery.Resources) != len(catalogue.All()) {
		t.Fatalf("discovery lists %d resources, the catalogue %d", len(discovery.Resources), len(catalogue.All()))
	}
	methods := map[string]string{"get": "GET", "update": "PUT", "patch": "PATCH", "create": "POST"}
	bodies := map[string]string{"update": `{"metadata":{}}`, "patch": `{}`, "create": `{}`}
	var out []route
	n := 0
	for _, res := range discovery.Resources {
		var bases []struct{ project, prefix string }
		if res.ProjectScoped {
			for _, p := range []string{"shop", "other"} {
				bases = append(bases, struct{ project, prefix string }{p, "/api/v1/projects/" + p + "/" + res.Name})
			}
			out = append(out,
				route{verb: "list", method: "GET", path: "/api/v1/" + res.Name, resource: res.Name},
				route{verb: "watch", method: "GET", path: "/api/v1/" + res.Name + "?watch=true&timeoutSeconds=1&resourceVersion=1000000000", resource: res.Name})
		} else {
			bases = append(bases, struct{ project, prefix string }{"", "/api/v1/" + res.Name})
		}
		for _, b := range bases {
			n++
			created := fmt.Sprintf(`{"metadata":{"name":"m%d-%d"}}`, n, time.Now().UnixNano()%1e6)
			out = append(out,
				route{verb: "list", method: "GET", path: b.prefix, resource: res.Name, project: b.project},
				route{verb: "watch", method: "GET", path: b.prefix + "?watch=true&timeoutSeconds=1&resourceVersion=1000000000", resource: res.Name, project: b.project},
				route{verb: "create", method: "POST", path: b.prefix, resource: res.Name, project: b.project, body: created})
			names := []string{"x"}
			switch res.Name {
			case api.ProjectsResource:
				names = []string{"shop", "other"}
			case api.UsersResource:
				names = []string{"viewer", "admin"}
			}
			for _, name := range names {
				item := b.prefix + "/" + name
				out = append(out,
					route{verb: "get", method: "GET", path: item, resource: res.Name, project: b.project, name: name},
					route{verb: "update", method: "PUT", path: item, resource: res.Name, project: b.project, name: name, body: `{"metadata":{}}`},
					route{verb: "patch", method: "PATCH", path: item, resource: res.Name, project: b.project, name: name, body: `{}`},
					// A stale precondition keeps an allowed delete from deleting.
					route{verb: "delete", method: "DELETE", path: item + "?resourceVersion=1", resource: res.Name, project: b.project, name: name})
				for _, sub := range res.Subresources {
					for _, verb := range sub.Verbs {
						out = append(out, route{verb: verb, method: methods[verb], path: item + "/" + sub.Name, resource: res.Name,
							sub: sub.Name, project: b.project, name: name, body: bodies[verb]})
					}
				}
			}
		}
	}
	return out
}

// TestAuthorizationMatrix walks every API route as every kind of caller.
func TestAuthorizationMatrix(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	ids := []identity{{name: "anonymous"}, {name: "cluster-admin", token: e.adminToken(t)}}
	for _, u := range []string{"shop-admin", "other-admin", "viewer", "editor", "nobody"} {
		e.createUser(t, u, "password-of-"+u)
	}
	login := func(name string) *client.Client { return e.login(t, name, "password-of-"+name) }
	shopAdmin, otherAdmin := login("shop-admin"), login("other-admin")
	for _, p := range []struct {
		c    *client.Client
		name string
	}{{shopAdmin, "shop"}, {otherAdmin, "other"}} {
		if err := p.c.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": p.name}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	bind(t, shopAdmin, "shop", "viewers", "view", user("viewer"))
	bind(t, shopAdmin, "shop", "editors", "edit", user("editor"))
	// The node agent: a service account bound to system:node.
	if err := e.client.Create(ctx, serviceaccounts, "slipway-system", map[string]any{"metadata": map[string]any{"name": "node"}}, nil); err != nil {
		t.Fatal(err)
	}
	bind(t, e.client, "", "nodes", "system:node", api.Subject{Kind: api.ServiceAccountSubject, Name: "node", Project: "slipway-system"})
	var sa struct{ Token string }
	if err := e.client.Do(ctx, "POST", "/api/v1/projects/slipway-system/serviceaccounts/node/token", "application/json", []byte(`{}`), &sa); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"shop-admin", "other-admin", "viewer", "editor", "nobody"} {
		ids = append(ids, identity{name: u, token: tokenOf(t, e, u)})
	}
	ids = append(ids, identity{name: "node", token: sa.Token})

	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	checked := 0
	for _, rt := range routes(t, e) {
		for _, id := range ids {
			name := fmt.Sprintf("%s/%s %s", id.name, rt.verb, rt.path)
			req, _ := http.NewRequest(rt.method, e.url+rt.path, strings.NewReader(rt.body))
			if rt.body != "" {
				ct := "application/json"
				if rt.method == "PATCH" {
					ct = "application/merge-patch+json"
				}
				req.Header.Set("Content-Type", ct)
			}
			if id.token != "" {
				req.Header.Set("Authorization", "Bearer "+id.token)
			}
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var body []byte
			if rt.verb != "watch" || resp.StatusCode != http.StatusOK {
				body, _ = io.ReadAll(resp.Body) // a granted watch would stream on
			}
			resp.Body.Close()
			want := expect(t, id.name, rt.verb, rt.resource, rt.sub, rt.project, rt.name)
			denied := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
			switch {
			case want && denied:
				t.Errorf("%s: denied (%d %s), want allowed", name, resp.StatusCode, body)
			case !want && !denied:
				t.Errorf("%s: allowed (%d), want denied", name, resp.StatusCode)
			case !want && id.name == "anonymous" && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("%s: %d, want 401 for an anonymous caller", name, resp.StatusCode)
			case !want && id.name != "anonymous" && resp.StatusCode != http.StatusForbidden:
				t.Errorf("%s: %d, want 403", name, resp.StatusCode)
			case resp.StatusCode >= 500:
				t.Errorf("%s: server error %d %s", name, resp.StatusCode, body)
			}
			checked++
		}
	}
	t.Logf("checked %d route × caller combinations", checked)
}

// tokenOf logs a matrix user in and returns the raw token.
func tokenOf(t testing.TB, e *env, name string) string { return e.Token(t, name, "password-of-"+name) }

func statusOf(err error) api.Status {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return api.Status{}
}

func TestLoginTokensAndErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	e.createUser(t, "alice", "alice-password")
	anon := e.clientWithToken(t, "")
	loginAs := func(user, password string) (string, error) {
		var res login.Result
		body, _ := json.Marshal(map[string]string{"username": user, "password": password})
		err := anon.Do(ctx, "POST", "/auth/login", "application/json", body, &res)
		return res.Token, err
	}

	// Wrong password and unknown user look the same.
	_, wrongPw := loginAs("alice", "not-her-password")
	_, noUser := loginAs("mallory", "whatever-password")
	if !errors.Is(wrongPw, errdefs.ErrUnauthorized) || statusOf(wrongPw).Message != statusOf(noUser).Message {
		t.Fatalf("wrong password %q vs unknown user %q: must be the same 401", statusOf(wrongPw).Message, statusOf(noUser).Message)
	}

	token, err := loginAs("alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	alice := e.clientWithToken(t, token)
	var me api.User
	if err := alice.Get(ctx, users, "", "~", &me); err != nil || me.Metadata.Name != "alice" {
		t.Fatalf("whoami: %+v, %v", me.Metadata, err)
	}
	// Her own tokens, and only hers, are listed.
	var mine api.List[api.Token]
	if err := alice.List(ctx, mustLookup("tokens"), "", api.ListOptions{}, &mine); err != nil || len(mine.Items) != 1 || mine.Items[0].Spec.User != "alice" {
		t.Fatalf("own tokens: %+v, %v", mine.Items, err)
	}
	// A forbidden action names the verb, resource and project.
	err = alice.Create(ctx, configmaps, "slipway-system", map[string]any{"metadata": map[string]any{"name": "x"}}, nil)
	if !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(statusOf(err).Message, `user "alice" cannot create configmaps in project "slipway-system"`) {
		t.Fatalf("forbidden create: %v", err)
	}
	// A fresh token for a terminal outlives the session that asked for it.
	var fresh login.Result
	if err := alice.Do(ctx, "POST", "/auth/token", "", nil, &fresh); err != nil || fresh.Token == "" || fresh.User != "alice" {
		t.Fatalf("fresh token: %+v, %v", fresh, err)
	}
	terminal := e.clientWithToken(t, fresh.Token)
	if err := anon.Do(ctx, "POST", "/auth/token", "", nil, nil); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("anonymous fresh token: %v", err)
	}

	// Changing her password needs the current one.
	if err := alice.Do(ctx, "PUT", "/api/v1/users/alice/password", "application/json", []byte(`{"password":"new-password-1"}`), nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("password change without the current one: %v", err)
	}
	if err := alice.Do(ctx, "PUT", "/api/v1/users/alice/password", "application/json", []byte(`{"password":"new-password-1","currentPassword":"alice-password"}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := loginAs("alice", "new-password-1"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}

	// Logout revokes the token everywhere at once.
	if err := alice.Do(ctx, "POST", "/auth/logout", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.Get(ctx, users, "", "~", nil); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("revoked token still works: %v", err)
	}
	if err := terminal.Get(ctx, users, "", "~", nil); err != nil {
		t.Fatalf("the terminal's token died with the browser session: %v", err)
	}

	// A disabled user cannot log in, and their tokens stop working.
	token, _ = loginAs("alice", "new-password-1")
	alice = e.clientWithToken(t, token)
	if err := e.client.Patch(ctx, users, "", "alice", []byte(`{"spec":{"disabled":true}}`), false, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.Get(ctx, users, "", "~", nil); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("a disabled user's token still works: %v", err)
	}
	if _, err := loginAs("alice", "new-password-1"); err == nil {
		t.Fatal("a disabled user logged in")
	}

	// Garbage tokens are refused with the same message as revoked ones.
	bad := e.clientWithToken(t, "slw_not-a-real-token")
	if err := bad.Get(ctx, users, "", "~", nil); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("garbage token: %v", err)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, store.Config{})
	anon := e.clientWithToken(t, "")
	var limited error
	for i := 0; i < 40 && limited == nil; i++ {
		body, _ := json.Marshal(map[string]string{"username": "admin", "password": fmt.Sprint("guess-", i)})
		err := anon.Do(context.Background(), "POST", "/auth/login", "application/json", body, nil)
		if errors.Is(err, errdefs.ErrTooManyRequests) {
			limited = err
		}
	}
	if limited == nil {
		t.Fatal("40 wrong passwords in a row were never rate-limited")
	}
}

func TestTokensExpire(t *testing.T) {
	e := envOf(servertest.Start(t, server.Config{
		Identity: login.Config{IdentityProviders: login.DefaultConfig().IdentityProviders, TokenMaxAge: time.Second},
	}))
	c := e.login(t, "admin", adminPassword)
	if err := c.Get(context.Background(), users, "", "~", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "token expired", func() error {
		if err := c.Get(context.Background(), users, "", "~", nil); !errors.Is(err, errdefs.ErrUnauthorized) {
			return fmt.Errorf("still accepted: %v", err)
		}
		return nil
	})
}

// Self-service: any user creates a project and becomes its admin; others
// do not see it until granted a role; deleting it removes its bindings.
func TestSelfServiceProjects(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	e.createUser(t, "alice", "alice-password")
	e.createUser(t, "bob", "bob-password-1")
	alice, bob := e.login(t, "alice", "alice-password"), e.login(t, "bob", "bob-password-1")
	if err := alice.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	// Immediately usable by its creator.
	if err := alice.Create(ctx, configmaps, "shop", map[string]any{"metadata": map[string]any{"name": "c"}}, nil); err != nil {
		t.Fatalf("creator cannot use the new project: %v", err)
	}
	visible := func(c *client.Client) []string {
		var l api.List[api.Project]
		if err := c.List(ctx, projects, "", api.ListOptions{}, &l); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range l.Items {
			names = append(names, p.Metadata.Name)
		}
		return names
	}
	if got := visible(bob); slices.Contains(got, "shop") {
		t.Fatalf("bob sees %v", got)
	}
	if err := bob.Get(ctx, projects, "", "shop", nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("bob gets shop: %v", err)
	}
	// A watch shows bob the project once he is granted a role.
	w, err := bob.Watch(ctx, projects, "", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	bind(t, alice, "shop", "viewers", "view", user("bob"))
	if got := visible(bob); !slices.Contains(got, "shop") {
		t.Fatalf("bob with view sees %v", got)
	}
	if err := bob.Create(ctx, configmaps, "shop", map[string]any{"metadata": map[string]any{"name": "d"}}, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("viewer created a config map: %v", err)
	}
	// Bob cannot grant himself more.
	if err := bob.Create(ctx, rolebindings, "shop", map[string]any{"metadata": map[string]any{"name": "mine"},
		"spec": api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: "admin"}, Subjects: []api.Subject{user("bob")}}}, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("viewer bound a role: %v", err)
	}
	// Deleting the project deletes its bindings: a new project of the same
	// name does not inherit bob's role.
	if err := alice.Delete(ctx, projects, "", "shop", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "shop deleted", func() error {
		if err := e.client.Get(ctx, projects, "", "shop", nil); !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	if err := e.client.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := bob.Get(ctx, projects, "", "shop", nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("bob inherited the old project's role: %v", err)
	}
	// Role bindings name only project roles.
	err = e.client.Create(ctx, rolebindings, "shop", map[string]any{"metadata": map[string]any{"name": "bad"},
		"spec": api.RoleBindingSpec{RoleRef: api.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}, Subjects: []api.Subject{user("bob")}}}, nil)
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("binding cluster-admin in a project: %v", err)
	}
}

// No password or token appears in the server's logs.
func TestSecretsStayOutOfLogs(t *testing.T) {
	var logs bytes.Buffer
	e := envOf(servertest.Start(t, server.Config{Logger: slogTo(&logs)}))
	c := e.login(t, "admin", adminPassword)
	token := e.adminToken(t)
	anon := e.clientWithToken(t, "")
	_ = anon.Do(context.Background(), "POST", "/auth/login", "application/json", []byte(`{"username":"admin","password":"wrong-password-xyz"}`), nil)
	_ = c.Get(context.Background(), users, "", "~", nil)
	for _, secret := range []string{adminPassword, "wrong-password-xyz", token} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the logs contain a secret: %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "login") {
		t.Fatal("no login was logged at all: the check above proves nothing")
	}
}

// Pods that ask for root, capabilities or privilege escalation need their
// project's permission, which only a cluster admin gives.
func TestPrivilegedPodsNeedTheProjectsPermission(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	e.createUser(t, "alice", "alice-password")
	alice := e.login(t, "alice", "alice-password")
	if err := alice.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	pods := mustLookup("pods")
	root := int64(0)
	pod := func(name string, sc *api.SecurityContext) api.Pod {
		return api.Pod{Metadata: api.ObjectMeta{Name: name}, Spec: api.PodSpec{Containers: []api.Container{
			{Name: "app", Image: "localhost:8443/shop/app:1", SecurityContext: sc}}}}
	}
	tests := []struct {
		name string
		sc   *api.SecurityContext
	}{
		{"runs as root", &api.SecurityContext{RunAsUser: &root}},
		{"adds a capability", &api.SecurityContext{Capabilities: &api.Capabilities{Add: []string{"NET_ADMIN"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := alice.Create(ctx, pods, "shop", pod("p-"+strings.ReplaceAll(tc.name, " ", "-"), tc.sc), nil)
			if !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(statusOf(err).Message, "slipway.io/allow-privileged") {
				t.Fatalf("privileged pod without permission: %v", err)
			}
		})
	}
	// Templates are checked where the user writes them.
	deployments := mustLookup("deployments")
	dep := map[string]any{"metadata": map[string]any{"name": "rooted-app"}, "spec": map[string]any{
		"selector": map[string]any{"matchLabels": map[string]string{"app": "x"}},
		"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "x"}},
			"spec": pod("t", &api.SecurityContext{RunAsUser: &root}).Spec}}}
	if err := alice.Create(ctx, deployments, "shop", dep, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("privileged deployment template: %v", err)
	}
	// An ordinary pod is fine; a patch cannot sneak privileges in later.
	if err := alice.Create(ctx, pods, "shop", pod("plain", nil), nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.Patch(ctx, pods, "shop", "plain", []byte(`{"spec":{"containers":[{"name":"app","image":"localhost:8443/shop/app:1","securityContext":{"runAsUser":0}}]}}`), false, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("patching in root: %v", err)
	}
	// The project's admin may not grant the permission; a cluster admin may.
	allow := []byte(`{"metadata":{"annotations":{"slipway.io/allow-privileged":"true"}}}`)
	if err := alice.Patch(ctx, projects, "", "shop", allow, false, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("project admin set allow-privileged: %v", err)
	}
	if err := e.client.Patch(ctx, projects, "", "shop", allow, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.Create(ctx, pods, "shop", pod("rooted", &api.SecurityContext{RunAsUser: &root}), nil); err != nil {
		t.Fatalf("privileged pod in an allowed project: %v", err)
	}
	// A binding patched to a role that does not exist is refused before it is stored.
	bind(t, alice, "shop", "viewers", "view", user("alice"))
	if err := alice.Patch(ctx, rolebindings, "shop", "viewers", []byte(`{"spec":{"roleRef":{"name":"superuser"}}}`), false, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("binding patched to an unknown role: %v", err)
	}
}
