package workloads_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/server/controllers/workloads"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testwait.Until(t, 20*time.Second, what, cond)
}

// outcome is what the simulated node agent makes of a pod.
type outcome int

const (
	runReady outcome = iota
	runNotReady
	succeed
	fail
)

// harness runs the workload controllers against a real store, with a
// simulated node agent: it binds each pod to node n1, then reports the
// status decide picks for it (through the status subresource, as the node
// agent does), and releases deleted pods' termination finalizers.
type harness struct {
	t      *testing.T
	ctx    context.Context // in project "shop"
	svc    *resource.Service
	cat    *api.Catalogue
	decide atomic.Value // func(*api.Pod) outcome
	ips    atomic.Int32
	agent  *reconcile.Controller
}

func newHarness(t *testing.T, st *store.Store, tweak func(*workloads.Deps)) *harness {
	t.Helper()
	h := newAgentHarness(t, st)
	deps := workloads.Deps{Service: h.svc, Catalogue: h.cat, Logger: quiet, JobBackoff: 50 * time.Millisecond}
	if tweak != nil {
		tweak(&deps)
	}
	h.run(workloads.Controllers(deps)...)
	return h
}

// newAgentHarness runs only the simulated node agent, for a store whose API
// server already runs the workload controllers: a second set would race the
// first, which no deployment runs.
func newAgentHarness(t *testing.T, st *store.Store) *harness {
	t.Helper()
	cat := api.NewCatalogue()
	h := &harness{t: t, svc: resource.New(st, nil), cat: cat, ctx: store.WithProject(context.Background(), "shop")}
	h.decide.Store(func(*api.Pod) outcome { return runReady })
	if _, err := h.svc.Create(context.Background(), h.res(api.ProjectsResource), &api.Object{Metadata: api.ObjectMeta{Name: "shop"}}); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatal(err)
	}
	h.agent = &reconcile.Controller{Name: "test-node-agent", Resource: h.res(api.PodsResource), Service: h.svc,
		Reconciler: reconcile.ReconcilerFunc(h.runPod)}
	h.run(h.agent)
	return h
}

// run starts controllers until the test ends.
func (h *harness) run(ctls ...*reconcile.Controller) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range ctls {
		c.Logger = quiet
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	h.t.Cleanup(func() { cancel(); wg.Wait() })
}

// newStore opens a fresh database.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DSN: storetest.NewDatabase(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func (h *harness) res(plural string) *api.Resource {
	r, ok := h.cat.Lookup(plural)
	if !ok {
		h.t.Fatalf("no resource %s", plural)
	}
	return r
}

func (h *harness) setDecide(f func(*api.Pod) outcome) { h.decide.Store(f) }

// runPod is the simulated node agent.
func (h *harness) runPod(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pods := h.res(api.PodsResource)
	obj, err := h.svc.Get(ctx, pods, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp != nil {
		if len(obj.Metadata.Finalizers) > 0 {
			_, err = h.svc.Patch(ctx, pods, req.Name, []byte(`{"metadata":{"finalizers":null}}`), false)
		}
		return reconcile.Result{}, ignoreNotFound(err)
	}
	var pod api.Pod
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &pod); err != nil {
		return reconcile.Result{}, reconcile.Terminal(err)
	}
	if pod.Spec.NodeName == "" {
		_, err := h.svc.Patch(ctx, pods, req.Name, []byte(`{"spec":{"nodeName":"n1"}}`), false)
		return reconcile.Result{}, ignoreNotFound(err)
	}
	if pod.Status.Phase != "" {
		return reconcile.Result{}, nil
	}
	now := time.Now().UTC()
	n := h.ips.Add(1)
	st := api.PodStatus{HostIP: "192.168.0.1", PodIP: fmt.Sprintf("10.88.%d.%d", n/250, n%250+1), StartTime: &now}
	out := h.decide.Load().(func(*api.Pod) outcome)(&pod)
	switch out {
	case runReady:
		st.Phase = api.PodRunning
		st.Conditions = []api.Condition{{Type: api.PodReady, Status: "True", LastTransitionTime: &now}}
	case runNotReady:
		st.Phase = api.PodRunning
		st.Conditions = []api.Condition{{Type: api.PodReady, Status: "False", LastTransitionTime: &now}}
	case succeed, fail:
		st.Phase, st.PodIP = api.PodSucceeded, ""
		code := int32(0)
		if out == fail {
			st.Phase, code = api.PodFailed, 1
		}
		st.ContainerStatuses = []api.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
			State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, FinishedAt: &now}}}}
	}
	body, _ := json.Marshal(map[string]any{"status": st})
	_, err = h.svc.Patch(ctx, pods, req.Name, body, true)
	return reconcile.Result{}, ignoreNotFound(err)
}

