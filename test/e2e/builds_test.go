package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/builder/images"
)

// TestUpBuildsFromGit drives the whole path a user takes: slip new-app on a
// Git repository under `slipway up` (a real node on containerd, the
// registry, the router), the first build (ConfigChange trigger) runs the
// static builder and pushes, the deployment's image trigger rolls the app
// out, slip expose serves it through a route; then a GitHub push webhook
// builds the next commit and the new version is served. It reports the
// webhook → new version served time (issue target: p50 ≤ 20 s).
func TestUpBuildsFromGit(t *testing.T) {
	ctx := context.Background()
	repo := gittest.New(t)
	repo.Commit("main", "version one", map[string]string{"index.html": "<h1>version one</h1>\n"})
	imagesDir := t.TempDir()
	if _, err := images.BuildAll(ctx, imagesDir, images.Options{Only: []string{images.Static}}); err != nil {
		t.Fatalf("build the static builder image: %v", err)
	}
	up := startUp(t, dataDir(t), "--builder-images", imagesDir)
	c := up.client(t)
	cat := api.NewCatalogue()
	lookup := func(plural string) *api.Resource { r, _ := cat.Lookup(plural); return r }

	slip := newSlip(t, up).must
	slip("new-project", "shop")
	out := slip("new-app", repo.URI(), "--name", "site")
	if !strings.Contains(out, "detected builder static") || !strings.Contains(out, "buildconfig/site created") {
		t.Fatalf("new-app:\n%s", out)
	}
	slip("expose", "service/site")

	waitBuild := func(name string, within time.Duration) *api.Build {
		t.Helper()
		var b api.Build
		deadline := time.Now().Add(within)
		for {
			err := c.Get(ctx, lookup(api.BuildsResource), "shop", name, &b)
			if err == nil && api.BuildPhaseFinished(b.Status.Phase) {
				if b.Status.Phase != api.BuildPhaseComplete {
					logs, _ := c.Stream(ctx, "GET", "/api/v1/projects/shop/builds/"+name+"/log", "", nil)
					var text []byte
					if logs != nil {
						text, _ = io.ReadAll(logs)
						logs.Close()
					}
					t.Fatalf("build %s %s: %s %s\n%s", name, b.Status.Phase, b.Status.Reason, b.Status.Message, text)
				}
				return &b
			}
			if time.Now().After(deadline) {
				t.Fatalf("build %s not finished within %s: %+v (%v)\nslipway up:\n%s", name, within, b.Status, err, tail(up.stderr.String(), 4000))
			}
			time.Sleep(250 * time.Millisecond) // bounded poll of a real system
		}
	}
	served := func(want string, within time.Duration) {
		t.Helper()
		hc := &http.Client{Timeout: 5 * time.Second}
		deadline := time.Now().Add(within)
		var last string
		for {
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d/", up.routerHTTP), nil)
			req.Host = "site-shop.apps.localhost"
			if resp, err := hc.Do(req); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.Contains(string(body), want) {
					return
				}
				last = fmt.Sprintf("%d %q", resp.StatusCode, body)
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				var eps api.Endpoints
				_ = c.Get(ctx, lookup(api.EndpointsResource), "shop", "site", &eps)
				direct := ""
				for _, ss := range eps.Spec.Subsets {
					for _, a := range ss.Addresses {
						if resp, err := hc.Get("http://" + a.IP + ":8080/"); err == nil {
							b, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							direct += fmt.Sprintf("%s: %d %q; ", a.IP, resp.StatusCode, b)
						} else {
							direct += fmt.Sprintf("%s: %v; ", a.IP, err)
						}
					}
				}
				for _, ss := range eps.Spec.Subsets {
					for _, a := range ss.Addresses {
						if a.TargetRef != nil {
							direct += "\nlog of " + a.TargetRef.Name + ":\n" + slip("logs", "pod/"+a.TargetRef.Name) + slip("get", "pod", a.TargetRef.Name, "-o", "json")
						}
					}
				}
				t.Fatalf("the route does not serve %q within %s (last: %s)\nendpoints %+v\ndirect: %s\n%s\nslipway up:\n%s", want, within, last, eps.Spec, direct, slip("status"), tail(up.stderr.String(), 6000))
			}
			time.Sleep(200 * time.Millisecond) // bounded poll of a real system
		}
	}

	first := waitBuild("site-1", 3*time.Minute)
	if first.Status.OutputDigest == "" || first.Status.Revision == nil || first.Status.Cause == nil || first.Status.Cause.Type != api.ConfigChangeBuildTrigger {
		t.Errorf("first build status %+v", first.Status)
	}
	served("version one", 2*time.Minute)
	// The app's containers log through slipway-container-log, found
	// beside slipway (make build puts them together; so does this test).
	if n := containerLoggers(t, up.data); n == 0 {
		t.Errorf("no slipway-container-log process writes into %s", up.data)
	}
	var d api.Deployment
	if err := c.Get(ctx, lookup(api.DeploymentsResource), "shop", "site", &d); err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "/shop/site@"+first.Status.OutputDigest) {
		t.Errorf("the deployment runs %s, not the build's digest %s", img, first.Status.OutputDigest)
	}

	// Pushes: the GitHub webhook builds each new commit and it is served;
	// the time from the webhook to the new version served is measured.
	var bc api.BuildConfig
	if err := c.Get(ctx, lookup(api.BuildConfigsResource), "shop", "site", &bc); err != nil {
		t.Fatal(err)
	}
	secret := ""
	for _, tr := range bc.Spec.Triggers {
		if tr.Type == api.GitHubWebHookBuildTrigger {
			secret = tr.GitHubWebHook.Secret
		}
	}
	caPEM, err := os.ReadFile(up.ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	const pushes = 5
	var took []time.Duration
	for i := 2; i < 2+pushes; i++ {
		version := fmt.Sprintf("version %d", i)
		sha := repo.Commit("main", version, map[string]string{"index.html": "<h1>" + version + "</h1>\n"})
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": sha,
			"repository":  map[string]any{"default_branch": "main"},
			"head_commit": map[string]any{"id": sha, "message": version, "author": map[string]any{"name": "Test Author"}}})
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "POST", up.url+api.WebhookPath("shop", "site", secret, "github"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("e2e-%d", i))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		build := fmt.Sprintf("site-%d", i)
		if resp.StatusCode != 200 || !strings.Contains(string(answer), `"name":"`+build+`"`) {
			t.Fatalf("webhook: %d %s", resp.StatusCode, answer)
		}
		b := waitBuild(build, 3*time.Minute)
		built := time.Since(start)
		if b.Status.Revision == nil || b.Status.Revision.Commit != sha {
			t.Errorf("build %s revision %+v, want %s", build, b.Status.Revision, sha)
		}
		eventually(t, "the deployment rolls to "+build+"'s digest", func() error {
			var d api.Deployment
			if err := c.Get(ctx, lookup(api.DeploymentsResource), "shop", "site", &d); err != nil {
				return err
			}
			if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, b.Status.OutputDigest) {
				return fmt.Errorf("image %s", img)
			}
			return nil
		})
		rolled := time.Since(start)
		served(version, 2*time.Minute)
		took = append(took, time.Since(start))
		t.Logf("push %d: built %s, deployment updated %s, served %s", i, built.Round(100*time.Millisecond),
			rolled.Round(100*time.Millisecond), took[len(took)-1].Round(100*time.Millisecond))
	}
	slices.Sort(took)
	t.Logf("webhook received → new version served through the route, %d pushes of the static sample: p50 %s, max %s",
		pushes, took[len(took)/2].Round(100*time.Millisecond), took[len(took)-1].Round(100*time.Millisecond))
	if p50 := took[len(took)/2]; p50 > 20*time.Second {
		t.Errorf("p50 %s exceeds the 20 s target", p50)
	}

	out = slip("describe", "bc/site")
	if !strings.Contains(out, "e2e-2") || !strings.Contains(out, "Triggered") {
		t.Errorf("describe bc/site shows no delivery:\n%s", out)
	}
	logs := slip("logs", "build/site-3")
	if !strings.Contains(logs, "Push successful") {
		t.Errorf("build log:\n%s", logs)
	}
}

