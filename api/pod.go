package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/quantity"
)

// Pod is one or more containers that run together on one node, sharing a
// network namespace. Its shape is Kubernetes' Pod, trimmed to the fields
// Slipway supports; any other field is rejected.
type Pod struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
	Status     PodStatus  `json:"status,omitempty"`
}

// Restart policies.
const (
	RestartAlways    = "Always"
	RestartOnFailure = "OnFailure"
	RestartNever     = "Never"
)

// PodSpec is what the pod runs and where it may run.
type PodSpec struct {
	Containers []Container `json:"containers"`
	// RestartPolicy is Always (default), OnFailure or Never.
	RestartPolicy string `json:"restartPolicy,omitempty"`
	// TerminationGracePeriodSeconds is the time between SIGTERM and SIGKILL
	// (default 30).
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// ActiveDeadlineSeconds bounds the pod's run time from its creation;
	// the build controller enforces it on build pods (deleting the pod).
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// NodeName binds the pod to a node; the scheduler sets it.
	NodeName     string            `json:"nodeName,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
	// Priority orders pending pods and lets higher ones preempt lower ones.
	Priority           *int32 `json:"priority,omitempty"`
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// Container is one process tree of a pod.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	LivenessProbe   *Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe  *Probe               `json:"readinessProbe,omitempty"`
	StartupProbe    *Probe               `json:"startupProbe,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
	// ImagePullPolicy is IfNotPresent (default), Always or Never.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
}

// EnvVar is an environment variable with a literal value or, with
// valueFrom, a value the node agent reads from a Secret of the pod's
// project when it starts the container.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource is where an env value comes from.
type EnvVarSource struct {
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// SecretKeySelector is one key of a Secret in the pod's project.
type SecretKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// Optional lets the container start without the secret or key.
	Optional *bool `json:"optional,omitempty"`
}

// ContainerPort is a port the container listens on.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
	Protocol      string `json:"protocol,omitempty"` // TCP (default) or UDP
}

// ResourceRequirements are requests (for scheduling) and limits (enforced).
type ResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// ResourceList maps resource names to quantities: cpu ("500m", "1"),
// memory ("64Mi", "1Gi"), and, for nodes, pods ("110").
type ResourceList map[string]string

// Resource names.
const (
	ResourceCPU    = "cpu"
	ResourceMemory = "memory"
	ResourcePods   = "pods"
)

// Probe checks a container: HTTP GET, TCP connect or a command.
type Probe struct {
	HTTPGet             *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket           *TCPSocketAction `json:"tcpSocket,omitempty"`
	Exec                *ExecAction      `json:"exec,omitempty"`
	InitialDelaySeconds int32            `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int32            `json:"periodSeconds,omitempty"`    // default 10
	TimeoutSeconds      int32            `json:"timeoutSeconds,omitempty"`   // default 1
	SuccessThreshold    int32            `json:"successThreshold,omitempty"` // default 1
	FailureThreshold    int32            `json:"failureThreshold,omitempty"` // default 3
}

// HTTPGetAction probes with an HTTP GET; 200–399 is success.
type HTTPGetAction struct {
	Path        string       `json:"path,omitempty"`
	Port        IntOrString  `json:"port"`
	Scheme      string       `json:"scheme,omitempty"` // HTTP (default) or HTTPS
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is a header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction probes by opening a TCP connection.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
}

// ExecAction probes by running a command in the container; exit 0 is
// success.
type ExecAction struct {
	Command []string `json:"command"`
}

// SecurityContext loosens the restricted defaults (a non-root user, no
// privilege escalation, no capabilities) where a project is allowed to.
type SecurityContext struct {
	RunAsUser                *int64        `json:"runAsUser,omitempty"`
	RunAsGroup               *int64        `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool         `json:"runAsNonRoot,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
}

// Capabilities adds to or drops from the container's capability set.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Toleration lets a pod run on a node with a matching taint.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"` // Equal (default) or Exists
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"` // empty matches every effect
}

// Pod phases.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"
)

// PodStatus is written by the scheduler (PodScheduled) and the node agent.
type PodStatus struct {
	Phase             string            `json:"phase,omitempty"`
	Conditions        []Condition       `json:"conditions,omitempty"`
	Reason            string            `json:"reason,omitempty"`
	Message           string            `json:"message,omitempty"`
	HostIP            string            `json:"hostIP,omitempty"`
	PodIP             string            `json:"podIP,omitempty"`
	StartTime         *time.Time        `json:"startTime,omitempty"`
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
	NominatedNodeName string            `json:"nominatedNodeName,omitempty"`
}

