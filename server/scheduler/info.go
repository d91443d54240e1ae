package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/quantity"
)

// Labels the scheduler reads.
const (
	// OwnerLabel groups the replicas of one workload: pods of one project
	// with the same value are spread across nodes and zones.
	OwnerLabel = "slipway.io/owner"
	// ZoneLabel names a node's failure domain.
	ZoneLabel = "slipway.io/zone"
)

// Defaults used when a node or pod leaves a value out.
const (
	// defaultMaxPods is a node's pod limit when it reports none (as the
	// kubelet's default).
	defaultMaxPods = 110
	// Scoring treats a pod without requests as if it asked for this much,
	// so best-effort pods spread instead of piling onto one node (the
	// filters still use the real, zero, requests).
	defaultScoreMilliCPU = 100
	defaultScoreMemory   = 200 << 20
)

// Resources are the amounts the scheduler accounts for.
type Resources struct {
	MilliCPU int64
	Memory   int64 // bytes
	Pods     int64
}

func (r *Resources) add(o Resources) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.Pods += o.Pods
}

func (r *Resources) sub(o Resources) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.Pods -= o.Pods
}

// hostPort is one host port a pod binds: the port, plus 1<<16 for UDP. The
// host IP is ignored, which is conservative: two pods never share a port
// number and protocol on one node.
type hostPort int32

func (h hostPort) String() string {
	if h&(1<<16) != 0 {
		return strconv.Itoa(int(h&0xffff)) + "/UDP"
	}
	return strconv.Itoa(int(h)) + "/TCP"
}

// PodKey names a pod.
type PodKey struct{ Project, Name string }

func (k PodKey) String() string { return k.Project + "/" + k.Name }

// PodInfo is a pod with what scheduling needs precomputed. It is immutable.
type PodInfo struct {
	Pod      *api.Pod
	Key      PodKey
	UID      string
	Priority int32
	// Requests are the summed container requests; Requests.Pods is 1.
	Requests Resources
	// scoreRequests are Requests with defaults for missing values.
	scoreRequests Resources
	HostPorts     []hostPort
	// Owner is "project/owner-label", or "" for a pod without the label.
	Owner string
	// Terminating pods have a deletionTimestamp: they still hold their
	// resources, but preemption counts on them leaving.
	Terminating bool
	// Class is the equivalence class: pods with equal classes have the same
	// feasibility and node-local scores on every node.
	Class string
}

// NewPodInfo precomputes a pod's scheduling data. It fails on unparsable
// quantities (which validation normally refuses).
func NewPodInfo(pod *api.Pod) (*PodInfo, error) {
	pi := &PodInfo{Pod: pod, Key: PodKey{pod.Metadata.Project, pod.Metadata.Name}, UID: pod.Metadata.UID,
		Terminating: pod.Metadata.DeletionTimestamp != nil}
	if pod.Spec.Priority != nil {
		pi.Priority = *pod.Spec.Priority
	}
	pi.Requests.Pods = 1
	var noCPU, noMem bool
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if q, ok := c.Resources.Requests[api.ResourceCPU]; ok {
			v, err := quantity.MilliCPU(q)
			if err != nil {
				return nil, fmt.Errorf("pod %s: container %s: %w", pi.Key, c.Name, err)
			}
			pi.Requests.MilliCPU += v
		} else {
			noCPU = true
		}
		if q, ok := c.Resources.Requests[api.ResourceMemory]; ok {
			v, err := quantity.Bytes(q)
			if err != nil {
				return nil, fmt.Errorf("pod %s: container %s: %w", pi.Key, c.Name, err)
			}
			pi.Requests.Memory += v
		} else {
			noMem = true
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				hp := hostPort(p.HostPort)
				if p.Protocol == "UDP" {
					hp |= 1 << 16
				}
				pi.HostPorts = append(pi.HostPorts, hp)
			}
		}
	}
	pi.scoreRequests = pi.Requests
	if noCPU && pi.scoreRequests.MilliCPU == 0 {
		pi.scoreRequests.MilliCPU = defaultScoreMilliCPU
	}
	if noMem && pi.scoreRequests.Memory == 0 {
		pi.scoreRequests.Memory = defaultScoreMemory
	}
	if o := pod.Metadata.Labels[OwnerLabel]; o != "" {
		pi.Owner = pi.Key.Project + "/" + o
	}
	pi.Class = classOf(pi)
	return pi, nil
}

