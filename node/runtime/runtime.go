// Package runtime runs pods on this node through containerd: one network
// namespace per pod attached by a PodNetwork, one containerd container and
// task per pod container, sharing that namespace. It keeps no state in
// memory: every container carries labels naming its pod, so a restarted
// agent lists and adopts what runs, and every method is safe to repeat after
// a crash. It is a library; the reconciling node agent drives it.
package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/slipway/slipway/node/containerlog"
	"github.com/slipway/slipway/node/netns"
	"github.com/slipway/slipway/node/podspec"
)

// Error classes, tested with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrInvalid       = errors.New("invalid")
)

// Labels every container carries, read back to adopt running pods.
const (
	LabelPodUID        = "slipway.io/pod-uid"
	LabelPodProject    = "slipway.io/pod-project"
	LabelPodName       = "slipway.io/pod-name"
	LabelPodIP         = "slipway.io/pod-ip"
	LabelContainerName = "slipway.io/container-name"
	LabelLogPath       = "slipway.io/log-path"
)

// PodNetwork connects a pod's network namespace to the node network. The
// CNI bridge (package cninet) implements it today; the SDN's OVN port will
// later. Both methods may be repeated: Detach of an unknown pod succeeds.
type PodNetwork interface {
	// Attach wires the namespace at netnsPath for the pod identified by
	// uid, publishes ports with a HostPort, and returns the pod's IP.
	Attach(ctx context.Context, uid, netnsPath string, ports []podspec.ContainerPort) (netip.Addr, error)
	// Detach releases the address, interfaces and port mappings of uid.
	Detach(ctx context.Context, uid, netnsPath string) error
}

// PodDNS is implemented by pod networks that serve names to their pods
// (the SDN answers NAME.PROJECT.svc): the runtime mounts what ResolvConf
// returns read-only at /etc/resolv.conf in every container of the pod.
type PodDNS interface {
	ResolvConf(pod podspec.Pod, ip netip.Addr) ([]byte, error)
}

// Options configure a Runtime.
type Options struct {
	// Client is connected to containerd. Required.
	Client *client.Client
	// Namespace is the containerd namespace holding this node's pods.
	// Required; one per node agent or test run.
	Namespace string
	// Dir holds per-pod network namespaces (Dir/netns/<uid>), container
	// logs (Dir/logs/<uid>/<container>.log, with the agent's rotated and
	// previous copies beside it; DeletePod removes the directory) and, on
	// networks that serve DNS, resolv.conf files (Dir/dns/<uid>). Required.
	Dir string
	// Network attaches pods to the node network. Required.
	Network PodNetwork
	// Snapshotter is containerd's snapshotter; "" for its default (overlayfs).
	Snapshotter string
	// DefaultUID and DefaultGID are used when neither the container's
	// securityContext nor its image names a non-root user; default 65534.
	DefaultUID, DefaultGID uint32
	// KillTimeout bounds the wait for a task to exit after SIGKILL; default 10 s.
	KillTimeout time.Duration
	// LogBinary is the absolute path of the program containerd's shim
	// starts beside each container to append its stdout and stderr to the
	// log file: slipway-container-log, or any that runs containerlog.Main
	// when containerlog.Invoked. "" has the shim write the file itself,
	// which with containerd 1.6 can lose the stderr a container writes just
	// before it exits (see package containerlog).
	LogBinary string
	// Logger gets one line per pod change; default slog.Default().
	Logger *slog.Logger
}

// Runtime runs pods. Its methods are safe for concurrent use on different
// pods; calls on the same pod must be serialised by the caller.
type Runtime struct {
	opts     Options
	cgroupV2 bool // unified hierarchy only
	memsw    bool // cgroup v1 swap accounting: the swap limit can be set
}

