package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/agent/execstream"
	"github.com/slipway/slipway/node/runtime"
	"github.com/slipway/slipway/node/sampleimage"
)

// execIn runs a command through the agent's exec endpoint.
func (e *env) execIn(t testing.TB, pod, container, stdin string, cmd ...string) (stdout, stderr string, code int) {
	t.Helper()
	q := url.Values{"command": cmd}
	req := httptest.NewRequest("POST", "/exec/"+project+"/"+pod+"/"+container+"?"+q.Encode(), strings.NewReader(stdin))
	rec := httptest.NewRecorder()
	e.agent.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("exec %v: %d %s", cmd, rec.Code, rec.Body)
	}
	var out, errOut bytes.Buffer
	code, err := execstream.Decode(rec.Body, &out, &errOut)
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	return out.String(), errOut.String(), code
}

// TestAgent runs the node agent against a real API server, containerd and
// runc. The subtests of "pods" run in parallel on one node; the restart
// test runs after them.
func TestAgent(t *testing.T) {
	e := newEnv(t, 1)
	t.Run("pods", func(t *testing.T) {
		t.Run("NodeRegistersAndHeartbeats", e.testNode)
		t.Run("PodServesHTTP", e.testServes)
		t.Run("ReadinessProbeFlipsReady", e.testReadiness)
		t.Run("ReadyAgainAfterNodeNotReady", e.testReadyAgain)
		t.Run("LivenessProbeRestartsContainer", e.testLiveness)
		t.Run("CrashLoopBackOff", e.testCrashLoop)
		t.Run("RestartPolicies", e.testRestartPolicies)
		t.Run("OOMKilled", e.testOOM)
		t.Run("MissingImage", e.testMissingImage)
		t.Run("PullsFromRegistry", e.testRegistryPull)
		t.Run("SecretEnv", e.testSecretEnv)
		t.Run("DeleteStopsGracefully", e.testDelete)
		t.Run("LogsAndExec", e.testLogsAndExec)
		t.Run("UsageStats", e.testStats)
		t.Run("LogRotation", e.testLogRotation)
	})
	// Image GC deletes every unused image: alone, so that no other test's
	// image is unused meanwhile.
	t.Run("ImageGC", e.testImageGC)
	t.Run("AgentRestartAdoptsPods", e.testRestart)
}

func (e *env) testNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var node api.Node
	testwait.Until(t, 10*time.Second, "node registered with status", func() error {
		if err := e.admin.Get(ctx, nodesRes, "", e.nodeName, &node); err != nil {
			return err
		}
		if len(node.Status.Conditions) != 3 {
			return fmt.Errorf("conditions %+v", node.Status.Conditions)
		}
		return nil
	})
	if node.Metadata.Labels[agent.LabelArch] == "" || node.Metadata.Labels[agent.LabelOS] != "linux" ||
		node.Metadata.Labels[agent.LabelHostname] == "" || node.Metadata.Labels["test"] != "yes" {
		t.Errorf("labels %v", node.Metadata.Labels)
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "slipway.io/test" {
		t.Errorf("taints %v", node.Spec.Taints)
	}
	st := node.Status
	if st.Capacity[api.ResourceCPU] == "" || !strings.HasSuffix(st.Capacity[api.ResourceMemory], "Ki") || st.Capacity[api.ResourcePods] != "110" {
		t.Errorf("capacity %v", st.Capacity)
	}
	for _, c := range st.Conditions {
		want := "False"
		if c.Type == api.NodeReady {
			want = "True"
		}
		if c.Status != want || c.LastHeartbeatTime == nil {
			t.Errorf("condition %+v, want status %s with a heartbeat", c, want)
		}
	}
	if !strings.HasPrefix(st.NodeInfo.ContainerRuntimeVersion, "containerd://1.") || st.NodeInfo.RuncVersion == "" || st.NodeInfo.KernelVersion == "" {
		t.Errorf("nodeInfo %+v", st.NodeInfo)
	}
	if st.Endpoint == nil || st.Endpoint.URL != "https://127.0.0.1:10250" || len(st.Addresses) == 0 {
		t.Errorf("endpoint %+v addresses %+v", st.Endpoint, st.Addresses)
	}
	// The lease is renewed every heartbeat (1 s here), for 4 s.
	var first api.Lease
	testwait.Until(t, 10*time.Second, "lease exists", func() error {
		return e.admin.Get(ctx, leasesRes, "", agent.LeaseName(e.nodeName), &first)
	})
	if first.Spec.HolderIdentity != e.nodeName || first.Spec.LeaseDurationSeconds != 4 {
		t.Errorf("lease %+v", first.Spec)
	}
	testwait.Until(t, 10*time.Second, "lease renewed", func() error {
		var l api.Lease
		if err := e.admin.Get(ctx, leasesRes, "", agent.LeaseName(e.nodeName), &l); err != nil {
			return err
		}
		if !l.Spec.RenewTime.After(*first.Spec.RenewTime) {
			return fmt.Errorf("renewTime still %v", l.Spec.RenewTime)
		}
		return nil
	})
	// Taints belong to the admins after registration.
	patch := map[string]any{"spec": map[string]any{"taints": nil}}
	if err := e.admin.Patch(ctx, nodesRes, "", e.nodeName, patch, false, nil); err != nil {
		t.Fatal(err)
	}
}

