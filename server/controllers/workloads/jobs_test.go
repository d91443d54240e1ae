package workloads_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/api"
)

func job(name string, mutate func(*api.JobSpec)) *api.Job {
	j := &api.Job{Metadata: api.ObjectMeta{Name: name}, Spec: api.JobSpec{
		Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: map[string]string{"job": name}},
			Spec: api.PodSpec{RestartPolicy: api.RestartNever, Containers: []api.Container{{Name: "task", Image: "localhost:8443/shop/" + name + ":1"}}}},
	}}
	if mutate != nil {
		mutate(&j.Spec)
	}
	return j
}

func waitJob(t *testing.T, h *harness, name, condition, reason string) *api.Job {
	t.Helper()
	var out *api.Job
	eventually(t, name+" "+condition, func() error {
		j, err := get[api.Job](h, api.JobsResource, name)
		if err != nil {
			return err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == condition && c.Status == api.ConditionTrue && c.Reason == reason {
				out = j
				return nil
			}
		}
		return fmt.Errorf("status %+v", j.Status)
	})
	return out
}

func TestJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newStore(t), nil)
	var mu sync.Mutex
	flakyFailures := 0
	h.setDecide(func(p *api.Pod) outcome {
		switch name := p.Metadata.Labels[api.JobLabel]; name {
		case "batch":
			return succeed
		case "broken":
			return fail
		case "flaky":
			mu.Lock()
			defer mu.Unlock()
			if flakyFailures < 2 {
				flakyFailures++
				return fail
			}
			return succeed
		}
		return runReady // runs forever
	})
	t.Run("completions with parallelism", func(t *testing.T) {
		stop := h.monitor(func(pods map[string]*api.Pod) string {
			running := 0
			for _, p := range pods {
				if p.Metadata.Labels[api.JobLabel] == "batch" && p.Status.Phase != api.PodSucceeded && p.Metadata.DeletionTimestamp == nil {
					running++
				}
			}
			if running > 2 {
				return fmt.Sprintf("%d pods running, parallelism is 2", running)
			}
			return ""
		})
		h.create(api.JobsResource, job("batch", func(s *api.JobSpec) { s.Completions, s.Parallelism = int32p(5), int32p(2) }))
		j := waitJob(t, h, "batch", api.JobComplete, "")
		if problems := stop(); len(problems) > 0 {
			t.Fatalf("parallelism exceeded:\n%s", strings.Join(problems, "\n"))
		}
		if j.Status.Succeeded != 5 || j.Status.Active != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
			t.Fatalf("status %+v", j.Status)
		}
	})
	t.Run("backoff limit", func(t *testing.T) {
		h.create(api.JobsResource, job("broken", func(s *api.JobSpec) { s.BackoffLimit = int32p(2) }))
		j := waitJob(t, h, "broken", api.JobFailed, api.ReasonBackoffLimitExceeded)
		if j.Status.Failed != 3 || j.Status.Active != 0 || j.Status.Succeeded != 0 {
			t.Fatalf("status %+v", j.Status)
		}
		if n := len(list[api.Pod](h, api.PodsResource, api.JobLabel+"=broken")); n != 3 {
			t.Fatalf("%d pods, want the 3 failed ones kept", n)
		}
	})
	t.Run("retries then succeeds", func(t *testing.T) {
		h.create(api.JobsResource, job("flaky", nil))
		j := waitJob(t, h, "flaky", api.JobComplete, "")
		if j.Status.Failed != 2 || j.Status.Succeeded != 1 {
			t.Fatalf("status %+v", j.Status)
		}
	})
	t.Run("active deadline", func(t *testing.T) {
		h.create(api.JobsResource, job("forever", func(s *api.JobSpec) {
			s.ActiveDeadlineSeconds = new(int64)
			*s.ActiveDeadlineSeconds = 1
			s.Parallelism, s.Completions = int32p(2), int32p(2)
		}))
		j := waitJob(t, h, "forever", api.JobFailed, api.ReasonDeadlineExceeded)
		if j.Status.Active != 0 {
			t.Fatalf("status %+v", j.Status)
		}
		eventually(t, "pods stopped", func() error {
			for _, p := range list[api.Pod](h, api.PodsResource, api.JobLabel+"=forever") {
				if p.Metadata.DeletionTimestamp == nil {
					return fmt.Errorf("pod %s still running", p.Metadata.Name)
				}
			}
			return nil
		})
	})
}
