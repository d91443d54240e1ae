package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/slipway/slipway/server/store"
)

// BenchmarkStoreCreate measures the store alone (no HTTP): b.N creates from
// 32 goroutines, and the group committer's mean batch size.
func BenchmarkStoreCreate(b *testing.B) {
	reg := prometheus.NewRegistry()
	s := newStore(b, store.Config{Registerer: reg})
	res := resource(b, "projects")
	var next atomic.Int64
	run := time.Now().UnixNano()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < benchWriters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				if _, err := s.Create(context.Background(), res, project(fmt.Sprintf("s%d-%d", run, n), nil)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "slipway_store_commit_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "writes/commit")
		}
	}
	_ = dto.MetricType_HISTOGRAM
}

var benchWriters = envInt("BENCH_WRITERS", 32)

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}
