// Package controller connects the API to the router: it mirrors routes,
// services and endpoints of every project through the API client (list,
// then watch, relisting after errors), turns them into the router's model,
// applies the whole set to a router.Router after each burst of changes,
// and reports each route's admission in status.ingress. It runs as an API
// client, in the router's process.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/client/mirror"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/labels"
	"github.com/slipway/slipway/router"
	"github.com/slipway/slipway/router/route"
)

// Back-off between failed syncs.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// DefaultDomain is the apps domain when Config.Domain is empty.
const DefaultDomain = "apps.localhost"

// DefaultRouterName names the router in status.ingress when
// Config.RouterName is empty.
const DefaultRouterName = "default"

// DefaultDebounce is how long a burst of changes is gathered before one
// Apply: long enough to coalesce a rollout's endpoint churn, short against
// the router's own reload interval.
const DefaultDebounce = 50 * time.Millisecond

// Config configures a Controller.
type Config struct {
	// Client reaches the API as an identity allowed to read routes,
	// services and endpoints and to update routes/status in every project
	// (the system:router role).
	Client *client.Client
	// Router serves what the controller applies; the caller starts and
	// stops it.
	Router *router.Router
	// RouterName identifies this router in status.ingress; default "default".
	RouterName string
	// Domain names routes without spec.host: <name>-<project>.<Domain>.
	Domain string
	// RouteSelector shards routes between routers: this router serves only
	// routes whose labels match it (label selector syntax); empty serves
	// every route. Filtering happens here, not in the watch, so a route
	// relabelled out of the shard stops being served at once.
	RouteSelector string
	// ProjectSelector, when set, also shards by the labels of the route's
	// project (OpenShift's namespace selector).
	ProjectSelector string
	// Debounce gathers a burst of changes into one Apply; default DefaultDebounce.
	Debounce time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock of condition transition times; default time.Now.
	Now func() time.Time
	// Registerer receives the controller's metrics (none when nil).
	Registerer prometheus.Registerer
}

// Controller keeps a router serving the routes the API holds.
type Controller struct {
	cfg             Config
	selector        labels.Selector
	projectSelector labels.Selector
	projects        *mirror.Mirror[api.Project] // nil without a ProjectSelector
	log             *slog.Logger
	changed         chan struct{}
	routes          *mirror.Mirror[api.Route]
	services        *mirror.Mirror[api.Service]
	endpoints       *mirror.Mirror[api.Endpoints]
	metrics         *metrics

	// written remembers the status entry last written per route, and the
	// resourceVersion it was written over, so that an entry is not written
	// again before the watch reports the first write. Owned by Run.
	written map[string]writtenStatus
}

type writtenStatus struct {
	overVersion string
	ingress     api.RouteIngress
	withdrawn   bool // the entry was removed: the route left the shard
}

// New returns a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Router == nil {
		return nil, errors.New("router controller: Client and Router are required")
	}
	if cfg.RouterName == "" {
		cfg.RouterName = DefaultRouterName
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cat := api.NewCatalogue()
	lookup := func(plural string) *api.Resource {
		r, ok := cat.Lookup(plural)
		if !ok {
			panic("router controller: no resource " + plural)
		}
		return r
	}
	selector, err := labels.Parse(cfg.RouteSelector)
	if err != nil {
		return nil, fmt.Errorf("router controller: route selector %q: %w", cfg.RouteSelector, err)
	}
	projectSelector, err := labels.Parse(cfg.ProjectSelector)
	if err != nil {
		return nil, fmt.Errorf("router controller: project selector %q: %w", cfg.ProjectSelector, err)
	}
	c := &Controller{
		cfg:             cfg,
		selector:        selector,
		projectSelector: projectSelector,
		log:             cfg.Logger.With("component", "router-controller", "router", cfg.RouterName),
		changed:         make(chan struct{}, 1),
		written:         map[string]writtenStatus{},
		metrics:         newMetrics(cfg.Registerer, cfg.RouterName),
	}
	c.routes = mirror.New(cfg.Client, lookup(api.RoutesResource), func(r *api.Route) *api.ObjectMeta { return &r.Metadata }, c.notify, c.log)
	c.services = mirror.New(cfg.Client, lookup(api.ServicesResource), func(s *api.Service) *api.ObjectMeta { return &s.Metadata }, c.notify, c.log)
	if cfg.ProjectSelector != "" {
		c.projects = mirror.New(cfg.Client, lookup(api.ProjectsResource), func(p *api.Project) *api.ObjectMeta { return &p.Metadata }, c.notify, c.log)
	}
	c.endpoints = mirror.New(cfg.Client, lookup(api.EndpointsResource), func(e *api.Endpoints) *api.ObjectMeta { return &e.Metadata }, c.notify, c.log)
	return c, nil
}

