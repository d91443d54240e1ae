package builder_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/slipway/slipway/builder"
	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/internal/testwait"
)

// TestSamples builds each sample application with its builder image from a
// Git repository, runs the output image and checks it answers HTTP, and
// checks the image records the build (labels, env, Cmd).
func TestSamples(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, builder, sample, want string
	}{
		{"static", images.Static, "static", "Hello from the Slipway static sample"},
		{"python", images.Python, "python", "Hello from the Slipway Python sample"},
		{"go", images.Go, "go", "Hello from the Slipway Go sample"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := gittest.New(t)
			sha := repo.CommitDir("main", "sample "+tc.name, samplesDir(tc.sample))
			res := e.build(t, buildSpec{name: tc.name, builder: tc.builder, uri: repo.URI()})
			if res.ExitCode != 0 {
				t.Fatalf("build failed: %+v\nlog:\n%s", res.Result, res.log)
			}
			m := res.Message
			if m.Commit != sha || m.Author != gittest.Author || m.Message != "sample "+tc.name ||
				m.Image != res.image || !strings.HasPrefix(m.OutputDigest, "sha256:") {
				t.Errorf("message = %+v (commit %s)", m, sha)
			}
			mustContain(t, "build log", res.log, "Cloning", sha, "Running /usr/libexec/s2i/assemble", "---> Installing application source", "Committed")
			body := e.serve(t, res.image, "/")[0]
			mustContain(t, "response", body, tc.want)

			img, err := e.daemon.Client().GetImage(e.ctx(), res.image)
			if err != nil {
				t.Fatal(err)
			}
			if img.Target().Digest.String() != m.OutputDigest {
				t.Errorf("image digest %s, message says %s", img.Target().Digest, m.OutputDigest)
			}
			spec, err := img.Spec(e.ctx())
			if err != nil {
				t.Fatal(err)
			}
			cfg := spec.Config
			if !slices.Equal(cfg.Cmd, []string{"/usr/libexec/s2i/run"}) || cfg.User != "1001" {
				t.Errorf("Cmd %q User %q", cfg.Cmd, cfg.User)
			}
			for _, k := range []string{"io.openshift.build.name", "io.openshift.build.namespace", "io.openshift.build.source-location",
				"io.openshift.build.commit.id", "io.openshift.build.commit.author", "io.openshift.build.commit.message", "io.openshift.build.image"} {
				if cfg.Labels[k] == "" {
					t.Errorf("label %s missing: %v", k, cfg.Labels)
				}
			}
			if cfg.Labels["io.openshift.build.commit.id"] != sha || cfg.Labels["io.openshift.build.namespace"] != "shop" {
				t.Errorf("labels = %v", cfg.Labels)
			}
			for _, kv := range []string{"OPENSHIFT_BUILD_NAMESPACE=shop", "OPENSHIFT_BUILD_COMMIT=" + sha, "SLIPWAY_BUILD_COMMIT=" + sha,
				"OPENSHIFT_BUILD_SOURCE=" + repo.URI()} {
				if !slices.Contains(cfg.Env, kv) {
					t.Errorf("env %s missing: %v", kv, cfg.Env)
				}
			}
			if len(spec.RootFS.DiffIDs) != 2 {
				t.Errorf("layers = %d, want builder + build", len(spec.RootFS.DiffIDs))
			}
		})
	}
}

