package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// ContainerState is where a container is in its life.
type ContainerState string

const (
	// StateCreated: the container exists but its process never started
	// (or its task is gone).
	StateCreated ContainerState = "Created"
	// StateRunning: the main process runs.
	StateRunning ContainerState = "Running"
	// StateExited: the main process ended; ExitCode and Reason say how.
	StateExited ContainerState = "Exited"
	// StateUnknown: containerd reports something else (paused, pausing).
	StateUnknown ContainerState = "Unknown"
)

// Termination reasons, as Kubernetes reports them.
const (
	ReasonCompleted = "Completed" // exit code 0
	ReasonError     = "Error"     // non-zero exit code
	ReasonOOMKilled = "OOMKilled" // the kernel killed a process at the memory limit
)

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name       string
	ID         string // containerd container id
	Image      string
	State      ContainerState
	PID        uint32 // main process, while running
	ExitCode   int32  // valid when State is StateExited
	Reason     string // valid when State is StateExited
	CreatedAt  time.Time
	FinishedAt time.Time
	LogPath    string
}

// PodStatus is the observed state of one pod.
type PodStatus struct {
	UID, Project, Name string
	IP                 netip.Addr
	// NetnsPath is empty if the pod has no network namespace (left over by a
	// crash during create or delete).
	NetnsPath  string
	Containers []ContainerStatus
}

// PodStatus reports the pod's containers. A pod with neither containers
// nor a network namespace gets ErrNotFound.
func (r *Runtime) PodStatus(ctx context.Context, uid string) (PodStatus, error) {
	ctx = r.ns(ctx)
	cs, err := r.containers(ctx, uid)
	if err != nil {
		return PodStatus{}, fmt.Errorf("runtime: pod status: %w", err)
	}
	ps := PodStatus{UID: uid}
	if _, err := os.Stat(r.NetnsPath(uid)); err == nil {
		ps.NetnsPath = r.NetnsPath(uid)
	}
	if len(cs) == 0 && ps.NetnsPath == "" {
		return PodStatus{}, fmt.Errorf("runtime: pod %s: %w", uid, ErrNotFound)
	}
	for _, c := range cs {
		st, labels, err := r.containerStatus(ctx, c)
		if errdefs.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return PodStatus{}, fmt.Errorf("runtime: pod %s: %w", uid, err)
		}
		ps.Project, ps.Name = labels[LabelPodProject], labels[LabelPodName]
		if ip, err := netip.ParseAddr(labels[LabelPodIP]); err == nil {
			ps.IP = ip
		}
		ps.Containers = append(ps.Containers, st)
	}
	sort.Slice(ps.Containers, func(i, j int) bool { return ps.Containers[i].Name < ps.Containers[j].Name })
	return ps, nil
}

// ListPods reports every pod of this runtime's namespace: those with
// containers (found by label, so a restarted agent adopts them) and those
// with only a network namespace left (for the caller to delete).
func (r *Runtime) ListPods(ctx context.Context) ([]PodStatus, error) {
	ctx = r.ns(ctx)
	cs, err := r.opts.Client.Containers(ctx, fmt.Sprintf("labels.%q", LabelPodUID))
	if err != nil {
		return nil, fmt.Errorf("runtime: list containers: %w", err)
	}
	uids := map[string]bool{}
	for _, c := range cs {
		labels, err := c.Labels(ctx)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("runtime: list pods: %w", err)
		}
		uids[labels[LabelPodUID]] = true
	}
	entries, err := os.ReadDir(r.opts.netnsDir())
	if err != nil {
		return nil, fmt.Errorf("runtime: list network namespaces: %w", err)
	}
	for _, e := range entries {
		uids[e.Name()] = true
	}
	var pods []PodStatus
	for _, uid := range sortedKeys(uids) {
		ps, err := r.PodStatus(ctx, uid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pods = append(pods, ps)
	}
	return pods, nil
}

func (r *Runtime) containerStatus(ctx context.Context, c client.Container) (ContainerStatus, map[string]string, error) {
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return ContainerStatus{}, nil, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	st := ContainerStatus{
		Name: info.Labels[LabelContainerName], ID: c.ID(), Image: info.Image,
		CreatedAt: info.CreatedAt, LogPath: info.Labels[LabelLogPath], State: StateCreated,
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return st, info.Labels, nil
	}
	if err != nil {
		return ContainerStatus{}, nil, fmt.Errorf("task %s: %w", c.ID(), err)
	}
	ts, err := task.Status(ctx)
	if err != nil {
		return ContainerStatus{}, nil, fmt.Errorf("task %s status: %w", c.ID(), err)
	}
	switch ts.Status {
	case client.Created:
		st.State = StateCreated
	case client.Running:
		st.State, st.PID = StateRunning, task.Pid()
	case client.Stopped:
		st.State = StateExited
		st.ExitCode = int32(ts.ExitStatus)
		st.FinishedAt = ts.ExitTime
		st.Reason = ReasonCompleted
		if st.ExitCode != 0 {
			st.Reason = ReasonError
		}
		// The cgroup stays until the task is deleted, so its OOM counter
		// still tells whether the kernel killed a process at the limit.
		spec, err := c.Spec(ctx)
		if err != nil {
			return ContainerStatus{}, nil, fmt.Errorf("container %s spec: %w", c.ID(), err)
		}
		if spec.Linux != nil && r.oomKills(spec.Linux.CgroupsPath) > 0 {
			st.Reason = ReasonOOMKilled
		}
	default:
		st.State = StateUnknown
	}
	return st, info.Labels, nil
}

// oomKills reads how many processes the kernel's OOM killer has killed in a
// container's memory cgroup: "oom_kill N" in cgroup v1's memory.oom_control
// or v2's memory.events. It returns 0 when the cgroup is gone.
func (r *Runtime) oomKills(cgroupsPath string) int {
	if cgroupsPath == "" || strings.Contains(cgroupsPath, ":") { // systemd-style paths are not used here
		return 0
	}
	file := filepath.Join("/sys/fs/cgroup/memory", cgroupsPath, "memory.oom_control")
	if r.cgroupV2 {
		file = filepath.Join("/sys/fs/cgroup", cgroupsPath, "memory.events")
	}
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
