package builder_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/builder/images"
)

// BenchmarkBuild measures a whole S2I build of each sample (fetch from a
// local Git repository, assemble in the builder image on containerd,
// commit, write the image; no push) cold — no previous image — and
// incremental — the previous output's artifacts injected (for s2i-go,
// its build cache). Reported as seconds per build.
func BenchmarkBuild(b *testing.B) {
	e := newEnv(b)
	for _, s := range []struct{ name, builder string }{
		{"static", images.Static}, {"python", images.Python}, {"go", images.Go},
	} {
		repo := gittest.New(b)
		repo.CommitDir("main", "sample", samplesDir(s.name))
		for _, mode := range []string{"cold", "incremental"} {
			b.Run(s.name+"/"+mode, func(b *testing.B) {
				spec := buildSpec{name: s.name + "-" + mode, builder: s.builder, uri: repo.URI(), incremental: mode == "incremental"}
				if mode == "incremental" {
					// The previous image the first measured build reuses.
					if res := e.build(b, spec); res.ExitCode != 0 {
						b.Fatalf("build failed: %+v\n%s", res.Result, res.log)
					}
				}
				var total time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if mode == "cold" {
						spec.name = fmt.Sprintf("%s-cold-%d", s.name, i) // no previous image
					}
					start := time.Now()
					res := e.build(b, spec)
					total += time.Since(start)
					if res.ExitCode != 0 {
						b.Fatalf("build failed: %+v\n%s", res.Result, res.log)
					}
				}
				b.ReportMetric(total.Seconds()/float64(b.N), "s/build")
			})
		}
	}
}