// TestS2IContract: scripts from .s2i/bin, .s2i/environment seen by
// assemble and by the running application, .s2iignore, context dir, a
// private repository with a token, secrets kept from assemble.
func TestS2IContract(t *testing.T) {
	e := newEnv(t)
	const token = "git-token-0123456789"
	repo := gittest.New(t)
	sha := repo.Commit("main", "overrides", map[string]string{
		"app/index.html":       "index\n",
		"app/secret.txt":       "must not be copied\n",
		"app/logs/debug.log":   "must not be copied\n",
		"app/.s2iignore":       "secret.txt\nlogs\n",
		"app/.s2i/environment": "GREETING=hello from .s2i/environment\nSTRATEGY_WINS=file\n",
		"app/.s2i/bin/assemble": `#!/bin/sh
set -e
echo "custom assemble running as $(id -u)"
echo "GREETING=$GREETING STRATEGY_WINS=$STRATEGY_WINS"
echo "build=$OPENSHIFT_BUILD_NAME namespace=$OPENSHIFT_BUILD_NAMESPACE commit=$OPENSHIFT_BUILD_COMMIT"
echo "secrets: [${BUILD}${SLIPWAY_PUSH_TOKEN}${SOURCE_TOKEN}]"
ls -A /tmp/src > /opt/app-root/src/files.txt
exec /usr/libexec/s2i/assemble
`,
		"app/.s2i/bin/run": `#!/bin/sh
echo "$GREETING" > /opt/app-root/src/greeting.txt
echo "$STRATEGY_WINS" > /opt/app-root/src/strategy.txt
exec /usr/libexec/s2i/run
`,
	})
	url := repo.Serve(token)
	res := e.build(t, buildSpec{name: "contract", builder: images.Static, uri: url, contextDir: "app",
		env: map[string]string{"STRATEGY_WINS": "strategy"}, podEnv: map[string]string{builder.EnvSourceToken: token}})
	if res.ExitCode != 0 {
		t.Fatalf("build failed: %+v\nlog:\n%s", res.Result, res.log)
	}
	if res.Message.Commit != sha {
		t.Errorf("commit = %s, want %s", res.Message.Commit, sha)
	}
	if strings.Contains(res.log, token) || strings.Contains(res.log, "push-token") {
		t.Errorf("a secret reached the build log:\n%s", res.log)
	}
	mustContain(t, "build log", res.log,
		"Using assemble script from source (/tmp/scripts/assemble)", "Using run script from source (/tmp/scripts/run)",
		"custom assemble running as 1001", "GREETING=hello from .s2i/environment STRATEGY_WINS=strategy",
		"namespace=shop commit="+sha, "secrets: []")
	bodies := e.serve(t, res.image, "/greeting.txt", "/strategy.txt", "/files.txt", "/index.html")
	if bodies[0] != "hello from .s2i/environment\n" || bodies[1] != "strategy\n" {
		t.Errorf("running container env: greeting %q strategy %q", bodies[0], bodies[1])
	}
	files := strings.Fields(bodies[2])
	if slices.Contains(files, "secret.txt") || slices.Contains(files, "logs") || !slices.Contains(files, "index.html") {
		t.Errorf("/tmp/src held %v: .s2iignore not applied", files)
	}

	// The BuildConfig's scripts URL comes before .s2i/bin; scripts it
	// does not serve still come from the source and the image.
	scripts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/s2i/assemble" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "#!/bin/sh\nset -e\necho assemble from the scripts URL\nexec /usr/libexec/s2i/assemble\n")
	}))
	defer scripts.Close()
	res = e.build(t, buildSpec{name: "contract", builder: images.Static, uri: url, contextDir: "app", scripts: scripts.URL + "/s2i",
		podEnv: map[string]string{builder.EnvSourceToken: token}})
	if res.ExitCode != 0 {
		t.Fatalf("build with a scripts URL failed: %+v\n%s", res.Result, res.log)
	}
	mustContain(t, "build log", res.log, "Using assemble script from url (/tmp/scripts/assemble)", "assemble from the scripts URL",
		"Using run script from source (/tmp/scripts/run)")

	// Without the token the private repository is refused.
	res = e.build(t, buildSpec{name: "contract", builder: images.Static, uri: url, contextDir: "app"})
	if res.ExitCode != 1 || !strings.Contains(res.Message.Error, "fetch source") {
		t.Errorf("build without token: %+v", res.Result)
	}
}

