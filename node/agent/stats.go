package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/node/runtime"
)

// reading is one sample of cumulative usage, for rates between two.
type reading struct {
	at   time.Time
	host runtime.Usage
	// containers by pod uid, then container name.
	containers map[string]map[string]runtime.Usage
}

// runStats reads the host's and every pod's usage each StatsInterval and
// publishes the summary GET /stats/summary serves: CPU rates between the
// last two readings, working sets of the last.
func (a *Agent) runStats(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	var prev *reading
	for {
		cur, err := a.readUsage(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.WarnContext(ctx, "read resource usage", "err", err)
		case err == nil && prev != nil:
			a.stats.Store(a.summarise(prev, cur))
		}
		if err == nil {
			prev = cur
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) readUsage(ctx context.Context) (*reading, error) {
	host, err := runtime.HostUsage()
	if err != nil {
		return nil, err
	}
	pods, err := a.rt.ListPods(ctx)
	if err != nil {
		return nil, err
	}
	r := &reading{at: a.cfg.Now(), host: host, containers: map[string]map[string]runtime.Usage{}}
	for _, p := range pods {
		usage, err := a.rt.PodUsage(ctx, p.UID)
		if err != nil {
			// A pod stopping meanwhile: leave it out of this reading.
			a.log.DebugContext(ctx, "read pod usage", "project", p.Project, "name", p.Name, "err", err)
			continue
		}
		m := map[string]runtime.Usage{}
		for _, c := range usage {
			m[c.Name] = c.Usage
		}
		r.containers[p.UID] = m
	}
	return r, nil
}

// summarise turns two readings into rates; a container new since prev
// reports its memory and no CPU yet.
func (a *Agent) summarise(prev, cur *reading) *api.NodeStats {
	window := cur.at.Sub(prev.at)
	rate := func(before, after time.Duration) int64 {
		if window <= 0 || after < before {
			return 0
		}
		return int64(float64(after-before) / float64(window) * 1000)
	}
	out := &api.NodeStats{Kind: "NodeStats", APIVersion: "v1", Node: a.cfg.NodeName, Timestamp: cur.at.UTC(),
		Window: window.Round(time.Millisecond).String(), Pods: []api.PodStats{},
		Usage: api.ResourceUsage{CPUMillicores: rate(prev.host.CPU, cur.host.CPU), MemoryBytes: cur.host.WorkingSet}}
	for uid, containers := range cur.containers {
		p, _ := a.pods.get(uid)
		if p == nil {
			continue // not (or no longer) a pod of the API
		}
		ps := api.PodStats{Project: p.Metadata.Project, Name: p.Metadata.Name}
		for name, u := range containers {
			cs := api.ContainerStats{Name: name, Usage: api.ResourceUsage{MemoryBytes: u.WorkingSet}}
			if before, ok := prev.containers[uid][name]; ok {
				cs.Usage.CPUMillicores = rate(before.CPU, u.CPU)
			}
			ps.Usage.CPUMillicores += cs.Usage.CPUMillicores
			ps.Usage.MemoryBytes += cs.Usage.MemoryBytes
			ps.Containers = append(ps.Containers, cs)
		}
		out.Pods = append(out.Pods, ps)
	}
	return out
}

// serveStats answers GET /stats/summary with the latest summary.
func (a *Agent) serveStats(w http.ResponseWriter, _ *http.Request) {
	st := a.stats.Load()
	if st == nil {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "no usage summary yet: the node takes two readings, "+a.cfg.StatsInterval.String()+" apart", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
