package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/slipway/slipway/api"
	apierrs "github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/node/agent/probe"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
)

// Waiting reasons, as Kubernetes reports them.
const (
	ReasonContainerCreating = "ContainerCreating"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
	ReasonCrashLoopBackOff  = "CrashLoopBackOff"
	ReasonCreateError       = "CreateContainerError"
	ReasonConfigError       = "CreateContainerConfigError"
)

// podState is what the agent remembers of a pod between reconciles. It is
// rebuilt from the pod's API status and the runtime after a restart.
type podState struct {
	pod        *api.Pod // last seen, for an orphan's grace period and logs
	startTime  time.Time
	containers map[string]*containerState
	// waiting holds why containers have not been created (missing image,
	// create error) until the pod runs.
	waiting       map[string]api.ContainerStateWaiting
	imageDelay    time.Duration
	reported      []byte // JSON of the last status written
	startObserved bool
	running       bool
	failures      int // consecutive reconcile errors
	// deletionSeen is when the agent first saw the pod's deletion (for
	// the deregistration delay).
	deletionSeen time.Time
}

// containerState is one container's memory: restart accounting and probe
// results. Fields marked (mu) are written by probe goroutines and guarded
// by Agent.mu; the rest belong to the worker reconciling the pod.
type containerState struct {
	restartCount int32
	startedAt    time.Time
	instance     uint32 // PID of the running instance whose probes run
	seenExit     time.Time
	term         *api.ContainerStateTerminated // the exit being handled
	lastTerm     *api.ContainerStateTerminated // the previous instance's end
	backoff      time.Duration                 // delay before the next restart
	nextRestart  time.Time
	probeCancel  context.CancelFunc

	started    bool   // (mu) startup probe passed, or none
	ready      bool   // (mu) readiness probe passed
	killReason string // (mu) a liveness or startup probe failed: restart
}

func (a *Agent) logFor(pod *api.Pod) *slog.Logger {
	return a.log.With("project", pod.Metadata.Project, "name", pod.Metadata.Name)
}

// state returns the pod's state, creating it (from the API status, so an
// adopted pod keeps its restart counts and start times) on first sight.
func (a *Agent) state(uid string, pod *api.Pod) *podState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.states[uid]
	if st == nil {
		st = &podState{containers: map[string]*containerState{}}
		if pod != nil {
			if pod.Status.StartTime != nil {
				st.startTime = *pod.Status.StartTime
			}
			for _, s := range pod.Status.ContainerStatuses {
				cs := &containerState{restartCount: s.RestartCount, started: s.Started != nil && *s.Started, ready: s.Ready}
				if r := s.State.Running; r != nil && r.StartedAt != nil {
					cs.startedAt = *r.StartedAt
				}
				cs.lastTerm = s.LastTerminationState.Terminated
				st.containers[s.Name] = cs
			}
			st.startObserved = pod.Status.Phase != "" && pod.Status.Phase != api.PodPending
		}
		a.states[uid] = st
	}
	if pod != nil {
		st.pod = pod
	}
	return st
}

func (st *podState) container(name string) *containerState {
	cs := st.containers[name]
	if cs == nil {
		cs = &containerState{}
		st.containers[name] = cs
	}
	return cs
}

func (a *Agent) dropState(uid string) {
	a.mu.Lock()
	st := a.states[uid]
	delete(a.states, uid)
	a.mu.Unlock()
	if st != nil {
		for _, cs := range st.containers {
			a.stopProbes(cs)
		}
	}
	a.updateRunningGauge()
}

func (a *Agent) updateRunningGauge() {
	a.mu.Lock()
	n := 0
	for _, st := range a.states {
		if st.running {
			n++
		}
	}
	a.mu.Unlock()
	a.metrics.podsRunning.Set(float64(n))
}

// runWorker reconciles queued pods until the queue shuts down.
func (a *Agent) runWorker(ctx context.Context) {
	for {
		uid, ok := a.queue.Get()
		if !ok {
			return
		}
		after, err := a.reconcile(ctx, uid)
		a.mu.Lock()
		st := a.states[uid]
		failures := 0
		if st != nil {
			if err != nil {
				st.failures++
			} else {
				st.failures = 0
			}
			failures = st.failures
		}
		a.mu.Unlock()
		switch {
		case err != nil && ctx.Err() == nil:
			a.metrics.reconcileErrors.Inc()
			a.log.WarnContext(ctx, "reconcile pod", "uid", uid, "err", err)
			a.queue.AddAfter(uid, a.retryDelay(failures))
		case after > 0:
			a.queue.AddAfter(uid, after)
		}
		a.queue.Done(uid)
	}
}

