package agent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testwait"
)

// BenchmarkPodStartToServing measures, for 20 pods created one after the
// other through the API already bound to the node, the time from the
// create call to the pod's first HTTP 200 (p50 and p99), then the test
// process's CPU use and RSS growth while the 20 pods idle for 10 s. The
// process holds the API server and the agent, so those two figures are an
// upper bound for the agent.
func BenchmarkPodStartToServing(b *testing.B) {
	e := newEnv(b, 2)
	// Production intervals: the idle cost is what a real node pays.
	e.stop()
	e.defaults = true
	e.startAgent()
	ctx := context.Background()
	for i := range b.N {
		var lat []time.Duration
		for j := range 20 {
			name := fmt.Sprintf("bench-%d-%d", i, j)
			start := time.Now()
			e.create(b, e.pod(name, nil))
			var ip string
			testwait.Until(b, 30*time.Second, name+" serves", func() error {
				if ip == "" {
					p := e.get(b, name)
					if p.Status.PodIP == "" {
						return fmt.Errorf("no pod IP yet")
					}
					ip = p.Status.PodIP
				}
				_, err := get(fmt.Sprintf("http://%s:8080/", ip))
				return err
			})
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")

		var r0, r1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		t0 := time.Now()
		time.Sleep(10 * time.Second) // measuring idle cost, not waiting for a condition
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()+r1.Stime.Nano()-r0.Stime.Nano()) * time.Nanosecond
		b.ReportMetric(100*cpu.Seconds()/time.Since(t0).Seconds(), "idle-cpu-%")
		b.ReportMetric(float64(rssKiB())/1024, "rss-MiB")

		// The same 20 starts with bare `ctr run` on the same containerd
		// (host network, no API, no scheduling, no probes): the baseline.
		bare := bareCtrRuns(b, e, i)
		b.ReportMetric(float64(bare[len(bare)/2].Milliseconds()), "ctr-p50-ms")
		b.ReportMetric(float64(bare[len(bare)*99/100].Milliseconds()), "ctr-p99-ms")
		b.ReportMetric(float64(lat[len(lat)/2])/float64(bare[len(bare)/2]), "ratio-p50")

		b.StopTimer()
		for j := range 20 {
			name := fmt.Sprintf("bench-%d-%d", i, j)
			_ = e.admin.Delete(ctx, podsRes, project, name, nil)
		}
		testwait.Until(b, 60*time.Second, "bench pods stopped", func() error {
			pods, err := e.agent.Runtime().ListPods(ctx)
			if err != nil || len(pods) != 0 {
				return fmt.Errorf("%d pods left (%v)", len(pods), err)
			}
			return nil
		})
		b.StartTimer()
	}
}

// bareCtrRuns starts 20 containers of the test image with `ctr run` on the
// env's containerd and returns, sorted, the time from the command to the
// first HTTP 200; it removes them again.
func bareCtrRuns(b *testing.B, e *env, round int) []time.Duration {
	b.Helper()
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		b.Fatalf("ctr (Debian package containerd): %v", err)
	}
	base := []string{"--address", e.daemon.Address(), "--namespace", e.ns}
	var lat []time.Duration
	for j := range 20 {
		id := fmt.Sprintf("ctr-bench-%d-%d", round, j)
		port := 19000 + round*100 + j
		start := time.Now()
		out, err := exec.Command(ctr, append(base, "run", "-d", "--net-host", "--env", fmt.Sprintf("PORT=%d", port), testImage, id)...).CombinedOutput()
		if err != nil {
			b.Fatalf("ctr run: %v: %s", err, out)
		}
		testwait.Until(b, 30*time.Second, id+" serves", func() error {
			_, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			return err
		})
		lat = append(lat, time.Since(start))
		defer func() {
			exec.Command(ctr, append(base, "task", "kill", "-s", "SIGKILL", id)...).Run()
			for k := 0; k < 100; k++ {
				if exec.Command(ctr, append(base, "task", "delete", id)...).Run() == nil {
					break
				}
				time.Sleep(20 * time.Millisecond) // waiting for the killed task to exit
			}
			exec.Command(ctr, append(base, "container", "delete", id)...).Run()
		}()
	}
	slices.Sort(lat)
	return lat
}

// rssKiB reads this process's resident set size.
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