// New checks the options and the host's cgroup layout.
func New(opts Options) (*Runtime, error) {
	switch {
	case opts.Client == nil:
		return nil, fmt.Errorf("runtime: %w: Options.Client is required", ErrInvalid)
	case opts.Namespace == "":
		return nil, fmt.Errorf("runtime: %w: Options.Namespace is required", ErrInvalid)
	case opts.Dir == "":
		return nil, fmt.Errorf("runtime: %w: Options.Dir is required", ErrInvalid)
	case opts.Network == nil:
		return nil, fmt.Errorf("runtime: %w: Options.Network is required", ErrInvalid)
	case opts.LogBinary != "" && !filepath.IsAbs(opts.LogBinary):
		return nil, fmt.Errorf("runtime: %w: Options.LogBinary %q is not an absolute path", ErrInvalid, opts.LogBinary)
	}
	if opts.LogBinary != "" {
		if err := unix.Access(opts.LogBinary, unix.X_OK); err != nil {
			return nil, fmt.Errorf("runtime: %w: Options.LogBinary %q: %w", ErrInvalid, opts.LogBinary, err)
		}
	}
	if opts.DefaultUID == 0 {
		opts.DefaultUID = 65534
	}
	if opts.DefaultGID == 0 {
		opts.DefaultGID = opts.DefaultUID
	}
	if opts.KillTimeout == 0 {
		opts.KillTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("runtime: resolve dir: %w", err)
	}
	opts.Dir = dir
	for _, d := range []string{opts.netnsDir(), opts.logsDir(), opts.dnsDir()} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("runtime: create %s: %w", d, err)
		}
	}
	r := &Runtime{opts: opts}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		r.cgroupV2 = true
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		r.memsw = true
	}
	return r, nil
}

func (o Options) netnsDir() string { return filepath.Join(o.Dir, "netns") }
func (o Options) logsDir() string  { return filepath.Join(o.Dir, "logs") }
func (o Options) dnsDir() string   { return filepath.Join(o.Dir, "dns") }

// resolvConfPath is the pod's resolv.conf on networks that serve DNS.
func (r *Runtime) resolvConfPath(uid string) string { return filepath.Join(r.opts.dnsDir(), uid) }

// NetnsPath is where the pod's network namespace is pinned.
func (r *Runtime) NetnsPath(uid string) string { return filepath.Join(r.opts.netnsDir(), uid) }

// LogPath is the file receiving a container's stdout and stderr.
func (r *Runtime) LogPath(uid, container string) string {
	return filepath.Join(r.opts.logsDir(), uid, container+".log")
}

// ContainerID is containerd's id for a pod's container: a digest of the pod
// UID (stable, short) and the container name.
func ContainerID(uid, container string) string {
	sum := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(sum[:6]) + "-" + container
}

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.opts.Namespace)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func validate(pod podspec.Pod) error {
	if !dnsLabel.MatchString(pod.UID) {
		return fmt.Errorf("%w: pod uid %q must be a DNS label", ErrInvalid, pod.UID)
	}
	if len(pod.Containers) == 0 {
		return fmt.Errorf("%w: pod %s has no containers", ErrInvalid, pod.UID)
	}
	seen := map[string]bool{}
	for _, c := range pod.Containers {
		if !dnsLabel.MatchString(c.Name) {
			return fmt.Errorf("%w: container name %q must be a DNS label", ErrInvalid, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("%w: container name %q repeated", ErrInvalid, c.Name)
		}
		seen[c.Name] = true
		if c.Image == "" {
			return fmt.Errorf("%w: container %s has no image", ErrInvalid, c.Name)
		}
	}
	return nil
}

// RunOption adjusts one RunPod call.
type RunOption func(*runOptions)

type runOptions struct {
	prepare func(ctx context.Context, container, rootfs string) error
}

// WithPrepare calls prepare for each container once its root filesystem
// snapshot exists and before its process starts, with the snapshot mounted
// read-write at rootfs. What it writes is part of the container's
// filesystem (and of a diff of its snapshot): the build executor injects a
// build's source this way. An error fails RunPod.
func WithPrepare(prepare func(ctx context.Context, container, rootfs string) error) RunOption {
	return func(o *runOptions) { o.prepare = prepare }
}

// RunPod creates the pod's network namespace, attaches it, then creates and
// starts every container in order. Images must already be present in the
// namespace (RunPod does not pull). On error everything created so far is
// removed. A pod whose namespace already exists gets ErrAlreadyExists.
func (r *Runtime) RunPod(ctx context.Context, pod podspec.Pod, opts ...RunOption) (PodStatus, error) {
	var ro runOptions
	for _, o := range opts {
		o(&ro)
	}
	if err := validate(pod); err != nil {
		return PodStatus{}, fmt.Errorf("runtime: run pod: %w", err)
	}
	ctx = r.ns(ctx)
	log := r.opts.Logger.With("project", pod.Project, "pod", pod.Name, "uid", pod.UID)
	nsPath := r.NetnsPath(pod.UID)
	if err := netns.Create(nsPath); err != nil {
		if errors.Is(err, os.ErrExist) {
			return PodStatus{}, fmt.Errorf("runtime: run pod %s: %w", pod.UID, ErrAlreadyExists)
		}
		return PodStatus{}, fmt.Errorf("runtime: run pod %s: %w", pod.UID, err)
	}
	fail := func(err error) (PodStatus, error) {
		cleanupErr := r.DeletePod(context.WithoutCancel(ctx), pod.UID)
		return PodStatus{}, errors.Join(fmt.Errorf("runtime: run pod %s: %w", pod.UID, err), cleanupErr)
	}
	var ports []podspec.ContainerPort
	for _, c := range pod.Containers {
		ports = append(ports, c.Ports...)
	}
	ip, err := r.opts.Network.Attach(ctx, pod.UID, nsPath, ports)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(r.opts.logsDir(), pod.UID), 0o711); err != nil {
		return fail(fmt.Errorf("create log dir: %w", err))
	}
	if dns, ok := r.opts.Network.(PodDNS); ok {
		conf, err := dns.ResolvConf(pod, ip)
		if err != nil {
			return fail(fmt.Errorf("resolv.conf: %w", err))
		}
		if err := os.WriteFile(r.resolvConfPath(pod.UID), conf, 0o644); err != nil {
			return fail(fmt.Errorf("write resolv.conf: %w", err))
		}
	}
	for _, c := range pod.Containers {
		if err := r.startContainer(ctx, pod, c, ip, nsPath, ro); err != nil {
			return fail(fmt.Errorf("container %s: %w", c.Name, err))
		}
	}
	log.InfoContext(ctx, "pod started", "ip", ip)
	return r.PodStatus(ctx, pod.UID)
}

