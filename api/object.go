package api

import (
	"encoding/json"
	"time"
)

// Version is the only API version Slipway serves.
const Version = "v1"

// ObjectMeta is the metadata every object carries. The server owns uid,
// resourceVersion, generation and the timestamps; users own the rest.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Project           string            `json:"project,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	Finalizers        []string          `json:"finalizers,omitempty"`
	CreationTimestamp *time.Time        `json:"creationTimestamp,omitempty"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
}

// Object is the generic envelope of any resource: the API server, the store
// and the watch machinery handle every kind through it, and the kind-specific
// parts stay raw JSON until a resource type's validation decodes them.
// Kubernetes-shaped kinds without a spec (ConfigMap, Secret) keep their
// payload in Data.
type Object struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	// Type is a Secret's type (Kubernetes' top-level field); other kinds
	// have none.
	Type   string          `json:"type,omitempty"`
	Spec   json.RawMessage `json:"spec,omitempty"`
	Status json.RawMessage `json:"status,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// ListMeta describes a page of a list.
type ListMeta struct {
	// ResourceVersion is the store revision the list reflects: a watch
	// started from it sees every later change.
	ResourceVersion string `json:"resourceVersion"`
	// Continue, when set, fetches the next page.
	Continue string `json:"continue,omitempty"`
}

// List is a page of objects of one kind.
type List[T any] struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Metadata   ListMeta `json:"metadata"`
	Items      []T      `json:"items"`
}

// EventType says what happened to the object of a watch event.
type EventType string

// Watch event types.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	// Bookmark carries only metadata.resourceVersion: the watcher has seen
	// every change up to it.
	Bookmark EventType = "BOOKMARK"
)

// WatchEvent is one line of a watch stream.
type WatchEvent struct {
	Type   EventType       `json:"type"`
	Object json.RawMessage `json:"object"`
}

// ListOptions select and page a list or a watch.
type ListOptions struct {
	LabelSelector   string
	Limit           int
	Continue        string
	ResourceVersion string
}