// TestIncremental: save-artifacts of the previous image reaches the next
// build's /tmp/artifacts.
func TestIncremental(t *testing.T) {
	e := newEnv(t)
	repo := gittest.New(t)
	repo.Commit("main", "counter", map[string]string{
		"index.html": "counter\n",
		".s2i/bin/assemble": `#!/bin/sh
set -e
n=$(cat /tmp/artifacts/count 2>/dev/null || echo 0)
echo "previous count: $n"
echo $((n + 1)) > /opt/app-root/src/count
exec /usr/libexec/s2i/assemble
`,
		".s2i/bin/save-artifacts": "#!/bin/sh\ncd /opt/app-root/src && tar -cf - count\n",
	})
	spec := buildSpec{name: "incr", builder: images.Static, uri: repo.URI(), incremental: true}
	for i, want := range []string{"1\n", "2\n", "3\n"} {
		res := e.build(t, spec)
		if res.ExitCode != 0 {
			t.Fatalf("build %d failed: %+v\nlog:\n%s", i+1, res.Result, res.log)
		}
		if i == 0 {
			mustContain(t, "first build log", res.log, "no previous image")
		} else {
			mustContain(t, "incremental build log", res.log, "saving artifacts", fmt.Sprintf("previous count: %d", i))
		}
		if got := e.serve(t, res.image, "/count")[0]; got != want {
			t.Errorf("build %d: count = %q, want %q", i+1, got, want)
		}
	}
}

// TestFailures: a failing assemble, the memory limit, the deadline.
func TestFailures(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		builder  string
		assemble string
		memory   string
		deadline int64
		reason   string
		errLike  string
		logLike  string
	}{
		{name: "assemble exits 3", builder: images.Static, assemble: "#!/bin/sh\necho boom on stdout\necho boom on stderr >&2\nexit 3\n",
			reason: "Error", errLike: "assemble exited with code 3", logLike: "boom on stderr"},
		{name: "memory limit", builder: images.Python, memory: "64Mi",
			assemble: "#!/bin/sh\necho allocating\nexec python3 -c 'x = bytearray(512 * 1024 * 1024); print(len(x))'\n",
			reason:   "OOMKilled", errLike: "memory limit", logLike: "allocating"},
		{name: "deadline", builder: images.Static, deadline: 2, assemble: "#!/bin/sh\necho sleeping\nsleep 60\n",
			reason: "DeadlineExceeded", errLike: "deadline of 2s", logLike: "sleeping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := gittest.New(t)
			repo.Commit("main", "fails", map[string]string{"index.html": "x", ".s2i/bin/assemble": tc.assemble})
			start := time.Now()
			res := e.build(t, buildSpec{name: "fail", builder: tc.builder, uri: repo.URI(), memory: tc.memory, deadline: tc.deadline})
			if res.ExitCode != 1 || res.Reason != tc.reason || !strings.Contains(res.Message.Error, tc.errLike) {
				t.Errorf("result = %+v, want exit 1 %s %q", res.Result, tc.reason, tc.errLike)
			}
			mustContain(t, "build log", res.log, tc.logLike, "error: ")
			if res.Message.Commit == "" {
				t.Error("a failed build still records its commit")
			}
			if tc.deadline > 0 && time.Since(start) > 20*time.Second {
				t.Errorf("deadline build took %v", time.Since(start))
			}
			if _, err := e.daemon.Client().GetImage(e.ctx(), res.image); err == nil {
				t.Error("a failed build left an output image")
			}
		})
	}
	for _, result := range []string{"Error", "OOMKilled", "DeadlineExceeded"} {
		if n := e.metric(t, "slipway_node_builds_total", result); n != 1 {
			t.Errorf("slipway_node_builds_total{result=%q} = %v, want 1", result, n)
		}
	}
	if n := e.metric(t, "slipway_node_build_seconds", ""); n != 0 {
		t.Errorf("failed builds observed in slipway_node_build_seconds: %v", n)
	}
}

