package api

import "time"

// NodeStats is a node's resource usage (GET /api/v1/nodes/{name}/stats,
// what `slip adm top` shows): CPU as a rate averaged over the window
// between the agent's last two readings, memory as the working set at the
// last reading.
type NodeStats struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Node       string        `json:"node"`
	Timestamp  time.Time     `json:"timestamp"`
	Window     string        `json:"window"`
	Usage      ResourceUsage `json:"usage"`
	Pods       []PodStats    `json:"pods"`
}

// PodStats is one pod's usage on its node.
type PodStats struct {
	Project    string           `json:"project"`
	Name       string           `json:"name"`
	Usage      ResourceUsage    `json:"usage"`
	Containers []ContainerStats `json:"containers"`
}

// ContainerStats is one container's usage.
type ContainerStats struct {
	Name  string        `json:"name"`
	Usage ResourceUsage `json:"usage"`
}

// ResourceUsage is CPU in millicores and memory in bytes.
type ResourceUsage struct {
	CPUMillicores int64 `json:"cpuMillicores"`
	MemoryBytes   int64 `json:"memoryBytes"`
}
