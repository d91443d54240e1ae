package api

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// Deployment keeps a number of identical pods running and rolls them from
// one pod template to the next, in Kubernetes' shape (apps/v1 Deployment,
// trimmed to what Slipway supports). Each distinct template is a
// ReplicaSet, one numbered revision.
type Deployment struct {
	Kind       string           `json:"kind"`
	APIVersion string           `json:"apiVersion"`
	Metadata   ObjectMeta       `json:"metadata"`
	Spec       DeploymentSpec   `json:"spec"`
	Status     DeploymentStatus `json:"status,omitempty"`
}

// DeploymentSpec is the desired state of a Deployment. Absent optional
// fields take Kubernetes' defaults; the stored spec keeps what the user
// wrote and the accessors (EffectiveReplicas, ProgressDeadline…) apply the
// defaults.
type DeploymentSpec struct {
	// Replicas is the number of pods (default 1).
	Replicas *int32         `json:"replicas,omitempty"`
	Selector *LabelSelector `json:"selector"`
	Template PodTemplate    `json:"template"`
	Strategy Strategy       `json:"strategy,omitempty"`
	// MinReadySeconds is how long a pod must be ready before it counts as
	// available (default 0).
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// ProgressDeadlineSeconds is how long a rollout may make no progress
	// before it is marked failed (default 600).
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// RevisionHistoryLimit is how many old, scaled-down ReplicaSets are
	// kept for rollbacks (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops rollouts: template changes wait until it is unset.
	Paused bool `json:"paused,omitempty"`
	// Triggers start rollouts from outside the spec (Slipway's addition,
	// after OpenShift's DeploymentConfig triggers).
	Triggers []DeploymentTrigger `json:"triggers,omitempty"`
}

// Deployment defaults, as in Kubernetes.
const (
	DefaultProgressDeadlineSeconds = 600
	DefaultRevisionHistoryLimit    = 10
)

// LabelSelector selects objects by their labels. Slipway supports
// matchLabels only.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Matches reports whether labels carry every matchLabels pair. An empty
// selector matches nothing.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil || len(s.MatchLabels) == 0 {
		return false
	}
	return SelectorMatches(s.MatchLabels, labels)
}

// SelectorMatches reports whether labels carry every pair of selector (a
// Service's selector); an empty selector matches nothing.
func SelectorMatches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// PodTemplate is the pod a workload creates copies of.
type PodTemplate struct {
	Metadata TemplateMeta `json:"metadata,omitempty"`
	Spec     PodSpec      `json:"spec"`
}

// TemplateMeta is the metadata a template gives its pods. Names are
// generated; other ObjectMeta fields are rejected.
type TemplateMeta struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Deployment strategy types.
const (
	RollingUpdateStrategy = "RollingUpdate"
	RecreateStrategy      = "Recreate"
)

// Strategy says how a Deployment replaces old pods with new ones.
type Strategy struct {
	// Type is RollingUpdate (default) or Recreate.
	Type          string               `json:"type,omitempty"`
	RollingUpdate *RollingUpdateParams `json:"rollingUpdate,omitempty"`
}

// RollingUpdateParams bound a rolling update: each is a number of pods or a
// percentage of replicas ("25%", the default of both). maxSurge is rounded
// up, maxUnavailable down; they may not both be zero.
type RollingUpdateParams struct {
	MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
}

// Deployment trigger types.
const ImageChangeTrigger = "ImageChange"

// DeploymentTrigger starts a rollout when something outside the spec
// changes. Slipway supports ImageChange: when the image stream tag named by
// from points at a new image, the named containers' images are set to it.
type DeploymentTrigger struct {
	Type        string             `json:"type"`
	ImageChange *ImageChangeParams `json:"imageChange,omitempty"`
}

// ImageChangeParams configure an ImageChange trigger.
type ImageChangeParams struct {
	// From is an image stream tag: "name:tag" in the deployment's project,
	// or "project/name:tag".
	From string `json:"from"`
	// ContainerNames are the template containers whose image follows the
	// tag.
	ContainerNames []string `json:"containerNames"`
	// Automatic rolls out every new image; a rollback turns it off so the
	// rolled-back image stays.
	Automatic bool `json:"automatic,omitempty"`
}

