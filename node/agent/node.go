package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/version"
)

var (
	catalogue = api.NewCatalogue()
	nodesRes  = mustLookup(api.NodesResource)
	leasesRes = mustLookup(api.LeasesResource)
	podsRes   = mustLookup(api.PodsResource)
)

func mustLookup(plural string) *api.Resource {
	r, ok := catalogue.Lookup(plural)
	if !ok {
		panic("agent: unknown resource " + plural)
	}
	return r
}

// Node labels the agent sets.
const (
	LabelHostname = "slipway.io/hostname"
	LabelArch     = "slipway.io/arch"
	LabelOS       = "slipway.io/os"
)

// LeaseName is the name of a node's heartbeat Lease.
func LeaseName(node string) string { return "node-" + node }

// Thresholds of the pressure conditions.
const (
	memoryPressureBytes = 100 << 20 // MemAvailable below this
	diskPressureRatio   = 0.10      // free space of the image filesystem below this
)

// runNode registers the node, then measures its status every heartbeat
// and writes it when it changed or NodeStatusInterval passed.
func (a *Agent) runNode(ctx context.Context) {
	for n := 0; ; n++ {
		err := a.register(ctx)
		if err == nil {
			break
		}
		a.metrics.heartbeatFailures.Inc()
		a.log.WarnContext(ctx, "register node", "err", err)
		if !sleep(ctx, a.retryDelay(n)) {
			return
		}
	}
	var last api.NodeStatus
	var lastWrite time.Time
	failures := 0
	for {
		st := a.measureNode(ctx, last)
		now := a.cfg.Now()
		if !sameNodeStatus(st, last) || now.Sub(lastWrite) >= a.cfg.NodeStatusInterval || failures > 0 {
			if err := a.patchNodeStatus(ctx, st); err != nil {
				failures++
				a.metrics.heartbeatFailures.Inc()
				a.log.WarnContext(ctx, "write node status", "err", err)
				if errors.Is(err, errdefs.ErrNotFound) {
					// An admin deleted the node: register it again.
					_ = a.register(ctx)
				}
			} else {
				failures, last, lastWrite = 0, st, now
			}
		}
		wait := a.cfg.HeartbeatInterval
		if failures > 0 {
			wait = min(wait, a.retryDelay(failures))
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// register creates the Node (labels and taints) or adds the agent's labels
// to an existing one; taints of an existing node are left to the admins.
func (a *Agent) register(ctx context.Context) error {
	labels := map[string]string{
		LabelHostname: hostname(), LabelArch: goruntime.GOARCH, LabelOS: goruntime.GOOS,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	var node api.Node
	err := a.cfg.Client.Get(ctx, nodesRes, "", a.cfg.NodeName, &node)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		in := api.Node{Kind: "Node", APIVersion: api.Version,
			Metadata: api.ObjectMeta{Name: a.cfg.NodeName, Labels: labels},
			Spec:     api.NodeSpec{Taints: a.cfg.Taints}}
		err = a.cfg.Client.Create(ctx, nodesRes, "", in, nil)
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return a.register(ctx) // raced with another writer
		}
		if err != nil {
			return fmt.Errorf("create node: %w", err)
		}
		a.log.InfoContext(ctx, "node registered")
	case err != nil:
		return fmt.Errorf("get node: %w", err)
	default:
		missing := false
		for k, v := range labels {
			if node.Metadata.Labels[k] != v {
				missing = true
			}
		}
		if missing {
			patch := map[string]any{"metadata": map[string]any{"labels": labels}}
			if err := a.cfg.Client.Patch(ctx, nodesRes, "", a.cfg.NodeName, patch, false, nil); err != nil {
				return fmt.Errorf("label node: %w", err)
			}
		}
	}
	return nil
}

func (a *Agent) patchNodeStatus(ctx context.Context, st api.NodeStatus) error {
	return a.cfg.Client.Patch(ctx, nodesRes, "", a.cfg.NodeName, map[string]any{"status": st}, true, nil)
}

// measureNode reads the host's capacity and conditions. prev supplies the
// conditions' last transition times.
func (a *Agent) measureNode(ctx context.Context, prev api.NodeStatus) api.NodeStatus {
	now := a.cfg.Now().UTC().Truncate(time.Second)
	mem := readMeminfo()
	capacity := api.ResourceList{
		api.ResourceCPU:    strconv.Itoa(cpuCount()),
		api.ResourceMemory: strconv.FormatInt(mem["MemTotal"]/1024, 10) + "Ki",
		api.ResourcePods:   strconv.Itoa(a.cfg.MaxPods),
	}
	st := api.NodeStatus{
		Capacity: capacity, Allocatable: capacity, Addresses: a.cfg.Addresses,
		NodeInfo: api.NodeSystemInfo{
			ContainerRuntimeVersion: "containerd://" + a.cfg.ContainerdVersion,
			RuncVersion:             a.cfg.RuncVersion,
			KernelVersion:           kernelVersion(),
			OSImage:                 osImage(),
			Architecture:            goruntime.GOARCH,
			AgentVersion:            version.String(),
			PodNetwork:              a.cfg.PodNetwork,
		},
	}
	if a.cfg.DaemonEndpoint != "" {
		st.Endpoint = &api.DaemonEndpoint{URL: a.cfg.DaemonEndpoint}
	}
	ready := api.Condition{Type: api.NodeReady, Status: "True", Reason: "AgentReady", Message: "the node agent is posting ready status"}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := a.ctr.Version(vctx); err != nil {
		ready = api.Condition{Type: api.NodeReady, Status: "False", Reason: "ContainerRuntimeDown", Message: "containerd does not answer: " + err.Error()}
	}
	cancel()
	memCond := api.Condition{Type: api.NodeMemoryPressure, Status: "False", Reason: "SufficientMemory", Message: "available memory is above 100Mi"}
	if avail, ok := mem["MemAvailable"]; ok && avail < memoryPressureBytes {
		memCond = api.Condition{Type: api.NodeMemoryPressure, Status: "True", Reason: "LowMemory", Message: "available memory is below 100Mi"}
	}
	// The same measurement as image garbage collection's, which should
	// keep the filesystem below its high threshold: pressure means it
	// could not.
	diskCond := api.Condition{Type: api.NodeDiskPressure, Status: "False", Reason: "SufficientDisk", Message: "the image filesystem has at least 10% free"}
	if u, err := a.measureImageFS(ctx); err == nil && u.Capacity > 0 && float64(u.Available)/float64(u.Capacity) < diskPressureRatio {
		diskCond = api.Condition{Type: api.NodeDiskPressure, Status: "True", Reason: "LowDisk", Message: "the image filesystem has less than 10% free"}
	}
	for _, c := range []api.Condition{ready, memCond, diskCond} {
		c.LastHeartbeatTime = &now
		c.LastTransitionTime = &now
		for _, p := range prev.Conditions {
			if p.Type == c.Type && p.Status == c.Status && p.LastTransitionTime != nil {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	return st
}

// sameNodeStatus compares two statuses ignoring heartbeat times and the
// exact memory figures' noise (capacity is read from MemTotal, stable).
func sameNodeStatus(x, y api.NodeStatus) bool {
	strip := func(s api.NodeStatus) []byte {
		cs := make([]api.Condition, len(s.Conditions))
		for i, c := range s.Conditions {
			c.LastHeartbeatTime = nil
			cs[i] = c
		}
		s.Conditions = cs
		b, _ := json.Marshal(s)
		return b
	}
	return string(strip(x)) == string(strip(y))
}

// runLease renews the node's Lease every heartbeat.
func (a *Agent) runLease(ctx context.Context) {
	failures := 0
	for {
		if err := a.renewLease(ctx); err != nil {
			failures++
			a.metrics.heartbeatFailures.Inc()
			if ctx.Err() == nil {
				a.log.WarnContext(ctx, "renew lease", "err", err)
			}
		} else {
			failures = 0
		}
		wait := a.cfg.HeartbeatInterval
		if failures > 0 {
			wait = min(wait, a.retryDelay(failures))
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	now := a.cfg.Now().UTC()
	duration := int32(max(1, (4*a.cfg.HeartbeatInterval).Round(time.Second)/time.Second))
	name := LeaseName(a.cfg.NodeName)
	patch := map[string]any{"spec": map[string]any{
		"holderIdentity": a.cfg.NodeName, "leaseDurationSeconds": duration, "renewTime": now,
	}}
	err := a.cfg.Client.Patch(ctx, leasesRes, "", name, patch, false, nil)
	if errors.Is(err, errdefs.ErrNotFound) {
		lease := api.Lease{Kind: "Lease", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name},
			Spec: api.LeaseSpec{HolderIdentity: a.cfg.NodeName, LeaseDurationSeconds: duration, AcquireTime: &now, RenewTime: &now}}
		err = a.cfg.Client.Create(ctx, leasesRes, "", lease, nil)
	}
	return err
}

// readMeminfo returns /proc/meminfo's fields in bytes.
func readMeminfo() map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		out[k] = n
	}
	return out
}

// cpuCount is the CPUs this process may use: the affinity mask, bounded by
// a cgroup v2 cpu.max quota when one is set.
func cpuCount() int {
	n := goruntime.NumCPU()
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 && f[0] != "max" {
			q, err1 := strconv.ParseFloat(f[0], 64)
			p, err2 := strconv.ParseFloat(f[1], 64)
			if err1 == nil && err2 == nil && p > 0 {
				n = min(n, max(1, int(q/p+0.999)))
			}
		}
	}
	return n
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			if s, err := strconv.Unquote(v); err == nil {
				return s
			}
			return v
		}
	}
	return goruntime.GOOS
}

// hostAddresses is the host name and the first non-loopback IPv4 address.
func hostAddresses() []api.NodeAddress {
	out := []api.NodeAddress{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			ipn, ok := ad.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, api.NodeAddress{Type: "InternalIP", Address: ipn.IP.String()})
			break
		}
	}
	return append(out, api.NodeAddress{Type: "Hostname", Address: hostname()})
}
