package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ctrclient "github.com/containerd/containerd/v2/client"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/sampleimage"
)

// TestTenantsAreIsolated: two users, each in a project of their own under
// `slipway up --network ovn`, cannot see or change each other's objects
// (API 403), pull each other's images (registry 403), reach each other's
// pods (OVN ACLs), or take each other's route host names (the router
// rejects the second claim, naming the owner).
func TestTenantsAreIsolated(t *testing.T) {
	testpeer.RequireRoot(t)
	for _, bin := range []string{"ovsdb-server", "ovn-northd", "ovs-vswitchd", "ovn-controller"} {
		testpeer.RequireBinary(t, bin, bin)
	}
	ctx := context.Background()
	report := newReport(t, "tenancy.txt")
	up := startUp(t, dataDir(t), "--network", "ovn")
	defer up.stop(t)
	admin := up.client(t)
	report.step("slipway up --network ovn started")

	users := map[string]*client.Client{}
	tokens := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		if err := admin.Create(ctx, lookupResource("users"), "", map[string]any{"metadata": map[string]any{"name": name},
			"spec": map[string]any{"identities": []string{"local:" + name}}}, nil); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"password": name + "-password-1234"})
		if err := admin.Do(ctx, "PUT", "/api/v1/users/"+name+"/password", "application/json", body, nil); err != nil {
			t.Fatal(err)
		}
		anon, err := client.New(client.Config{Server: up.url, CAFile: up.ca})
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Token string }
		body, _ = json.Marshal(map[string]string{"username": name, "password": name + "-password-1234"})
		if err := anon.Do(ctx, "POST", "/auth/login", "application/json", body, &res); err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		tokens[name] = res.Token
		if users[name], err = client.New(client.Config{Server: up.url, CAFile: up.ca, Token: res.Token}); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := users["alice"], users["bob"]
	for user, project := range map[string]string{"alice": "alpha", "bob": "beta"} {
		if err := users[user].Create(ctx, lookupResource("projects"), "", api.Project{Metadata: api.ObjectMeta{Name: project}}, nil); err != nil {
			t.Fatalf("%s creates %s: %v", user, project, err)
		}
	}
	report.step("alice and bob each created a project")

	// The API: bob's project is not alice's to list, read or write.
	var projects api.List[api.Project]
	if err := alice.List(ctx, lookupResource("projects"), "", api.ListOptions{}, &projects); err != nil {
		t.Fatal(err)
	}
	if len(projects.Items) != 1 || projects.Items[0].Metadata.Name != "alpha" {
		t.Errorf("alice sees projects %v, want only alpha", projects.Items)
	}
	var cms api.List[api.ConfigMap]
	if err := alice.List(ctx, lookupResource("configmaps"), "beta", api.ListOptions{}, &cms); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("alice lists bob's configmaps: %v, want Forbidden", err)
	}
	if err := alice.Create(ctx, lookupResource("configmaps"), "beta", map[string]any{"metadata": map[string]any{"name": "x"}}, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("alice writes into bob's project: %v, want Forbidden", err)
	}

	// The registry: alice's token opens her repositories, not bob's.
	registryStatus := func(token, repo string) int {
		req, _ := http.NewRequest("HEAD", up.url+"/v2/"+repo+"/manifests/latest", nil)
		req.SetBasicAuth("x", token)
		resp, err := registryClient(t, up).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := registryStatus(tokens["alice"], "beta/web"); code != http.StatusForbidden {
		t.Errorf("alice pulls from bob's repository: %d, want 403", code)
	}
	if code := registryStatus(tokens["alice"], "alpha/web"); code != http.StatusNotFound {
		t.Errorf("alice looks up a missing image of her own: %d, want 404 (authorised, absent)", code)
	}
	report.step("API and registry refuse the other tenant")

	// Routes: a host belongs to the project that claimed it first.
	for user, project := range map[string]string{"alice": "alpha", "bob": "beta"} {
		if err := users[user].Create(ctx, lookupResource("services"), project, api.Service{Metadata: api.ObjectMeta{Name: "web"},
			Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []api.ServicePort{{Name: "http", Port: 80}}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(c *client.Client, project string) {
		if err := c.Create(ctx, lookupResource("routes"), project, api.Route{Metadata: api.ObjectMeta{Name: "shop"},
			Spec: api.RouteSpec{Host: "shop.tenancy.test", To: api.RouteTargetReference{Kind: "Service", Name: "web"}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	claim(alice, "alpha")
	eventually(t, "alice's route admitted", func() error { return admitted(ctx, alice, "alpha", "shop", true, "") })
	time.Sleep(1100 * time.Millisecond) // a later second: creation times have one-second resolution
	claim(bob, "beta")
	eventually(t, "bob's claim rejected, naming the owner", func() error {
		return admitted(ctx, bob, "beta", "shop", false, "belongs to project alpha")
	})
	report.step("route host held by the first claimant")

	// The network: pods of one project do not reach the other's.
	const image = "localhost/slipway-e2e/tenancy:v1"
	ctr, err := ctrclient.New(filepath.Join(up.data, "node", "containerd", "containerd.sock"), ctrclient.WithDefaultNamespace("slipway"))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	archive, err := sampleimage.Build(ctx, t.TempDir(), sampleimage.Spec{Ref: image})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sampleimage.Import(ctx, ctr, archive, ""); err != nil {
		t.Fatal(err)
	}
	probe := &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromInt(sampleimage.DefaultPort)}, PeriodSeconds: 1}
	pods := map[string]api.Pod{} // by project/name
	placed := [][3]string{{"alice", "alpha", "app"}, {"alice", "alpha", "peer"}, {"bob", "beta", "app"}}
	for _, p := range placed {
		pod := api.Pod{Metadata: api.ObjectMeta{Name: p[2]}, Spec: api.PodSpec{Containers: []api.Container{{
			Name: "web", Image: image, ImagePullPolicy: "Never", ReadinessProbe: probe}}}}
		if err := users[p[0]].Create(ctx, lookupResource("pods"), p[1], pod, nil); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the pods ready", func() error {
		for _, p := range placed {
			var pod api.Pod
			if err := users[p[0]].Get(ctx, lookupResource("pods"), p[1], p[2], &pod); err != nil {
				return err
			}
			if !podIsReady(&pod) || pod.Status.PodIP == "" {
				return fmt.Errorf("%s/%s: %s", p[1], p[2], pod.Status.Phase)
			}
			pods[p[1]+"/"+p[2]] = pod
		}
		return nil
	})
	reach := func(from, to string) error {
		target := net.JoinHostPort(pods[to].Status.PodIP, fmt.Sprint(sampleimage.DefaultPort))
		return inNetNS(filepath.Join(up.data, "node", "pods", "netns", pods[from].Metadata.UID), func() error {
			conn, err := net.DialTimeout("tcp", target, time.Second)
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
			b, err := io.ReadAll(conn)
			if err != nil || !strings.Contains(string(b), sampleimage.IndexHTML) {
				return fmt.Errorf("%q %v", b, err)
			}
			return nil
		})
	}
	eventually(t, "a pod reaching its own project's other pod", func() error { return reach("alpha/app", "alpha/peer") })
	if err := reach("alpha/app", "beta/app"); err == nil {
		t.Error("alice's pod reached bob's")
	}
	if err := reach("beta/app", "alpha/peer"); err == nil {
		t.Error("bob's pod reached alice's")
	}
	report.step("pods of one tenant do not reach the other's")
}

func podIsReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// admitted checks a route's Admitted condition on the default router.
func admitted(ctx context.Context, c *client.Client, project, name string, want bool, message string) error {
	var r api.Route
	if err := c.Get(ctx, lookupResource("routes"), project, name, &r); err != nil {
		return err
	}
	for _, in := range r.Status.Ingress {
		for _, cond := range in.Conditions {
			if cond.Type != api.RouteAdmitted {
				continue
			}
			if (cond.Status == "True") == want && strings.Contains(cond.Message, message) {
				return nil
			}
			return fmt.Errorf("admitted %s: %s %s", cond.Status, cond.Reason, cond.Message)
		}
	}
	return errors.New("no status yet")
}

// registryClient trusts the platform's CA.
func registryClient(t *testing.T, up *upProcess) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(up.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
