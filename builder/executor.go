// Package builder runs S2I builds on a node. The node agent hands it a
// build pod (annotation slipway.io/build-pod: "true", one container
// "build" whose image is the builder image and whose BUILD variable is the
// Build object); the Executor fetches the source, runs the assemble script
// in the builder image through containerd with the pod's limits and
// network, streaming its output into the pod's container log, commits the
// container's filesystem changes as a new layer on top of the builder
// image, writes the image's configuration (package builder/s2i), and pushes
// it to Slipway's registry. The outcome is the container's exit code and a
// JSON termination message (Result).
package builder

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/builder/s2i"
	"github.com/slipway/slipway/builder/source"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
)

// Names of the build pod contract.
const (
	// AnnotationBuildPod marks a pod the executor runs.
	AnnotationBuildPod = api.BuildPodAnnotation
	// ContainerName is the build pod's only container.
	ContainerName = api.BuildContainerName
	// Env variables of the build container read by the executor; none of
	// them reaches the assemble script.
	EnvBuild        = "BUILD"
	EnvPushToken    = "SLIPWAY_PUSH_TOKEN"
	EnvSourceURL    = "SLIPWAY_SOURCE_URL" // a Binary source's archive
	EnvSourceToken  = "SOURCE_TOKEN"
	EnvSourceSSHKey = "SOURCE_SSH_KEY"
)

// Error classes.
var (
	ErrInvalid = errors.New("invalid build")
)

// Result is how a build ended: the build container's exit code (0 =
// Complete) and its termination message, Message's JSON.
type Result struct {
	ExitCode int32
	Reason   string // "Completed", "Error", "DeadlineExceeded", "OOMKilled"
	Message  Message
}

// Message is the build container's terminated-state message.
type Message struct {
	Commit       string `json:"commit,omitempty"`
	Author       string `json:"author,omitempty"`
	Message      string `json:"message,omitempty"`
	OutputDigest string `json:"outputDigest,omitempty"`
	Image        string `json:"image,omitempty"`
	// Error says why a failed build failed.
	Error string `json:"error,omitempty"`
}

// JSON is the message as the container's termination message.
func (m Message) JSON() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// Options configure an Executor.
type Options struct {
	// Runtime is the node runtime's options (same client, namespace, dir
	// and network as the agent's: the runtime keeps no state, so the
	// executor drives the same pods). Required.
	Runtime runtime.Options
	// WorkDir holds each build's source and scratch files while it runs
	// (WorkDir/<pod uid>). Required.
	WorkDir string
	// RegistryCA is trusted when talking to the registry over HTTPS; nil
	// for the system roots.
	RegistryCA *x509.CertPool
	// PlainHTTP lists registry hosts spoken to over plain HTTP (tests).
	PlainHTTP []string
	// Git fetches Git sources.
	Git source.Fetcher
	// Registerer receives the executor's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger is the executor's own log; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Executor runs build pods.
type Executor struct {
	opts    Options
	rt      *runtime.Runtime
	ctr     *client.Client
	metrics *metrics
}

// New checks the options.
func New(opts Options) (*Executor, error) {
	if opts.WorkDir == "" {
		return nil, fmt.Errorf("builder: %w: Options.WorkDir is required", ErrInvalid)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Runtime.Logger == nil {
		opts.Runtime.Logger = opts.Logger
	}
	rt, err := runtime.New(opts.Runtime)
	if err != nil {
		return nil, fmt.Errorf("builder: %w", err)
	}
	if err := os.MkdirAll(opts.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("builder: create work dir: %w", err)
	}
	return &Executor{opts: opts, rt: rt, ctr: opts.Runtime.Client, metrics: newMetrics(opts.Registerer)}, nil
}

// IsBuildPod reports whether annotations mark a build pod.
func IsBuildPod(annotations map[string]string) bool {
	return annotations[AnnotationBuildPod] == "true"
}

func (e *Executor) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, e.opts.Runtime.Namespace)
}

// job is one build being run.
type job struct {
	pod       podspec.Pod
	container podspec.Container
	build     *api.Build
	info      s2i.Build
	pushToken string
	sourceURL string
	auth      source.Auth
	dir       string // work dir of this build
	log       io.Writer
	result    Message
}

// Run runs the build pod to its end and returns the result; it never
// returns before the assemble container has stopped. deadline bounds the
// whole build (0: only the Build's completionDeadlineSeconds, if any). When
// ctx is cancelled (the pod was deleted) Run stops the build, removes what
// it made outside the pod and returns; the caller deletes the pod with the
// runtime, which removes the containers, network and logs.
func (e *Executor) Run(ctx context.Context, pod podspec.Pod, deadline time.Duration) Result {
	start := e.opts.Now()
	res := e.runPod(ctx, pod, deadline)
	result := res.Reason
	if res.Message.Error == "build cancelled" {
		result = "Cancelled"
	}
	e.metrics.builds.WithLabelValues(result).Inc()
	if res.ExitCode == 0 {
		e.metrics.duration.Observe(e.opts.Now().Sub(start).Seconds())
	}
	return res
}

