package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
)

// TestBuildLogFollow: a follower of a build's log gets all of it and ends
// when the build ends, whatever the moment it starts at — before the agent
// has started the build, between the build's start and its first line,
// while it runs, after it ended. The moments are reached deterministically:
// the agent is held before the build starts by the pull of the builder
// image, and the build is a scripted BuildRunner that writes a line when
// told to. (A follower that came before the build was registered used to
// get a 404, or the log as far as it was written, and stop there:
// TestBuildPods flaked with a followed log ending after "Cloning".)
func TestBuildLogFollow(t *testing.T) {
	e := newEnv(t, 44)
	e.stop()
	gate := &pullGate{ImagePuller: e.puller, ref: e.srv.RegistryHost() + "/" + project + "/held-builder:v1",
		pulling: make(chan struct{}), release: make(chan struct{})}
	build := &scriptedBuild{started: make(chan struct{}), lines: make(chan string)}
	e.images, e.builds = gate, build
	e.startAgent()
	build.rt.Store(e.agent.Runtime())
	logSrv := httptest.NewServer(e.agent.Handler())
	defer logSrv.Close()
	url := logSrv.URL + "/containerLogs/" + project + "/held-build/" + api.BuildContainerName + "?follow=true"

	e.create(t, e.pod("held-build", func(p *api.Pod) {
		p.Metadata.Annotations = map[string]string{api.BuildPodAnnotation: "true"}
		p.Spec.RestartPolicy = api.RestartNever
		p.Spec.Containers = []api.Container{{Name: api.BuildContainerName, Image: gate.ref}}
	}))
	const cloning, pushed = `Cloning "file:///src" ...`, "Push successful"

	receive(t, gate.pulling, "the agent pulls the builder image")
	before := startFollow(t, url) // the build is neither registered nor has a log
	close(gate.release)
	receive(t, build.started, "the build starts")
	atStart := startFollow(t, url) // registered, its log still empty
	build.lines <- cloning + "\n"
	before.expect(t, cloning)
	atStart.expect(t, cloning)
	during := startFollow(t, url)
	during.expect(t, cloning)
	build.lines <- pushed + "\n"
	close(build.lines) // the build returns
	for _, f := range []*follower{before, atStart, during} {
		f.expect(t, pushed)
		f.expectEnd(t)
	}
	after := startFollow(t, url)
	after.expect(t, cloning)
	after.expect(t, pushed)
	after.expectEnd(t)
	e.waitPod(t, "held-build", 30*time.Second, "Succeeded", func(p *api.Pod) error {
		if p.Status.Phase != api.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
}

// pullGate is the env's real puller, except that the pull of ref waits
// until release is closed and then leaves the image to the BuildRunner
// (a scripted build needs none): it holds the agent at the moment before
// a build starts.
type pullGate struct {
	agent.ImagePuller
	ref              string
	once             sync.Once
	pulling, release chan struct{}
}

func (g *pullGate) Pull(ctx context.Context, ref string) error {
	if ref != g.ref {
		return g.ImagePuller.Pull(ctx, ref)
	}
	g.once.Do(func() { close(g.pulling) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scriptedBuild is a BuildRunner that appends to the build's log, as the
// executor does, each line sent on lines, and returns successfully once
// lines is closed. It signals started once it runs, before writing. It
// opens the log without creating it: the agent has created it.
type scriptedBuild struct {
	rt      atomic.Pointer[runtime.Runtime]
	started chan struct{}
	lines   chan string
}

func (s *scriptedBuild) RunBuild(ctx context.Context, pod podspec.Pod, _ time.Duration) agent.BuildResult {
	fail := func(err error) agent.BuildResult {
		return agent.BuildResult{ExitCode: 1, Reason: "Error", Message: `{"error":"` + err.Error() + `"}`}
	}
	f, err := os.OpenFile(s.rt.Load().LogPath(pod.UID, api.BuildContainerName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	select {
	case s.started <- struct{}{}:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return agent.BuildResult{ExitCode: 0, Reason: runtime.ReasonCompleted, Message: "{}"}
			}
			if _, err := f.WriteString(line); err != nil {
				return fail(err)
			}
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
}

// follower reads a followed log line by line; lines is closed at its end.
type follower struct {
	lines chan string
	err   error // valid once lines is closed
}

// startFollow starts following url; the response must be 200.
func startFollow(t *testing.T, url string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		t.Fatalf("follow %s: %s: %s", url, resp.Status, b[:n])
	}
	f := &follower{lines: make(chan string, 16)}
	go func() {
		defer resp.Body.Close()
		defer close(f.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
		f.err = sc.Err()
	}()
	return f
}

// expect receives the next line, which must be want. The timeout only
// bounds a broken run.
func (f *follower) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case line, ok := <-f.lines:
		if !ok {
			t.Fatalf("the followed log ended (err %v) before %q", f.err, want)
		}
		if line != want {
			t.Fatalf("followed line %q, want %q", line, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no line %q within 30 s", want)
	}
}

// expectEnd: the followed log ends with no further line.
func (f *follower) expectEnd(t *testing.T) {
	t.Helper()
	select {
	case line, ok := <-f.lines:
		if ok {
			t.Fatalf("followed line %q after the build's last", line)
		}
		if f.err != nil {
			t.Fatalf("the followed log ended with %v", f.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the followed log did not end within 30 s of the build's end")
	}
}

func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s: nothing after a minute", what)
	}
}
