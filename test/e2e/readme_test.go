package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/internal/testpeer"
)

// TestReadmeQuickStart runs the README's quick start, the first ```sh
// block under "## Quick start", as a bash script (set -euo pipefail) from
// the repository's root, against a `slipway up` of its own. The test plays
// the newcomer; what it changes in the text is only where its own
// platform differs from `make run` on a fresh machine:
//
//   - the `make run` line is the test's `slipway up` (own data directory,
//     API port and router ports, the static builder image built for it);
//   - https://localhost:8443, /var/lib/slipway and /tmp/site name the
//     test's server, data directory and a temporary directory;
//   - $PWD/bin is the directory of the slip the test built;
//   - `-u admin` gets the password a person types at the prompt;
//   - *.apps.localhost port 80 is the test router's port.
//
// Meanwhile it requests the app's route without pause: once the app has
// answered, no request may fail through the webhook build's rollout and
// the rollback, and the versions served must be the first, then the
// second, and the first again at the end. Then it stops `slipway up` as
// Ctrl-C does (nothing may be left running), starts it again, and the app
// must serve again with its builds and image intact. Each command's duration goes to
// test/artifacts/e2e/readme-quickstart.txt.
func TestReadmeQuickStart(t *testing.T) {
	testpeer.RequireRoot(t)
	testpeer.RequireBinary(t, "git", "git")
	testpeer.RequireBinary(t, "curl", "curl")
	ctx := context.Background()
	report := newReport(t, "readme-quickstart.txt")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	block := quickStart(t, filepath.Join(root, "README.md"))

	imagesDir := t.TempDir()
	if _, err := images.BuildAll(ctx, imagesDir, images.Options{Only: []string{images.Static}}); err != nil {
		t.Fatalf("build the static builder image: %v", err)
	}
	up := startUp(t, dataDir(t), "--builder-images", imagesDir)
	report.step("slipway up started (the `make run` line)")

	work := t.TempDir()
	slipDir := filepath.Dir(binary(t, "slip"))
	routerPort := strconv.Itoa(up.routerHTTP)
	apps := regexp.MustCompile(`\.apps\.localhost(:80:|/)`)
	var script []string
	for _, line := range block {
		if strings.HasPrefix(line, "make run") {
			continue
		}
		line = strings.ReplaceAll(line, "https://localhost:8443", up.url)
		line = strings.ReplaceAll(line, "/var/lib/slipway", up.data)
		line = strings.ReplaceAll(line, "/tmp/site", filepath.Join(work, "site"))
		line = strings.ReplaceAll(line, "$PWD/bin", slipDir)
		line = strings.ReplaceAll(line, "-u admin ", "-u admin -p "+adminPassword+" ")
		line = apps.ReplaceAllStringFunc(line, func(m string) string {
			if strings.HasSuffix(m, "/") {
				return ".apps.localhost:" + routerPort + "/"
			}
			return ".apps.localhost:" + routerPort + ":"
		})
		script = append(script, line)
	}

	// Requests to the route for as long as the script runs.
	const first, second = "Hello from the Slipway static sample", "version two"
	watch := watchRoute(up.routerHTTP, "site-shop.apps.localhost")
	// Bash takes no PS4 from the environment when run as root.
	cmd := exec.CommandContext(ctx, "bash", "-c", "PS4='+ $(date +%s.%N) '\nset -euo pipefail -x\n"+strings.Join(script, "\n"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "HOME="+work, "XDG_CONFIG_HOME="+filepath.Join(work, "config"), "NO_COLOR=1")
	out, err := runWithTimeout(cmd, 8*time.Minute)
	failures, served := watch.stop()
	commandTimes(report, out)
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s\nslipway up (end):\n%s", err, out, tail(up.stderr.String(), 4000))
	}
	// During each rolling update both versions answer for a moment.
	if v := watch.versions(first, second); len(v) < 3 || v[0] != first || !slices.Contains(v, second) || v[len(v)-1] != first {
		t.Errorf("versions the route served: %q; want the first, then the second, and the first again at the end\n%s", v, out)
	}
	if served == 0 {
		t.Errorf("the route never answered the watcher (last: %s)", watch.last)
	}
	if len(failures) > 0 {
		t.Errorf("%d requests failed once the app was up (of %d); first: %v", len(failures), served+len(failures), failures[:min(5, len(failures))])
	}

	// Ctrl-C stops everything; `make run` again brings the app back, its
	// builds and images intact.
	up.stop(t)
	if left := processesUnder(up.data); len(left) > 0 {
		t.Errorf("still running after slipway up stopped: %v", left)
	}
	report.step("slipway up stopped (Ctrl-C): nothing left running")
	up = restartUp(t, up)
	admin := up.client(t)
	eventually(t, "the app serving again after the restart", func() error {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", up.routerHTTP), nil)
		req.Host = "site-shop.apps.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), first) {
			return fmt.Errorf("%d %q", resp.StatusCode, b)
		}
		return nil
	})
	report.step("slipway up started again: the app serves the rolled-back version")
	for _, b := range []string{"site-1", "site-2"} {
		var build api.Build
		if err := admin.Get(ctx, lookupResource(api.BuildsResource), "shop", b, &build); err != nil || build.Status.Phase != api.BuildPhaseComplete {
			t.Errorf("build %s after the restart: %s, %v", b, build.Status.Phase, err)
		}
	}
	var img api.Image
	if err := admin.Get(ctx, lookupResource("images"), "shop", "site", &img); err != nil || img.Status.Tag("latest") == nil {
		t.Errorf("image shop/site after the restart: %+v, %v", img.Status, err)
	}
	up.stop(t)
}