// setReady flips a running pod's Ready condition, as a readiness probe
// would.
func (h *harness) setReady(name string, ready bool) {
	h.t.Helper()
	now := time.Now().UTC()
	status := "False"
	if ready {
		status = "True"
	}
	body, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []api.Condition{{Type: api.PodReady, Status: status, LastTransitionTime: &now}}}})
	if _, err := h.svc.Patch(h.ctx, h.res(api.PodsResource), name, body, true); err != nil {
		h.t.Fatal(err)
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	return err
}

func (h *harness) create(plural string, v any) {
	h.t.Helper()
	raw, _ := json.Marshal(v)
	obj, err := api.DecodeObject(raw)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.svc.Create(h.ctx, h.res(plural), obj); err != nil {
		h.t.Fatalf("create %s: %v", plural, err)
	}
}

func (h *harness) patch(plural, name, patch string) {
	h.t.Helper()
	if _, err := h.svc.Patch(h.ctx, h.res(plural), name, []byte(patch), false); err != nil {
		h.t.Fatalf("patch %s %s: %v", plural, name, err)
	}
}

// get reads a typed object.
func get[T any](h *harness, plural, name string) (*T, error) {
	obj, err := h.svc.Get(h.ctx, h.res(plural), name)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(obj)
	out := new(T)
	return out, json.Unmarshal(raw, out)
}

// list reads typed objects matching a label selector.
func list[T any](h *harness, plural, selector string) []*T {
	h.t.Helper()
	l, err := h.svc.List(h.ctx, h.res(plural), api.ListOptions{LabelSelector: selector})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*T
	for _, obj := range l.Items {
		raw, _ := json.Marshal(obj)
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func isReady(p *api.Pod) bool {
	if p.Status.Phase != api.PodRunning {
		return false
	}
	return slices.ContainsFunc(p.Status.Conditions, func(c api.Condition) bool { return c.Type == api.PodReady && c.Status == "True" })
}

// monitor follows every change of the project's pods, in revision order,
// and calls check with the set after each; it returns a function that
// stops it and returns what check reported.
func (h *harness) monitor(check func(pods map[string]*api.Pod) string) (stop func() []string) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	pods := h.res(api.PodsResource)
	l, err := h.svc.List(ctx, pods, api.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	decode := func(obj *api.Object) *api.Pod {
		raw, _ := json.Marshal(obj)
		var p api.Pod
		_ = json.Unmarshal(raw, &p)
		return &p
	}
	state := map[string]*api.Pod{}
	for _, obj := range l.Items {
		state[obj.Metadata.Name] = decode(obj)
	}
	w, err := h.svc.Watch(ctx, pods, "", l.Revision)
	if err != nil {
		h.t.Fatal(err)
	}
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Stop()
		if msg := check(state); msg != "" {
			problems = append(problems, msg)
		}
		for {
			ev, err := w.Next(ctx, nil)
			if err != nil {
				if ctx.Err() == nil {
					problems = append(problems, "watch ended: "+err.Error())
				}
				return
			}
			obj, err := store.DecodeEvent(ev)
			if err != nil {
				continue
			}
			if ev.Type == api.Deleted {
				delete(state, obj.Metadata.Name)
			} else {
				state[obj.Metadata.Name] = decode(obj)
			}
			if msg := check(state); msg != "" {
				problems = append(problems, fmt.Sprintf("at revision %d: %s", ev.Revision, msg))
			}
		}
	}()
	return func() []string { cancel(); <-done; return problems }
}
