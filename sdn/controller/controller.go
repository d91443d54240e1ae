// Package controller is the API side of Slipway's OVN network. As an API
// client it mirrors nodes, pods, projects and network policies, owns the
// address management (a subnet per node carved from the cluster CIDR,
// recorded in the node's slipway.io/node-subnet annotation; a stable IP
// and MAC per pod in its slipway.io/pod-network annotation), and keeps the
// OVN Northbound database in step: a cluster router, a logical switch per
// node with its router and management ports, a port per pod, the port
// groups and ACLs that isolate projects and apply network policies, and a
// load balancer per service VIP over its ready endpoints. Every
// row it writes carries external_ids:slipway:key; each sync reads its rows,
// compares them with the wanted ones and writes only the differences in
// one transaction, so a restart converges without churn.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/client/mirror"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/sdn/netconf"
	"github.com/slipway/slipway/sdn/ovsdb"
)

// Back-off between failed syncs.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// DefaultDebounce gathers a burst of API changes into one sync.
const DefaultDebounce = 20 * time.Millisecond

// Config configures a Controller.
type Config struct {
	// Client reaches the API with the system:sdn role.
	Client *client.Client
	// NB is connected to the OVN Northbound database.
	NB *ovsdb.Client
	// ClusterCIDR is the pod network (default netconf.DefaultClusterCIDR),
	// NodePrefix the length of each node's subnet (default 24).
	ClusterCIDR string
	NodePrefix  int
	// MTU of pod interfaces (default netconf.DefaultMTU).
	MTU int
	// Debounce defaults to DefaultDebounce.
	Debounce time.Duration
	// Registerer receives the controller's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Controller keeps OVN and the address annotations in step with the API.
type Controller struct {
	cfg       Config
	cluster   netip.Prefix
	log       *slog.Logger
	changed   chan struct{}
	pods      *mirror.Mirror[api.Pod]
	nodes     *mirror.Mirror[api.Node]
	projects  *mirror.Mirror[api.Project]
	policies  *mirror.Mirror[api.NetworkPolicy]
	services  *mirror.Mirror[api.Service]
	endpoints *mirror.Mirror[api.Endpoints]

	// assigned holds addresses written by this controller that the pod
	// mirror may not show yet; owned by Run.
	assigned map[string]netconf.PodNetwork
	subnets  map[string]netip.Prefix
	// cache mirrors the Northbound rows (nil: read them at each sync);
	// suspect makes the next sync read the database after a failed write.
	cache   *nbCache
	suspect bool

	transactions atomic.Int64
	operations   atomic.Int64
	syncs        atomic.Int64
	metrics      *metrics

	mu       sync.Mutex
	lastSync SyncResult
}

// SyncResult describes the last successful sync.
type SyncResult struct {
	At         time.Time
	Pods       int // pods with a port
	Operations int // operations written (0 when nothing differed)
	Duration   time.Duration
}

type metrics struct {
	syncs      prometheus.Counter
	operations prometheus.Counter
	duration   prometheus.Histogram
}

// New returns a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.NB == nil {
		return nil, errors.New("sdn controller: Client and NB are required")
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = netconf.DefaultClusterCIDR
	}
	if cfg.NodePrefix == 0 {
		cfg.NodePrefix = netconf.DefaultNodePrefix
	}
	if cfg.MTU == 0 {
		cfg.MTU = netconf.DefaultMTU
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cluster, err := netip.ParsePrefix(cfg.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("sdn controller: cluster CIDR %q: %w", cfg.ClusterCIDR, err)
	}
	if _, err := newSubnetAllocator(cluster, cfg.NodePrefix); err != nil {
		return nil, fmt.Errorf("sdn controller: %w", err)
	}
	cat := api.NewCatalogue()
	lookup := func(plural string) *api.Resource {
		r, ok := cat.Lookup(plural)
		if !ok {
			panic("sdn controller: no resource " + plural)
		}
		return r
	}
	c := &Controller{cfg: cfg, cluster: cluster.Masked(), log: cfg.Logger.With("component", "sdn-controller"),
		changed: make(chan struct{}, 1), assigned: map[string]netconf.PodNetwork{}, subnets: map[string]netip.Prefix{}}
	c.pods = mirror.New(cfg.Client, lookup(api.PodsResource), func(p *api.Pod) *api.ObjectMeta { return &p.Metadata }, c.notify, c.log)
	c.nodes = mirror.New(cfg.Client, lookup(api.NodesResource), func(n *api.Node) *api.ObjectMeta { return &n.Metadata }, c.notify, c.log)
	c.projects = mirror.New(cfg.Client, lookup(api.ProjectsResource), func(p *api.Project) *api.ObjectMeta { return &p.Metadata }, c.notify, c.log)
	c.policies = mirror.New(cfg.Client, lookup(api.NetworkPoliciesResource), func(p *api.NetworkPolicy) *api.ObjectMeta { return &p.Metadata }, c.notify, c.log)
	c.services = mirror.New(cfg.Client, lookup(api.ServicesResource), func(s *api.Service) *api.ObjectMeta { return &s.Metadata }, c.notify, c.log)
	c.endpoints = mirror.New(cfg.Client, lookup(api.EndpointsResource), func(e *api.Endpoints) *api.ObjectMeta { return &e.Metadata }, c.notify, c.log)
	if cfg.Registerer != nil {
		c.metrics = &metrics{
			syncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "slipway_sdn_syncs_total", Help: "Northbound syncs that succeeded."}),
			operations: prometheus.NewCounter(prometheus.CounterOpts{Name: "slipway_sdn_nb_operations_total",
				Help: "Operations written to the OVN Northbound database."}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "slipway_sdn_sync_duration_seconds",
				Help: "Time to compare and write the Northbound state.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		}
		for _, col := range []prometheus.Collector{c.metrics.syncs, c.metrics.operations, c.metrics.duration} {
			if err := cfg.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("sdn controller: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

func (c *Controller) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Transactions counts the write transactions sent to the Northbound
// database, Operations their operations: a converged controller adds none.
func (c *Controller) Transactions() int64 { return c.transactions.Load() }

// Operations counts the operations written to the Northbound database.
func (c *Controller) Operations() int64 { return c.operations.Load() }

// Syncs counts successful syncs.
func (c *Controller) Syncs() int64 { return c.syncs.Load() }

// LastSync describes the last successful sync.
func (c *Controller) LastSync() SyncResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSync
}

// Run mirrors the API and keeps OVN in step until ctx ends; it returns
// once every goroutine it started has ended.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, m := range []interface{ Run(context.Context) }{c.pods, c.nodes, c.projects, c.policies, c.services, c.endpoints} {
		wg.Go(func() { m.Run(ctx) })
	}
	if cache, err := startCache(ctx, c.cfg.NB); err != nil {
		c.log.Warn("no Northbound cache; every sync reads the database", "err", err)
	} else {
		c.cache = cache
		defer cache.close(context.WithoutCancel(ctx))
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// A periodic resync repairs rows changed behind the controller's back.
	resync := time.NewTicker(5 * time.Minute)
	defer resync.Stop()
	armed := false
	backoff := minBackoff
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C:
			c.notify()
		case <-c.changed:
			if !armed {
				timer.Reset(c.cfg.Debounce)
				armed = true
			}
		case <-timer.C:
			armed = false
			err := c.sync(ctx)
			if err == nil {
				backoff = minBackoff
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("sync failed; retrying", "err", err, "after", backoff)
			timer.Reset(backoff)
			armed = true
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// sync assigns missing subnets and addresses, then writes the difference
// between the wanted and the current Northbound rows.
func (c *Controller) sync(ctx context.Context) error {
	start := time.Now()
	nodes, ok1 := c.nodes.Snapshot()
	pods, ok2 := c.pods.Snapshot()
	projects, ok3 := c.projects.Snapshot()
	policies, ok4 := c.policies.Snapshot()
	services, ok5 := c.services.Snapshot()
	endpointList, ok6 := c.endpoints.Snapshot()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return nil // never act on a partial view: it would delete rows
	}
	nodeNets, err := c.assignSubnets(ctx, nodes)
	if err != nil {
		return err
	}
	podNets, assignErr := c.assignAddresses(ctx, nodeNets, pods)
	endpoints := make(map[string]*api.Endpoints, len(endpointList))
	for _, e := range endpointList {
		endpoints[e.Metadata.Project+"/"+e.Metadata.Name] = e
	}
	want := buildTopology(c.cluster, nodeNets, podNets, projects, policies, services, endpoints)
	var cur *nbState
	if c.cache != nil && !c.suspect {
		if err := c.cache.current(ctx); err != nil {
			return fmt.Errorf("the Northbound cache: %w", err)
		}
		cur, err = c.cache.state()
	} else {
		cur, err = readNB(ctx, c.cfg.NB)
	}
	if err != nil {
		return err
	}
	c.suspect = false
	p := diff(cur, want)
	if len(p.ops) > 0 {
		if _, err := c.cfg.NB.Transact(ctx, ovsdb.NorthboundDB, append(p.ops, ovsdb.Comment("slipway sdn controller"))...); err != nil {
			c.suspect = true
			return fmt.Errorf("write %d operations to Northbound: %w", len(p.ops), err)
		}
		c.transactions.Add(1)
		c.operations.Add(int64(len(p.ops)))
		if c.cache != nil {
			if err := c.cache.settle(ctx); err != nil {
				c.suspect = true
				return fmt.Errorf("wait for the Northbound cache: %w", err)
			}
		}
	}
	elapsed := time.Since(start)
	c.syncs.Add(1)
	if c.metrics != nil {
		c.metrics.syncs.Inc()
		c.metrics.operations.Add(float64(len(p.ops)))
		c.metrics.duration.Observe(elapsed.Seconds())
	}
	c.mu.Lock()
	c.lastSync = SyncResult{At: time.Now(), Pods: len(podNets), Operations: len(p.ops), Duration: elapsed}
	c.mu.Unlock()
	if len(p.ops) > 0 {
		c.log.Debug("northbound synced", "operations", len(p.ops), "pods", len(podNets), "took", elapsed)
	}
	return assignErr
}

// assignSubnets keeps each node's valid subnet and gives the others one.
func (c *Controller) assignSubnets(ctx context.Context, nodes []*api.Node) ([]nodeNet, error) {
	alloc, _ := newSubnetAllocator(c.cluster, c.cfg.NodePrefix)
	var out []nodeNet
	var missing []*api.Node
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Metadata.Name] = true
		s := n.Metadata.Annotations[netconf.NodeSubnetAnnotation]
		if s == "" {
			if p, ok := c.subnets[n.Metadata.Name]; ok {
				s = p.String() // written by us, not yet seen through the watch
			}
		}
		if s != "" && alloc.claim(n.Metadata.Name, s) {
			p, _ := netip.ParsePrefix(s)
			out = append(out, nodeNet{name: n.Metadata.Name, subnet: p})
			continue
		}
		missing = append(missing, n)
	}
	for name := range c.subnets {
		if !live[name] {
			delete(c.subnets, name)
		}
	}
	for _, n := range missing {
		p, err := alloc.allocate(n.Metadata.Name)
		if err != nil {
			return out, err
		}
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]string{netconf.NodeSubnetAnnotation: p.String()}}}
		if err := c.cfg.Client.Patch(ctx, c.nodes.Resource(), "", n.Metadata.Name, patch, false, nil); err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				continue
			}
			return out, fmt.Errorf("record node %s's subnet: %w", n.Metadata.Name, err)
		}
		c.subnets[n.Metadata.Name] = p
		c.log.Info("node subnet assigned", "node", n.Metadata.Name, "subnet", p)
		out = append(out, nodeNet{name: n.Metadata.Name, subnet: p})
	}
	return out, nil
}

