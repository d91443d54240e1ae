package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/podspec"
)

// BuildRunner runs build pods. The executor of package builder implements
// it; the agent does not import the builder.
type BuildRunner interface {
	// RunBuild runs the build of pod to its end, writing its output into
	// the pod's container log, and returns how its container ended. When
	// ctx is cancelled (the pod was deleted, or the agent stops) it stops
	// the build and returns; the agent then deletes the pod's runtime
	// state as for any pod. deadline bounds the build (0: none from the
	// pod).
	RunBuild(ctx context.Context, pod podspec.Pod, deadline time.Duration) BuildResult
}

// BuildResult is the terminated state of a build pod's container.
type BuildResult struct {
	ExitCode int32
	Reason   string
	// Message is the termination message (the builder's JSON).
	Message string
}

// buildRun is one build the agent runs; result is valid once done is
// closed.
type buildRun struct {
	cancel  context.CancelFunc
	done    chan struct{}
	started time.Time
	result  BuildResult
	ended   time.Time
}

func isBuildPod(pod *api.Pod) bool {
	return pod.Metadata.Annotations[api.BuildPodAnnotation] == "true"
}

// syncBuild starts the build of a build pod once, and reports its status:
// Running while it runs, then Succeeded or Failed with the result as the
// container's terminated state.
func (a *Agent) syncBuild(ctx context.Context, pod *api.Pod, st *podState, exists bool) (time.Duration, error) {
	uid := pod.Metadata.UID
	a.mu.Lock()
	b := a.builds[uid]
	parent := a.runCtx
	a.mu.Unlock()
	if b == nil {
		if pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
			return 0, nil
		}
		now := a.cfg.Now()
		if exists || pod.Status.Phase == api.PodRunning {
			// The executor of this build went with a previous agent: a
			// build cannot be resumed, and it is not run twice. Its pod
			// left in the runtime tells, and so does the Running status
			// that agent reported (only this node's agent reports it),
			// should the runtime have lost the pod meanwhile.
			b = &buildRun{done: make(chan struct{}), started: now, ended: now, result: BuildResult{ExitCode: 1, Reason: "Error",
				Message: `{"error":"build interrupted: the node agent restarted while it ran"}`}}
			close(b.done)
			if err := a.rt.StopPod(ctx, uid, 0); err != nil {
				a.logFor(pod).WarnContext(ctx, "stop interrupted build", "err", err)
			}
		} else {
			secrets, err := a.podSecrets(ctx, pod)
			if err != nil && !errors.Is(err, errMissingSecret) {
				return 0, err
			}
			if err != nil {
				// The build is not retried: a source secret that is
				// missing now fails it, with the reason.
				msg, _ := json.Marshal(map[string]string{"error": err.Error()})
				b = &buildRun{done: make(chan struct{}), started: now, ended: now,
					result: BuildResult{ExitCode: 1, Reason: ReasonConfigError, Message: string(msg)}}
				close(b.done)
				a.mu.Lock()
				a.builds[uid] = b
				a.mu.Unlock()
				return 0, a.patchStatus(ctx, pod, st, a.buildPodStatus(pod, st, b))
			}
			if err := a.builderImage(ctx, pod); err != nil {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				msg, _ := json.Marshal(map[string]string{"error": err.Error()})
				b = &buildRun{done: make(chan struct{}), started: now, ended: now,
					result: BuildResult{ExitCode: 1, Reason: ReasonImagePullBackOff, Message: string(msg)}}
				close(b.done)
				a.mu.Lock()
				a.builds[uid] = b
				a.mu.Unlock()
				return 0, a.patchStatus(ctx, pod, st, a.buildPodStatus(pod, st, b))
			}
			var deadline time.Duration
			if d := pod.Spec.ActiveDeadlineSeconds; d != nil && pod.Metadata.CreationTimestamp != nil {
				deadline = max(time.Duration(*d)*time.Second-now.Sub(*pod.Metadata.CreationTimestamp), time.Second)
			}
			// The log exists, empty, before the build is registered, and
			// the build is registered before its executor starts: a log
			// follower that finds the build running finds its log, and
			// one that finds no build yet sees the pod pending (see
			// buildLogGrowing) and waits. The executor and the assemble
			// container's shim append to this file (only log rotation
			// truncates it, as any container's).
			logPath := a.rt.LogPath(uid, api.BuildContainerName)
			if err := os.MkdirAll(filepath.Dir(logPath), 0o711); err != nil {
				return 0, fmt.Errorf("build log: %w", err)
			}
			f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				return 0, fmt.Errorf("build log: %w", err)
			}
			f.Close()
			bctx, cancel := context.WithCancel(parent)
			b = &buildRun{cancel: cancel, done: make(chan struct{}), started: now}
			a.mu.Lock()
			a.builds[uid] = b
			a.mu.Unlock()
			spec := toPodspec(pod, secrets)
			a.buildWG.Go(func() {
				defer cancel()
				res := a.cfg.Builds.RunBuild(bctx, spec, deadline)
				a.mu.Lock()
				b.result, b.ended = res, a.cfg.Now()
				a.mu.Unlock()
				close(b.done)
				a.queue.Add(uid)
			})
			a.logFor(pod).InfoContext(ctx, "build started", "uid", uid)
		}
		a.mu.Lock()
		a.builds[uid] = b
		a.mu.Unlock()
		st.startTime = now
	}
	return 0, a.patchStatus(ctx, pod, st, a.buildPodStatus(pod, st, b))
}