// Condition is one aspect of an object's observed state.
type Condition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"` // True, False or Unknown
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	LastHeartbeatTime  *time.Time `json:"lastHeartbeatTime,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
}

// Pod condition types.
const (
	PodScheduled    = "PodScheduled"
	PodReady        = "Ready"
	ContainersReady = "ContainersReady"
)

// ContainerStatus is what the node agent observes of a container.
type ContainerStatus struct {
	Name                 string         `json:"name"`
	Ready                bool           `json:"ready"`
	Started              *bool          `json:"started,omitempty"`
	RestartCount         int32          `json:"restartCount"`
	Image                string         `json:"image"`
	ImageID              string         `json:"imageID,omitempty"`
	ContainerID          string         `json:"containerID,omitempty"`
	State                ContainerState `json:"state,omitempty"`
	LastTerminationState ContainerState `json:"lastState,omitempty"`
}

// ContainerState is exactly one of waiting, running or terminated.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting says why a container is not running yet
// (ContainerCreating, ImagePullBackOff, CrashLoopBackOff…).
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

// ContainerStateTerminated is a container that exited (Completed, Error,
// OOMKilled).
type ContainerStateTerminated struct {
	ExitCode   int32      `json:"exitCode"`
	Signal     int32      `json:"signal,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Message    string     `json:"message,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Validate checks a pod's spec.
