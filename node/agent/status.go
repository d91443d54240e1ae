package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/runtime"
)

// buildStatus derives the pod's status from the runtime's view (nil: the
// pod has nothing on the node yet) and the agent's memory.
func (a *Agent) buildStatus(pod *api.Pod, st *podState, rs *runtime.PodStatus) api.PodStatus {
	now := a.cfg.Now()
	out := api.PodStatus{HostIP: a.hostIP, StartTime: stamp(st.startTime), NominatedNodeName: pod.Status.NominatedNodeName}
	if rs != nil && rs.IP.IsValid() {
		out.PodIP = rs.IP.String()
	}
	var running, succeeded, failed, restarting int
	var unready []string
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range pod.Spec.Containers {
		cs := st.container(c.Name)
		s := api.ContainerStatus{Name: c.Name, Image: c.Image, RestartCount: cs.restartCount}
		if cs.lastTerm != nil {
			s.LastTerminationState = api.ContainerState{Terminated: cs.lastTerm}
		}
		rc := findContainer(rs, c.Name)
		switch {
		case rc != nil && rc.State == runtime.StateRunning:
			s.ContainerID = "containerd://" + rc.ID
			started := cs.started
			s.Started = &started
			s.Ready = started && (c.ReadinessProbe == nil || cs.ready)
			s.State.Running = &api.ContainerStateRunning{StartedAt: stamp(cs.startedAt)}
			running++
		case rc != nil && rc.State == runtime.StateExited && cs.term != nil:
			s.ContainerID = "containerd://" + rc.ID
			started := false
			s.Started = &started
			if shouldRestart(pod.Spec.RestartPolicy, rc.ExitCode) {
				wait := max(0, cs.nextRestart.Sub(now)).Round(time.Second)
				s.State.Waiting = &api.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff,
					Message: fmt.Sprintf("back-off %s restarting failed container %s in pod %s", wait, c.Name, pod.Metadata.Name)}
				s.LastTerminationState = api.ContainerState{Terminated: cs.term}
				restarting++
			} else {
				s.State.Terminated = cs.term
				if rc.ExitCode == 0 {
					succeeded++
				} else {
					failed++
				}
			}
		default:
			w := api.ContainerStateWaiting{Reason: ReasonContainerCreating}
			if v, ok := st.waiting[c.Name]; ok {
				w = v
			}
			s.State.Waiting = &w
		}
		if !s.Ready {
			unready = append(unready, c.Name)
		}
		out.ContainerStatuses = append(out.ContainerStatuses, s)
	}
	n := len(pod.Spec.Containers)
	switch {
	case succeeded+failed == n && failed == 0:
		out.Phase = api.PodSucceeded
	case succeeded+failed == n:
		out.Phase = api.PodFailed
	case running > 0 || restarting > 0 || (rs != nil && succeeded+failed > 0):
		out.Phase = api.PodRunning
	default:
		out.Phase = api.PodPending
	}
	st.running = running == n
	ready := api.Condition{Type: api.ContainersReady, Status: "True"}
	switch {
	case out.Phase == api.PodSucceeded || out.Phase == api.PodFailed:
		ready = api.Condition{Type: api.ContainersReady, Status: "False", Reason: "PodCompleted"}
	case len(unready) > 0:
		ready = api.Condition{Type: api.ContainersReady, Status: "False", Reason: "ContainersNotReady",
			Message: "containers with unready status: [" + strings.Join(unready, " ") + "]"}
	}
	podReady := ready
	podReady.Type = api.PodReady
	for _, c := range pod.Status.Conditions {
		if c.Type != api.PodReady && c.Type != api.ContainersReady {
			out.Conditions = append(out.Conditions, c) // PodScheduled belongs to the scheduler
		}
	}
	for _, c := range []api.Condition{ready, podReady} {
		c.LastTransitionTime = stamp(now)
		for _, p := range pod.Status.Conditions {
			if p.Type == c.Type && p.Status == c.Status && p.LastTransitionTime != nil {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		out.Conditions = append(out.Conditions, c)
	}
	return out
}

// writeStatus reports the pod's status with a merge patch when it differs
// from what the API holds. Fields the new status leaves out are removed.
func (a *Agent) writeStatus(ctx context.Context, pod *api.Pod, st *podState, rs *runtime.PodStatus) error {
	status := a.buildStatus(pod, st, rs)
	return a.patchStatus(ctx, pod, st, status)
}

// patchStatus writes status when it differs from what the API holds.
func (a *Agent) patchStatus(ctx context.Context, pod *api.Pod, st *podState, status api.PodStatus) error {
	a.updateRunningGauge()
	if st.running && !st.startObserved && pod.Metadata.CreationTimestamp != nil {
		st.startObserved = true
		a.metrics.podStartLatency.Observe(a.cfg.Now().Sub(*pod.Metadata.CreationTimestamp).Seconds())
	}
	next, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("encode pod status: %w", err)
	}
	prev, _ := json.Marshal(pod.Status)
	if bytes.Equal(next, prev) || bytes.Equal(next, st.reported) {
		return nil
	}
	var patch, old map[string]any
	_ = json.Unmarshal(next, &patch)
	_ = json.Unmarshal(prev, &old)
	for k := range old {
		if _, ok := patch[k]; !ok {
			patch[k] = nil
		}
	}
	if err := a.cfg.Client.Patch(ctx, podsRes, pod.Metadata.Project, pod.Metadata.Name, map[string]any{"status": patch}, true, nil); err != nil {
		return fmt.Errorf("report status of pod %s/%s: %w", pod.Metadata.Project, pod.Metadata.Name, err)
	}
	st.reported = next
	return nil
}