func (e *env) testServes(t *testing.T) {
	t.Parallel()
	created := e.create(t, e.pod("web", nil))
	p := e.waitPod(t, "web", 30*time.Second, "ready", ready)
	waitServes(t, p, sampleimage.IndexHTML)
	if p.Status.HostIP == "" || p.Status.StartTime == nil || len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("status %s", statusJSON(p))
	}
	cs := p.Status.ContainerStatuses[0]
	if !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 || cs.State.Running == nil ||
		cs.State.Running.StartedAt == nil || !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.Image != testImage {
		t.Fatalf("container status %s", statusJSON(p))
	}
	if c := condition(p, api.ContainersReady); c == nil || c.Status != "True" || c.LastTransitionTime == nil {
		t.Fatalf("ContainersReady %+v", c)
	}
	if !slices.Contains(created.Metadata.Finalizers, api.PodTerminationFinalizer) {
		t.Errorf("finalizers %v", created.Metadata.Finalizers)
	}
	testwait.Until(t, 5*time.Second, "metrics", func() error {
		mfs, err := e.reg.Gather()
		if err != nil {
			return err
		}
		seen := map[string]float64{}
		for _, mf := range mfs {
			m := mf.GetMetric()[0]
			switch {
			case m.GetGauge() != nil:
				seen[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				seen[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
			}
		}
		if seen["slipway_node_pods_running"] < 1 || seen["slipway_node_pod_start_seconds"] < 1 {
			return fmt.Errorf("metrics %v", seen)
		}
		return nil
	})
}

func (e *env) testReadiness(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("readiness", func(p *api.Pod) {
		c := &p.Spec.Containers[0]
		c.Command = []string{"sh", "-c", "mkdir -p /tmp/www && echo ok > /tmp/www/ready && exec httpd -f -p 8080 -h /tmp/www"}
		c.ReadinessProbe = &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/ready", Port: api.FromString("http")},
			PeriodSeconds: 1, FailureThreshold: 1}
	}))
	e.waitPod(t, "readiness", 30*time.Second, "ready", ready)
	if _, _, code := e.execIn(t, "readiness", "web", "", "rm", "/tmp/www/ready"); code != 0 {
		t.Fatalf("rm exit %d", code)
	}
	p := e.waitPod(t, "readiness", 15*time.Second, "not ready", func(p *api.Pod) error {
		if c := condition(p, api.PodReady); c == nil || c.Status != "False" || c.Reason != "ContainersNotReady" {
			return fmt.Errorf("%s", statusJSON(p))
		}
		return nil
	})
	if p.Status.Phase != api.PodRunning || p.Status.ContainerStatuses[0].Ready || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("status %s", statusJSON(p))
	}
	if _, _, code := e.execIn(t, "readiness", "web", "ok\n", "sh", "-c", "cat > /tmp/www/ready"); code != 0 {
		t.Fatalf("restore exit %d", code)
	}
	e.waitPod(t, "readiness", 10*time.Second, "ready again", ready)
}