// notify marks the state changed; it never blocks.
func (c *Controller) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *Controller) lookupService(project, name string) *api.Service {
	return c.services.Get(project, name)
}

func (c *Controller) lookupEndpoints(project, name string) *api.Endpoints {
	return c.endpoints.Get(project, name)
}

// Run mirrors the API and keeps the router in step until ctx ends; it
// returns once every goroutine it started has ended.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { c.routes.Run(ctx) })
	wg.Go(func() { c.services.Run(ctx) })
	wg.Go(func() { c.endpoints.Run(ctx) })
	if c.projects != nil {
		wg.Go(func() { c.projects.Run(ctx) })
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	backoff := minBackoff
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
			if !armed {
				timer.Reset(c.cfg.Debounce)
				armed = true
			}
		case <-timer.C:
			armed = false
			start := time.Now()
			err := c.sync(ctx)
			c.metrics.syncSeconds.Observe(time.Since(start).Seconds())
			if err != nil {
				c.metrics.syncs.WithLabelValues("error").Inc()
				if ctx.Err() != nil {
					return nil
				}
				c.log.Warn("sync failed; retrying", "err", err, "after", backoff)
				timer.Reset(backoff)
				armed = true
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			c.metrics.syncs.WithLabelValues("ok").Inc()
			backoff = minBackoff
		}
	}
}

