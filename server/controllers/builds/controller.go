package builds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/tokens"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
)

// BuilderServiceAccount is the service account of each project whose
// short-lived tokens build pods push with; the controller binds it to the
// system:builder role in its project.
const BuilderServiceAccount = "builder"

// BuilderRoleBinding is the name of that binding.
const BuilderRoleBinding = "system-builder"

// TokenNameAnnotation on a build's push Secret names the token it holds,
// revoked when the build ends.
const TokenNameAnnotation = "slipway.io/token-name"

// Deps are what the build controllers need.
type Deps struct {
	Service      *resource.Service
	Catalogue    *api.Catalogue
	Instantiator *Instantiator
	Tokens       *tokens.Issuer
	Logger       *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// BuilderRole is the role the builder service account is bound to.
	BuilderRole string
	// Metrics count finished builds (nil: none).
	Metrics *Metrics
}

func (d *Deps) lookup(plural string) *api.Resource {
	r, ok := d.Catalogue.Lookup(plural)
	if !ok {
		panic("builds: resource " + plural + " is not in the catalogue")
	}
	return r
}

func (d *Deps) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// Controllers returns the build controllers ready to Run: builds (run each
// Build as a pod), build-pods (a pod's change reconciles its build),
// buildconfigs (deletion, ConfigChange triggers) and, when the catalogue
// serves images, the image-change triggers.
func Controllers(deps Deps) []*reconcile.Controller {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	b := &Builds{Deps: deps}
	b.ctl = &reconcile.Controller{Name: "builds", Resource: deps.lookup(api.BuildsResource), Service: deps.Service,
		Reconciler: reconcile.ReconcilerFunc(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			b.started.Store(true)
			return b.Reconcile(ctx, req)
		})}
	podMapper := reconcile.ReconcilerFunc(func(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
		if name, ok := strings.CutSuffix(req.Name, "-build"); ok {
			b.enqueue(reconcile.Request{Project: req.Project, Name: name})
		}
		return reconcile.Result{}, nil
	})
	out := []*reconcile.Controller{b.ctl,
		{Name: "build-pods", Resource: deps.lookup(api.PodsResource), Service: deps.Service, Reconciler: podMapper},
		{Name: "buildconfigs", Resource: deps.lookup(api.BuildConfigsResource), Service: deps.Service, Reconciler: &BuildConfigs{Deps: deps}},
	}
	return append(out, triggerControllers(deps)...)
}

// Builds reconciles Builds: it applies the run policy, creates the build
// pod with its push credentials, follows the pod's phase into the build's,
// copies the result the build container reports, cancels, enforces the
// deadline, and prunes the config's history.
type Builds struct {
	Deps
	ctl     *reconcile.Controller
	started atomic.Bool
}

func (b *Builds) enqueue(req reconcile.Request) {
	if b.ctl != nil && b.started.Load() {
		b.ctl.Enqueue(req)
	}
}

