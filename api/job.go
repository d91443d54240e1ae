package api

import (
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// Job runs pods until a number of them succeed, in Kubernetes' shape
// (batch/v1 Job). Its pods are selected by the job's own label; a
// user-written selector is not supported.
type Job struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       JobSpec    `json:"spec"`
	Status     JobStatus  `json:"status,omitempty"`
}

// JobSpec is what a Job runs and how often it may fail.
type JobSpec struct {
	Template PodTemplate `json:"template"`
	// Completions is how many pods must succeed (default 1).
	Completions *int32 `json:"completions,omitempty"`
	// Parallelism is how many pods run at once at most (default 1).
	Parallelism *int32 `json:"parallelism,omitempty"`
	// BackoffLimit is how many failed pods the job tolerates before it
	// fails (default 6); replacements wait an exponential back-off.
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// ActiveDeadlineSeconds bounds the job's run time from its start; past
	// it the job fails and its pods are stopped.
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// DefaultBackoffLimit is a Job's default spec.backoffLimit.
const DefaultBackoffLimit = 6

// EffectiveCompletions is spec.completions with its default.
func (s *JobSpec) EffectiveCompletions() int32 { return replicasOrOne(s.Completions) }

// EffectiveParallelism is spec.parallelism with its default.
func (s *JobSpec) EffectiveParallelism() int32 { return replicasOrOne(s.Parallelism) }

// EffectiveBackoffLimit is spec.backoffLimit with its default.
func (s *JobSpec) EffectiveBackoffLimit() int32 {
	if s.BackoffLimit == nil {
		return DefaultBackoffLimit
	}
	return *s.BackoffLimit
}

// Validate checks a job's spec.
func (s *JobSpec) Validate() error {
	if s.Completions != nil && *s.Completions < 1 {
		return errdefs.Invalidf("spec.completions", "must be at least 1")
	}
	if err := validateReplicas("spec.parallelism", s.Parallelism); err != nil {
		return err
	}
	if err := validateReplicas("spec.backoffLimit", s.BackoffLimit); err != nil {
		return err
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d < 1 {
		return errdefs.Invalidf("spec.activeDeadlineSeconds", "must be positive")
	}
	switch s.Template.Spec.RestartPolicy {
	case RestartNever, RestartOnFailure:
	default:
		return errdefs.Invalidf("spec.template.spec.restartPolicy", "must be Never or OnFailure for a job, got %q", s.Template.Spec.RestartPolicy)
	}
	return validateWorkloadTemplate(nil, &s.Template, false)
}

// JobStatus is written by the job controller.
type JobStatus struct {
	Active         int32          `json:"active"`
	Succeeded      int32          `json:"succeeded"`
	Failed         int32          `json:"failed"`
	StartTime      *time.Time     `json:"startTime,omitempty"`
	CompletionTime *time.Time     `json:"completionTime,omitempty"`
	Conditions     []JobCondition `json:"conditions,omitempty"`
}

// Validate accepts the controller's status after a strict decode.
func (s *JobStatus) Validate() error { return nil }

// JobCondition is a Job's terminal state (Kubernetes' shape).
type JobCondition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	LastProbeTime      *time.Time `json:"lastProbeTime,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
}

// Job condition types and reasons.
const (
	JobComplete = "Complete"
	JobFailed   = "Failed"

	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	ReasonDeadlineExceeded     = "DeadlineExceeded"
)

// Finished returns the job's terminal condition type (Complete or Failed),
// or "" while it runs.
func (s *JobStatus) Finished() string {
	for _, c := range s.Conditions {
		if (c.Type == JobComplete || c.Type == JobFailed) && c.Status == ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// JobsResource is the plural name of jobs.
const JobsResource = "jobs"
