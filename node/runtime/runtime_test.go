package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
	"github.com/slipway/slipway/node/sampleimage"
)

func int64p(v int64) *int64 { return &v }

// hostPort is a node port unlikely to be taken, distinct per test process.
var hostPort = int32(30000 + os.Getpid()%20000)

// TestPods runs one pod per case against a real containerd and runc, checks
// what the case is about, deletes the pod and checks nothing is left.
func TestPods(t *testing.T) {
	e := newEnv(t, 1)
	tests := []struct {
		name  string
		pod   podspec.Pod
		check func(t *testing.T, e *env, ps runtime.PodStatus)
	}{
		{
			name: "serves HTTP on the pod IP as a non-root user on port 80",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "web", Image: testImage, Env: []podspec.EnvVar{{Name: "PORT", Value: "80"}},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				var body string
				testwait.Until(t, 10*time.Second, "HTTP from the pod IP", func() (err error) {
					body, err = get(fmt.Sprintf("http://%s:80/", ps.IP))
					return err
				})
				if body != sampleimage.IndexHTML {
					t.Errorf("body = %q", body)
				}
				if c := ps.Containers[0]; c.State != runtime.StateRunning || c.PID == 0 {
					t.Errorf("status = %+v, want Running with a PID", c)
				}
			},
		},
		{
			name: "hostPort publishes the container port on the node",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "web", Image: testImage,
				Ports: []podspec.ContainerPort{{ContainerPort: 8080, HostPort: hostPort}},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				testwait.Until(t, 10*time.Second, "HTTP through the host port", func() error {
					_, err := get(fmt.Sprintf("http://127.0.0.1:%d/", hostPort))
					return err
				})
			},
		},
		{
			name: "two containers talk over localhost",
			pod: podspec.Pod{Containers: []podspec.Container{
				{Name: "server", Image: testImage},
				{Name: "client", Image: testImage, Command: []string{"sh", "-c",
					`until printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 8080 | grep -q 'hello from'; do sleep 0.05; done; echo reached-server`}},
			}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				st := e.waitExited(t, ps.UID, "client", 10*time.Second)
				if st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted {
					t.Errorf("client = %+v, want exit 0 Completed", st)
				}
				if log := e.readLog(t, ps.UID, "client"); !strings.Contains(log, "reached-server") {
					t.Errorf("client log = %q", log)
				}
			},
		},
		{
			name: "command, args, env and workingDir; failing exit code",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "job", Image: testImage,
				Command:    []string{"sh", "-c", `echo "$GREETING $1 in $(pwd)"; exit 3`},
				Args:       []string{"job", "world"}, // $0 and $1 of the script
				Env:        []podspec.EnvVar{{Name: "GREETING", Value: "hello"}},
				WorkingDir: "/www",
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				st := e.waitExited(t, ps.UID, "job", 10*time.Second)
				if st.ExitCode != 3 || st.Reason != runtime.ReasonError {
					t.Errorf("job = %+v, want exit 3 Error", st)
				}
				if log := e.readLog(t, ps.UID, "job"); !strings.Contains(log, "hello world in /www") {
					t.Errorf("log = %q, want greeting and working dir", log)
				}
			},
		},
		{
			name: "stderr written as the container exits reaches the log",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "crash", Image: testImage,
				Command: []string{"sh", "-c", `echo starting; exec 1>&-; sleep 0.2; for i in 1 2 3 4 5 6 7 8; do echo "error $i" >&2; done; exit 2`},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				e.waitExited(t, ps.UID, "crash", 10*time.Second)
				// stdout ends first, as it does when a process exits and its
				// stdout's copy finishes before stderr's: containerd 1.6's
				// shim then lost the rest of stderr. Every line is wanted,
				// stderr's in order; stdout's line may come before or after
				// them (two pipes, as with any runtime).
				want := ""
				for i := 1; i <= 8; i++ {
					want += fmt.Sprintf("error %d\n", i)
				}
				testwait.Until(t, 10*time.Second, "the whole log", func() error {
					log := e.readLog(t, ps.UID, "crash")
					if rest := strings.Replace(log, "starting\n", "", 1); rest != want {
						return fmt.Errorf("log = %q", log)
					}
					return nil
				})
			},
		},
		{
			name: "args replace the image cmd",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "echo", Image: testImage,
				Command: []string{"echo"}, Args: []string{"first", "second"},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				st := e.waitExited(t, ps.UID, "echo", 10*time.Second)
				if st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted {
					t.Errorf("echo = %+v, want exit 0 Completed", st)
				}
				if log := e.readLog(t, ps.UID, "echo"); log != "first second\n" {
					t.Errorf("log = %q", log)
				}
			},
		},
		{
			name: "restricted defaults: uid 65534, no new privileges, no capabilities",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "whoami", Image: testImage,
				Command: []string{"sh", "-c", `echo "uid=$(id -u) gid=$(id -g)"; grep -E '^(NoNewPrivs|CapEff|CapBnd)' /proc/self/status`},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				e.waitExited(t, ps.UID, "whoami", 10*time.Second)
				log := e.readLog(t, ps.UID, "whoami")
				for _, want := range []string{"uid=65534 gid=65534", "NoNewPrivs:\t1", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"} {
					if !strings.Contains(log, want) {
						t.Errorf("log = %q, want %q", log, want)
					}
				}
			},
		},
		{
			// Without a filter an unprivileged process may create a user
			// namespace (the kernel allows it); the default profile allows
			// unshare only with CAP_SYS_ADMIN, so it fails with EPERM.
			name: "default seccomp profile: filter mode, unshare refused, ordinary commands work",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "sandboxed", Image: testImage,
				Command: []string{"sh", "-c", `grep '^Seccomp:' /proc/self/status; unshare -U true; echo "unshare=$?"; echo hi | wc -c; ls /www`},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				e.waitExited(t, ps.UID, "sandboxed", 10*time.Second)
				// stdout and stderr reach the log through two pipes: the
				// last stderr line may land a moment after the exit.
				wants := []string{"Seccomp:\t2\n", "Operation not permitted", "unshare=1\n", "3\n", "index.html\n"}
				var log string
				for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					log = e.readLog(t, ps.UID, "sandboxed")
					if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(log, w) }) || time.Now().After(deadline) {
						break
					}
				}
				for _, want := range wants {
					if !strings.Contains(log, want) {
						t.Errorf("log = %q, want %q", log, want)
					}
				}
			},
		},
		{
			name: "runAsUser and an added capability",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "whoami", Image: testImage,
				Command: []string{"sh", "-c", `echo "uid=$(id -u)"; grep '^CapBnd' /proc/self/status`},
				SecurityContext: &podspec.SecurityContext{
					RunAsUser:    int64p(sampleimage.AppUID),
					Capabilities: &podspec.Capabilities{Add: []string{"NET_BIND_SERVICE"}},
				},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				e.waitExited(t, ps.UID, "whoami", 10*time.Second)
				log := e.readLog(t, ps.UID, "whoami")
				// CAP_NET_BIND_SERVICE is bit 10.
				for _, want := range []string{"uid=1000", "CapBnd:\t0000000000000400"} {
					if !strings.Contains(log, want) {
						t.Errorf("log = %q, want %q", log, want)
					}
				}
			},
		},
		{
			name: "memory limit: OOM kill reported as OOMKilled",
			pod: podspec.Pod{Containers: []podspec.Container{{
				Name: "hog", Image: testImage,
				Command:   []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"},
				Resources: podspec.ResourceRequirements{Limits: podspec.ResourceList{Memory: "16Mi", CPU: "500m"}},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				st := e.waitExited(t, ps.UID, "hog", 15*time.Second)
				if st.Reason != runtime.ReasonOOMKilled || st.ExitCode != 137 {
					t.Errorf("hog = %+v, want exit 137 OOMKilled", st)
				}
			},
		},
		{
			name: "graceful stop: SIGTERM honoured well within the grace period",
			pod:  podspec.Pod{Containers: []podspec.Container{{Name: "web", Image: testImage}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				testwait.Until(t, 10*time.Second, "HTTP", func() error { _, err := get(fmt.Sprintf("http://%s:8080/", ps.IP)); return err })
				start := time.Now()
				if err := e.rt.StopPod(context.Background(), ps.UID, 20*time.Second); err != nil {
					t.Fatalf("StopPod: %v", err)
				}
				took := time.Since(start)
				st := e.waitExited(t, ps.UID, "web", time.Second)
				if st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted || took > 5*time.Second {
					t.Errorf("after %v: %+v, want exit 0 Completed well before the 20 s grace", took, st)
				}
				if err := e.rt.StopPod(context.Background(), ps.UID, time.Second); err != nil {
					t.Errorf("second StopPod: %v", err)
				}
			},
		},
		{
			name: "forced stop: SIGKILL after the grace period",
			pod: podspec.Pod{Containers: []podspec.Container{{
				// PID 1 without a handler ignores SIGTERM.
				Name: "stubborn", Image: testImage, Command: []string{"sleep", "1000"},
			}}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				const grace = 700 * time.Millisecond
				start := time.Now()
				if err := e.rt.StopPod(context.Background(), ps.UID, grace); err != nil {
					t.Fatalf("StopPod: %v", err)
				}
				took := time.Since(start)
				st := e.waitExited(t, ps.UID, "stubborn", time.Second)
				if st.ExitCode != 137 || st.Reason != runtime.ReasonError || took < grace || took > grace+5*time.Second {
					t.Errorf("after %v: %+v, want exit 137 Error after the %v grace", took, st, grace)
				}
			},
		},
		{
			name: "a restarted agent adopts the pod from labels",
			pod: podspec.Pod{Containers: []podspec.Container{
				{Name: "a", Image: testImage}, {Name: "b", Image: testImage, Command: []string{"sleep", "1000"}},
			}},
			check: func(t *testing.T, e *env, ps runtime.PodStatus) {
				fresh := e.newRuntime()
				pods, err := fresh.ListPods(context.Background())
				if err != nil {
					t.Fatalf("ListPods: %v", err)
				}
				var found *runtime.PodStatus
				for i := range pods {
					if pods[i].UID == ps.UID {
						found = &pods[i]
					}
				}
				if found == nil {
					t.Fatalf("pod %s not listed in %+v", ps.UID, pods)
				}
				if found.Project != "shop" || found.Name != ps.Name || found.IP != ps.IP || found.NetnsPath == "" ||
					len(found.Containers) != 2 || found.Containers[0].Name != "a" || found.Containers[1].State != runtime.StateRunning {
					t.Errorf("adopted = %+v, want %+v", *found, ps)
				}
			},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod
			pod.UID = fmt.Sprintf("pod-%d-%d", i, time.Now().UnixNano()%1e9)
			pod.Project, pod.Name = "shop", fmt.Sprintf("case-%d", i)
			ps, err := e.rt.RunPod(context.Background(), pod)
			if err != nil {
				t.Fatalf("RunPod: %v", err)
			}
			if !ps.IP.IsValid() || len(ps.Containers) != len(pod.Containers) {
				t.Fatalf("RunPod status = %+v", ps)
			}
			tc.check(t, e, ps)
			names := make([]string, 0, len(pod.Containers))
			for _, c := range pod.Containers {
				names = append(names, c.Name)
			}
			if err := e.rt.DeletePod(context.Background(), pod.UID); err != nil {
				t.Fatalf("DeletePod: %v", err)
			}
			e.assertGone(t, pod.UID, names...)
			if _, err := e.rt.PodStatus(context.Background(), pod.UID); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("PodStatus after delete: %v, want ErrNotFound", err)
			}
			if err := e.rt.DeletePod(context.Background(), pod.UID); err != nil {
				t.Errorf("second DeletePod: %v", err)
			}
		})
	}
}