// Reconcile implements reconcile.Reconciler.
func (b *Builds) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	builds := b.lookup(api.BuildsResource)
	obj, err := b.Service.Get(ctx, builds, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	build, err := decode[api.Build](obj)
	if err != nil {
		return reconcile.Result{}, reconcile.Terminal(err)
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return reconcile.Result{}, b.finalize(ctx, obj, build)
	}
	st := build.Status
	if st.Phase == "" {
		st.Phase = api.BuildPhaseNew
		if len(build.Spec.TriggeredBy) > 0 {
			st.Cause = &build.Spec.TriggeredBy[0]
		}
		if bc := build.Metadata.Labels[api.BuildConfigLabel]; bc != "" {
			st.Config = &api.LocalObjectReference{Name: bc}
		}
	}
	if api.BuildPhaseFinished(st.Phase) {
		if err := b.writeStatus(ctx, obj, &build.Status, &st); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, b.afterFinish(ctx, build)
	}
	if build.Spec.Cancelled {
		if err := b.deletePod(ctx, build.Metadata.Name); err != nil {
			return reconcile.Result{}, err
		}
		b.finish(&st, api.BuildPhaseCancelled, api.BuildReasonCancelled, "The build was cancelled by the user.")
		if err := b.writeStatus(ctx, obj, &build.Status, &st); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, b.afterFinish(ctx, build)
	}
	var requeue time.Duration
	switch st.Phase {
	case api.BuildPhaseNew:
		requeue, err = b.start(ctx, build, &st)
	default:
		requeue, err = b.follow(ctx, build, &st)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := b.writeStatus(ctx, obj, &build.Status, &st); err != nil {
		return reconcile.Result{}, err
	}
	if api.BuildPhaseFinished(st.Phase) {
		return reconcile.Result{}, b.afterFinish(ctx, build)
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

func (b *Builds) finish(st *api.BuildStatus, phase, reason, message string) {
	now := b.now().UTC().Truncate(time.Second)
	st.Phase, st.Reason, st.Message = phase, reason, message
	st.CompletionTimestamp = &now
	if st.StartTimestamp != nil {
		st.Duration = now.Sub(*st.StartTimestamp)
	}
}

// start applies the run policy to a New build and, when it may run,
// creates its credentials and pod.
func (b *Builds) start(ctx context.Context, build *api.Build, st *api.BuildStatus) (time.Duration, error) {
	run, superseded, why, err := b.mayRun(ctx, build)
	if err != nil {
		return 0, err
	}
	if superseded {
		b.finish(st, api.BuildPhaseCancelled, api.BuildReasonCancelled, why)
		return 0, nil
	}
	if !run {
		st.Message = why // reconciled again when the build ahead finishes
		return 0, nil
	}
	pod, wait, err := b.buildPod(ctx, build)
	if err != nil {
		return 0, err
	}
	if wait != "" {
		st.Message = wait
		return 10 * time.Second, nil
	}
	podObj, err := encode(pod)
	if err != nil {
		return 0, err
	}
	podObj.Status = nil
	if _, err := b.Service.Create(ctx, b.lookup(api.PodsResource), podObj); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		switch {
		case errors.Is(err, errdefs.ErrForbidden):
			// A quota or policy of the project: wait for room.
			st.Reason, st.Message = api.BuildReasonCannotCreatePod, err.Error()
			return 30 * time.Second, nil
		case errors.Is(err, errdefs.ErrInvalid) || errors.Is(err, errdefs.ErrBadRequest):
			b.finish(st, api.BuildPhaseError, api.BuildReasonCannotCreatePod, err.Error())
			return 0, nil
		}
		return 0, fmt.Errorf("create the pod of build %s: %w", build.Metadata.Name, err)
	}
	st.Phase, st.Reason, st.Message = api.BuildPhasePending, "", ""
	st.PodName = pod.Metadata.Name
	st.OutputDockerImageReference = build.Spec.Output.To.Name
	return time.Duration(build.Spec.CompletionDeadline()) * time.Second, nil
}

// mayRun applies the BuildConfig's run policy: Serial runs builds one at
// a time in number order; SerialLatestOnly too, but a queued build with a
// newer one behind it is cancelled; Parallel runs every build at once.
func (b *Builds) mayRun(ctx context.Context, build *api.Build) (run, superseded bool, why string, err error) {
	config := build.Metadata.Labels[api.BuildConfigLabel]
	if config == "" {
		return true, false, "", nil
	}
	policy := api.RunPolicySerial
	if obj, err := b.Service.Get(ctx, b.lookup(api.BuildConfigsResource), config); err == nil {
		if bc, err := decode[api.BuildConfig](obj); err == nil {
			policy = bc.Spec.EffectiveRunPolicy()
		}
	}
	if policy == api.RunPolicyParallel {
		return true, false, "", nil
	}
	siblings, err := b.siblings(ctx, config)
	if err != nil {
		return false, false, "", err
	}
	self := buildNumber(build)
	var ahead []string
	for _, s := range siblings {
		n := buildNumber(s)
		switch {
		case n > self && policy == api.RunPolicySerialLatestOnly && !api.BuildPhaseFinished(s.Status.Phase) && !s.Spec.Cancelled:
			return false, true, fmt.Sprintf("Superseded by build %s (run policy SerialLatestOnly).", s.Metadata.Name), nil
		case n < self && !api.BuildPhaseFinished(s.Status.Phase):
			ahead = append(ahead, s.Metadata.Name)
			if policy == api.RunPolicySerialLatestOnly && (s.Status.Phase == api.BuildPhaseNew || s.Status.Phase == "") {
				// This build supersedes the queued one: let it see so.
				b.enqueue(reconcile.Request{Project: build.Metadata.Project, Name: s.Metadata.Name})
			}
		}
	}
	if len(ahead) > 0 {
		return false, false, fmt.Sprintf("Waiting for build %s to finish (run policy %s).", ahead[len(ahead)-1], policy), nil
	}
	return true, false, "", nil
}

// siblings lists the builds of a config, by number.
func (b *Builds) siblings(ctx context.Context, config string) ([]*api.Build, error) {
	list, err := b.Service.List(ctx, b.lookup(api.BuildsResource), api.ListOptions{LabelSelector: api.BuildConfigLabel + "=" + config})
	if err != nil {
		return nil, fmt.Errorf("list the builds of buildconfig %q: %w", config, err)
	}
	out := make([]*api.Build, 0, len(list.Items))
	for _, item := range list.Items {
		if item.Metadata.DeletionTimestamp != nil {
			continue
		}
		s, err := decode[api.Build](item)
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return buildNumber(out[i]) < buildNumber(out[j]) })
	return out, nil
}

func buildNumber(b *api.Build) int64 {
	if n, err := strconv.ParseInt(b.Metadata.Annotations[api.BuildNumberAnnotation], 10, 64); err == nil {
		return n
	}
	_, n, _ := api.ParseBuildName(b.Metadata.Name)
	return n
}

// follow maps the build pod's phase to the build's and enforces the
// deadline.
func (b *Builds) follow(ctx context.Context, build *api.Build, st *api.BuildStatus) (time.Duration, error) {
	name := build.Metadata.Name
	obj, err := b.Service.Get(ctx, b.lookup(api.PodsResource), api.BuildPodName(name))
	if errors.Is(err, errdefs.ErrNotFound) {
		b.finish(st, api.BuildPhaseError, api.BuildReasonPodDeleted, "The build pod was deleted before the build finished.")
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pod, err := decode[api.Pod](obj)
	if err != nil {
		return 0, err
	}
	if pod.Metadata.Annotations[api.OwnerUIDAnnotation] != build.Metadata.UID {
		b.finish(st, api.BuildPhaseError, api.BuildReasonPodDeleted, "The build pod belongs to another build of the same name.")
		return 0, nil
	}
	deadline := time.Duration(build.Spec.CompletionDeadline()) * time.Second
	var created time.Time
	if pod.Metadata.CreationTimestamp != nil {
		created = *pod.Metadata.CreationTimestamp
	}
	ps := pod.Status
	term := buildContainerTerminated(pod)
	switch ps.Phase {
	case api.PodSucceeded:
		b.result(st, term)
		b.finish(st, api.BuildPhaseComplete, "", "")
		return 0, nil
	case api.PodFailed:
		b.result(st, term)
		reason, msg := api.BuildReasonAssembleFailed, "The build failed"
		if ps.Reason == "DeadlineExceeded" {
			reason, msg = api.BuildReasonDeadlineExceeded, fmt.Sprintf("The build ran longer than its deadline of %s.", deadline)
		}
		if term != nil {
			var res api.BuildResult
			if json.Unmarshal([]byte(term.Message), &res) == nil && res.Error != "" {
				msg = res.Error
			} else if term.ExitCode != 0 {
				msg = fmt.Sprintf("%s (exit code %d).", msg, term.ExitCode)
			}
		} else if ps.Message != "" {
			msg = ps.Message
		}
		b.finish(st, api.BuildPhaseFailed, reason, msg)
		return 0, nil
	case api.PodRunning:
		if st.Phase != api.BuildPhaseRunning {
			st.Phase, st.Message = api.BuildPhaseRunning, ""
			now := b.now().UTC().Truncate(time.Second)
			if ps.StartTime != nil {
				now = ps.StartTime.UTC()
			}
			st.StartTimestamp = &now
		}
	default:
		st.Message = ""
		for _, cs := range ps.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
				st.Message = strings.TrimSpace(w.Reason + ": " + w.Message)
			}
		}
		if st.Message == "" && ps.Message != "" {
			st.Message = ps.Message
		}
	}
	if !created.IsZero() {
		left := created.Add(deadline).Sub(b.now())
		if left <= 0 {
			if err := b.deletePod(ctx, name); err != nil {
				return 0, err
			}
			b.finish(st, api.BuildPhaseFailed, api.BuildReasonDeadlineExceeded, fmt.Sprintf("The build ran longer than its deadline of %s.", deadline))
			return 0, nil
		}
		return left + time.Second, nil
	}
	return 0, nil
}