// DeploymentStatus is written by the deployment controller.
type DeploymentStatus struct {
	ObservedGeneration  int64                 `json:"observedGeneration,omitempty"`
	Replicas            int32                 `json:"replicas"`
	UpdatedReplicas     int32                 `json:"updatedReplicas"`
	ReadyReplicas       int32                 `json:"readyReplicas"`
	AvailableReplicas   int32                 `json:"availableReplicas"`
	UnavailableReplicas int32                 `json:"unavailableReplicas"`
	Conditions          []DeploymentCondition `json:"conditions,omitempty"`
	// CollisionCount disambiguates ReplicaSet names when two templates hash
	// alike.
	CollisionCount *int32 `json:"collisionCount,omitempty"`
}

// DeploymentCondition is one aspect of a rollout, as in Kubernetes:
// lastUpdateTime moves on every progress, lastTransitionTime only when the
// status flips.
type DeploymentCondition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	LastUpdateTime     *time.Time `json:"lastUpdateTime,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
}

// Deployment condition types and reasons (Kubernetes' names).
const (
	DeploymentAvailable   = "Available"
	DeploymentProgressing = "Progressing"

	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
	ReasonDeploymentResumed          = "DeploymentResumed"
)

// Condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// EffectiveReplicas is spec.replicas with its default.
func (s *DeploymentSpec) EffectiveReplicas() int32 { return replicasOrOne(s.Replicas) }

// ProgressDeadline is spec.progressDeadlineSeconds with its default.
func (s *DeploymentSpec) ProgressDeadline() time.Duration {
	if s.ProgressDeadlineSeconds == nil {
		return DefaultProgressDeadlineSeconds * time.Second
	}
	return time.Duration(*s.ProgressDeadlineSeconds) * time.Second
}

// HistoryLimit is spec.revisionHistoryLimit with its default.
func (s *DeploymentSpec) HistoryLimit() int {
	if s.RevisionHistoryLimit == nil {
		return DefaultRevisionHistoryLimit
	}
	return int(*s.RevisionHistoryLimit)
}

// IsRecreate tells whether the strategy is Recreate.
func (s *DeploymentSpec) IsRecreate() bool { return s.Strategy.Type == RecreateStrategy }

// SurgeAndUnavailable resolves maxSurge (rounded up) and maxUnavailable
// (rounded down) against the replica count; when both come to zero,
// maxUnavailable is 1 so the rollout can move, as in Kubernetes.
func (s *DeploymentSpec) SurgeAndUnavailable() (surge, unavailable int32) {
	quarter := FromString("25%")
	ms, mu := &quarter, &quarter
	if ru := s.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			ms = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable
		}
	}
	replicas := s.EffectiveReplicas()
	surge, _ = scaledValue(*ms, replicas, true)
	unavailable, _ = scaledValue(*mu, replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// scaledValue resolves a count or a percentage of total.
func scaledValue(v IntOrString, total int32, roundUp bool) (int32, error) {
	if !v.IsStr {
		return v.IntVal, nil
	}
	pct, ok := strings.CutSuffix(v.StrVal, "%")
	n, err := strconv.Atoi(pct)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number or a percentage", v.StrVal)
	}
	scaled := int64(n) * int64(total)
	if roundUp {
		return int32((scaled + 99) / 100), nil
	}
	return int32(scaled / 100), nil
}

func replicasOrOne(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// Validate checks a deployment's spec.
func (s *DeploymentSpec) Validate() error {
	if err := validateReplicas("spec.replicas", s.Replicas); err != nil {
		return err
	}
	if err := validateWorkloadTemplate(s.Selector, &s.Template, true); err != nil {
		return err
	}
	switch s.Strategy.Type {
	case "", RollingUpdateStrategy:
		if ru := s.Strategy.RollingUpdate; ru != nil {
			surgeZero, err := validateIntOrPercent("spec.strategy.rollingUpdate.maxSurge", ru.MaxSurge)
			if err != nil {
				return err
			}
			unavailableZero, err := validateIntOrPercent("spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable)
			if err != nil {
				return err
			}
			if surgeZero && unavailableZero {
				return errdefs.Invalidf("spec.strategy.rollingUpdate", "maxSurge and maxUnavailable may not both be zero")
			}
		}
	case RecreateStrategy:
		if s.Strategy.RollingUpdate != nil {
			return errdefs.Invalidf("spec.strategy.rollingUpdate", "may only be set with type RollingUpdate")
		}
	default:
		return errdefs.Invalidf("spec.strategy.type", "must be RollingUpdate or Recreate, got %q", s.Strategy.Type)
	}
	if s.MinReadySeconds < 0 {
		return errdefs.Invalidf("spec.minReadySeconds", "must not be negative")
	}
	if p := s.ProgressDeadlineSeconds; p != nil && (*p < 1 || int64(*p) <= int64(s.MinReadySeconds)) {
		return errdefs.Invalidf("spec.progressDeadlineSeconds", "must be positive and greater than minReadySeconds")
	}
	if h := s.RevisionHistoryLimit; h != nil && *h < 0 {
		return errdefs.Invalidf("spec.revisionHistoryLimit", "must not be negative")
	}
	for i, tr := range s.Triggers {
		if err := tr.validate(fmt.Sprintf("spec.triggers[%d]", i), &s.Template.Spec); err != nil {
			return err
		}
	}
	return nil
}

// validateIntOrPercent checks a count or percentage and reports whether it
// is zero.
func validateIntOrPercent(field string, v *IntOrString) (zero bool, err error) {
	if v == nil {
		return false, nil
	}
	if !v.IsStr {
		if v.IntVal < 0 {
			return false, errdefs.Invalidf(field, "must not be negative")
		}
		return v.IntVal == 0, nil
	}
	pct, ok := strings.CutSuffix(v.StrVal, "%")
	n, perr := strconv.Atoi(pct)
	if !ok || perr != nil || n < 0 || n > 100 {
		return false, errdefs.Invalidf(field, "must be a non-negative number or a percentage from 0%% to 100%%, got %q", v.StrVal)
	}
	return n == 0, nil
}

func validateReplicas(field string, r *int32) error {
	if r != nil && *r < 0 {
		return errdefs.Invalidf(field, "must not be negative")
	}
	return nil
}

// validateWorkloadTemplate checks a selector and the template it must
// match. Errors name fields under spec.
func validateWorkloadTemplate(sel *LabelSelector, t *PodTemplate, needSelector bool) error {
	if needSelector || sel != nil {
		if sel == nil || len(sel.MatchLabels) == 0 {
			return errdefs.Invalidf("spec.selector.matchLabels", "is required")
		}
		if err := validateLabelMap("spec.selector.matchLabels", sel.MatchLabels); err != nil {
			return err
		}
		if !sel.Matches(t.Metadata.Labels) {
			return errdefs.Invalidf("spec.template.metadata.labels", "must match spec.selector.matchLabels")
		}
	}
	return t.validate("spec.template")
}

func validateLabelMap(field string, m map[string]string) error {
	for k, v := range m {
		f := fmt.Sprintf("%s[%s]", field, k)
		if err := ValidateQualifiedName(f, k); err != nil {
			return err
		}
		if err := ValidateLabelValue(f, v); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a pod template; field is its path ("spec.template").
func (t *PodTemplate) validate(field string) error {
	if err := validateLabelMap(field+".metadata.labels", t.Metadata.Labels); err != nil {
		return err
	}
	for k := range t.Metadata.Annotations {
		if err := ValidateQualifiedName(fmt.Sprintf("%s.metadata.annotations[%s]", field, k), k); err != nil {
			return err
		}
	}
	return reroot(t.Spec.Validate(), field+".spec")
}

// reroot rewrites the field of a PodSpec error ("spec.containers[0].image")
// to its place in an enclosing object ("spec.template.spec.containers[0].image").
func reroot(err error, root string) error {
	var fe *errdefs.FieldError
	if err == nil || !errors.As(err, &fe) {
		return err
	}
	return &errdefs.FieldError{Class: fe.Class, Field: root + strings.TrimPrefix(fe.Field, "spec"), Message: fe.Message}
}

func (tr *DeploymentTrigger) validate(field string, pod *PodSpec) error {
	if tr.Type != ImageChangeTrigger {
		return errdefs.Invalidf(field+".type", "must be ImageChange, got %q", tr.Type)
	}
	ic := tr.ImageChange
	if ic == nil {
		return errdefs.Invalidf(field+".imageChange", "is required for an ImageChange trigger")
	}
	if _, _, _, err := ParseImageStreamTag(ic.From); err != nil {
		return errdefs.Invalidf(field+".imageChange.from", "%v", err)
	}
	if len(ic.ContainerNames) == 0 {
		return errdefs.Invalidf(field+".imageChange.containerNames", "at least one container is required")
	}
	for i, name := range ic.ContainerNames {
		found := false
		for _, c := range pod.Containers {
			found = found || c.Name == name
		}
		if !found {
			return errdefs.Invalidf(fmt.Sprintf("%s.imageChange.containerNames[%d]", field, i), "no container %q in spec.template.spec.containers", name)
		}
	}
	return nil
}

// ParseImageStreamTag splits "[project/]name:tag"; project is "" when the
// reference is relative to the referring object's project.
func ParseImageStreamTag(ref string) (project, name, tag string, err error) {
	rest := ref
	if p, r, ok := strings.Cut(ref, "/"); ok {
		project, rest = p, r
		if dns1123Label(project) != "" || project == "" {
			return "", "", "", fmt.Errorf("%q: %q is not a project name", ref, project)
		}
	}
	name, tag, ok := strings.Cut(rest, ":")
	if !ok || dns1123Label(name) != "" || name == "" || tag == "" || len(tag) > 128 || strings.ContainsAny(tag, "/:@ ") {
		return "", "", "", fmt.Errorf("%q is not an image stream tag [project/]name:tag", ref)
	}
	return project, name, tag, nil
}

// Validate accepts the controller's status after a strict decode.
func (s *DeploymentStatus) Validate() error { return nil }

// Plural names, labels and annotations of the workload resources.
const (
	DeploymentsResource = "deployments"
	ReplicaSetsResource = "replicasets"

	// RevisionAnnotation numbers a Deployment's ReplicaSets (and is
	// copied to the Deployment for its current one).
	RevisionAnnotation = "deployment.slipway.io/revision"
	// RollbackAnnotation records the last rollback on the Deployment: to
	// which revision, when, and which image triggers it turned off.
	RollbackAnnotation = "deployment.slipway.io/rollback"
	// PodTemplateHashLabel distinguishes the pods of a Deployment's
	// revisions (Kubernetes' label).
	PodTemplateHashLabel = "pod-template-hash"
	// OwnerUIDAnnotation holds the uid of the object that created this one
	// (ReplicaSet → Deployment, Pod → ReplicaSet or Job): a new owner with
	// the same name does not adopt its predecessor's objects.
	OwnerUIDAnnotation = "slipway.io/owner-uid"
	// DeploymentLabel, ReplicaSetLabel and JobLabel name the owner of a
	// ReplicaSet or Pod. One key per owner kind keeps each value a plain
	// object name (at most 63 characters, as label values must be).
	DeploymentLabel = "slipway.io/deployment"
	ReplicaSetLabel = "slipway.io/replicaset"
	JobLabel        = "slipway.io/job"
	// DependentsFinalizer holds a deleted Deployment, ReplicaSet or Job
	// until its controller has deleted what it created.
	DependentsFinalizer = "slipway.io/dependents"
)

// ReplicaSet keeps spec.replicas copies of its template running; a
// Deployment owns one per revision (Kubernetes' apps/v1 ReplicaSet).
type ReplicaSet struct {
	Kind       string           `json:"kind"`
	APIVersion string           `json:"apiVersion"`
	Metadata   ObjectMeta       `json:"metadata"`
	Spec       ReplicaSetSpec   `json:"spec"`
	Status     ReplicaSetStatus `json:"status,omitempty"`
}

// ReplicaSetSpec is the desired state of a ReplicaSet.
type ReplicaSetSpec struct {
	Replicas        *int32         `json:"replicas,omitempty"` // default 1
	MinReadySeconds int32          `json:"minReadySeconds,omitempty"`
	Selector        *LabelSelector `json:"selector"`
	Template        PodTemplate    `json:"template"`
}

// EffectiveReplicas is spec.replicas with its default.
func (s *ReplicaSetSpec) EffectiveReplicas() int32 { return replicasOrOne(s.Replicas) }

// Validate checks a replica set's spec.
func (s *ReplicaSetSpec) Validate() error {
	if err := validateReplicas("spec.replicas", s.Replicas); err != nil {
		return err
	}
	if s.MinReadySeconds < 0 {
		return errdefs.Invalidf("spec.minReadySeconds", "must not be negative")
	}
	return validateWorkloadTemplate(s.Selector, &s.Template, true)
}

// ReplicaSetStatus is written by the replica set controller.
type ReplicaSetStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Replicas counts the pods that exist and are not terminating.
	Replicas          int32 `json:"replicas"`
	ReadyReplicas     int32 `json:"readyReplicas"`
	AvailableReplicas int32 `json:"availableReplicas"`
}

// Validate accepts the controller's status after a strict decode.
func (s *ReplicaSetStatus) Validate() error { return nil }

// Scale is the replica count of a Deployment, read and written through its
// scale subresource (Kubernetes' autoscaling/v1 Scale).
type Scale struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   ObjectMeta  `json:"metadata"`
	Spec       ScaleSpec   `json:"spec"`
	Status     ScaleStatus `json:"status,omitempty"`
}

// ScaleSpec is the desired replica count; required on a write.
type ScaleSpec struct {
	Replicas *int32 `json:"replicas,omitempty"`
}

// ScaleStatus is the observed replica count and the pods' selector.
type ScaleStatus struct {
	Replicas int32  `json:"replicas"`
	Selector string `json:"selector,omitempty"`
}

// DeploymentRollback asks for a Deployment's template to go back to an
// earlier revision (POST …/deployments/{name}/rollback).
type DeploymentRollback struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	// ToRevision is the revision to return to; 0 is the one before the
	// current.
	ToRevision int64 `json:"toRevision,omitempty"`
}

// Validate checks the request.
func (r *DeploymentRollback) Validate() error {
	if r.Kind != "" && r.Kind != "DeploymentRollback" {
		return errdefs.BadRequestf("kind", "must be DeploymentRollback, got %q", r.Kind)
	}
	if r.APIVersion != "" && r.APIVersion != Version {
		return errdefs.BadRequestf("apiVersion", "unsupported version %q", r.APIVersion)
	}
	if r.ToRevision < 0 {
		return errdefs.Invalidf("toRevision", "must not be negative")
	}
	return nil
}

// workloadControllerResources are the resources of the workload
// controllers: deployments, replica sets, services, endpoints and jobs.
func workloadControllerResources() []*Resource {
	specOnly := func(kind string, validate func(*Object) error) func(*Object) error {
		return func(o *Object) error {
			if err := forbid(o.Data, "data", kind); err != nil {
				return err
			}
			if len(o.Spec) == 0 || string(o.Spec) == "null" {
				return errdefs.Invalidf("spec", "is required")
			}
			return validate(o)
		}
	}
	return []*Resource{
		{Plural: DeploymentsResource, Kind: "Deployment", Scope: ProjectScoped, HasStatus: true,
			Finalizers:     []string{DependentsFinalizer},
			validateSpec:   specOnly("Deployment", func(o *Object) error { return strictField[DeploymentSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[DeploymentStatus](o.Status, "status") }},
		{Plural: ReplicaSetsResource, Kind: "ReplicaSet", Scope: ProjectScoped, HasStatus: true,
			Finalizers:     []string{DependentsFinalizer},
			validateSpec:   specOnly("ReplicaSet", func(o *Object) error { return strictField[ReplicaSetSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[ReplicaSetStatus](o.Status, "status") }},
		{Plural: ServicesResource, Kind: "Service", Scope: ProjectScoped, HasStatus: true,
			validateSpec:   specOnly("Service", func(o *Object) error { return strictField[ServiceSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[ServiceStatus](o.Status, "status") }},
		{Plural: EndpointsResource, Kind: "Endpoints", Scope: ProjectScoped,
			validateSpec: func(o *Object) error {
				if err := forbid(o.Data, "data", "Endpoints"); err != nil {
					return err
				}
				if err := forbid(o.Status, "status", "Endpoints"); err != nil {
					return err
				}
				return strictField[EndpointsSpec](o.Spec, "spec")
			}},
		{Plural: JobsResource, Kind: "Job", Scope: ProjectScoped, HasStatus: true,
			Finalizers:     []string{DependentsFinalizer},
			validateSpec:   specOnly("Job", func(o *Object) error { return strictField[JobSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[JobStatus](o.Status, "status") }},
	}
}

// PodFromTemplate builds the pod a workload creates from its template:
// the template's labels plus ownerLabels, the owner's uid, and the given
// name.
func PodFromTemplate(t *PodTemplate, name string, ownerLabels map[string]string, ownerUID string) Pod {
	labels := maps.Clone(t.Metadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, ownerLabels)
	annotations := maps.Clone(t.Metadata.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[OwnerUIDAnnotation] = ownerUID
	return Pod{Kind: "Pod", APIVersion: Version,
		Metadata: ObjectMeta{Name: name, Labels: labels, Annotations: annotations}, Spec: t.Spec}
}