// TestRunPodErrors checks refused pods and that a failed RunPod leaves
// nothing behind.
func TestRunPodErrors(t *testing.T) {
	e := newEnv(t, 2)
	tests := []struct {
		name    string
		pod     podspec.Pod
		wantErr error
	}{
		{"bad uid", podspec.Pod{UID: "Bad_UID", Containers: []podspec.Container{{Name: "a", Image: testImage}}}, runtime.ErrInvalid},
		{"no containers", podspec.Pod{UID: "err-1"}, runtime.ErrInvalid},
		{"duplicate names", podspec.Pod{UID: "err-2", Containers: []podspec.Container{{Name: "a", Image: testImage}, {Name: "a", Image: testImage}}}, runtime.ErrInvalid},
		{"bad memory quantity", podspec.Pod{UID: "err-3", Containers: []podspec.Container{{Name: "a", Image: testImage,
			Resources: podspec.ResourceRequirements{Limits: podspec.ResourceList{Memory: "lots"}}}}}, runtime.ErrInvalid},
		{"image not on node", podspec.Pod{UID: "err-4", Containers: []podspec.Container{{Name: "a", Image: testImage},
			{Name: "b", Image: "localhost/absent:v1"}}}, runtime.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.rt.RunPod(context.Background(), tc.pod)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("RunPod error = %v, want %v", err, tc.wantErr)
			}
			if tc.pod.UID != "Bad_UID" {
				e.assertGone(t, tc.pod.UID, "a", "b")
			}
		})
	}
	t.Run("same uid twice", func(t *testing.T) {
		pod := podspec.Pod{UID: "twice", Containers: []podspec.Container{{Name: "a", Image: testImage}}}
		if _, err := e.rt.RunPod(context.Background(), pod); err != nil {
			t.Fatalf("first RunPod: %v", err)
		}
		if _, err := e.rt.RunPod(context.Background(), pod); !errors.Is(err, runtime.ErrAlreadyExists) {
			t.Errorf("second RunPod: %v, want ErrAlreadyExists", err)
		}
		if err := e.rt.DeletePod(context.Background(), pod.UID); err != nil {
			t.Fatalf("DeletePod: %v", err)
		}
		e.assertGone(t, pod.UID, "a")
	})
}