func (e *Executor) runPod(ctx context.Context, pod podspec.Pod, deadline time.Duration) Result {
	ctx = e.ns(ctx)
	log := e.opts.Logger.With("project", pod.Project, "name", pod.Name, "uid", pod.UID)
	j, err := e.newJob(pod)
	if err != nil {
		return failed(Message{Error: err.Error()}, "Error")
	}
	if d := j.build.Spec.CompletionDeadlineSeconds; d != nil && *d > 0 && (deadline == 0 || time.Duration(*d)*time.Second < deadline) {
		deadline = time.Duration(*d) * time.Second
	}
	if deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, deadline, errDeadline)
		defer cancel()
	}
	logFile, err := e.openLog(pod.UID)
	if err != nil {
		return failed(Message{Error: err.Error()}, "Error")
	}
	defer logFile.Close()
	j.log = logFile
	j.dir = filepath.Join(e.opts.WorkDir, pod.UID)
	defer os.RemoveAll(j.dir)
	log.InfoContext(ctx, "build started", "build", j.build.Metadata.Name, "output", j.build.Spec.Output.To.Name)
	start := e.opts.Now()
	err = e.run(ctx, j)
	switch {
	case err == nil:
		fmt.Fprintf(j.log, "Build %s completed in %s: %s@%s\n", j.build.Metadata.Name,
			e.opts.Now().Sub(start).Round(time.Millisecond), j.result.Image, j.result.OutputDigest)
		log.InfoContext(ctx, "build complete", "digest", j.result.OutputDigest, "duration", e.opts.Now().Sub(start))
		return Result{ExitCode: 0, Reason: runtime.ReasonCompleted, Message: j.result}
	case errors.Is(context.Cause(ctx), errDeadline):
		j.result.Error = fmt.Sprintf("build exceeded its deadline of %s", deadline)
		fmt.Fprintf(j.log, "error: %s\n", j.result.Error)
		log.InfoContext(context.WithoutCancel(ctx), "build timed out", "deadline", deadline)
		return failed(j.result, "DeadlineExceeded")
	case ctx.Err() != nil:
		j.result.Error = "build cancelled"
		log.InfoContext(context.WithoutCancel(ctx), "build cancelled")
		return failed(j.result, "Error")
	default:
		var ae *assembleError
		reason := "Error"
		if errors.As(err, &ae) && ae.reason != "" {
			reason = ae.reason
		}
		j.result.Error = err.Error()
		fmt.Fprintf(j.log, "error: build %s failed: %v\n", j.build.Metadata.Name, err)
		log.InfoContext(ctx, "build failed", "err", err)
		return failed(j.result, reason)
	}
}

var errDeadline = errors.New("build deadline exceeded")

func failed(m Message, reason string) Result {
	return Result{ExitCode: 1, Reason: reason, Message: m}
}

// assembleError is assemble (or save-artifacts) exiting non-zero.
type assembleError struct {
	script string
	code   uint32
	reason string
}

func (e *assembleError) Error() string {
	if e.reason == runtime.ReasonOOMKilled {
		return fmt.Sprintf("%s was killed at the build's memory limit (exit code %d)", e.script, e.code)
	}
	return fmt.Sprintf("%s exited with code %d", e.script, e.code)
}

// newJob reads the pod's build container.
func (e *Executor) newJob(pod podspec.Pod) (*job, error) {
	if len(pod.Containers) != 1 || pod.Containers[0].Name != ContainerName {
		return nil, fmt.Errorf("%w: a build pod has exactly one container named %q", ErrInvalid, ContainerName)
	}
	j := &job{pod: pod, container: pod.Containers[0]}
	env := map[string]string{}
	for _, v := range j.container.Env {
		env[v.Name] = v.Value
	}
	b, err := ParseBuild(env[EnvBuild])
	if err != nil {
		return nil, err
	}
	j.build = b
	j.pushToken = env[EnvPushToken]
	j.sourceURL = env[EnvSourceURL]
	if bin := b.Spec.Source.Binary; bin != nil && bin.URL != "" {
		j.sourceURL = bin.URL
	}
	if isBinary(b) && j.sourceURL == "" {
		return nil, fmt.Errorf("%w: a Binary build needs spec.source.binary.url (or %s)", ErrInvalid, EnvSourceURL)
	}
	j.auth = source.Auth{Token: env[EnvSourceToken], SSHKey: []byte(env[EnvSourceSSHKey])}
	if len(j.auth.SSHKey) == 0 {
		j.auth.SSHKey = nil
	}
	j.info = s2i.Build{Name: b.Metadata.Name, Namespace: b.Metadata.Project, ContextDir: b.Spec.Source.ContextDir, BuilderImage: j.container.Image}
	if g := b.Spec.Source.Git; g != nil {
		j.info.SourceURI, j.info.Ref = g.URI, g.Ref
	}
	return j, nil
}

