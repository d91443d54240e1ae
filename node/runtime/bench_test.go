package runtime_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testpeer"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
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

// BenchmarkContainerLog measures how fast a container's output reaches its
// log file: a pod writes 64 MiB of 71-byte lines to stdout, timed from
// RunPod until the whole of it is in the file, through the shim writing
// the file itself and through slipway-container-log (the node's default).
// Run: go test -run ^$ -bench ContainerLog -benchtime 3x ./node/runtime/
func BenchmarkContainerLog(b *testing.B) {
	const size = 64 << 20
	e := newEnv(b, 5)
	ctx := context.Background()
	for _, arm := range []struct{ name, logBinary string }{
		{"shim-file", ""},
		{"container-log", testpeer.LogBinary(b)},
	} {
		b.Run(arm.name, func(b *testing.B) {
			rt, err := runtime.New(runtime.Options{Client: e.daemon.Client(), Namespace: e.ns, Dir: e.rtDir, Network: e.net,
				Logger: e.logger, LogBinary: arm.logBinary})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				uid := fmt.Sprintf("log-%s-%d", arm.name, i)
				_, err := rt.RunPod(ctx, podspec.Pod{UID: uid, Project: "bench", Name: uid, Containers: []podspec.Container{{
					Name: "talker", Image: testImage,
					Command: []string{"sh", "-c", fmt.Sprintf("yes %070d | head -c %d", 0, size)}}}})
				if err != nil {
					b.Fatalf("RunPod: %v", err)
				}
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
					st, err := os.Stat(rt.LogPath(uid, "talker"))
					if err == nil && st.Size() >= size {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("the log is not complete after a minute: %v, %v", st, err)
					}
				}
				b.StopTimer()
				if err := rt.DeletePod(ctx, uid); err != nil {
					b.Fatalf("DeletePod: %v", err)
				}
				b.StartTimer()
			}
		})
	}
}
