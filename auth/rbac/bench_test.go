package rbac_test

import (
	"fmt"
	"testing"

	"github.com/slipway/slipway/auth/rbac"
)

// benchFixture binds n role bindings across n/10 projects: in project p,
// users u<p*5+i> (i < 5) and u<(p+1)*5+i>, so each user has roles in two
// projects, plus group g<p%100> with view; and a few cluster bindings.
func benchFixture(n int) (*rbac.Authorizer, []rbac.Attributes) {
	projects := n / 10
	roles := []string{rbac.RoleAdmin, rbac.RoleEdit, rbac.RoleView}
	var bindings []rbac.RoleBinding
	for p := range projects {
		project := fmt.Sprintf("p%d", p)
		for i := range 10 {
			var s rbac.Subject
			switch {
			case i < 5:
				s = rbac.Subject{Kind: rbac.SubjectUser, Name: fmt.Sprintf("u%d", p*5+i)}
			case i < 9:
				s = rbac.Subject{Kind: rbac.SubjectUser, Name: fmt.Sprintf("u%d", ((p+1)%projects)*5+i-5)}
			default:
				s = rbac.Subject{Kind: rbac.SubjectGroup, Name: fmt.Sprintf("g%d", p%100)}
			}
			bindings = append(bindings, rbac.RoleBinding{Project: project, Name: fmt.Sprintf("b%d", i), Role: roles[i%3], Subjects: []rbac.Subject{s}})
		}
	}
	a := rbac.New()
	a.Replace(append(rbac.DefaultClusterRoleBindings(),
		rbac.ClusterRoleBinding{Name: "root", Role: rbac.RoleClusterAdmin, Subjects: user("root")},
		rbac.ClusterRoleBinding{Name: "nodes", Role: rbac.RoleNode, Subjects: sa("infra", "node-1")},
	), bindings)

	// A mix of requests: allowed through a user binding, allowed through
	// a group, denied in a foreign project, cluster-admin, a node agent.
	var reqs []rbac.Attributes
	for i := range 64 {
		p := (i * 37) % projects
		project := fmt.Sprintf("p%d", p)
		u := rbac.UserInfo{Name: fmt.Sprintf("u%d", p*5), Groups: []string{"staff", fmt.Sprintf("g%d", (p+50)%100)}}
		reqs = append(reqs,
			req(u, "get", "configmaps", project, "cfg"),
			req(u, "update", "deployments", project, "web"),
			req(u, "get", "configmaps", fmt.Sprintf("p%d", (p+projects/2+1)%projects), "cfg"),
			req(root, "delete", "secrets", project, "db"),
			req(node, "update", "pods/status", project, "web-1"),
		)
	}
	return a, reqs
}

func BenchmarkAuthorize(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		a, reqs := benchFixture(n)
		allowedReq := reqs[0]
		if !a.Authorize(allowedReq).Allowed {
			b.Fatal("fixture: first request should be allowed")
		}
		deniedReq := reqs[2]
		if a.Authorize(deniedReq).Allowed {
			b.Fatal("fixture: third request should be denied")
		}
		b.Run(fmt.Sprintf("bindings=%d/allowed", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(allowedReq)
			}
		})
		b.Run(fmt.Sprintf("bindings=%d/denied", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(deniedReq)
			}
		})
		b.Run(fmt.Sprintf("bindings=%d/mix", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a.Authorize(reqs[i%len(reqs)])
				i++
			}
		})
		b.Run(fmt.Sprintf("bindings=%d/mix-parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					a.Authorize(reqs[i%len(reqs)])
					i++
				}
			})
		})
	}
}

func BenchmarkVisibleProjects(b *testing.B) {
	a, reqs := benchFixture(10000)
	u := reqs[0].User
	b.ReportAllocs()
	for b.Loop() {
		a.VisibleProjects(u)
	}
}

// BenchmarkSetRoleBinding measures one watch event applied to an
// Authorizer holding 10,000 bindings.
func BenchmarkSetRoleBinding(b *testing.B) {
	a, _ := benchFixture(10000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.SetRoleBinding(rbac.RoleBinding{Project: "p1", Name: "b0", Role: []string{rbac.RoleAdmin, rbac.RoleView}[i%2],
			Subjects: []rbac.Subject{{Kind: rbac.SubjectUser, Name: "u5"}, {Kind: rbac.SubjectGroup, Name: "g1"}}})
		i++
	}
}

func BenchmarkReplace(b *testing.B) {
	var project []rbac.RoleBinding
	for p := range 1000 {
		for i := range 10 {
			project = append(project, rbac.RoleBinding{Project: fmt.Sprintf("p%d", p), Name: fmt.Sprintf("b%d", i), Role: rbac.RoleEdit,
				Subjects: []rbac.Subject{{Kind: rbac.SubjectUser, Name: fmt.Sprintf("u%d", p*5+i%5)}}})
		}
	}
	cluster := rbac.DefaultClusterRoleBindings()
	a := rbac.New()
	b.ReportAllocs()
	for b.Loop() {
		a.Replace(cluster, project)
	}
}
