package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/workqueue"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// Result tells the controller what to do after a successful reconcile.
type Result struct {
	// RequeueAfter, when positive, reconciles the key again after it.
	RequeueAfter time.Duration
}

// Reconciler brings one object's observed state to its desired state.
type Reconciler interface {
	// Reconcile acts on the object named by req (which may no longer
	// exist). An error is retried with back-off unless it is Terminal.
	Reconcile(ctx context.Context, req Request) (Result, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, req Request) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, req Request) (Result, error) {
	return f(ctx, req)
}

type terminalError struct{ error }

func (e terminalError) Unwrap() error { return e.error }

// Terminal marks an error that retrying cannot fix: the key is not retried
// until its object changes again.
func Terminal(err error) error { return terminalError{err} }

// Controller watches one resource and reconciles its objects.
type Controller struct {
	Name       string
	Resource   *api.Resource
	Service    *resource.Service
	Reconciler Reconciler
	// Workers reconcile different keys in parallel (default 2).
	Workers int
	// Resync reconciles every object again at this interval (default 10 m),
	// a safety net for changes outside the watched resource.
	Resync  time.Duration
	Logger  *slog.Logger
	Metrics *Metrics

	queue *workqueue.Queue[Request]
}

// Metrics are shared by every controller of a process.
type Metrics struct {
	reconciles *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	depth      *prometheus.GaugeVec
}

// NewMetrics registers the controllers' metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_controller_reconciles_total", Help: "Reconciles by controller and result (success, error, requeue).",
		}, []string{"controller", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_controller_reconcile_duration_seconds", Help: "Reconcile latency by controller.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"controller"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "slipway_controller_queue_depth", Help: "Keys waiting in a controller's work queue.",
		}, []string{"controller"}),
	}
	if reg != nil {
		reg.MustRegister(m.reconciles, m.duration, m.depth)
	}
	return m
}

// Run lists and watches the resource, feeding keys to the workers, until
// ctx ends; it returns after every worker has stopped.
func (c *Controller) Run(ctx context.Context) {
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Resync == 0 {
		c.Resync = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	log := c.Logger.With("controller", c.Name)
	c.queue = workqueue.New[Request](50*time.Millisecond, 5*time.Minute)
	ctx = store.WithProject(ctx, store.AllProjects)
	var wg sync.WaitGroup
	for i := 0; i < c.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx, log) {
			}
		}()
	}
	c.watchLoop(ctx, log)
	c.queue.ShutDown()
	wg.Wait()
}

// Enqueue asks for a reconcile of req (for reconcilers that learn about
// work from elsewhere).
func (c *Controller) Enqueue(req Request) { c.queue.Add(req) }

// watchLoop lists, enqueues every object, and follows changes; on a lost or
// expired watch it lists again. It also lists again every Resync.
func (c *Controller) watchLoop(ctx context.Context, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listAndWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.WarnContext(ctx, "watch ended; listing again", "error", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

func (c *Controller) listAndWatch(ctx context.Context) error {
	list, err := c.Service.List(ctx, c.Resource, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s: %w", c.Resource.Plural, err)
	}
	for _, obj := range list.Items {
		c.queue.Add(Request{Project: obj.Metadata.Project, Name: obj.Metadata.Name})
	}
	w, err := c.Service.Watch(ctx, c.Resource, "", list.Revision)
	if err != nil {
		return fmt.Errorf("watch %s: %w", c.Resource.Plural, err)
	}
	defer w.Stop()
	resync := time.Now().Add(c.Resync)
	// The tick makes Next return a bookmark when idle: a moment to update
	// the queue-depth gauge and to check whether a resync is due.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ev, err := w.Next(ctx, tick.C)
		if err != nil {
			return err
		}
		if ev.Type != api.Bookmark {
			c.queue.Add(Request{Project: ev.Project, Name: ev.Name})
			continue
		}
		c.Metrics.depth.WithLabelValues(c.Name).Set(float64(c.queue.Len()))
		if time.Now().After(resync) {
			return nil // list again
		}
	}
}

func (c *Controller) processNext(ctx context.Context, log *slog.Logger) bool {
	req, ok := c.queue.Get()
	if !ok {
		return false
	}
	defer c.queue.Done(req)
	start := time.Now()
	rctx := ctx
	if req.Project != "" {
		rctx = store.WithProject(ctx, req.Project)
	}
	res, err := c.Reconciler.Reconcile(rctx, req)
	c.Metrics.duration.WithLabelValues(c.Name).Observe(time.Since(start).Seconds())
	var terminal terminalError
	switch {
	case err != nil && errors.As(err, &terminal):
		c.Metrics.reconciles.WithLabelValues(c.Name, "error").Inc()
		log.ErrorContext(ctx, "reconcile failed; not retrying until the object changes", "key", req.String(), "error", err)
		c.queue.Forget(req)
	case err != nil:
		c.Metrics.reconciles.WithLabelValues(c.Name, "error").Inc()
		delay := c.queue.Retry(req)
		level := slog.LevelWarn
		if errors.Is(err, errdefs.ErrConflict) {
			level = slog.LevelDebug // someone else wrote first: routine
		}
		log.Log(ctx, level, "reconcile failed; retrying", "key", req.String(), "error", err, "retry_in", delay)
	case res.RequeueAfter > 0:
		c.Metrics.reconciles.WithLabelValues(c.Name, "requeue").Inc()
		c.queue.Forget(req)
		c.queue.AddAfter(req, res.RequeueAfter)
	default:
		c.Metrics.reconciles.WithLabelValues(c.Name, "success").Inc()
		c.queue.Forget(req)
	}
	return true
}