// cancelBuild stops the build of uid, if one runs, and waits for its
// executor to return. It reports whether there was one.
func (a *Agent) cancelBuild(uid string) bool {
	a.mu.Lock()
	b := a.builds[uid]
	delete(a.builds, uid)
	a.mu.Unlock()
	if b == nil {
		return false
	}
	if b.cancel != nil {
		b.cancel()
	}
	<-b.done
	return true
}

func (a *Agent) buildPodStatus(pod *api.Pod, st *podState, b *buildRun) api.PodStatus {
	out := api.PodStatus{HostIP: a.hostIP, StartTime: stamp(st.startTime), NominatedNodeName: pod.Status.NominatedNodeName}
	if rs, err := a.rt.PodStatus(context.Background(), pod.Metadata.UID); err == nil && rs.IP.IsValid() {
		out.PodIP = rs.IP.String()
	}
	var c api.Container
	if len(pod.Spec.Containers) > 0 {
		c = pod.Spec.Containers[0]
	}
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
	ready := api.Condition{Type: api.ContainersReady, Status: "False", Reason: "PodCompleted"}
	select {
	case <-b.done:
		a.mu.Lock()
		res, ended := b.result, b.ended
		a.mu.Unlock()
		cs.State.Terminated = &api.ContainerStateTerminated{ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message,
			StartedAt: stamp(b.started), FinishedAt: stamp(ended)}
		started := false
		cs.Started = &started
		out.Phase = api.PodSucceeded
		if res.ExitCode != 0 {
			out.Phase = api.PodFailed
		}
	default:
		started := true
		cs.Started = &started
		cs.State.Running = &api.ContainerStateRunning{StartedAt: stamp(b.started)}
		out.Phase = api.PodRunning
		ready = api.Condition{Type: api.ContainersReady, Status: "False", Reason: "ContainersNotReady",
			Message: "a build pod is never ready"}
	}
	out.ContainerStatuses = []api.ContainerStatus{cs}
	for _, cond := range pod.Status.Conditions {
		if cond.Type != api.PodReady && cond.Type != api.ContainersReady {
			out.Conditions = append(out.Conditions, cond)
		}
	}
	podReady := ready
	podReady.Type = api.PodReady
	now := a.cfg.Now()
	for _, cond := range []api.Condition{ready, podReady} {
		cond.LastTransitionTime = stamp(now)
		for _, p := range pod.Status.Conditions {
			if p.Type == cond.Type && p.Status == cond.Status && p.LastTransitionTime != nil {
				cond.LastTransitionTime = p.LastTransitionTime
			}
		}
		out.Conditions = append(out.Conditions, cond)
	}
	return out
}

// builderImage makes sure the build pod's image (the builder image) is on
// the node, pulling it from Slipway's registry with the node's credentials.
func (a *Agent) builderImage(ctx context.Context, pod *api.Pod) error {
	for _, c := range pod.Spec.Containers {
		_, err := a.ctr.GetImage(a.ns(ctx), c.Image)
		switch {
		case err == nil:
			continue
		case !errdefs.IsNotFound(err):
			return fmt.Errorf("look up builder image %q: %w", c.Image, err)
		case a.cfg.Images == nil || !a.cfg.Images.Handles(c.Image):
			return fmt.Errorf("builder image %q is not present on node %s and only images of Slipway's registry are pulled", c.Image, a.cfg.NodeName)
		}
		if err := a.cfg.Images.Pull(ctx, c.Image); err != nil {
			return fmt.Errorf("pull builder image %q on node %s: %w", c.Image, a.cfg.NodeName, err)
		}
	}
	return nil
}