// TestUpBuildVariants: a private repository cloned with a token from a
// secret, a failing assemble (Failed, its output in the log, start-build
// --follow exits 1), a cancelled running build, and a binary build of a
// local directory followed live.
func TestUpBuildVariants(t *testing.T) {
	ctx := context.Background()
	imagesDir := t.TempDir()
	if _, err := images.BuildAll(ctx, imagesDir, images.Options{Only: []string{images.Static}}); err != nil {
		t.Fatalf("build the static builder image: %v", err)
	}
	up := startUp(t, dataDir(t), "--builder-images", imagesDir)
	c := up.client(t)
	builds, _ := api.NewCatalogue().Lookup(api.BuildsResource)
	cli := newSlip(t, up)
	run, slip := cli.run, cli.must
	phase := func(name, want string, within time.Duration) *api.Build {
		t.Helper()
		var b api.Build
		deadline := time.Now().Add(within)
		for {
			if err := c.Get(ctx, builds, "var", name, &b); err == nil && b.Status.Phase == want {
				return &b
			}
			if time.Now().After(deadline) {
				t.Fatalf("build %s is %s (%s: %s), want %s within %s", name, b.Status.Phase, b.Status.Reason, b.Status.Message, want, within)
			}
			time.Sleep(250 * time.Millisecond) // bounded poll of a real system
		}
	}
	slip("new-project", "var")

	// A private repository over HTTP, cloned with the secret's token.
	private := gittest.New(t)
	sha := private.Commit("main", "private page", map[string]string{"index.html": "<h1>private</h1>\n"})
	url := private.Serve("s3cr3t-t0ken")
	slip("create", "secret", "basic-auth", "repo", "--password", "s3cr3t-t0ken")
	slip("new-build", url, "--name", "private", "--builder", "static", "--source-secret", "repo")
	if b := phase("private-1", api.BuildPhaseComplete, 3*time.Minute); b.Status.Revision == nil || b.Status.Revision.Commit != sha {
		t.Errorf("private build revision %+v, want %s", b.Status.Revision, sha)
	}

	// A binary build of a local directory, followed live.
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/index.html", []byte("<h1>from my laptop</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := slip("start-build", "private", "--from-dir", dir, "--follow")
	if !strings.Contains(out, "build/private-2 started") || !strings.Contains(out, "Push successful") || !strings.Contains(out, "build/private-2 complete") {
		t.Errorf("start-build --from-dir --follow:\n%s", out)
	}

	// A failing assemble.
	broken := gittest.New(t)
	broken.Commit("main", "broken", map[string]string{"index.html": "x", ".s2i/bin/assemble": "#!/bin/sh\necho failing on purpose\nexit 3\n"})
	slip("new-build", broken.URI(), "--name", "broken", "--builder", "static")
	failed := phase("broken-1", api.BuildPhaseFailed, 3*time.Minute)
	if failed.Status.Message == "" {
		t.Errorf("failed build without a message: %+v", failed.Status)
	}
	out, err := run("start-build", "broken", "--follow")
	if err == nil || !strings.Contains(out, "failing on purpose") || !strings.Contains(out, "build broken-2 failed") {
		t.Errorf("start-build --follow of a failing build: %v\n%s", err, out)
	}

	// Cancelling a running build stops it.
	slow := gittest.New(t)
	slow.Commit("main", "slow", map[string]string{"index.html": "x", ".s2i/bin/assemble": "#!/bin/sh\necho assembling\nsleep 600\n"})
	slip("new-build", slow.URI(), "--name", "slow", "--builder", "static")
	phase("slow-1", api.BuildPhaseRunning, 3*time.Minute)
	eventually(t, "assemble runs", func() error {
		out, _ := run("logs", "build/slow-1")
		if !strings.Contains(out, "assembling") {
			return fmt.Errorf("log: %q", out)
		}
		return nil
	})
	slip("cancel-build", "slow-1")
	phase("slow-1", api.BuildPhaseCancelled, 30*time.Second)
	pods, _ := api.NewCatalogue().Lookup(api.PodsResource)
	eventually(t, "the cancelled build's pod is gone", func() error {
		if err := c.Get(ctx, pods, "var", "slow-1-build", nil); err == nil {
			return fmt.Errorf("pod still there")
		}
		return nil
	})
}

// tail is the end of a daemon's log for a failure message.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// containerLoggers counts the slipway-container-log processes writing a
// log below dir.
func containerLoggers(t *testing.T, dir string) int {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range procs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) >= 3 && filepath.Base(args[0]) == "slipway-container-log" && strings.HasPrefix(args[2], dir+"/") {
			n++
		}
	}
	return n
}
