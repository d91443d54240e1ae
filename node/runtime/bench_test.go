package runtime_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/node/podspec"
)

// BenchmarkPodStartToServing measures, for 20 pods one after another with
// the image present, the time from RunPod to the first HTTP 200 from the
// pod IP (netns + CNI ADD + container + task + httpd start), and reports
// p50/p99 in ms. Compare with bare `ctr run -d` → HTTP (~50 ms, FIELD-NOTES
// 1.4). Run: go test -run ^$ -bench PodStartToServing -benchtime 1x ./node/runtime/
func BenchmarkPodStartToServing(b *testing.B) {
	const pods = 20
	e := newEnv(b, 4)
	ctx := context.Background()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		for j := 0; j < pods; j++ {
			uid := fmt.Sprintf("bench-%d-%d", i, j)
			start := time.Now()
			ps, err := e.rt.RunPod(ctx, podspec.Pod{UID: uid, Project: "bench", Name: uid,
				Containers: []podspec.Container{{Name: "web", Image: testImage}}})
			if err != nil {
				b.Fatalf("RunPod: %v", err)
			}
			url := fmt.Sprintf("http://%s:8080/", ps.IP)
			for {
				if _, err := get(url); err == nil {
					break
				}
				if time.Since(start) > 10*time.Second {
					b.Fatalf("pod %s not serving after 10 s", uid)
				}
				time.Sleep(2 * time.Millisecond) // polling interval
			}
			lat = append(lat, time.Since(start))
			b.StopTimer()
			if err := e.rt.DeletePod(ctx, uid); err != nil {
				b.Fatalf("DeletePod: %v", err)
			}
			b.StartTimer()
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[0].Microseconds())/1000, "min-ms")
}