func (s *PodSpec) Validate() error {
	if len(s.Containers) == 0 {
		return errdefs.Invalidf("spec.containers", "at least one container is required")
	}
	switch s.RestartPolicy {
	case "", RestartAlways, RestartOnFailure, RestartNever:
	default:
		return errdefs.Invalidf("spec.restartPolicy", "must be Always, OnFailure or Never, got %q", s.RestartPolicy)
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && (*g < 0 || *g > 3600) {
		return errdefs.Invalidf("spec.terminationGracePeriodSeconds", "must be between 0 and 3600")
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d < 1 {
		return errdefs.Invalidf("spec.activeDeadlineSeconds", "must be positive")
	}
	if s.NodeName != "" {
		if err := ValidateName("spec.nodeName", s.NodeName); err != nil {
			return err
		}
	}
	for i, t := range s.Tolerations {
		field := fmt.Sprintf("spec.tolerations[%d]", i)
		switch t.Operator {
		case "", "Equal":
		case "Exists":
			if t.Value != "" {
				return errdefs.Invalidf(field+".value", "must be empty with operator Exists")
			}
		default:
			return errdefs.Invalidf(field+".operator", "must be Equal or Exists, got %q", t.Operator)
		}
		if err := validateEffect(field+".effect", t.Effect, true); err != nil {
			return err
		}
	}
	names := map[string]bool{}
	hostPorts := map[int32]bool{}
	for i := range s.Containers {
		c := &s.Containers[i]
		field := fmt.Sprintf("spec.containers[%d]", i)
		if err := ValidateName(field+".name", c.Name); err != nil {
			return err
		}
		if names[c.Name] {
			return errdefs.Invalidf(field+".name", "duplicate container name %q", c.Name)
		}
		names[c.Name] = true
		if err := c.validate(field, hostPorts); err != nil {
			return err
		}
	}
	return nil
}

func validateEffect(field, effect string, allowEmpty bool) error {
	switch effect {
	case "NoSchedule", "PreferNoSchedule", "NoExecute":
		return nil
	case "":
		if allowEmpty {
			return nil
		}
	}
	return errdefs.Invalidf(field, "must be NoSchedule, PreferNoSchedule or NoExecute, got %q", effect)
}

func (c *Container) validate(field string, hostPorts map[int32]bool) error {
	if err := ValidateImage(field+".image", c.Image); err != nil {
		return err
	}
	switch c.ImagePullPolicy {
	case "", "IfNotPresent", "Always", "Never":
	default:
		return errdefs.Invalidf(field+".imagePullPolicy", "must be IfNotPresent, Always or Never")
	}
	for j, e := range c.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return errdefs.Invalidf(fmt.Sprintf("%s.env[%d].name", field, j), "must be a non-empty name without '='")
		}
		if e.ValueFrom != nil {
			ef := fmt.Sprintf("%s.env[%d].valueFrom", field, j)
			if e.Value != "" {
				return errdefs.Invalidf(ef, "may not be set with value")
			}
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil {
				return errdefs.Invalidf(ef+".secretKeyRef", "is required")
			}
			if err := ValidateName(ef+".secretKeyRef.name", ref.Name); err != nil {
				return err
			}
			if ref.Key == "" {
				return errdefs.Invalidf(ef+".secretKeyRef.key", "is required")
			}
		}
	}
	ports := map[string]bool{}
	for j, p := range c.Ports {
		pf := fmt.Sprintf("%s.ports[%d]", field, j)
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return errdefs.Invalidf(pf+".containerPort", "must be between 1 and 65535")
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return errdefs.Invalidf(pf+".hostPort", "must be between 1 and 65535")
		}
		if p.HostPort != 0 {
			if hostPorts[p.HostPort] {
				return errdefs.Invalidf(pf+".hostPort", "host port %d used twice", p.HostPort)
			}
			hostPorts[p.HostPort] = true
		}
		switch p.Protocol {
		case "", "TCP", "UDP":
		default:
			return errdefs.Invalidf(pf+".protocol", "must be TCP or UDP")
		}
		if p.Name != "" {
			if ports[p.Name] {
				return errdefs.Invalidf(pf+".name", "duplicate port name %q", p.Name)
			}
			ports[p.Name] = true
		}
	}
	if err := c.Resources.validate(field + ".resources"); err != nil {
		return err
	}
	for name, p := range map[string]*Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
		if p != nil {
			if err := p.validate(field + "." + name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *ResourceRequirements) validate(field string) error {
	for kind, list := range map[string]ResourceList{"requests": r.Requests, "limits": r.Limits} {
		for name, q := range list {
			f := field + "." + kind + "." + name
			var err error
			switch name {
			case ResourceCPU:
				_, err = quantity.MilliCPU(q)
			case ResourceMemory:
				_, err = quantity.Bytes(q)
			default:
				return errdefs.Invalidf(f, "unsupported resource %q (cpu and memory are)", name)
			}
			if err != nil {
				return errdefs.Invalidf(f, "%q is not a quantity", q)
			}
		}
	}
	for _, name := range []string{ResourceCPU, ResourceMemory} {
		req, lim := r.Requests[name], r.Limits[name]
		if req == "" || lim == "" {
			continue
		}
		parse := quantity.Bytes
		if name == ResourceCPU {
			parse = quantity.MilliCPU
		}
		rq, _ := parse(req)
		lq, _ := parse(lim)
		if rq > lq {
			return errdefs.Invalidf(field+".requests."+name, "request %s exceeds limit %s", req, lim)
		}
	}
	return nil
}

func (p *Probe) validate(field string) error {
	n := 0
	if p.HTTPGet != nil {
		n++
		if err := validatePort(field+".httpGet.port", p.HTTPGet.Port); err != nil {
			return err
		}
		switch p.HTTPGet.Scheme {
		case "", "HTTP", "HTTPS":
		default:
			return errdefs.Invalidf(field+".httpGet.scheme", "must be HTTP or HTTPS")
		}
	}
	if p.TCPSocket != nil {
		n++
		if err := validatePort(field+".tcpSocket.port", p.TCPSocket.Port); err != nil {
			return err
		}
	}
	if p.Exec != nil {
		n++
		if len(p.Exec.Command) == 0 {
			return errdefs.Invalidf(field+".exec.command", "is required")
		}
	}
	if n != 1 {
		return errdefs.Invalidf(field, "exactly one of httpGet, tcpSocket or exec is required")
	}
	for name, v := range map[string]int32{"initialDelaySeconds": p.InitialDelaySeconds, "periodSeconds": p.PeriodSeconds,
		"timeoutSeconds": p.TimeoutSeconds, "successThreshold": p.SuccessThreshold, "failureThreshold": p.FailureThreshold} {
		if v < 0 {
			return errdefs.Invalidf(field+"."+name, "must not be negative")
		}
	}
	return nil
}

func validatePort(field string, p IntOrString) error {
	if p.IsStr {
		if p.StrVal == "" || len(p.StrVal) > 15 {
			return errdefs.Invalidf(field, "a port name must be 1 to 15 characters")
		}
		return nil
	}
	if p.IntVal < 1 || p.IntVal > 65535 {
		return errdefs.Invalidf(field, "must be between 1 and 65535")
	}
	return nil
}

// ValidateImage checks an image reference: HOST/PATH:TAG or
// HOST/PATH@sha256:DIGEST, or a short PATH[:TAG] resolved against
// Slipway's registry.
func ValidateImage(field, ref string) error {
	if ref == "" {
		return errdefs.Invalidf(field, "is required")
	}
	if len(ref) > 512 || strings.ContainsAny(ref, " \t\n\\") {
		return errdefs.Invalidf(field, "%q is not an image reference", ref)
	}
	name, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && (!strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64) {
		return errdefs.Invalidf(field, "digest %q must be sha256:<64 hex digits>", digest)
	}
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return errdefs.Invalidf(field, "%q is not an image reference", ref)
	}
	return nil
}

// PodsResource is the plural name of pods.
const PodsResource = "pods"

// PodTerminationFinalizer holds a deleted pod until its node agent has
// stopped its containers (or, for a pod no node runs, until the pod
// controller sees there is nothing to stop).
const PodTerminationFinalizer = "slipway.io/pod-termination"
