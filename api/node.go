package api

import (
	"fmt"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// Node is a machine that runs pods. Its node agent registers it and keeps
// its status current.
type Node struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       NodeSpec   `json:"spec"`
	Status     NodeStatus `json:"status,omitempty"`
}

// NodeSpec is what admins set: cordoning and taints.
type NodeSpec struct {
	// Unschedulable (cordoned) nodes get no new pods.
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
}

// Taint repels pods that do not tolerate it.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"` // NoSchedule, PreferNoSchedule or NoExecute
}

// NodeStatus is measured and written by the node agent.
type NodeStatus struct {
	Capacity    ResourceList    `json:"capacity,omitempty"`
	Allocatable ResourceList    `json:"allocatable,omitempty"`
	Conditions  []Condition     `json:"conditions,omitempty"`
	Addresses   []NodeAddress   `json:"addresses,omitempty"`
	NodeInfo    NodeSystemInfo  `json:"nodeInfo,omitempty"`
	Endpoint    *DaemonEndpoint `json:"daemonEndpoint,omitempty"`
}

// Node condition types.
const (
	NodeReady          = "Ready"
	NodeMemoryPressure = "MemoryPressure"
	NodeDiskPressure   = "DiskPressure"
)

// NodeAddress is how to reach a node (InternalIP, Hostname).
type NodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// NodeSystemInfo describes the node's software.
type NodeSystemInfo struct {
	ContainerRuntimeVersion string `json:"containerRuntimeVersion,omitempty"`
	RuncVersion             string `json:"runcVersion,omitempty"`
	KernelVersion           string `json:"kernelVersion,omitempty"`
	OSImage                 string `json:"osImage,omitempty"`
	Architecture            string `json:"architecture,omitempty"`
	AgentVersion            string `json:"agentVersion,omitempty"`
	// PodNetwork is the network the node attaches its pods to:
	// PodNetworkBridge or PodNetworkOVN.
	PodNetwork string `json:"podNetwork,omitempty"`
}

// The pod networks a node reports in status.nodeInfo.podNetwork.
const (
	PodNetworkBridge = "bridge"
	// PodNetworkOVN has no host ports: the scheduler places no pod that
	// asks for one on such a node.
	PodNetworkOVN = "ovn"
)

// HostPorts tells whether the node's pod network publishes host ports.
func (i NodeSystemInfo) HostPorts() bool { return i.PodNetwork != PodNetworkOVN }

// DaemonEndpoint is where the node agent serves logs and exec for the API
// server (HTTPS, authenticated with the agent's service-account token).
type DaemonEndpoint struct {
	URL string `json:"url"`
}

// Validate checks the node's spec.
func (s *NodeSpec) Validate() error {
	for i, t := range s.Taints {
		field := fmt.Sprintf("spec.taints[%d]", i)
		if err := ValidateQualifiedName(field+".key", t.Key); err != nil {
			return err
		}
		if err := validateEffect(field+".effect", t.Effect, false); err != nil {
			return err
		}
	}
	return nil
}

// Lease is a time-limited claim: a node's heartbeat, or a controller's
// leadership. Holders renew it before it expires; others may take it over
// after. Renewing a lease is a small write, cheap for the store.
type Lease struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       LeaseSpec  `json:"spec"`
}

// LeaseSpec says who holds the lease and until when.
type LeaseSpec struct {
	HolderIdentity       string     `json:"holderIdentity"`
	LeaseDurationSeconds int32      `json:"leaseDurationSeconds"`
	AcquireTime          *time.Time `json:"acquireTime,omitempty"`
	RenewTime            *time.Time `json:"renewTime,omitempty"`
}

// Validate checks the lease.
func (s *LeaseSpec) Validate() error {
	if s.HolderIdentity == "" || len(s.HolderIdentity) > 253 {
		return errdefs.Invalidf("spec.holderIdentity", "must be 1 to 253 characters")
	}
	if s.LeaseDurationSeconds < 1 || s.LeaseDurationSeconds > 3600 {
		return errdefs.Invalidf("spec.leaseDurationSeconds", "must be between 1 and 3600")
	}
	return nil
}

// Plural names.
const (
	NodesResource  = "nodes"
	LeasesResource = "leases"
)

func workloadResources() []*Resource {
	noData := func(kind string, validate func(*Object) error) func(*Object) error {
		return func(o *Object) error {
			if err := forbid(o.Data, "data", kind); err != nil {
				return err
			}
			return validate(o)
		}
	}
	return []*Resource{
		{Plural: PodsResource, Kind: "Pod", Scope: ProjectScoped, HasStatus: true,
			Finalizers: []string{PodTerminationFinalizer},
			validateSpec: noData("Pod", func(o *Object) error {
				if len(o.Spec) == 0 {
					return errdefs.Invalidf("spec", "is required")
				}
				return strictField[PodSpec](o.Spec, "spec")
			}),
			validateStatus: func(o *Object) error { return strictField[noCheck[PodStatus]](o.Status, "status") }},
		{Plural: NodesResource, Kind: "Node", Scope: ClusterScoped, HasStatus: true,
			validateSpec:   noData("Node", func(o *Object) error { return strictField[NodeSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[noCheck[NodeStatus]](o.Status, "status") }},
		{Plural: LeasesResource, Kind: "Lease", Scope: ClusterScoped,
			validateSpec: noData("Lease", func(o *Object) error {
				if err := forbid(o.Status, "status", "Lease"); err != nil {
					return err
				}
				return strictField[LeaseSpec](o.Spec, "spec")
			})},
	}
}

// noCheck decodes T strictly and accepts any value: statuses written by
// Slipway's own agents.
type noCheck[T any] struct{ V T }

func (n *noCheck[T]) UnmarshalJSON(b []byte) error { return DecodeStrict(b, &n.V, "") }

// Validate accepts any value.
func (n *noCheck[T]) Validate() error { return nil }