// When its node was NotReady the node lifecycle controller marked the pod
// not ready; the agent, heartbeating again, says it is ready again.
func (e *env) testReadyAgain(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("ready-again", func(p *api.Pod) {
		p.Spec.Containers[0].ReadinessProbe = &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromString("http")}, PeriodSeconds: 1}
	}))
	p := e.waitPod(t, "ready-again", 30*time.Second, "ready", ready)
	conds := p.Status.Conditions
	for i := range conds {
		if conds[i].Type == api.PodReady {
			conds[i].Status, conds[i].Reason = "False", "NodeNotReady"
		}
	}
	if err := e.admin.Patch(context.Background(), podsRes, project, "ready-again",
		map[string]any{"status": map[string]any{"conditions": conds}}, true, nil); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "ready-again", 10*time.Second, "ready again", ready)
}

func (e *env) testLiveness(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("liveness", func(p *api.Pod) {
		c := &p.Spec.Containers[0]
		c.Command = []string{"sh", "-c", "echo instance $$ started; touch /tmp/alive; exec httpd -f -p 8080 -h /www"}
		c.LivenessProbe = &api.Probe{Exec: &api.ExecAction{Command: []string{"test", "-f", "/tmp/alive"}},
			PeriodSeconds: 1, FailureThreshold: 2}
		c.StartupProbe = &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(8080)}, PeriodSeconds: 1, FailureThreshold: 10}
	}))
	before := e.waitPod(t, "liveness", 30*time.Second, "ready", ready)
	e.execIn(t, "liveness", "web", "", "rm", "/tmp/alive")
	p := e.waitPod(t, "liveness", 20*time.Second, "restarted and ready", func(p *api.Pod) error {
		if err := ready(p); err != nil {
			return err
		}
		if p.Status.ContainerStatuses[0].RestartCount < 1 {
			return fmt.Errorf("restartCount 0")
		}
		return nil
	})
	cs := p.Status.ContainerStatuses[0]
	last := cs.LastTerminationState.Terminated
	if last == nil || !strings.Contains(last.Message, "liveness probe failed") || cs.ContainerID != before.Status.ContainerStatuses[0].ContainerID {
		t.Fatalf("status %s", statusJSON(p))
	}
	if p.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod IP changed from %s to %s", before.Status.PodIP, p.Status.PodIP)
	}
	if body, err := get(podURL(p)); err != nil || body != sampleimage.IndexHTML {
		t.Fatalf("GET after restart: %q %v", body, err)
	}
}

func (e *env) testCrashLoop(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("crash", func(p *api.Pod) {
		p.Spec.Containers[0].Command = []string{"sh", "-c", "echo crashing; exit 3"}
	}))
	// Restarts come after 0, 0.5, 1, 2 s of back-off (RestartBackoff 500 ms).
	seen := map[int32]time.Time{}
	sawBackOff := false
	e.waitPod(t, "crash", 30*time.Second, "restartCount 4", func(p *api.Pod) error {
		if len(p.Status.ContainerStatuses) == 0 {
			return errors.New("no container status")
		}
		cs := p.Status.ContainerStatuses[0]
		if _, ok := seen[cs.RestartCount]; !ok {
			seen[cs.RestartCount] = time.Now()
		}
		if w := cs.State.Waiting; w != nil && w.Reason == agent.ReasonCrashLoopBackOff {
			sawBackOff = true
			if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 3 || lt.Reason != "Error" {
				t.Errorf("lastState %s", statusJSON(p))
			}
			if p.Status.Phase != api.PodRunning {
				t.Errorf("phase %s during back-off", p.Status.Phase)
			}
		}
		if cs.RestartCount < 4 {
			return fmt.Errorf("restartCount %d", cs.RestartCount)
		}
		return nil
	})
	if !sawBackOff {
		t.Error("never saw CrashLoopBackOff")
	}
	if seen[2].IsZero() || seen[4].IsZero() {
		t.Logf("restart times: %v", seen)
		return
	}
	if gap := seen[4].Sub(seen[2]); gap < 2*time.Second {
		t.Errorf("restarts 2→4 took %v, want ≥ 3 s of back-off (1 s + 2 s)", gap)
	}
}