// runResync queues every known pod every ResyncInterval: the safety net
// under events and the watch.
func (a *Agent) runResync(ctx context.Context) {
	t := time.NewTicker(a.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		uids := a.pods.uids()
		a.mu.Lock()
		for uid := range a.states {
			uids = append(uids, uid)
		}
		a.mu.Unlock()
		for _, uid := range uids {
			a.queue.Add(uid)
		}
	}
}

// reconcile brings one pod's containers in line with its API object and
// reports their status. It returns when to look again (0: on the next
// event or resync).
func (a *Agent) reconcile(ctx context.Context, uid string) (time.Duration, error) {
	pod, synced := a.pods.get(uid)
	if !synced {
		return 0, nil // the first list queues every pod again
	}
	rs, err := a.rt.PodStatus(ctx, uid)
	exists := err == nil
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return 0, err
	}
	if pod == nil {
		if a.cancelBuild(uid) {
			exists = true // the build may have created the pod since
		}
		if exists {
			if err := a.removeOrphan(ctx, uid); err != nil {
				return 0, err
			}
		}
		a.dropState(uid)
		return 0, nil
	}
	st := a.state(uid, pod)
	switch {
	case pod.Metadata.DeletionTimestamp != nil:
		if a.cancelBuild(uid) {
			exists = true // the build may have created the pod since
		}
		if wait := a.deregistrationWait(pod, st, exists); wait > 0 {
			return wait, nil
		}
		return 0, a.terminate(ctx, pod, exists)
	case a.cfg.Builds != nil && isBuildPod(pod):
		return a.syncBuild(ctx, pod, st, exists)
	case !exists:
		if pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
			return 0, nil // finished pods are not run again
		}
		return a.startPod(ctx, pod, st)
	default:
		return a.syncPod(ctx, pod, st, &rs)
	}
}

// deregistrationWait is how much longer a deleted pod keeps running before
// it is stopped: a Ready pod waits DeregistrationDelay from when its
// deletion was first seen, so that nothing routes to it any more when it
// stops; other pods stop at once.
func (a *Agent) deregistrationWait(pod *api.Pod, st *podState, exists bool) time.Duration {
	if !exists || a.cfg.DeregistrationDelay <= 0 || !podReady(pod) {
		return 0
	}
	now := a.cfg.Now()
	if st.deletionSeen.IsZero() {
		st.deletionSeen = now
		a.logFor(pod).Info("deleted pod keeps running until routers forget it", "delay", a.cfg.DeregistrationDelay)
	}
	return max(st.deletionSeen.Add(a.cfg.DeregistrationDelay).Sub(now), 0)
}