// classOf renders everything feasibility and node-local scores depend on.
func classOf(pi *PodInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%d|%d|", pi.Requests.MilliCPU, pi.Requests.Memory, pi.Priority)
	fmt.Fprintf(&b, "%d|%d|", pi.scoreRequests.MilliCPU, pi.scoreRequests.Memory)
	ports := slices.Clone(pi.HostPorts)
	slices.Sort(ports)
	for _, p := range ports {
		fmt.Fprintf(&b, "%d,", p)
	}
	b.WriteByte('|')
	sel := pi.Pod.Spec.NodeSelector
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		fmt.Fprintf(&b, "%q=%q,", k, sel[k])
	}
	b.WriteByte('|')
	for _, t := range pi.Pod.Spec.Tolerations {
		fmt.Fprintf(&b, "%q %q %q %q,", t.Key, t.Operator, t.Value, t.Effect)
	}
	b.WriteByte('|')
	b.WriteString(pi.Owner)
	if pi.Pod.Status.NominatedNodeName != "" {
		// Its own nomination does not count against it.
		b.WriteString("|" + pi.UID)
	}
	return b.String()
}

// NodeInfo is a node with the pods placed on it. A NodeInfo in a Snapshot
// is never modified: changes are made on a clone.
type NodeInfo struct {
	Node          *api.Node
	Name          string
	Zone          string
	Ready         bool
	Unschedulable bool
	// NoHostPorts is a node whose pod network has no host ports (OVN).
	NoHostPorts bool
	Allocatable Resources
	// Requested sums the requests of Pods.
	Requested Resources
	// scoreRequested sums their scoring requests.
	scoreRequested Resources
	// Pods are the pods bound to, assumed on, or reserved on the node.
	Pods      []*PodInfo
	usedPorts map[hostPort]int
	owners    map[string]int
	// Nominated are pending pods that preempted others to run here: they
	// hold their space against pods of lower priority.
	Nominated []*PodInfo
	// version grows with every change, so caches can tell a node changed.
	version uint64
}

// NewNodeInfo precomputes a node's scheduling data.
func NewNodeInfo(node *api.Node) *NodeInfo {
	ni := &NodeInfo{Node: node, Name: node.Metadata.Name, Zone: node.Metadata.Labels[ZoneLabel],
		Unschedulable: node.Spec.Unschedulable, NoHostPorts: !node.Status.NodeInfo.HostPorts(),
		usedPorts: map[hostPort]int{}, owners: map[string]int{}}
	for _, c := range node.Status.Conditions {
		if c.Type == api.NodeReady {
			ni.Ready = c.Status == "True"
		}
	}
	ni.Allocatable = allocatable(node)
	return ni
}

func allocatable(node *api.Node) Resources {
	get := func(name string) string {
		if v, ok := node.Status.Allocatable[name]; ok {
			return v
		}
		return node.Status.Capacity[name]
	}
	var r Resources
	r.MilliCPU, _ = quantity.MilliCPU(get(api.ResourceCPU))
	r.Memory, _ = quantity.Bytes(get(api.ResourceMemory))
	r.Pods = defaultMaxPods
	if v := get(api.ResourcePods); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			r.Pods = n
		}
	}
	return r
}

// Clone returns a copy that can be changed without affecting n.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Pods = slices.Clone(n.Pods)
	c.Nominated = slices.Clone(n.Nominated)
	c.usedPorts = maps.Clone(n.usedPorts)
	c.owners = maps.Clone(n.owners)
	return &c
}

// AddPod accounts for a pod on the node.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.Pods = append(n.Pods, p)
	n.Requested.add(p.Requests)
	n.scoreRequested.add(p.scoreRequests)
	for _, hp := range p.HostPorts {
		n.usedPorts[hp]++
	}
	if p.Owner != "" {
		n.owners[p.Owner]++
	}
	n.version++
}

// RemovePod undoes AddPod for the pod with p's UID; it reports whether the
// pod was there.
func (n *NodeInfo) RemovePod(p *PodInfo) bool {
	i := slices.IndexFunc(n.Pods, func(q *PodInfo) bool { return q.UID == p.UID })
	if i < 0 {
		return false
	}
	q := n.Pods[i]
	n.Pods = slices.Delete(n.Pods, i, i+1)
	n.Requested.sub(q.Requests)
	n.scoreRequested.sub(q.scoreRequests)
	for _, hp := range q.HostPorts {
		if n.usedPorts[hp]--; n.usedPorts[hp] <= 0 {
			delete(n.usedPorts, hp)
		}
	}
	if q.Owner != "" {
		if n.owners[q.Owner]--; n.owners[q.Owner] <= 0 {
			delete(n.owners, q.Owner)
		}
	}
	n.version++
	return true
}

// OwnerCount is how many pods of owner the node holds.
func (n *NodeInfo) OwnerCount(owner string) int { return n.owners[owner] }

// PortInUse reports whether a pod on the node binds the host port.
func (n *NodeInfo) PortInUse(h hostPort) bool { return n.usedPorts[h] > 0 }
