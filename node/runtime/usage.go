package runtime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Usage is what a container or the host has used: CPU time since it
// started (a counter; rates come from two readings) and the memory working
// set now (usage minus inactive file cache, what the OOM killer weighs, as
// the kubelet reports it).
type Usage struct {
	CPU        time.Duration
	WorkingSet int64
}

// ContainerUsage is one container's reading.
type ContainerUsage struct {
	Name string
	Usage
}

// PodUsage reads the cgroups of a pod's running containers. Containers
// without a task have no usage and are left out.
func (r *Runtime) PodUsage(ctx context.Context, uid string) ([]ContainerUsage, error) {
	ctx = r.ns(ctx)
	cs, err := r.containers(ctx, uid)
	if err != nil {
		return nil, err
	}
	var out []ContainerUsage
	for _, c := range cs {
		if _, err := c.Task(ctx, nil); errdefs.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("task %s: %w", c.ID(), err)
		}
		spec, err := c.Spec(ctx)
		if err != nil {
			return nil, fmt.Errorf("container %s spec: %w", c.ID(), err)
		}
		labels, err := c.Labels(ctx)
		if err != nil {
			return nil, fmt.Errorf("container %s labels: %w", c.ID(), err)
		}
		if spec.Linux == nil || spec.Linux.CgroupsPath == "" {
			continue
		}
		u, err := r.cgroupUsage(spec.Linux.CgroupsPath)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.ID(), err)
		}
		out = append(out, ContainerUsage{Name: labels[LabelContainerName], Usage: u})
	}
	return out, nil
}

// cgroupUsage reads a container cgroup's CPU counter and working set, in
// cgroup v1 (cpuacct, memory controllers) or v2 (unified) layout.
func (r *Runtime) cgroupUsage(path string) (Usage, error) {
	if strings.Contains(path, ":") {
		return Usage{}, fmt.Errorf("systemd cgroup path %q is not supported", path)
	}
	var u Usage
	if r.cgroupV2 {
		dir := filepath.Join("/sys/fs/cgroup", path)
		stat, err := readKeyed(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return Usage{}, err
		}
		u.CPU = time.Duration(stat["usage_usec"]) * time.Microsecond
		current, err := readInt(filepath.Join(dir, "memory.current"))
		if err != nil {
			return Usage{}, err
		}
		mem, err := readKeyed(filepath.Join(dir, "memory.stat"))
		if err != nil {
			return Usage{}, err
		}
		u.WorkingSet = max(current-mem["inactive_file"], 0)
		return u, nil
	}
	ns, err := readInt(filepath.Join("/sys/fs/cgroup/cpuacct", path, "cpuacct.usage"))
	if err != nil {
		return Usage{}, err
	}
	u.CPU = time.Duration(ns)
	usage, err := readInt(filepath.Join("/sys/fs/cgroup/memory", path, "memory.usage_in_bytes"))
	if err != nil {
		return Usage{}, err
	}
	mem, err := readKeyed(filepath.Join("/sys/fs/cgroup/memory", path, "memory.stat"))
	if err != nil {
		return Usage{}, err
	}
	u.WorkingSet = max(usage-mem["total_inactive_file"], 0)
	return u, nil
}

// HostUsage reads the whole machine's CPU time (every non-idle jiffy of
// /proc/stat) and memory in use (MemTotal − MemAvailable).
func HostUsage() (Usage, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return Usage{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var u Usage
	if sc.Scan() {
		fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal …
		if len(fields) < 9 || fields[0] != "cpu" {
			return Usage{}, fmt.Errorf("/proc/stat: unexpected first line %q", sc.Text())
		}
		var busy int64
		for i, v := range fields[1:9] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Usage{}, fmt.Errorf("/proc/stat: %w", err)
			}
			busy += n
		}
		u.CPU = time.Duration(busy) * (time.Second / 100) // USER_HZ is 100 on Linux
	}
	mem, err := readKeyed("/proc/meminfo")
	if err != nil {
		return Usage{}, err
	}
	u.WorkingSet = (mem["MemTotal:"] - mem["MemAvailable:"]) * 1024
	return u, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// readKeyed reads "key value" lines (cgroup stat files, /proc/meminfo
// with its trailing colons kept in the keys).
func readKeyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[f[0]] = n
		}
	}
	return out, nil
}