func buildContainerTerminated(pod *api.Pod) *api.ContainerStateTerminated {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == api.BuildContainerName {
			return cs.State.Terminated
		}
	}
	return nil
}

// result copies what the build container reported in its terminated
// message (api.BuildResult as JSON).
func (b *Builds) result(st *api.BuildStatus, term *api.ContainerStateTerminated) {
	if term == nil || term.Message == "" {
		return
	}
	var res api.BuildResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(term.Message)), &res); err != nil {
		return
	}
	if res.Commit != "" || res.Author != "" || res.Message != "" {
		st.Revision = &api.BuildRevision{Commit: res.Commit, Author: res.Author, Message: res.Message}
	}
	if d := res.OutputDigest; strings.HasPrefix(d, "sha256:") && len(d) == len("sha256:")+64 {
		st.OutputDigest = d
	}
	if res.Image != "" {
		st.OutputDockerImageReference = res.Image
	}
}

// afterFinish releases a finished build's credentials and source, lets
// the builds queued behind it start, and prunes the config's history.
func (b *Builds) afterFinish(ctx context.Context, build *api.Build) error {
	if err := b.releaseCredentials(ctx, build.Metadata.Name); err != nil {
		return err
	}
	if s := b.Instantiator; s != nil && s.Sources != nil {
		if err := s.Sources.Delete(build.Metadata.Project, build.Metadata.Name); err != nil {
			return err
		}
	}
	config := build.Metadata.Labels[api.BuildConfigLabel]
	if config == "" {
		return nil
	}
	siblings, err := b.siblings(ctx, config)
	if err != nil {
		return err
	}
	var succeeded, failed []*api.Build
	for _, s := range siblings {
		switch {
		case s.Status.Phase == api.BuildPhaseComplete:
			succeeded = append(succeeded, s)
		case api.BuildPhaseFinished(s.Status.Phase):
			failed = append(failed, s)
		default:
			b.enqueue(reconcile.Request{Project: build.Metadata.Project, Name: s.Metadata.Name})
		}
	}
	keepOK, keepFailed := api.DefaultBuildsHistoryLimit, api.DefaultBuildsHistoryLimit
	if obj, err := b.Service.Get(ctx, b.lookup(api.BuildConfigsResource), config); err == nil {
		if bc, err := decode[api.BuildConfig](obj); err == nil {
			keepOK, keepFailed = bc.Spec.HistoryLimits()
		}
	}
	var prune []*api.Build
	if over := len(succeeded) - keepOK; over > 0 {
		prune = append(prune, succeeded[:over]...)
	}
	if over := len(failed) - keepFailed; over > 0 {
		prune = append(prune, failed[:over]...)
	}
	for _, p := range prune {
		if _, _, err := b.Service.Delete(ctx, b.lookup(api.BuildsResource), p.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("prune build %s: %w", p.Metadata.Name, err)
		}
	}
	return nil
}

