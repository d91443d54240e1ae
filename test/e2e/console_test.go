package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/internal/testpeer"
)

// TestConsole runs the console's browser test (web/e2e, Playwright driving
// Debian's Chromium) against a real `slipway up`, whose binary embeds the
// console built by `make web`.
func TestConsole(t *testing.T) {
	npm, web := consolePeers(t)
	up := startUp(t, dataDir(t), "--no-node")
	runConsoleE2E(t, npm, web, up, 4*time.Minute)
	up.stop(t)
}

// TestConsoleImportFromGit is the path of a developer who never opens a
// terminal, under a `slipway up` with a node, the static builder image and
// a router: import a site from a Git repository in the console, watch the
// first build's log, and open the route URL to see the site.
func TestConsoleImportFromGit(t *testing.T) {
	npm, web := consolePeers(t)
	repo := gittest.New(t)
	const page = "<h1>Made in the console</h1>"
	repo.Commit("main", "the site", map[string]string{"index.html": page + "\n"})
	imagesDir := t.TempDir()
	if _, err := images.BuildAll(context.Background(), imagesDir, images.Options{Only: []string{images.Static}}); err != nil {
		t.Fatalf("build the static builder image: %v", err)
	}
	up := startUp(t, dataDir(t), "--builder-images", imagesDir)
	runConsoleE2E(t, npm, web, up, 9*time.Minute, "SLIPWAY_GIT_URL="+repo.URI(),
		"SLIPWAY_ROUTER_HTTPS="+strconv.Itoa(up.routerHTTPS), "SLIPWAY_ROUTER_HTTP="+strconv.Itoa(up.routerHTTP), "SLIPWAY_EXPECT=Made in the console")
	up.stop(t)
}

// consolePeers checks for Chromium, npm, the console's packages and its
// build, and returns npm and the web directory.
func consolePeers(t *testing.T) (npm, web string) {
	t.Helper()
	testpeer.RequireBinary(t, "Chromium (Debian package chromium)", "/usr/bin/chromium")
	npm = testpeer.RequireBinary(t, "npm", "npm")
	web, err := filepath.Abs("../../web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		testpeer.Missing(t, "the console's npm packages (make deps)", err)
	}
	if _, err := os.Stat(filepath.Join(web, "dist", "index.html")); err != nil {
		testpeer.Missing(t, "the built console (make web)", err)
	}
	return npm, web
}

// runConsoleE2E runs web/e2e against up with extra environment.
func runConsoleE2E(t *testing.T, npm, web string, up *upProcess, limit time.Duration, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "run", "e2e")
	cmd.Dir = web
	cmd.Env = append(append(os.Environ(), "SLIPWAY_URL="+up.url, "SLIPWAY_ADMIN_PASSWORD="+adminPassword, "SLIPWAY_CA="+up.ca), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("console e2e:\n%s", out)
	if err != nil {
		t.Fatalf("console e2e failed: %v\nslipway up:\n%s", err, tail(up.stderr.String(), 4000))
	}
	if !strings.Contains(string(out), "0 failed") {
		t.Fatal("the console e2e printed no result line")
	}
}
