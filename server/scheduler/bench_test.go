package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
)

var benchSizes = []struct{ nodes, pods int }{{100, 1000}, {5000, 10000}}

// benchCluster is simulated: nodes of 32 cpu / 128Gi / 110 pods in 3
// zones, pods of 10 owners asking for 250m-1 cpu and 256Mi-1Gi.
func benchCluster(nodes, pods int) ([]*api.Node, []*api.Pod) {
	var ns []*api.Node
	for i := range nodes {
		ns = append(ns, testNode(fmt.Sprintf("node-%05d", i), "32", "128Gi", withLabel(ZoneLabel, fmt.Sprintf("z%d", i%3))))
	}
	var ps []*api.Pod
	for i := range pods {
		ps = append(ps, testPod(fmt.Sprintf("pod-%05d", i), fmt.Sprintf("%dm", 250*(1+i%4)), fmt.Sprintf("%dMi", 256*(1+i%4)),
			withOwner(fmt.Sprintf("app-%d", i%10))))
	}
	return ns, ps
}

func p99(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// BenchmarkSchedule measures the placement algorithm alone: one cycle
// placing every pod on the snapshot.
func BenchmarkSchedule(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", size.nodes, size.pods), func(b *testing.B) {
			nodes, pods := benchCluster(size.nodes, size.pods)
			var lat []time.Duration
			var elapsed time.Duration
			for b.Loop() {
				snap := NewSnapshot(nodes, nil)
				infos := sortedInfos(pods)
				a := NewAlgorithm(Options{})
				pl := newPlan(snap)
				lat = lat[:0]
				start := time.Now()
				var placed []*api.Pod
				for _, pi := range infos {
					t0 := time.Now()
					p := a.place(context.Background(), pl, pi)
					lat = append(lat, time.Since(t0))
					if p.Node == "" {
						b.Fatalf("pod %s unplaced: %s", pi.Key, p.Diagnosis.Message())
					}
					bound := *pi.Pod
					bound.Spec.NodeName = p.Node
					placed = append(placed, &bound)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				verifyPlaced(b, nodes, placed)
				b.StartTimer()
			}
			b.ReportMetric(float64(size.pods*b.N)/elapsed.Seconds(), "pods/s")
			b.ReportMetric(float64(p99(lat).Microseconds()), "p99-µs/pod")
		})
	}
}

func verifyPlaced(tb testing.TB, nodes []*api.Node, pods []*api.Pod) {
	tb.Helper()
	for _, n := range NewSnapshot(nodes, pods).Nodes() {
		if r, a := n.Requested, n.Allocatable; r.MilliCPU > a.MilliCPU || r.Memory > a.Memory || r.Pods > a.Pods {
			tb.Fatalf("node %s over-committed: %+v of %+v", n.Name, r, a)
		}
	}
}

// BenchmarkScheduleAndBind measures the running scheduler: the pods are
// created pending in PostgreSQL first, then one Scheduler places and binds
// them through the resource service (reservation, binding and
// PodScheduled status writes).
func BenchmarkScheduleAndBind(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", size.nodes, size.pods), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ctx := context.Background()
				st, err := store.Open(ctx, store.Config{DSN: storetest.NewDatabase(b), Logger: quiet, MaxConns: 32})
				if err != nil {
					b.Fatal(err)
				}
				svc := resource.New(st, nil)
				cat := api.NewCatalogue()
				nodes, pods := benchCluster(size.nodes, size.pods)
				seed(b, svc, cat, nodes, pods)
				s, err := New(Config{Service: svc, Catalogue: cat, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				var mu sync.Mutex
				var lat []time.Duration
				done := make(chan struct{})
				s.onBound = func(d time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					if lat = append(lat, d); len(lat) == len(pods) {
						close(done)
					}
				}
				runCtx, cancel := context.WithCancel(ctx)
				stopped := make(chan struct{})
				b.StartTimer()
				start := time.Now()
				go func() { s.Run(runCtx); close(stopped) }()
				select {
				case <-done:
				case <-time.After(5 * time.Minute):
					b.Fatal("not all pods bound within 5 minutes")
				}
				elapsed := time.Since(start)
				b.StopTimer()
				cancel()
				<-stopped
				verifyStored(b, svc, cat)
				st.Close()
				b.ReportMetric(float64(len(pods))/elapsed.Seconds(), "pods/s")
				b.ReportMetric(float64(p99(lat).Milliseconds()), "p99-ms/pod")
				b.StartTimer()
			}
		})
	}
}

// seed creates the nodes (with status) and pending pods, 64 at a time.
func seed(b *testing.B, svc *resource.Service, cat *api.Catalogue, nodes []*api.Node, pods []*api.Pod) {
	ctx := context.Background()
	projects, _ := cat.Lookup("projects")
	nodeRes, _ := cat.Lookup(api.NodesResource)
	podRes, _ := cat.Lookup(api.PodsResource)
	if _, err := svc.Create(ctx, projects, &api.Object{Metadata: api.ObjectMeta{Name: "shop"}}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan func() error)
	errs := make(chan error, 1)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := f(); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, n := range nodes {
		work <- func() error {
			obj, err := svc.Create(ctx, nodeRes, &api.Object{Metadata: api.ObjectMeta{Name: n.Metadata.Name, Labels: n.Metadata.Labels}, Spec: json.RawMessage(`{}`)})
			if err != nil {
				return err
			}
			obj.Status, _ = json.Marshal(n.Status)
			_, err = svc.UpdateStatus(ctx, nodeRes, n.Metadata.Name, obj)
			return err
		}
	}
	shop := store.WithProject(ctx, "shop")
	for _, p := range pods {
		work <- func() error {
			spec, _ := json.Marshal(p.Spec)
			_, err := svc.Create(shop, podRes, &api.Object{Metadata: api.ObjectMeta{Name: p.Metadata.Name, Labels: p.Metadata.Labels}, Spec: spec})
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// verifyStored reads everything back and checks for over-commit.
func verifyStored(b *testing.B, svc *resource.Service, cat *api.Catalogue) {
	ctx := store.WithProject(context.Background(), store.AllProjects)
	nodeRes, _ := cat.Lookup(api.NodesResource)
	podRes, _ := cat.Lookup(api.PodsResource)
	var nodes []*api.Node
	var pods []*api.Pod
	for _, res := range []*api.Resource{nodeRes, podRes} {
		opts := api.ListOptions{}
		for {
			list, err := svc.List(ctx, res, opts)
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range list.Items {
				if res == nodeRes {
					n, _ := decodeNode(o)
					nodes = append(nodes, n)
				} else {
					p, _ := decodePod(o)
					if p.Spec.NodeName == "" {
						b.Fatalf("pod %s not bound", p.Metadata.Name)
					}
					pods = append(pods, p)
				}
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
	}
	verifyPlaced(b, nodes, pods)
}