func (e *env) testRestartPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, policy, cmd string
		phase, reason     string
		code              int32
	}{
		{"never-fails", api.RestartNever, "exit 7", api.PodFailed, "Error", 7},
		{"never-completes", api.RestartNever, "echo done", api.PodSucceeded, "Completed", 0},
		{"onfailure-completes", api.RestartOnFailure, "exit 0", api.PodSucceeded, "Completed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e.create(t, e.pod(tc.name, func(p *api.Pod) {
				p.Spec.RestartPolicy = tc.policy
				p.Spec.Containers[0].Command = []string{"sh", "-c", tc.cmd}
			}))
			p := e.waitPod(t, tc.name, 30*time.Second, "phase "+tc.phase, func(p *api.Pod) error {
				if p.Status.Phase != tc.phase {
					return fmt.Errorf("%s", statusJSON(p))
				}
				return nil
			})
			cs := p.Status.ContainerStatuses[0]
			if term := cs.State.Terminated; term == nil || term.ExitCode != tc.code || term.Reason != tc.reason || cs.RestartCount != 0 || term.FinishedAt == nil {
				t.Fatalf("status %s", statusJSON(p))
			}
			if c := condition(p, api.PodReady); c == nil || c.Status != "False" || c.Reason != "PodCompleted" {
				t.Fatalf("Ready %+v", c)
			}
		})
	}
}

func (e *env) testOOM(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("hog", func(p *api.Pod) {
		p.Spec.RestartPolicy = api.RestartNever
		c := &p.Spec.Containers[0]
		c.Command = []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"}
		c.Resources.Limits = api.ResourceList{api.ResourceMemory: "16Mi"}
	}))
	p := e.waitPod(t, "hog", 30*time.Second, "failed", func(p *api.Pod) error {
		if p.Status.Phase != api.PodFailed {
			return fmt.Errorf("%s", statusJSON(p))
		}
		return nil
	})
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("status %s", statusJSON(p))
	}
}

func (e *env) testMissingImage(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("noimage", func(p *api.Pod) { p.Spec.Containers[0].Image = "localhost/slipway-test/absent:v1" }))
	p := e.waitPod(t, "noimage", 15*time.Second, "ImagePullBackOff", func(p *api.Pod) error {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
			p.Status.ContainerStatuses[0].State.Waiting.Reason != agent.ReasonImagePullBackOff {
			return fmt.Errorf("%s", statusJSON(p))
		}
		return nil
	})
	if p.Status.Phase != api.PodPending || !strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, "absent:v1") {
		t.Fatalf("status %s", statusJSON(p))
	}
	// Deleting it needs no runtime work: the finalizer is released at once.
	e.deleteAndWaitGone(t, "noimage")
}

func (e *env) deleteAndWaitGone(t testing.TB, name string) {
	t.Helper()
	if err := e.admin.Delete(context.Background(), podsRes, project, name, nil); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 20*time.Second, "pod "+name+" gone", func() error {
		var p api.Pod
		err := e.admin.Get(context.Background(), podsRes, project, name, &p)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil
		}
		// Name the usual cause: the agent may not remove the finalizer.
		probe := map[string]any{"metadata": map[string]any{"finalizers": p.Metadata.Finalizers}}
		if perr := e.node.Patch(context.Background(), podsRes, project, name, probe, false, nil); errors.Is(perr, errdefs.ErrForbidden) {
			return fmt.Errorf("the node agent cannot release the %s finalizer: role system:node lacks patch on pods (auth/rbac/roles.go): %v",
				api.PodTerminationFinalizer, perr)
		}
		return fmt.Errorf("still there (finalizers %v, deletionTimestamp %v): %v", p.Metadata.Finalizers, p.Metadata.DeletionTimestamp, err)
	})
}