func (r *Runtime) startContainer(ctx context.Context, pod podspec.Pod, c podspec.Container, ip netip.Addr, nsPath string, ro runOptions) error {
	img, err := r.opts.Client.GetImage(ctx, c.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("image %q not present on node: %w", c.Image, ErrNotFound)
		}
		return fmt.Errorf("get image %q: %w", c.Image, err)
	}
	unpacked, err := img.IsUnpacked(ctx, r.opts.Snapshotter)
	if err != nil {
		return fmt.Errorf("check image %q: %w", c.Image, err)
	}
	if !unpacked {
		if err := img.Unpack(ctx, r.opts.Snapshotter); err != nil {
			return fmt.Errorf("unpack image %q: %w", c.Image, err)
		}
	}
	specOpts, err := r.specOpts(ctx, pod, c, img, nsPath)
	if err != nil {
		return err
	}
	id := ContainerID(pod.UID, c.Name)
	logPath := r.LogPath(pod.UID, c.Name)
	labels := map[string]string{
		LabelPodUID: pod.UID, LabelPodProject: pod.Project, LabelPodName: pod.Name,
		LabelPodIP: ip.String(), LabelContainerName: c.Name, LabelLogPath: logPath,
	}
	ctr, err := r.opts.Client.NewContainer(ctx, id,
		client.WithImage(img),
		client.WithSnapshotter(r.opts.Snapshotter),
		client.WithNewSnapshot(id, img),
		client.WithContainerLabels(labels),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("create container %s: %w", id, ErrAlreadyExists)
		}
		return fmt.Errorf("create container %s: %w", id, err)
	}
	if ro.prepare != nil {
		if err := r.prepareRootfs(ctx, ctr, c.Name, ro.prepare); err != nil {
			return err
		}
	}
	// The shim (or the logging program it starts) writes the log file, so
	// logging goes on while the agent is down.
	logTo := cio.LogFile(logPath)
	if r.opts.LogBinary != "" {
		uri, err := containerlog.URI(r.opts.LogBinary, logPath)
		if err != nil {
			return err
		}
		logTo = cio.LogURI(uri)
	}
	task, err := ctr.NewTask(ctx, logTo)
	if err != nil {
		return fmt.Errorf("create task %s: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start task %s: %w", id, err)
	}
	return nil
}