func podReady(pod *api.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// gracePeriod is the pod's terminationGracePeriodSeconds (default 30).
func gracePeriod(pod *api.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// removeOrphan stops and deletes a pod that runs here but whose API object
// is gone.
func (a *Agent) removeOrphan(ctx context.Context, uid string) error {
	grace := a.cfg.OrphanGracePeriod
	a.mu.Lock()
	if st := a.states[uid]; st != nil && st.pod != nil {
		grace = gracePeriod(st.pod)
	}
	a.mu.Unlock()
	a.log.InfoContext(ctx, "stopping pod whose API object is gone", "uid", uid)
	if err := a.rt.StopPod(ctx, uid, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	return a.rt.DeletePod(ctx, uid)
}

// terminate stops a deleted pod within its grace period, removes it from
// the node, then releases its termination finalizer so the object goes.
func (a *Agent) terminate(ctx context.Context, pod *api.Pod, exists bool) error {
	uid := pod.Metadata.UID
	log := a.logFor(pod)
	a.mu.Lock()
	st := a.states[uid]
	a.mu.Unlock()
	if st != nil {
		for _, cs := range st.containers {
			a.stopProbes(cs)
		}
	}
	if exists {
		log.InfoContext(ctx, "stopping deleted pod", "grace", gracePeriod(pod))
		if err := a.rt.StopPod(ctx, uid, gracePeriod(pod)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		if err := a.rt.DeletePod(ctx, uid); err != nil {
			return err
		}
	}
	if slices.Contains(pod.Metadata.Finalizers, api.PodTerminationFinalizer) {
		rest := slices.DeleteFunc(slices.Clone(pod.Metadata.Finalizers), func(f string) bool { return f == api.PodTerminationFinalizer })
		if rest == nil {
			rest = []string{}
		}
		patch := map[string]any{"metadata": map[string]any{"finalizers": rest, "resourceVersion": pod.Metadata.ResourceVersion}}
		err := a.cfg.Client.Patch(ctx, podsRes, pod.Metadata.Project, pod.Metadata.Name, patch, false, nil)
		if err != nil && !errors.Is(err, apierrs.ErrNotFound) {
			return fmt.Errorf("release pod %s/%s: %w", pod.Metadata.Project, pod.Metadata.Name, err)
		}
		log.InfoContext(ctx, "pod terminated and released")
	}
	a.dropState(uid)
	return nil
}

// startPod runs a pod that has nothing on the node yet, once its images
// are present.
func (a *Agent) startPod(ctx context.Context, pod *api.Pod, st *podState) (time.Duration, error) {
	uid := pod.Metadata.UID
	st.waiting = map[string]api.ContainerStateWaiting{}
	missing := false
	for _, c := range pod.Spec.Containers {
		if c.ImagePullPolicy == "Always" && a.cfg.Images != nil && a.cfg.Images.Handles(c.Image) {
			// Fetch the tag's current image. Unlike the kubelet, a failed
			// pull falls back to the copy the node holds, if any, so pods
			// still start while the API server (the registry) is down.
			if err := a.cfg.Images.Pull(ctx, c.Image); err != nil && ctx.Err() == nil {
				a.logFor(pod).WarnContext(ctx, "pull failed", "image", c.Image, "error", err)
			}
		}
		if _, err := a.ctr.GetImage(a.ns(ctx), c.Image); err != nil {
			if !errdefs.IsNotFound(err) {
				return 0, fmt.Errorf("look up image %q: %w", c.Image, err)
			}
			w := api.ContainerStateWaiting{Reason: ReasonImagePullBackOff,
				Message: fmt.Sprintf("image %q is not present on node %s and only images of Slipway's registry are pulled: import it into the node's containerd", c.Image, a.cfg.NodeName)}
			if c.ImagePullPolicy != "Never" && a.cfg.Images != nil && a.cfg.Images.Handles(c.Image) {
				err := a.cfg.Images.Pull(ctx, c.Image)
				if err == nil {
					continue
				}
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				w.Message = fmt.Sprintf("pull image %q on node %s: %v", c.Image, a.cfg.NodeName, err)
			}
			missing = true
			if c.ImagePullPolicy == "Never" {
				w = api.ContainerStateWaiting{Reason: ReasonErrImageNeverPull,
					Message: fmt.Sprintf("image %q is not present on node %s with pull policy Never", c.Image, a.cfg.NodeName)}
			}
			st.waiting[c.Name] = w
		}
	}
	if missing {
		delay := max(st.imageDelay, a.cfg.RestartBackoff)
		st.imageDelay = min(2*delay, a.cfg.MaxRestartBackoff)
		return delay, a.writeStatus(ctx, pod, st, nil)
	}
	st.imageDelay = 0
	secrets, err := a.podSecrets(ctx, pod)
	if err != nil {
		if !errors.Is(err, errMissingSecret) {
			return 0, err
		}
		for _, c := range pod.Spec.Containers {
			st.waiting[c.Name] = api.ContainerStateWaiting{Reason: ReasonConfigError, Message: err.Error()}
		}
		return a.cfg.RestartBackoff, a.writeStatus(ctx, pod, st, nil)
	}
	spec := toPodspec(pod, secrets)
	_, err = a.rt.RunPod(ctx, spec)
	if err != nil {
		reason := ReasonCreateError
		if errors.Is(err, runtime.ErrInvalid) {
			reason = ReasonConfigError
		}
		for _, c := range pod.Spec.Containers {
			st.waiting[c.Name] = api.ContainerStateWaiting{Reason: reason, Message: err.Error()}
		}
		if werr := a.writeStatus(ctx, pod, st, nil); werr != nil {
			return 0, errors.Join(err, werr)
		}
		if reason == ReasonConfigError {
			return 0, nil // only a new spec helps; pods are not updated in place
		}
		return 0, err
	}
	st.waiting = nil
	now := a.cfg.Now()
	st.startTime = now
	a.mu.Lock()
	for _, c := range pod.Spec.Containers {
		cs := st.container(c.Name)
		cs.startedAt, cs.started, cs.ready, cs.instance = now, c.StartupProbe == nil, false, 0
	}
	a.mu.Unlock()
	a.logFor(pod).InfoContext(ctx, "pod started", "uid", uid)
	rs, err := a.rt.PodStatus(ctx, uid)
	if err != nil {
		return 0, err
	}
	return a.syncPod(ctx, pod, st, &rs)
}

// shouldRestart applies the restart policy to an exit code.
func shouldRestart(policy string, exitCode int32) bool {
	switch policy {
	case api.RestartNever:
		return false
	case api.RestartOnFailure:
		return exitCode != 0
	}
	return true
}

// syncPod handles a pod that exists on the node: it starts probes for new
// container instances, kills containers whose liveness failed, restarts
// exited ones by the restart policy and back-off, and reports status.
func (a *Agent) syncPod(ctx context.Context, pod *api.Pod, st *podState, rs *runtime.PodStatus) (time.Duration, error) {
	uid := pod.Metadata.UID
	log := a.logFor(pod)
	now := a.cfg.Now()
	var requeue time.Duration
	later := func(d time.Duration) {
		if requeue <= 0 || d < requeue {
			requeue = d
		}
	}
	restarted := false
	for _, c := range pod.Spec.Containers {
		rc := findContainer(rs, c.Name)
		if rc == nil {
			continue
		}
		cs := st.container(c.Name)
		switch rc.State {
		case runtime.StateRunning:
			if cs.instance != rc.PID {
				if cs.startedAt.IsZero() {
					cs.startedAt = rc.CreatedAt // adopted without a recorded start
				}
				a.startProbes(pod, c, cs, rc.PID, rs.IP)
			}
			a.mu.Lock()
			kill := cs.killReason
			a.mu.Unlock()
			if kill != "" {
				log.InfoContext(ctx, "restarting container", "container", c.Name, "reason", kill)
				a.stopProbes(cs)
				if err := a.stopContainer(ctx, uid, c.Name, gracePeriod(pod)); err != nil {
					return 0, err
				}
				restarted = true // its exit is handled on the next pass
			}
		case runtime.StateExited:
			a.stopProbes(cs)
			if !rc.FinishedAt.Equal(cs.seenExit) {
				cs.seenExit = rc.FinishedAt
				a.mu.Lock()
				kill := cs.killReason
				cs.killReason, cs.ready = "", false
				a.mu.Unlock()
				started := cs.startedAt
				if started.IsZero() {
					started = rc.CreatedAt
				}
				cs.term = &api.ContainerStateTerminated{ExitCode: rc.ExitCode, Reason: rc.Reason, Message: kill,
					StartedAt: stamp(started), FinishedAt: stamp(rc.FinishedAt)}
				if rc.FinishedAt.Sub(started) >= a.cfg.BackoffReset {
					cs.backoff = 0
				}
				cs.nextRestart = now.Add(cs.backoff)
				cs.backoff = min(max(2*cs.backoff, a.cfg.RestartBackoff), a.cfg.MaxRestartBackoff)
				log.InfoContext(ctx, "container exited", "container", c.Name, "exitCode", rc.ExitCode, "reason", rc.Reason)
			}
			if !shouldRestart(pod.Spec.RestartPolicy, rc.ExitCode) {
				continue
			}
			if wait := cs.nextRestart.Sub(now); wait > 0 {
				later(wait)
				continue
			}
			if err := a.restart(ctx, pod, c, cs); err != nil {
				return 0, err
			}
			restarted = true
		case runtime.StateCreated:
			// A restart interrupted between task delete and start.
			if err := a.restart(ctx, pod, c, cs); err != nil {
				return 0, err
			}
			restarted = true
		}
	}
	if restarted {
		a.queue.Add(uid) // report from a fresh look once the worker is done
		return requeue, nil
	}
	if err := a.writeStatus(ctx, pod, st, rs); err != nil {
		return 0, err
	}
	return requeue, nil
}

func (a *Agent) restart(ctx context.Context, pod *api.Pod, c api.Container, cs *containerState) error {
	if err := a.restartContainer(ctx, pod.Metadata.UID, c.Name); err != nil {
		return err
	}
	a.metrics.containerRestarts.Inc()
	cs.restartCount++
	if cs.term != nil {
		cs.lastTerm = cs.term
	}
	cs.term = nil
	cs.startedAt = a.cfg.Now()
	cs.instance = 0
	a.mu.Lock()
	cs.started, cs.ready, cs.killReason = c.StartupProbe == nil, false, ""
	a.mu.Unlock()
	a.logFor(pod).InfoContext(ctx, "container restarted", "container", c.Name, "restartCount", cs.restartCount)
	return nil
}

func findContainer(rs *runtime.PodStatus, name string) *runtime.ContainerStatus {
	if rs == nil {
		return nil
	}
	for i := range rs.Containers {
		if rs.Containers[i].Name == name {
			return &rs.Containers[i]
		}
	}
	return nil
}

// startProbes (re)starts the probe goroutine of a container instance.
func (a *Agent) startProbes(pod *api.Pod, c api.Container, cs *containerState, pid uint32, ip netip.Addr) {
	a.stopProbes(cs)
	cs.instance = pid
	if c.StartupProbe == nil && c.ReadinessProbe == nil && c.LivenessProbe == nil {
		return
	}
	a.mu.Lock()
	parent := a.runCtx
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	cs.probeCancel = cancel
	uid := pod.Metadata.UID
	target := probe.Target{IP: ip, Ports: c.Ports, Exec: func(ctx context.Context, cmd []string) (int, error) {
		return a.execIn(ctx, uid, c.Name, cmd, nil, nil, nil)
	}}
	a.probes.Go(func() { a.runProbes(ctx, uid, c, target, cs) })
}

func (a *Agent) stopProbes(cs *containerState) {
	if cs.probeCancel != nil {
		cs.probeCancel()
		cs.probeCancel = nil
	}
	cs.instance = 0
}

// runProbes runs the startup probe until it passes, then the readiness and
// liveness probes, recording results and queueing the pod on each change.
func (a *Agent) runProbes(ctx context.Context, uid string, c api.Container, target probe.Target, cs *containerState) {
	set := func(f func()) {
		a.mu.Lock()
		if ctx.Err() == nil {
			f()
		}
		a.mu.Unlock()
		a.queue.Add(uid)
	}
	if c.StartupProbe != nil {
		sctx, cancel := context.WithCancel(ctx)
		probe.Run(sctx, c.StartupProbe, target, func(ok bool, err error) {
			if ok {
				set(func() { cs.started = true })
				cancel()
				return
			}
			set(func() { cs.killReason = "startup probe failed: " + err.Error() })
		})
		cancel()
		a.mu.Lock()
		started := cs.started
		a.mu.Unlock()
		if ctx.Err() != nil || !started {
			return
		}
	}
	var wg sync.WaitGroup
	if p := c.ReadinessProbe; p != nil {
		wg.Go(func() {
			probe.Run(ctx, p, target, func(ok bool, _ error) { set(func() { cs.ready = ok }) })
		})
	}
	if p := c.LivenessProbe; p != nil {
		wg.Go(func() {
			probe.Run(ctx, p, target, func(ok bool, err error) {
				if !ok {
					set(func() { cs.killReason = "liveness probe failed: " + err.Error() })
				}
			})
		})
	}
	wg.Wait()
}

// toPodspec maps the API's pod onto the runtime's input.
func toPodspec(pod *api.Pod, secrets map[string]map[string][]byte) podspec.Pod {
	out := podspec.Pod{UID: pod.Metadata.UID, Project: pod.Metadata.Project, Name: pod.Metadata.Name}
	for _, c := range pod.Spec.Containers {
		pc := podspec.Container{
			Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir,
			Resources: podspec.ResourceRequirements{
				Requests: podspec.ResourceList{CPU: c.Resources.Requests[api.ResourceCPU], Memory: c.Resources.Requests[api.ResourceMemory]},
				Limits:   podspec.ResourceList{CPU: c.Resources.Limits[api.ResourceCPU], Memory: c.Resources.Limits[api.ResourceMemory]},
			},
		}
		for _, e := range c.Env {
			pc.Env = append(pc.Env, podspec.EnvVar{Name: e.Name, Value: envValue(e, secrets)})
		}
		for _, p := range c.Ports {
			pc.Ports = append(pc.Ports, podspec.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP, Protocol: p.Protocol})
		}
		if sc := c.SecurityContext; sc != nil {
			pc.SecurityContext = &podspec.SecurityContext{RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup,
				RunAsNonRoot: sc.RunAsNonRoot, AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation}
			if sc.Capabilities != nil {
				pc.SecurityContext.Capabilities = &podspec.Capabilities{Add: sc.Capabilities.Add, Drop: sc.Capabilities.Drop}
			}
		}
		out.Containers = append(out.Containers, pc)
	}
	return out
}

// stamp is a status timestamp: UTC, whole seconds, as Kubernetes writes.
func stamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}