// finalize cleans up a deleted build: its pod, credentials and source.
func (b *Builds) finalize(ctx context.Context, obj *api.Object, build *api.Build) error {
	if !slices.Contains(obj.Metadata.Finalizers, api.DependentsFinalizer) {
		return nil
	}
	if err := b.deletePod(ctx, build.Metadata.Name); err != nil {
		return err
	}
	if err := b.releaseCredentials(ctx, build.Metadata.Name); err != nil {
		return err
	}
	if s := b.Instantiator; s != nil && s.Sources != nil {
		if err := s.Sources.Delete(build.Metadata.Project, build.Metadata.Name); err != nil {
			return err
		}
	}
	next := *obj
	next.Metadata.Finalizers = slices.DeleteFunc(slices.Clone(obj.Metadata.Finalizers), func(f string) bool { return f == api.DependentsFinalizer })
	if _, err := b.Service.Update(ctx, b.lookup(api.BuildsResource), obj.Metadata.Name, &next); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("release build %q: %w", obj.Metadata.Name, err)
	}
	return nil
}

func (b *Builds) deletePod(ctx context.Context, build string) error {
	_, _, err := b.Service.Delete(ctx, b.lookup(api.PodsResource), api.BuildPodName(build), "")
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("delete the pod of build %s: %w", build, err)
	}
	return nil
}

func (b *Builds) writeStatus(ctx context.Context, obj *api.Object, old, st *api.BuildStatus) error {
	before, _ := json.Marshal(old)
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if string(before) == string(raw) {
		return nil
	}
	next := *obj
	next.Status = raw
	if _, err := b.Service.UpdateStatus(ctx, b.lookup(api.BuildsResource), obj.Metadata.Name, &next); err != nil {
		return fmt.Errorf("update the status of build %s: %w", obj.Metadata.Name, err)
	}
	if api.BuildPhaseFinished(st.Phase) && !api.BuildPhaseFinished(old.Phase) {
		b.Metrics.buildFinished(st.Phase, st.Duration)
		b.Logger.InfoContext(ctx, "build finished", "project", obj.Metadata.Project, "build", obj.Metadata.Name,
			"phase", st.Phase, "reason", st.Reason, "duration", st.Duration)
	}
	return nil
}