func (e *env) testDelete(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("doomed", nil))
	p := e.waitPod(t, "doomed", 30*time.Second, "ready", ready)
	uid := p.Metadata.UID
	logPath := e.agent.Runtime().LogPath(uid, "web")
	start := time.Now()
	if err := e.admin.Delete(context.Background(), podsRes, project, "doomed", nil); err != nil {
		t.Fatal(err)
	}
	// Ready, it keeps serving for the deregistration delay (300 ms here)
	// while routers stop sending it requests.
	time.Sleep(100 * time.Millisecond)
	if body, err := get(podURL(p)); err != nil || body != sampleimage.IndexHTML {
		t.Errorf("a deleted pod stopped serving within its deregistration delay: %q %v", body, err)
	}
	e.deleteAndWaitGone(t, "doomed")
	// The sample image's shell exits on SIGTERM: well within the grace.
	if d := time.Since(start); d > 2*time.Second+time.Second {
		t.Errorf("graceful delete took %v", d)
	}
	pods, err := e.agent.Runtime().ListPods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range pods {
		if rp.UID == uid {
			t.Fatalf("pod still in the runtime: %+v", rp)
		}
	}
	if _, err := os.Stat(e.agent.Runtime().NetnsPath(uid)); err == nil {
		t.Error("netns left")
	}
	if _, err := os.Stat(logPath); err == nil {
		t.Error("log left")
	}
	if _, err := get(podURL(p)); err == nil {
		t.Error("pod IP still answers")
	}
}

func (e *env) testLogsAndExec(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("talker", func(p *api.Pod) {
		p.Spec.Containers[0].Command = []string{"sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; while :; do sleep 0.2; if [ -f /tmp/more ]; then echo more; rm /tmp/more; fi; done"}
	}))
	e.waitPod(t, "talker", 30*time.Second, "running", running)
	srv := httptest.NewServer(e.agent.Handler())
	defer srv.Close()
	logs := func(query string) (string, int) {
		resp, err := http.Get(srv.URL + "/containerLogs/" + project + "/talker/web" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode
	}
	testwait.Until(t, 5*time.Second, "all lines logged", func() error {
		if out, _ := logs(""); out != "line 1\nline 2\nline 3\nline 4\nline 5\n" {
			return fmt.Errorf("logs %q", out)
		}
		return nil
	})
	if out, code := logs("?tailLines=2"); out != "line 4\nline 5\n" || code != 200 {
		t.Errorf("tail 2: %d %q", code, out)
	}
	if out, _ := logs("?tailLines=0"); out != "" {
		t.Errorf("tail 0: %q", out)
	}
	if _, code := logs("?previous=true"); code != http.StatusNotFound {
		t.Errorf("previous before any restart: %d", code)
	}
	if _, code := logs("?tailLines=x"); code != http.StatusBadRequest {
		t.Errorf("bad tailLines: %d", code)
	}
	if resp, err := http.Get(srv.URL + "/containerLogs/" + project + "/nosuch/web"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown pod: %v %v", resp.StatusCode, err)
	}

	// Follow streams new lines as they come.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/containerLogs/"+project+"/talker/web?follow=true&tailLines=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); line != "line 5\n" || err != nil {
		t.Fatalf("first followed line %q %v", line, err)
	}
	e.execIn(t, "talker", "web", "", "touch", "/tmp/more")
	if line, err := rd.ReadString('\n'); line != "more\n" || err != nil {
		t.Fatalf("followed line %q %v", line, err)
	}
	cancel()

	// Exec: stdout, stderr, stdin and exit codes.
	out, errOut, code := e.execIn(t, "talker", "web", "", "sh", "-c", "echo out; echo err >&2; exit 5")
	if out != "out\n" || errOut != "err\n" || code != 5 {
		t.Errorf("exec: %q %q %d", out, errOut, code)
	}
	if out, _, code := e.execIn(t, "talker", "web", "hello stdin", "cat"); out != "hello stdin" || code != 0 {
		t.Errorf("exec cat: %q %d", out, code)
	}
	if out, _, code := e.execIn(t, "talker", "web", "", "id", "-u"); out != "65534\n" || code != 0 {
		t.Errorf("exec id: %q %d", out, code)
	}
	if _, errOut, code := e.execIn(t, "talker", "web", "", "/no/such/binary"); code == 0 || errOut == "" {
		t.Errorf("exec of a missing binary: code %d stderr %q", code, errOut)
	}
	// Through a real HTTP server too, streaming.
	q := url.Values{"command": {"sh", "-c", "echo a; sleep 0.3; echo b"}}
	resp2, err := http.Post(srv.URL+"/exec/"+project+"/talker/web?"+q.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if ct := resp2.Header.Get("Content-Type"); ct != agent.ExecContentType {
		t.Errorf("content type %q", ct)
	}
	var stdout bytes.Buffer
	if code, err := execstream.Decode(resp2.Body, &stdout, io.Discard); code != 0 || err != nil || stdout.String() != "a\nb\n" {
		t.Errorf("exec over HTTP: %d %v %q", code, err, stdout.String())
	}
	if resp, err := http.Post(srv.URL+"/exec/"+project+"/talker/web", "", nil); err != nil || resp.StatusCode != 400 {
		t.Errorf("exec without command: %v %v", resp.StatusCode, err)
	}
}