// assignAddresses keeps each pod's valid address and gives one to bound
// pods without; it returns the pods that have an address.
func (c *Controller) assignAddresses(ctx context.Context, nodes []nodeNet, pods []*api.Pod) ([]podNet, error) {
	allocs := map[string]*podAllocator{}
	for _, n := range nodes {
		allocs[n.name] = newPodAllocator(n.subnet)
	}
	var out []podNet
	var missing []*api.Pod
	live := map[string]bool{}
	for _, p := range podsByAge(pods) {
		a := allocs[p.Spec.NodeName]
		if a == nil {
			continue // not bound yet, or its node has no subnet
		}
		uid := p.Metadata.UID
		live[uid] = true
		var pn netconf.PodNetwork
		var err error
		if s, ok := p.Metadata.Annotations[netconf.PodNetworkAnnotation]; ok {
			pn, err = netconf.ParsePodNetwork(s)
		} else if prev, ok := c.assigned[uid]; ok {
			pn = prev
		} else {
			err = errors.New("none")
		}
		if err == nil && a.claim(uid, pn) {
			out = append(out, podNet{pod: p, net: pn})
			continue
		}
		if p.Metadata.DeletionTimestamp == nil && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			missing = append(missing, p)
		}
	}
	for uid := range c.assigned {
		if !live[uid] {
			delete(c.assigned, uid)
		}
	}
	var errs []error
	for _, p := range missing {
		pn, err := allocs[p.Spec.NodeName].allocate(p.Metadata.UID, c.cfg.MTU)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]string{netconf.PodNetworkAnnotation: pn.String()}}}
		if err := c.cfg.Client.Patch(ctx, c.pods.Resource(), p.Metadata.Project, p.Metadata.Name, patch, false, nil); err != nil {
			if !errors.Is(err, errdefs.ErrNotFound) {
				errs = append(errs, fmt.Errorf("record pod %s/%s's address: %w", p.Metadata.Project, p.Metadata.Name, err))
			}
			continue
		}
		c.assigned[p.Metadata.UID] = pn
		out = append(out, podNet{pod: p, net: pn})
	}
	return out, errors.Join(errs...)
}