// TestContainerdRestart stops containerd while a pod serves, checks that it
// keeps serving, restarts containerd on the same directory and checks the
// task is reported running again and can be stopped and deleted.
func TestContainerdRestart(t *testing.T) {
	e := newEnv(t, 3)
	ctx := context.Background()
	pod := podspec.Pod{UID: "restart-1", Project: "shop", Name: "web", Containers: []podspec.Container{{Name: "web", Image: testImage}}}
	ps, err := e.rt.RunPod(ctx, pod)
	if err != nil {
		t.Fatalf("RunPod: %v", err)
	}
	url := fmt.Sprintf("http://%s:8080/", ps.IP)
	testwait.Until(t, 10*time.Second, "HTTP before restart", func() error { _, err := get(url); return err })

	if err := e.daemon.Stop(ctx); err != nil {
		t.Fatalf("stop containerd: %v", err)
	}
	e.daemon = nil
	if _, err := get(url); err != nil {
		t.Errorf("pod stopped serving while containerd is down: %v", err)
	}
	e.startDaemon()
	e.rt = e.newRuntime()
	if _, err := get(url); err != nil {
		t.Errorf("pod not serving after containerd restart: %v", err)
	}
	got, err := e.rt.PodStatus(ctx, pod.UID)
	if err != nil {
		t.Fatalf("PodStatus after restart: %v", err)
	}
	if len(got.Containers) != 1 || got.Containers[0].State != runtime.StateRunning || got.Containers[0].PID != ps.Containers[0].PID {
		t.Errorf("after restart = %+v, want the same PID %d running", got, ps.Containers[0].PID)
	}
	if err := e.rt.StopPod(ctx, pod.UID, 10*time.Second); err != nil {
		t.Fatalf("StopPod after restart: %v", err)
	}
	if st := e.waitExited(t, pod.UID, "web", time.Second); st.ExitCode != 0 {
		t.Errorf("exit after restart = %+v", st)
	}
	if err := e.rt.DeletePod(ctx, pod.UID); err != nil {
		t.Fatalf("DeletePod: %v", err)
	}
	e.assertGone(t, pod.UID, "web")
}