// sync applies every route to the router and reports admission.
func (c *Controller) sync(ctx context.Context) error {
	items, routesSynced := c.routes.Snapshot()
	_, servicesSynced := c.services.Snapshot()
	_, endpointsSynced := c.endpoints.Snapshot()
	projectsSynced := true
	if c.projects != nil {
		_, projectsSynced = c.projects.Snapshot()
	}
	if !routesSynced || !servicesSynced || !endpointsSynced || !projectsSynced {
		return nil // the first list of each comes with a notification
	}
	live := make([]*api.Route, 0, len(items))
	model := make([]route.Route, 0, len(items))
	var left []*api.Route // routes outside the shard
	for _, r := range items {
		if r.Metadata.DeletionTimestamp != nil {
			continue
		}
		if !c.inShard(r) {
			left = append(left, r)
			continue
		}
		live = append(live, r)
		model = append(model, translate(r, c.cfg.Domain, c.cfg.RouterName, c))
	}
	out, err := c.cfg.Router.Apply(ctx, model)
	if err != nil {
		return fmt.Errorf("apply %d routes: %w", len(model), err)
	}
	rejected := make(map[string]error, len(out.Rejected))
	for _, rej := range out.Rejected {
		rejected[rej.Project+"/"+rej.Name] = rej.Err
	}
	c.metrics.routes.WithLabelValues("admitted").Set(float64(len(model) - len(out.Rejected)))
	c.metrics.routes.WithLabelValues("rejected").Set(float64(len(out.Rejected)))
	keep := make(map[string]bool, len(live))
	var errs []error
	for _, r := range live {
		key := mirror.Key(&r.Metadata)
		keep[key] = true
		want := ingressFor(c.cfg.RouterName, routeHost(r, c.cfg.Domain), true, "", "", c.cfg.Now())
		if err := rejected[key]; err != nil {
			reason := ReasonInvalid
			if errors.Is(err, route.ErrHostTaken) {
				reason = ReasonHostAlreadyClaimed
			}
			want = ingressFor(c.cfg.RouterName, routeHost(r, c.cfg.Domain), false, reason, err.Error(), c.cfg.Now())
		}
		if err := c.report(ctx, r, want); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range left {
		keep[mirror.Key(&r.Metadata)] = true
		if err := c.withdraw(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	for key := range c.written {
		if !keep[key] {
			delete(c.written, key)
		}
	}
	return errors.Join(errs...)
}

// inShard reports whether this router serves r.
func (c *Controller) inShard(r *api.Route) bool {
	if !c.selector.Matches(r.Metadata.Labels) {
		return false
	}
	if c.projects == nil {
		return true
	}
	p := c.projects.Get("", r.Metadata.Project)
	return p != nil && c.projectSelector.Matches(p.Metadata.Labels)
}

// withdraw removes this router's entry from the status of a route it does
// not serve (it left the shard), keeping the other routers' entries.
func (c *Controller) withdraw(ctx context.Context, r *api.Route) error {
	others := make([]api.RouteIngress, 0, len(r.Status.Ingress))
	for _, in := range r.Status.Ingress {
		if in.RouterName != c.cfg.RouterName {
			others = append(others, in)
		}
	}
	key := mirror.Key(&r.Metadata)
	if len(others) == len(r.Status.Ingress) {
		return nil
	}
	if w, ok := c.written[key]; ok && w.overVersion == r.Metadata.ResourceVersion && w.withdrawn {
		return nil // written; the watch has not brought it back yet
	}
	if written, err := c.patchIngress(ctx, r, others); !written {
		return err
	}
	c.written[key] = writtenStatus{overVersion: r.Metadata.ResourceVersion, withdrawn: true}
	c.log.Info("route left the shard", "project", r.Metadata.Project, "name", r.Metadata.Name)
	return nil
}

// patchIngress replaces r's status.ingress, on condition that r is still
// the stored version: the other routers' entries were read from it, and
// two routers writing at once must not erase each other's. It reports
// whether it wrote. A route changed or deleted meanwhile is not an error:
// the watch brings it back and its entry is written over the newer version.
func (c *Controller) patchIngress(ctx context.Context, r *api.Route, ingress []api.RouteIngress) (written bool, err error) {
	patch := map[string]any{"metadata": map[string]any{"resourceVersion": r.Metadata.ResourceVersion},
		"status": map[string]any{"ingress": ingress}}
	err = c.cfg.Client.Patch(ctx, c.routes.Resource(), r.Metadata.Project, r.Metadata.Name, patch, true, nil)
	switch {
	case err == nil:
		c.metrics.statusWrites.WithLabelValues("written").Inc()
		return true, nil
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrNotFound):
		c.metrics.statusWrites.WithLabelValues("conflict").Inc()
		return false, nil
	default:
		c.metrics.statusWrites.WithLabelValues("error").Inc()
		return false, fmt.Errorf("write status of route %s: %w", mirror.Key(&r.Metadata), err)
	}
}

// report writes this router's entry of r's status.ingress when it differs
// from what r holds, keeping the other routers' entries.
func (c *Controller) report(ctx context.Context, r *api.Route, want api.RouteIngress) error {
	key := mirror.Key(&r.Metadata)
	others := make([]api.RouteIngress, 0, len(r.Status.Ingress))
	for _, in := range r.Status.Ingress {
		if in.RouterName != c.cfg.RouterName {
			others = append(others, in)
			continue
		}
		if sameIngress(in, want) {
			return nil
		}
	}
	if w, ok := c.written[key]; ok && w.overVersion == r.Metadata.ResourceVersion && sameIngress(w.ingress, want) {
		return nil // written; the watch has not brought it back yet
	}
	if written, err := c.patchIngress(ctx, r, append(others, want)); !written {
		return err
	}
	c.written[key] = writtenStatus{overVersion: r.Metadata.ResourceVersion, ingress: want}
	c.log.Info("route status", "project", r.Metadata.Project, "name", r.Metadata.Name,
		"admitted", want.Conditions[0].Status, "reason", want.Conditions[0].Reason)
	return nil
}