// prepareRootfs mounts the container's snapshot on a temporary directory
// for prepare, and always unmounts it.
func (r *Runtime) prepareRootfs(ctx context.Context, ctr client.Container, name string, prepare func(ctx context.Context, container, rootfs string) error) (err error) {
	info, err := ctr.Info(ctx)
	if err != nil {
		return fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	mounts, err := r.opts.Client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return fmt.Errorf("mounts of snapshot %s: %w", info.SnapshotKey, err)
	}
	dir, err := os.MkdirTemp("", "slipway-rootfs-")
	if err != nil {
		return fmt.Errorf("prepare root filesystem: %w", err)
	}
	defer os.Remove(dir)
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount snapshot %s: %w", info.SnapshotKey, err)
	}
	defer func() {
		if uerr := mount.UnmountAll(dir, 0); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unmount snapshot %s: %w", info.SnapshotKey, uerr))
		}
	}()
	if err := prepare(ctx, name, dir); err != nil {
		return fmt.Errorf("prepare root filesystem: %w", err)
	}
	return nil
}

// containers returns the pod's containers, sorted by name.
func (r *Runtime) containers(ctx context.Context, uid string) ([]client.Container, error) {
	cs, err := r.opts.Client.Containers(ctx, fmt.Sprintf("labels.%q==%s", LabelPodUID, uid))
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID() < cs[j].ID() })
	return cs, nil
}

// StopPod sends SIGTERM to every container's main process at once, waits up
// to grace for them to exit, then sends SIGKILL to all processes of those
// still running. It returns when every task has exited; containers and
// their exit status remain until DeletePod. Stopping a stopped pod is a
// no-op; an unknown pod gets ErrNotFound.
func (r *Runtime) StopPod(ctx context.Context, uid string, grace time.Duration) error {
	ctx = r.ns(ctx)
	cs, err := r.containers(ctx, uid)
	if err != nil {
		return fmt.Errorf("runtime: stop pod: %w", err)
	}
	if len(cs) == 0 {
		return fmt.Errorf("runtime: stop pod %s: %w", uid, ErrNotFound)
	}
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = r.stopContainer(ctx, c, grace) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: stop pod %s: %w", uid, err)
	}
	r.opts.Logger.InfoContext(ctx, "pod stopped", "uid", uid)
	return nil
}

func (r *Runtime) stopContainer(ctx context.Context, c client.Container, grace time.Duration) error {
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load task %s: %w", c.ID(), err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the client's wait goroutine
	exited, err := task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("wait task %s: %w", c.ID(), err)
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return fmt.Errorf("signal task %s: %w", c.ID(), err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("stop task %s: %w", c.ID(), ctx.Err())
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return fmt.Errorf("kill task %s: %w", c.ID(), err)
	}
	timer := time.NewTimer(r.opts.KillTimeout)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-timer.C:
		return fmt.Errorf("task %s still running %v after SIGKILL", c.ID(), r.opts.KillTimeout)
	case <-ctx.Done():
		return fmt.Errorf("stop task %s: %w", c.ID(), ctx.Err())
	}
}

// DeletePod kills whatever still runs and removes the pod completely: tasks,
// containers, their snapshots, the network attachment, the network
// namespace and the log files. Deleting an absent pod, or one half
// created or half deleted by a crash, succeeds.
func (r *Runtime) DeletePod(ctx context.Context, uid string) error {
	ctx = r.ns(ctx)
	cs, err := r.containers(ctx, uid)
	if err != nil {
		return fmt.Errorf("runtime: delete pod: %w", err)
	}
	var errs []error
	for _, c := range cs {
		if err := r.deleteContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	nsPath := r.NetnsPath(uid)
	if err := r.opts.Network.Detach(ctx, uid, nsPath); err != nil {
		errs = append(errs, err)
	}
	if err := netns.Delete(nsPath); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(filepath.Join(r.opts.logsDir(), uid)); err != nil {
		errs = append(errs, fmt.Errorf("remove logs: %w", err))
	}
	if err := os.Remove(r.resolvConfPath(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove resolv.conf: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: delete pod %s: %w", uid, err)
	}
	r.opts.Logger.InfoContext(ctx, "pod deleted", "uid", uid)
	return nil
}

func (r *Runtime) deleteContainer(ctx context.Context, c client.Container) error {
	task, err := c.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("load task %s: %w", c.ID(), err)
	default:
		if err := r.stopContainer(ctx, c, 0); err != nil {
			return err
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task %s: %w", c.ID(), err)
		}
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", c.ID(), err)
	}
	return nil
}