func (e *Executor) openLog(uid string) (*os.File, error) {
	p := e.rt.LogPath(uid, ContainerName)
	if err := os.MkdirAll(filepath.Dir(p), 0o711); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open build log: %w", err)
	}
	return f, nil
}

// step times one step of a build for slipway_node_build_step_seconds.
func (e *Executor) step(name string, f func() error) error {
	start := e.opts.Now()
	err := f()
	if err == nil {
		e.metrics.steps.WithLabelValues(name).Observe(e.opts.Now().Sub(start).Seconds())
	}
	return err
}

// run is the build's sequence; its errors are the build's failure.
func (e *Executor) run(ctx context.Context, j *job) error {
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	var src source.Result
	if err := e.step(stepFetch, func() (err error) { src, err = e.fetchSource(ctx, j); return err }); err != nil {
		return err
	}
	img, err := e.builderImage(ctx, j)
	if err != nil {
		return err
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("read builder image config: %w", err)
	}
	plan, err := e.plan(ctx, j, src.Dir, spec.Config)
	if err != nil {
		return err
	}
	if incremental(j.build) {
		if err := e.step(stepArtifacts, func() error { return e.saveArtifacts(ctx, j, plan) }); err != nil {
			return err
		}
	}
	var code uint32
	var reason string
	if err := e.step(stepAssemble, func() (err error) { code, reason, err = e.assemble(ctx, j, plan); return err }); err != nil {
		return err
	}
	if code != 0 {
		return &assembleError{script: s2i.Assemble, code: code, reason: reason}
	}
	return e.commitAndPush(ctx, j, img, spec, plan)
}

func incremental(b *api.Build) bool {
	ss := b.Spec.Strategy.SourceStrategy
	return ss.Incremental != nil && *ss.Incremental
}

// fetchSource puts the source into j.dir/src.
func (e *Executor) fetchSource(ctx context.Context, j *job) (source.Result, error) {
	dir := filepath.Join(j.dir, "src")
	b := j.build
	if isBinary(b) {
		res, err := source.FetchBinary(ctx, dir, source.Binary{URL: j.sourceURL, Token: j.pushToken,
			CA: e.opts.RegistryCA, ContextDir: b.Spec.Source.ContextDir}, j.log)
		if err != nil {
			return res, fmt.Errorf("fetch source: %w", err)
		}
		return res, nil
	}
	g := source.Git{URI: b.Spec.Source.Git.URI, Ref: b.Spec.Source.Git.Ref, ContextDir: b.Spec.Source.ContextDir}
	if r := b.Spec.Revision; r != nil && r.Commit != "" {
		g.Ref = r.Commit
	}
	res, err := e.opts.Git.FetchGit(ctx, dir, g, j.auth, j.log)
	if err != nil {
		return res, fmt.Errorf("fetch source: %w", err)
	}
	j.info.Commit, j.info.CommitAuthor, j.info.CommitMessage = res.Commit.SHA, res.Commit.Author, res.Commit.Message
	j.result.Commit, j.result.Author, j.result.Message = res.Commit.SHA, res.Commit.Author, res.Commit.Message
	return res, nil
}

// builderImage finds the builder image on the node, pulling it from the
// registry if it is missing, and unpacks it.
func (e *Executor) builderImage(ctx context.Context, j *job) (client.Image, error) {
	ref := j.container.Image
	img, err := e.ctr.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		fmt.Fprintf(j.log, "Pulling builder image %s ...\n", ref)
		img, err = e.ctr.Pull(ctx, ref, client.WithResolver(e.resolver(j.pushToken)), client.WithPullSnapshotter(e.opts.Runtime.Snapshotter))
	}
	if err != nil {
		return nil, fmt.Errorf("builder image %s: %w", ref, err)
	}
	if ok, err := img.IsUnpacked(ctx, e.opts.Runtime.Snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, e.opts.Runtime.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack builder image %s: %w", ref, err)
		}
	}
	return img, nil
}

// parseUser resolves an image's numeric "uid[:gid]" user; anything else
// (names, root) runs as nobody, as the runtime does for root images.
func parseUser(u string) (uid, gid int64) {
	name, group, _ := strings.Cut(u, ":")
	id, err := strconv.ParseInt(name, 10, 64)
	if err != nil || id <= 0 {
		return 65534, 65534
	}
	gid = 0
	if g, err := strconv.ParseInt(group, 10, 64); err == nil && g >= 0 {
		gid = g
	}
	return id, gid
}