// processesUnder lists the processes whose command line names dir.
func processesUnder(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		out = append(out, e.Name()+": "+strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	}
	return out
}

// quickStart returns the lines of the first ```sh block under
// "## Quick start" in the README.
func quickStart(t *testing.T, readme string) []string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	section, inBlock := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line == "## Quick start"
		case section && !inBlock && line == "```sh":
			inBlock = true
		case inBlock && line == "```":
			return lines
		case inBlock:
			lines = append(lines, line)
		}
	}
	t.Fatalf("%s has no ```sh block under ## Quick start", readme)
	return nil
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout = &lockedWriter{w: &out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("not finished within %s", d)
	}
}

// commandTimes turns bash's xtrace lines (PS4 holds a timestamp) into one
// report line per command with its duration.
func commandTimes(r *report, out string) {
	trace := regexp.MustCompile(`^\++ (\d+\.\d+) (.*)$`)
	var lastAt float64
	var last string
	for line := range strings.Lines(out) {
		m := trace.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil || strings.HasPrefix(line, "++") {
			continue // output, or a command substitution's trace
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		if last != "" {
			r.lines = append(r.lines, fmt.Sprintf("%8.2fs  %s", at-lastAt, last))
		}
		lastAt, last = at, m[2]
	}
	if last != "" {
		r.lines = append(r.lines, fmt.Sprintf("%8.2fs  %s", float64(time.Now().UnixNano())/1e9-lastAt, last))
	}
}

// routeWatch requests a route without pause: lenient until the first 200,
// then every other answer is a failure. It keeps the sequence of distinct
// bodies served.
type routeWatch struct {
	done     chan struct{}
	wg       sync.WaitGroup
	failures []string
	served   int
	bodies   []string
	last     string // the last answer before the route was up
	attempts int
}

// versions maps the bodies served, in order, to the markers they contain.
func (w *routeWatch) versions(markers ...string) []string {
	var out []string
	for _, b := range w.bodies {
		for _, m := range markers {
			if strings.Contains(b, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

func watchRoute(port int, host string) *routeWatch {
	w := &routeWatch{done: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	w.wg.Go(func() {
		up := false
		for {
			select {
			case <-w.done:
				return
			default:
			}
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
			req.Host = host
			resp, err := hc.Do(req)
			status, body := 0, ""
			if err == nil {
				status = resp.StatusCode
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
			switch {
			case status == 200:
				up = true
				w.served++
				if n := len(w.bodies); n == 0 || w.bodies[n-1] != body {
					w.bodies = append(w.bodies, body)
				}
			case up:
				w.failures = append(w.failures, fmt.Sprintf("%s status %d %v", time.Now().Format("15:04:05.000"), status, err))
			default:
				w.attempts++
				w.last = fmt.Sprintf("status %d, %v at %s after %d attempts", status, err, time.Now().Format("15:04:05.000"), w.attempts)
				time.Sleep(100 * time.Millisecond) // not up yet
			}
		}
	})
	return w
}

func (w *routeWatch) stop() (failures []string, served int) {
	close(w.done)
	w.wg.Wait()
	return w.failures, w.served
}