// testRestart stops the agent while a pod serves HTTP and starts a new one:
// the pod is adopted (same PID, no restart) and answers throughout; a pod
// deleted from the API meanwhile is stopped and removed.
func (e *env) testRestart(t *testing.T) {
	ctx := context.Background()
	e.create(t, e.pod("steady", nil))
	e.create(t, e.pod("orphan", nil))
	p := e.waitPod(t, "steady", 30*time.Second, "ready", ready)
	orphan := e.waitPod(t, "orphan", 30*time.Second, "ready", ready)
	pidOf := func(uid string) uint32 {
		rs, err := e.agent.Runtime().PodStatus(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		return rs.Containers[0].PID
	}
	pid := pidOf(p.Metadata.UID)

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := get(podURL(p)); err != nil {
				t.Logf("GET during the agent restart: %v", err)
				failed.Add(1)
			} else {
				ok.Add(1)
			}
		}
	}()

	e.stop()
	// While the agent is down: the orphan's API object goes for good.
	if err := e.admin.Delete(ctx, podsRes, project, "orphan", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Patch(ctx, podsRes, project, "orphan", map[string]any{"metadata": map[string]any{"finalizers": nil}}, false, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the pod keeps serving without its agent (the HTTP loop counts)
	e.startAgent()

	testwait.Until(t, 20*time.Second, "orphan removed", func() error {
		if _, err := e.agent.Runtime().PodStatus(ctx, orphan.Metadata.UID); !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("orphan still present: %v", err)
		}
		return nil
	})
	// Two resyncs of the adopted pod.
	time.Sleep(4 * time.Second)
	close(stop)
	<-done
	if got := pidOf(p.Metadata.UID); got != pid {
		t.Errorf("container PID changed from %d to %d: restarted", pid, got)
	}
	after := e.get(t, "steady")
	if err := ready(after); err != nil || after.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("after adoption: %v %s", err, statusJSON(after))
	}
	if failed.Load() != 0 || ok.Load() < 20 {
		t.Errorf("HTTP during the agent restart: %d ok, %d failed", ok.Load(), failed.Load())
	}
	t.Logf("HTTP during the agent restart: %d ok, %d failed", ok.Load(), failed.Load())
	e.deleteAndWaitGone(t, "steady")
}

// A pod burning CPU shows in the usage summary with a rate near its CPU
// limit, memory in use, and the host's totals.
func (e *env) testStats(t *testing.T) {
	t.Parallel()
	e.create(t, e.pod("burner", func(p *api.Pod) {
		p.Spec.Containers[0].Command = []string{"sh", "-c", "while :; do :; done"}
		p.Spec.Containers[0].Ports = nil
		p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceCPU: "300m"}
	}))
	e.waitPod(t, "burner", 30*time.Second, "running", running)
	srv := httptest.NewServer(e.agent.Handler())
	defer srv.Close()
	testwait.Until(t, 15*time.Second, "the burner's CPU in /stats/summary", func() error {
		resp, err := http.Get(srv.URL + "/stats/summary")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		var st api.NodeStats
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		if st.Node != e.nodeName || st.Usage.CPUMillicores <= 0 || st.Usage.MemoryBytes <= 0 {
			return fmt.Errorf("node usage %+v", st)
		}
		for _, p := range st.Pods {
			if p.Name != "burner" {
				continue
			}
			// A busy loop under a 300m quota: well above idle, not above
			// the quota by more than the measuring window's slack.
			if c := p.Usage.CPUMillicores; c < 150 || c > 450 || p.Usage.MemoryBytes <= 0 || len(p.Containers) != 1 {
				return fmt.Errorf("burner usage %+v", p)
			}
			return nil
		}
		return fmt.Errorf("no burner among %d pods", len(st.Pods))
	})
	e.deleteAndWaitGone(t, "burner")
}
