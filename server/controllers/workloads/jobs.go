package workloads

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
)

// Jobs runs each Job's pods to completion: up to parallelism at a time
// until completions have succeeded. A failed pod is kept (for its logs)
// and replaced after an exponential back-off; more failures than
// backoffLimit, or running past activeDeadlineSeconds, fail the job and
// stop its pods. The counts in status are recomputed from the pods on
// every reconcile.
type Jobs struct {
	deps
}

// NewJobs returns the job reconciler.
func NewJobs(d Deps) reconcile.Reconciler { return &Jobs{newDeps(d)} }

// Reconcile implements reconcile.Reconciler.
func (c *Jobs) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := c.Service.Get(ctx, c.jobs, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return reconcile.Result{}, releaseDependents(ctx, c.Service, c.jobs, obj, []*api.Resource{c.pods}, api.JobLabel)
	}
	job, err := decodeAs[api.Job](obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	pods, err := ownedPods(ctx, c.Service, c.pods, api.JobLabel, job.Metadata.Name, job.Metadata.UID)
	if err != nil {
		return reconcile.Result{}, err
	}
	now := c.Now().UTC().Truncate(time.Millisecond)
	st := job.Status
	if st.StartTime == nil {
		st.StartTime = &now
	}
	var active []*api.Pod
	var succeeded, failed int32
	var lastFailure time.Time
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			succeeded++
		case p.Status.Phase == api.PodFailed:
			failed++
			if t := finishedAt(p); t.After(lastFailure) {
				lastFailure = t
			}
		case p.Metadata.DeletionTimestamp == nil:
			active = append(active, p)
		}
	}
	spec := &job.Spec
	completions := spec.EffectiveCompletions()
	var requeue time.Duration
	if st.Finished() == "" {
		var deadline time.Time
		if s := spec.ActiveDeadlineSeconds; s != nil {
			deadline = st.StartTime.Add(time.Duration(*s) * time.Second)
		}
		switch {
		case failed > spec.EffectiveBackoffLimit():
			setJobCondition(&st, api.JobFailed, api.ReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
		case !deadline.IsZero() && !now.Before(deadline):
			setJobCondition(&st, api.JobFailed, api.ReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
		case succeeded >= completions:
			setJobCondition(&st, api.JobComplete, "", "", now)
			st.CompletionTime = &now
		default:
			if !deadline.IsZero() {
				requeue = deadline.Sub(now)
			}
			var wait time.Duration
			if active, wait, err = c.runPods(ctx, job, active, succeeded, failed, lastFailure, now); err != nil {
				return reconcile.Result{}, err
			}
			if wait > 0 && (requeue == 0 || wait < requeue) {
				requeue = wait
			}
		}
	}
	if st.Finished() != "" {
		// A finished job runs nothing more.
		for _, p := range active {
			if _, _, err := c.Service.Delete(ctx, c.pods, p.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return reconcile.Result{}, fmt.Errorf("stop pod %q of finished job %q: %w", p.Metadata.Name, job.Metadata.Name, err)
			}
		}
		active = nil
	}
	st.Active, st.Succeeded, st.Failed = int32(len(active)), succeeded, failed
	if err := writeStatus(ctx, c.Service, c.jobs, obj, st); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// runPods starts pods up to parallelism (and the completions still
// needed), after the back-off that failures call for, and stops extra ones.
// It returns the active pods and, when a back-off holds pods back, how long
// it lasts.
func (c *Jobs) runPods(ctx context.Context, job *api.Job, active []*api.Pod, succeeded, failed int32, lastFailure, now time.Time) ([]*api.Pod, time.Duration, error) {
	want := int(min(job.Spec.EffectiveParallelism(), job.Spec.EffectiveCompletions()-succeeded))
	if len(active) > want {
		sortForDeletion(active, now)
		for _, p := range active[:len(active)-want] {
			if _, _, err := c.Service.Delete(ctx, c.pods, p.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return nil, 0, fmt.Errorf("delete extra pod %q: %w", p.Metadata.Name, err)
			}
		}
		return active[len(active)-want:], 0, nil
	}
	if len(active) == want {
		return active, 0, nil
	}
	if failed > 0 {
		delay := c.JobBackoff << min(failed-1, 20)
		if delay > c.JobBackoffMax || delay <= 0 {
			delay = c.JobBackoffMax
		}
		if wait := lastFailure.Add(delay).Sub(now); wait > 0 {
			return active, wait, nil
		}
	}
	for range min(want-len(active), podBurst) {
		p, err := createPod(ctx, c.Service, c.pods, &job.Spec.Template, job.Metadata.Name,
			map[string]string{api.JobLabel: job.Metadata.Name}, job.Metadata.UID)
		if err != nil {
			return nil, 0, err
		}
		active = append(active, p)
	}
	return active, 0, nil
}

// finishedAt is when a finished pod's last container ended (its creation
// when the node agent reported no time).
func finishedAt(p *api.Pod) time.Time {
	var t time.Time
	for _, s := range p.Status.ContainerStatuses {
		if term := s.State.Terminated; term != nil && term.FinishedAt != nil && term.FinishedAt.After(t) {
			t = *term.FinishedAt
		}
	}
	if t.IsZero() && p.Metadata.CreationTimestamp != nil {
		t = *p.Metadata.CreationTimestamp
	}
	return t
}

func setJobCondition(st *api.JobStatus, typ, reason, msg string, now time.Time) {
	st.Conditions = append(st.Conditions, api.JobCondition{Type: typ, Status: api.ConditionTrue, Reason: reason, Message: msg,
		LastProbeTime: &now, LastTransitionTime: &now})
}
