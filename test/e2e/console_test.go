package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
)

// TestConsole runs the console's browser test (web/e2e, Playwright driving
// Debian's Chromium) against a real `slipway up`, whose binary embeds the
// console built by `make web`.
func TestConsole(t *testing.T) {
	testpeer.RequireBinary(t, "Chromium (Debian package chromium)", "/usr/bin/chromium")
	npm := testpeer.RequireBinary(t, "npm", "npm")
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
	up := startUp(t, dataDir(t), "--no-node")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "run", "e2e")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "SLIPWAY_URL="+up.url, "SLIPWAY_ADMIN_PASSWORD="+adminPassword, "SLIPWAY_CA="+up.ca)
	out, err := cmd.CombinedOutput()
	t.Logf("console e2e:\n%s", out)
	if err != nil {
		t.Fatalf("console e2e failed: %v", err)
	}
	if !strings.Contains(string(out), "0 failed") {
		t.Fatal("the console e2e printed no result line")
	}
	up.stop(t)
}
