// Package agent is Slipway's node agent. It registers its node with the API
// and keeps it alive with a Lease, runs the pods bound to the node through
// containerd and runc (package node/runtime), probes their containers,
// restarts them by their restart policy, stops deleted pods gracefully and
// reports what really happens in the pods' and node's status. It bounds the
// node's disk use: container logs are rotated by size and unused images
// are garbage collected when the image filesystem fills up. It is an API
// client with its own token (the system:node role) and keeps no state the
// node cannot rebuild: a restarted agent adopts the containers that run and
// never restarts them. Handler serves the container logs and exec endpoints
// the API server proxies to.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	apiclient "github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/internal/workqueue"
	"github.com/slipway/slipway/node/runtime"
)

// Config configures an Agent.
type Config struct {
	// NodeName is the Node object's name. Required.
	NodeName string
	// Client talks to the API with the node's token (role system:node). Required.
	Client *apiclient.Client
	// Runtime says how to run pods: containerd client, namespace, state
	// directory and pod network. Required (Logger defaults to the agent's).
	Runtime runtime.Options
	// ContainerdVersion and RuncVersion are reported in status.nodeInfo
	// (node/containerd's Daemon.Versions()).
	ContainerdVersion, RuncVersion string
	// Labels are added to the node's own labels (slipway.io/hostname,
	// slipway.io/arch, slipway.io/os).
	Labels map[string]string
	// Taints are set on the node when it is first registered; afterwards
	// the spec belongs to the admins.
	Taints []api.Taint
	// Addresses are reported in status.addresses; default the host name and
	// the first non-loopback IPv4 address.
	Addresses []api.NodeAddress
	// DaemonEndpoint is the URL where Handler is served, reported in
	// status.daemonEndpoint for the API server's proxy.
	DaemonEndpoint string
	// PodNetwork is reported in status.nodeInfo.podNetwork
	// (api.PodNetworkBridge or api.PodNetworkOVN).
	PodNetwork string
	// MaxPods is the pods capacity; default 110.
	MaxPods int
	// HeartbeatInterval is how often the Lease is renewed (its duration is
	// four times as long) and node conditions are measured; default 10 s.
	HeartbeatInterval time.Duration
	// NodeStatusInterval is the longest time between two node status
	// writes when nothing changes; default 1 min.
	NodeStatusInterval time.Duration
	// ResyncInterval is the longest time between two reconciles of a pod;
	// default 10 s. Container exits are seen at once through containerd's
	// events.
	ResyncInterval time.Duration
	// Workers is the number of pods reconciled at once; default 8 (a
	// graceful stop holds one worker for up to the grace period).
	Workers int
	// RestartBackoff is the first crash-loop delay, doubling up to
	// MaxRestartBackoff, and reset once a container ran BackoffReset
	// without exiting; defaults 10 s, 5 min, 10 min. The first restart
	// after a run is immediate. Missing images are retried on the same
	// schedule.
	RestartBackoff, MaxRestartBackoff, BackoffReset time.Duration
	// DeregistrationDelay is how long a deleted pod that was Ready keeps
	// running, untouched, before it gets SIGTERM: long enough for the
	// endpoints controller and the routers to stop sending it requests, so
	// a rollout or a scale-down drops none (AWS calls it the
	// deregistration delay; Kubernetes users add a preStop sleep). Default
	// 2 s; negative for none.
	DeregistrationDelay time.Duration
	// OrphanGracePeriod is the grace given to pods that run here but whose
	// API object is gone; default 30 s.
	OrphanGracePeriod time.Duration
	// RetryMax bounds the back-off between attempts to reach the API;
	// default 30 s.
	RetryMax time.Duration
	// ContainerLogMaxSize is the size past which a running container's
	// log is rotated; default 10 MiB. ContainerLogMaxFiles is how many
	// rotated copies are kept (<name>.log.1 the newest); default 3.
	// LogCheckInterval is how often logs are checked; default 10 s. A log
	// can outgrow the limit by what the container writes in one interval.
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	LogCheckInterval     time.Duration
	// ImageFSPath is a path on the filesystem holding containerd's root
	// (content store and snapshots), measured for image garbage collection
	// and the DiskPressure condition; default the content store's root as
	// containerd reports it.
	ImageFSPath string
	// MeasureDisk measures the filesystem holding a path; default StatFS.
	// Tests inject a full disk.
	MeasureDisk func(path string) (DiskUsage, error)
	// When the image filesystem is at least ImageGCHighThresholdPercent
	// used, unused images are deleted, least recently used first, until it
	// is below ImageGCLowThresholdPercent; defaults 85 and 80. It is
	// checked every ImageGCInterval; default 1 min.
	ImageGCHighThresholdPercent, ImageGCLowThresholdPercent int
	ImageGCInterval                                         time.Duration
	// StatsInterval is how often pods' and the host's CPU and memory are
	// read for GET /stats/summary (CPU rates average over it); default 10 s.
	StatsInterval time.Duration
	// Images pulls missing images it handles (Slipway's registry) before
	// a pod starts; nil pulls nothing, so missing images wait in
	// ImagePullBackOff until imported.
	Images ImagePuller
	// Builds runs build pods (annotation slipway.io/build-pod: "true");
	// nil runs them as plain pods.
	Builds BuildRunner
	// Registerer receives the agent's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger is the agent's logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ImagePuller fetches images into the node's containerd (package
// imagepull implements it for Slipway's registry).
type ImagePuller interface {
	// Handles reports whether the puller can fetch ref at all.
	Handles(ref string) bool
	// Pull fetches and unpacks ref, so that containerd then holds an
	// image named ref. It may take minutes for large images.
	Pull(ctx context.Context, ref string) error
}

// Agent runs the pods of one node.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	rt      *runtime.Runtime
	ctr     *client.Client
	pods    *podCache
	queue   *workqueue.Queue[string]
	metrics *metrics
	hostIP  string

	mu     sync.Mutex
	states map[string]*podState // by pod UID
	// runCtx is the context of Run, parent of probe goroutines.
	runCtx context.Context
	probes sync.WaitGroup
	// builds are the build pods running here (Config.Builds), by UID;
	// buildWG owns their goroutines.
	builds  map[string]*buildRun
	buildWG sync.WaitGroup

	// logFiles serialises moves of container log files: rotation and the
	// restart that makes the live log the previous one.
	logFiles sync.Mutex
	// imageFS caches imageFSPath's answer from containerd.
	imageFS atomic.Pointer[string]
	// stats is the latest usage summary (runStats writes it).
	stats atomic.Pointer[api.NodeStats]
}

