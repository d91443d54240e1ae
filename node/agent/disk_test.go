package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/sampleimage"
)

func TestDiskUsageUsedPercent(t *testing.T) {
	tests := []struct {
		name string
		u    agent.DiskUsage
		want float64
	}{
		{"empty filesystem", agent.DiskUsage{Capacity: 100, Available: 100}, 0},
		{"full filesystem", agent.DiskUsage{Capacity: 100, Available: 0}, 100},
		{"partly used", agent.DiskUsage{Capacity: 200, Available: 30}, 85},
		{"no size", agent.DiskUsage{}, 0},
		{"available above capacity", agent.DiskUsage{Capacity: 100, Available: 120}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.u.UsedPercent(); got != tc.want {
				t.Errorf("UsedPercent() = %v, want %v", got, tc.want)
			}
		})
	}
}

// counter reads a counter of the running agent's registry.
func (e *env) counter(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

var loggedLine = regexp.MustCompile(`^line (\d+) burst \d+ x+$`)

// testLogRotation writes bursts of 20 KB to a container's log, above the
// env's 16 KiB limit with two rotated copies kept, and checks the copies,
// that the container's later writes land at the start of the truncated
// live file, that a follower carries on after the truncation, that a
// restart's previous log still works and that deleting the pod removes
// everything.
func (e *env) testLogRotation(t *testing.T) {
	t.Parallel()
	const maxSize = 16 << 10 // the env's ContainerLogMaxSize
	script := `n=0; b=0; pad=` + strings.Repeat("x", 80) + `
while :; do
  if [ -f /tmp/burst ]; then
    rm /tmp/burst; b=$((b+1)); i=0
    while [ $i -lt 200 ]; do i=$((i+1)); n=$((n+1)); echo "line $n burst $b $pad"; done
    echo "burst $b done"
  fi
  if [ -f /tmp/more ]; then rm /tmp/more; echo more; fi
  if [ -f /tmp/stop ]; then exit 1; fi
  sleep 0.05
done`
	e.create(t, e.pod("rotating", func(p *api.Pod) { p.Spec.Containers[0].Command = []string{"sh", "-c", script} }))
	p := e.waitPod(t, "rotating", 30*time.Second, "running", running)
	live := e.agent.Runtime().LogPath(p.Metadata.UID, "web")
	rotated := func(n int) string { return live + "." + strconv.Itoa(n) }
	srv := httptest.NewServer(e.agent.Handler())
	defer srv.Close()
	logsURL := srv.URL + "/containerLogs/" + project + "/rotating/web"

	var follow *bufio.Reader
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for b := 1; b <= 3; b++ {
		if b == 3 {
			// A follower from here reads the burst, then the truncation.
			req, _ := http.NewRequestWithContext(ctx, "GET", logsURL+"?follow=true&tailLines=0", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			follow = bufio.NewReader(resp.Body)
		}
		e.execIn(t, "rotating", "web", "", "touch", "/tmp/burst")
		done := fmt.Sprintf("burst %d done\n", b)
		testwait.Until(t, 10*time.Second, fmt.Sprintf("burst %d written and rotated", b), func() error {
			if !strings.Contains(readFile(live)+readFile(rotated(1)), done) {
				return errors.New("burst not written yet")
			}
			if size := fileSize(live); size >= maxSize {
				return fmt.Errorf("live log %d bytes", size)
			}
			return nil
		})
	}
	if fileSize(rotated(1)) <= 0 || fileSize(rotated(2)) <= 0 || fileSize(rotated(3)) != -1 {
		t.Errorf("rotated copies: .1 %d bytes, .2 %d bytes, .3 %d bytes; want .1 and .2 only",
			fileSize(rotated(1)), fileSize(rotated(2)), fileSize(rotated(3)))
	}
	// .2 holds older lines than .1, .1 than the live file; the first
	// rotation's copy, holding line 1, was dropped.
	all := readFile(rotated(2)) + readFile(rotated(1)) + readFile(live)
	if strings.Contains(all, "\x00") {
		t.Errorf("NUL bytes in the logs: the live file was not appended to after truncation")
	}
	last, lines := 0, 0
	for l := range strings.Lines(all) {
		m := loggedLine.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
		if m == nil {
			continue // a marker, or a line cut at a rotation
		}
		n, _ := strconv.Atoi(m[1])
		if n <= last {
			t.Fatalf("line %d after line %d: rotated copies out of order", n, last)
		}
		last, lines = n, lines+1
	}
	if strings.Contains(all, "line 1 burst 1 ") || last < 590 || lines < 200 {
		t.Errorf("kept %d lines up to line %d, want the newest two rotations and no line 1", lines, last)
	}

	// The container goes on writing, at the start of the truncated file.
	e.execIn(t, "rotating", "web", "", "touch", "/tmp/more")
	testwait.Until(t, 5*time.Second, "a line written after the rotations", func() error {
		if !strings.HasSuffix(readFile(live), "more\n") {
			return fmt.Errorf("live log %q", readFile(live))
		}
		return nil
	})
	if l := readFile(live); strings.Contains(l, "\x00") || int64(len(l)) >= maxSize {
		t.Errorf("live log after rotation: %d bytes, NUL: %v", len(l), strings.Contains(l, "\x00"))
	}
	for {
		line, err := follow.ReadString('\n')
		if err != nil {
			t.Fatalf("follow: no \"more\" line after the truncation: %v", err)
		}
		if line == "more\n" {
			break
		}
	}
	logs := func(query string) string {
		resp, err := http.Get(logsURL + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("logs%s: %s %s", query, resp.Status, b)
		}
		return string(b)
	}
	// The endpoint reads the live file only.
	if got := logs(""); got != readFile(live) || !strings.HasSuffix(got, "more\n") {
		t.Errorf("logs = %q, want the live file", got)
	}
	if got := logs("?tailLines=1"); got != "more\n" {
		t.Errorf("tailLines=1: %q", got)
	}
	if n := e.counter(t, "slipway_node_container_log_rotations_total"); n < 3 {
		t.Errorf("rotations metric %v, want ≥ 3", n)
	}

	// A restart: the live log becomes the previous one, and the rotated
	// copies of the instance that ended go.
	e.execIn(t, "rotating", "web", "", "touch", "/tmp/stop")
	e.waitPod(t, "rotating", 20*time.Second, "restarted", func(p *api.Pod) error {
		if err := running(p); err != nil {
			return err
		}
		if p.Status.ContainerStatuses[0].RestartCount < 1 {
			return errors.New("restartCount 0")
		}
		return nil
	})
	if prev := logs("?previous=true"); !strings.HasSuffix(prev, "more\n") {
		t.Errorf("previous log %q", prev)
	}
	if fileSize(rotated(1)) != -1 || fileSize(rotated(2)) != -1 {
		t.Errorf("rotated copies of the ended instance left: %d, %d bytes", fileSize(rotated(1)), fileSize(rotated(2)))
	}
	e.deleteAndWaitGone(t, "rotating")
	if _, err := os.Stat(filepath.Dir(live)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log directory of the deleted pod: %v", err)
	}
}

// testImageGC simulates a full disk: two unused images, imported one after
// the other, and the test image that a running pod uses. Above the high
// threshold the older unused image goes first, and once the disk is below
// the low threshold the newer one stays; a disk that stays full loses the
// newer one too and shows DiskPressure; the used image is never deleted.
func (e *env) testImageGC(t *testing.T) {
	ctx := context.Background()
	nsCtx := namespaces.WithNamespace(ctx, e.ns)
	ctr := e.daemon.Client()
	e.create(t, e.pod("gc-user", nil))
	e.waitPod(t, "gc-user", 30*time.Second, "ready", ready)
	older, newer := "localhost/slipway-test/unused-older:v1", "localhost/slipway-test/unused-newer:v1"
	for _, ref := range []string{older, newer} {
		archive, err := sampleimage.Build(ctx, e.dir, sampleimage.Spec{Ref: ref, Files: map[string][]byte{"/www/index.html": []byte(ref)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sampleimage.Import(nsCtx, ctr, archive, ""); err != nil {
			t.Fatal(err)
		}
	}
	has := func(ref string) bool {
		_, err := ctr.GetImage(nsCtx, ref)
		return err == nil
	}
	diskPressure := func() string {
		var node api.Node
		if err := e.admin.Get(ctx, nodesRes, "", e.nodeName, &node); err != nil {
			t.Fatal(err)
		}
		for _, c := range node.Status.Conditions {
			if c.Type == api.NodeDiskPressure {
				return c.Status
			}
		}
		return ""
	}
	const capacity = 100 << 30
	usedPercent := func(p uint64) agent.DiskUsage {
		return agent.DiskUsage{Capacity: capacity, Available: capacity / 100 * (100 - p)}
	}
	// 86% used (above the high threshold, 85) with both unused images,
	// 74% (below the low one, 80) with one.
	var measured atomic.Int64
	var measuredPath atomic.Value
	shrinking := func(path string) (agent.DiskUsage, error) {
		measured.Add(1)
		measuredPath.Store(path)
		used := uint64(62)
		for _, ref := range []string{older, newer} {
			if has(ref) {
				used += 12
			}
		}
		return usedPercent(used), nil
	}
	defer e.disk.Store(nil)
	e.disk.Store(&shrinking)
	testwait.Until(t, 10*time.Second, "the older unused image deleted", func() error {
		if has(older) {
			return errors.New("still present")
		}
		return nil
	})
	// Let a few more passes (200 ms apart) see the disk below the threshold.
	seen := measured.Load()
	testwait.Until(t, 10*time.Second, "more GC passes", func() error {
		if measured.Load() < seen+3 {
			return errors.New("waiting")
		}
		return nil
	})
	// The filesystem measured is containerd's, found through its
	// introspection service.
	if p, _ := measuredPath.Load().(string); !strings.HasPrefix(p, filepath.Join(e.dir, "containerd")+"/") {
		t.Errorf("measured %q, want a path under containerd's directory %s", p, filepath.Join(e.dir, "containerd"))
	}
	if !has(newer) || !has(testImage) {
		t.Fatalf("after one deletion: newer image present %v, used image present %v; want both kept", has(newer), has(testImage))
	}

	full := func(string) (agent.DiskUsage, error) { return usedPercent(95), nil }
	e.disk.Store(&full)
	testwait.Until(t, 10*time.Second, "the newer unused image deleted and DiskPressure", func() error {
		if has(newer) {
			return errors.New("newer image still present")
		}
		if s := diskPressure(); s != "True" {
			return fmt.Errorf("DiskPressure %q", s)
		}
		return nil
	})
	if !has(testImage) {
		t.Fatal("the image of running pods was deleted")
	}
	if _, _, code := e.execIn(t, "gc-user", "web", "", "true"); code != 0 {
		t.Errorf("exec in the pod using the kept image: exit %d", code)
	}
	// At least the two images above; images of earlier tests' deleted pods
	// (the registry pull's) are unused too.
	if n, b := e.counter(t, "slipway_node_image_gc_images_total"), e.counter(t, "slipway_node_image_gc_reclaimed_bytes_total"); n < 2 || b <= 0 {
		t.Errorf("GC metrics: %v images, %v bytes; want at least 2 images and their size", n, b)
	}
	e.disk.Store(nil)
	testwait.Until(t, 10*time.Second, "DiskPressure gone with the real disk", func() error {
		if s := diskPressure(); s != "False" {
			return fmt.Errorf("DiskPressure %q", s)
		}
		return nil
	})
	e.deleteAndWaitGone(t, "gc-user")
}
