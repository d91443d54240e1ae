// Package podspec holds the node runtime's input: what one pod on this node
// must run. Field names and JSON shapes follow Kubernetes' Pod
// (spec.containers[].image, command, args, env, workingDir, ports,
// resources.limits.memory, securityContext.runAsUser…), so the API's Pod
// resource maps onto it field for field.
package podspec

// Pod is one pod to run on this node.
type Pod struct {
	// UID identifies the pod for its whole life (metadata.uid): lower-case
	// letters, digits and '-', at most 63 characters.
	UID string `json:"uid"`
	// Project and Name are metadata.project and metadata.name; they travel
	// on the containers as labels so a restarted agent knows whose they are.
	Project string `json:"project"`
	Name    string `json:"name"`
	// Containers run together in one network namespace.
	Containers []Container `json:"containers"`
}

// Container is spec.containers[i].
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image"`
	Command         []string             `json:"command,omitempty"` // replaces the image's entrypoint
	Args            []string             `json:"args,omitempty"`    // replaces the image's cmd
	Env             []EnvVar             `json:"env,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
}

// EnvVar is one environment variable with a literal value.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ContainerPort is a port the container listens on; a non-zero HostPort
// also publishes it on the node.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
	Protocol      string `json:"protocol,omitempty"` // "TCP" (default) or "UDP"
}

// ResourceRequirements are requests (scheduling, CPU shares) and limits
// (enforced by cgroups).
type ResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// ResourceList holds Kubernetes quantities: CPU as "500m", "1", "0.25";
// memory as "64Mi", "1Gi", "128M", "1000000".
type ResourceList struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// SecurityContext is the subset of Kubernetes' container securityContext
// the runtime honours. Unset fields take the restricted defaults: a
// non-root user, no privilege escalation, no capabilities.
type SecurityContext struct {
	RunAsUser                *int64        `json:"runAsUser,omitempty"`
	RunAsGroup               *int64        `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool         `json:"runAsNonRoot,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
}

// Capabilities adds to the empty default set (names like "NET_ADMIN" or
// "CAP_NET_ADMIN"); Drop removes from what Add granted.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}