// New checks the configuration and builds the runtime. It talks to neither
// the API nor containerd.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.NodeName == "":
		return nil, errors.New("agent: Config.NodeName is required")
	case cfg.Client == nil:
		return nil, errors.New("agent: Config.Client is required")
	case cfg.Runtime.Client == nil:
		return nil, errors.New("agent: Config.Runtime.Client is required")
	}
	if err := api.ValidateName("nodeName", cfg.NodeName); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HeartbeatInterval, 10*time.Second)
	def(&cfg.NodeStatusInterval, time.Minute)
	def(&cfg.ResyncInterval, 10*time.Second)
	def(&cfg.RestartBackoff, 10*time.Second)
	def(&cfg.MaxRestartBackoff, 5*time.Minute)
	def(&cfg.BackoffReset, 10*time.Minute)
	def(&cfg.OrphanGracePeriod, 30*time.Second)
	def(&cfg.DeregistrationDelay, 2*time.Second)
	def(&cfg.RetryMax, 30*time.Second)
	def(&cfg.LogCheckInterval, 10*time.Second)
	def(&cfg.ImageGCInterval, time.Minute)
	def(&cfg.StatsInterval, 10*time.Second)
	if cfg.ContainerLogMaxSize <= 0 {
		cfg.ContainerLogMaxSize = 10 << 20
	}
	if cfg.ContainerLogMaxFiles <= 0 {
		cfg.ContainerLogMaxFiles = 3
	}
	if cfg.ImageGCHighThresholdPercent == 0 {
		cfg.ImageGCHighThresholdPercent = 85
	}
	if cfg.ImageGCLowThresholdPercent == 0 {
		cfg.ImageGCLowThresholdPercent = 80
	}
	if h, l := cfg.ImageGCHighThresholdPercent, cfg.ImageGCLowThresholdPercent; h < 1 || h > 100 || l < 1 || l >= h {
		return nil, fmt.Errorf("agent: image GC thresholds must satisfy 0 < low < high <= 100, got low %d, high %d", l, h)
	}
	if cfg.MeasureDisk == nil {
		cfg.MeasureDisk = StatFS
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 110
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With("node", cfg.NodeName)
	if cfg.Runtime.Logger == nil {
		cfg.Runtime.Logger = log
	}
	rt, err := runtime.New(cfg.Runtime)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if len(cfg.Addresses) == 0 {
		cfg.Addresses = hostAddresses()
	}
	a := &Agent{
		cfg: cfg, log: log, rt: rt, ctr: cfg.Runtime.Client,
		pods: newPodCache(), queue: workqueue.New[string](0, 0), states: map[string]*podState{},
		builds: map[string]*buildRun{}, metrics: newMetrics(cfg.Registerer),
	}
	for _, addr := range cfg.Addresses {
		if addr.Type == "InternalIP" {
			a.hostIP = addr.Address
			break
		}
	}
	return a, nil
}

// Runtime is the runtime the agent drives (tests inspect it).
func (a *Agent) Runtime() *runtime.Runtime { return a.rt }

// Pod returns the pod with uid as the agent last saw it through the API
// (the pod network reads the SDN's address annotation from it). Callers
// must not modify it.
func (a *Agent) Pod(uid string) (*api.Pod, bool) {
	p, _ := a.pods.get(uid)
	return p, p != nil
}

// Run registers the node, then heartbeats, watches the node's pods and
// reconciles them, rotates container logs and collects unused images until
// ctx ends. Every goroutine it starts has ended when
// it returns; running containers are left running. The API being away is
// not an error: Run retries with back-off and catches up.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	a.queue.Restart()
	var wg sync.WaitGroup
	goRun := func(f func(context.Context)) {
		wg.Go(func() { f(ctx) })
	}
	goRun(a.runNode)
	goRun(a.runLease)
	goRun(a.runPodWatch)
	goRun(a.runEvents)
	goRun(a.runResync)
	goRun(a.runLogRotation)
	goRun(a.runImageGC)
	goRun(a.runStats)
	for range a.cfg.Workers {
		goRun(a.runWorker)
	}
	a.log.InfoContext(ctx, "node agent started")
	<-ctx.Done()
	a.queue.ShutDown()
	wg.Wait()
	a.probes.Wait()
	a.buildWG.Wait() // builds end with ctx
	a.mu.Lock()
	clear(a.builds)
	a.mu.Unlock()
	a.log.Info("node agent stopped")
	return nil
}

// retryDelay is the n-th delay of the API retry back-off: 250 ms doubling
// up to RetryMax.
func (a *Agent) retryDelay(n int) time.Duration {
	d := 250 * time.Millisecond << min(n, 16)
	return min(d, a.cfg.RetryMax)
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