// TestCancel: cancelling the context mid-assemble (the pod was deleted)
// stops the build at once, and deleting the pod leaves nothing behind.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	repo := gittest.New(t)
	repo.Commit("main", "slow", map[string]string{"index.html": "x", ".s2i/bin/assemble": "#!/bin/sh\necho started\nsleep 300\n"})
	pod, _ := e.buildPod(buildSpec{name: "cancel", builder: images.Static, uri: repo.URI()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan builder.Result, 1)
	go func() { done <- e.ex.Run(ctx, pod, 0) }()
	testwait.Until(t, 30*time.Second, "assemble starts", func() error {
		b, _ := os.ReadFile(e.rt.LogPath(pod.UID, builder.ContainerName))
		if !strings.Contains(string(b), "started") {
			return errStatus{0}
		}
		return nil
	})
	cancel()
	var res builder.Result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return 15 s after cancel")
	}
	if res.ExitCode != 1 || res.Message.Error != "build cancelled" {
		t.Errorf("result = %+v", res)
	}
	if err := e.rt.DeletePod(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
	c := e.daemon.Client()
	ctrs, _ := c.Containers(e.ctx())
	if len(ctrs) != 0 {
		t.Errorf("%d containers left", len(ctrs))
	}
	work, _ := os.ReadDir(filepath.Join(e.dir, "work"))
	if len(work) != 0 {
		t.Errorf("work dir holds %d entries", len(work))
	}
	if _, err := os.Stat(filepath.Dir(e.rt.LogPath(pod.UID, builder.ContainerName))); !os.IsNotExist(err) {
		t.Errorf("log dir left: %v", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), "slipway-rootfs-") {
		t.Error("a root filesystem mount is left")
	}
	var active int
	sn := c.SnapshotService("")
	sn.Walk(e.ctx(), func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive {
			active++
		}
		return nil
	})
	if active != 0 {
		t.Errorf("%d active snapshots left", active)
	}
	leases, _ := c.LeasesService().List(e.ctx())
	if len(leases) != 0 {
		t.Errorf("%d leases left", len(leases))
	}
}

// TestBuilderImageArtifacts: each builder image's own save-artifacts
// produces a valid archive, so incremental builds with the shipped scripts
// succeed.
func TestBuilderImageArtifacts(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{images.Static, images.Python} {
		t.Run(name, func(t *testing.T) {
			repo := gittest.New(t)
			repo.Commit("main", "x", map[string]string{"index.html": "x\n", "app.py": "print('x')\n"})
			spec := buildSpec{name: "artifacts-" + name, builder: name, uri: repo.URI(), incremental: true}
			for i := range 2 {
				if res := e.build(t, spec); res.ExitCode != 0 {
					t.Fatalf("build %d: %+v\n%s", i+1, res.Result, res.log)
				}
			}
		})
	}
}

// TestBinarySource: a build whose source is an archive uploaded through the
// API (slip start-build --from-dir) fetches it with the push token.
func TestBinarySource(t *testing.T) {
	e := newEnv(t)
	var archive bytes.Buffer
	zw := gzip.NewWriter(&archive)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{"site/index.html": "uploaded\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer push-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(archive.Bytes())
	}))
	defer srv.Close()
	res := e.build(t, buildSpec{name: "binary", builder: images.Static, binaryURL: srv.URL + "/source", contextDir: "site"})
	if res.ExitCode != 0 {
		t.Fatalf("build failed: %+v\n%s", res.Result, res.log)
	}
	if res.Message.Commit != "" {
		t.Errorf("a binary build has no commit: %+v", res.Message)
	}
	if got := e.serve(t, res.image, "/index.html")[0]; got != "uploaded\n" {
		t.Errorf("index.html = %q", got)
	}
	for _, step := range []string{"fetch", "assemble", "commit"} {
		if n := e.metric(t, "slipway_node_build_step_seconds", step); n != 1 {
			t.Errorf("slipway_node_build_step_seconds{step=%q} count = %v, want 1", step, n)
		}
	}
	if n := e.metric(t, "slipway_node_builds_total", "Completed"); n != 1 {
		t.Errorf("slipway_node_builds_total{result=Completed} = %v, want 1", n)
	}
}
