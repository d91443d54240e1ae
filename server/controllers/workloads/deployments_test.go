package workloads_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/controllers/workloads"
)

const (
	imageV1     = "localhost:8443/shop/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	imageV2     = "localhost:8443/shop/web@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	imageBroken = "localhost:8443/shop/web:broken"
)

func int32p(v int32) *int32 { return &v }

func deployment(name string, replicas int32, image string, mutate func(*api.DeploymentSpec)) *api.Deployment {
	d := &api.Deployment{Metadata: api.ObjectMeta{Name: name}, Spec: api.DeploymentSpec{
		Replicas: int32p(replicas),
		Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: api.PodTemplate{Metadata: api.TemplateMeta{Labels: map[string]string{"app": name}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: image,
				Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}},
	}}
	if mutate != nil {
		mutate(&d.Spec)
	}
	return d
}

// activePods are the deployment's pods that are not terminating.
func activePods(pods map[string]*api.Pod, deployment string) (active, ready int) {
	for _, p := range pods {
		if p.Metadata.Labels[api.DeploymentLabel] != deployment || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		active++
		if isReady(p) {
			ready++
		}
	}
	return active, ready
}

// waitRolledOut waits until the deployment's rollout of image is complete:
// status says so and exactly replicas pods of image run, ready.
func waitRolledOut(t *testing.T, h *harness, name, image string) {
	t.Helper()
	eventually(t, name+" rolled out "+image, func() error {
		d, err := get[api.Deployment](h, api.DeploymentsResource, name)
		if err != nil {
			return err
		}
		want := d.Spec.EffectiveReplicas()
		st := d.Status
		if st.ObservedGeneration != d.Metadata.Generation || st.UpdatedReplicas != want || st.Replicas != want || st.AvailableReplicas != want {
			return fmt.Errorf("status %+v (generation %d, replicas %d)", st, d.Metadata.Generation, want)
		}
		var progressing *api.DeploymentCondition
		for i := range st.Conditions {
			if st.Conditions[i].Type == api.DeploymentProgressing {
				progressing = &st.Conditions[i]
			}
		}
		if progressing == nil || progressing.Reason != api.ReasonNewReplicaSetAvailable {
			return fmt.Errorf("progressing %+v", progressing)
		}
		n := 0
		for _, p := range list[api.Pod](h, api.PodsResource, api.DeploymentLabel+"="+name) {
			if p.Metadata.DeletionTimestamp != nil {
				continue
			}
			if p.Spec.Containers[0].Image != image || !isReady(p) {
				return fmt.Errorf("pod %s runs %s (ready %v)", p.Metadata.Name, p.Spec.Containers[0].Image, isReady(p))
			}
			n++
		}
		if n != int(want) {
			return fmt.Errorf("%d pods, want %d", n, want)
		}
		return nil
	})
}

func revisions(h *harness, name string) map[string]string {
	out := map[string]string{}
	for _, rs := range list[api.ReplicaSet](h, api.ReplicaSetsResource, api.DeploymentLabel+"="+name) {
		out[rs.Metadata.Annotations[api.RevisionAnnotation]] = rs.Spec.Template.Spec.Containers[0].Image
	}
	return out
}

// A rolling update never runs more than replicas+maxSurge pods nor has
// fewer than replicas-maxUnavailable ready; a rollout whose pods never get
// ready stops there and is marked failed at its progress deadline; a
// rollback restores the earlier template exactly and turns the automatic
// image trigger off.
func TestRollingUpdateRollbackAndDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newStore(t), nil)
	h.setDecide(func(p *api.Pod) outcome {
		if p.Spec.Containers[0].Image == imageBroken {
			return runNotReady
		}
		return runReady
	})
	h.create(api.DeploymentsResource, deployment("web", 4, imageV1, func(s *api.DeploymentSpec) {
		one := api.FromInt(1)
		s.Strategy = api.Strategy{Type: api.RollingUpdateStrategy, RollingUpdate: &api.RollingUpdateParams{MaxSurge: &one, MaxUnavailable: &one}}
		s.ProgressDeadlineSeconds = int32p(2)
		s.Triggers = []api.DeploymentTrigger{{Type: api.ImageChangeTrigger,
			ImageChange: &api.ImageChangeParams{From: "web:latest", ContainerNames: []string{"app"}, Automatic: true}}}
	}))
	waitRolledOut(t, h, "web", imageV1)

	bounds := func(pods map[string]*api.Pod) string {
		active, ready := activePods(pods, "web")
		switch {
		case active > 5:
			return fmt.Sprintf("%d pods, more than replicas+maxSurge = 5", active)
		case ready < 3:
			return fmt.Sprintf("%d ready pods, fewer than replicas-maxUnavailable = 3", ready)
		}
		return ""
	}
	stop := h.monitor(bounds)
	h.patch(api.DeploymentsResource, "web", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+imageV2+`","ports":[{"name":"http","containerPort":8080}]}]}}}}`)
	waitRolledOut(t, h, "web", imageV2)
	if problems := stop(); len(problems) > 0 {
		t.Fatalf("rolling update broke its bounds:\n%s", strings.Join(problems, "\n"))
	}
	if got := revisions(h, "web"); got["1"] != imageV1 || got["2"] != imageV2 {
		t.Fatalf("revisions %v", got)
	}

	// A rollout whose pods never get ready: the old pods stay within
	// maxUnavailable and the rollout is marked failed at its deadline.
	stop = h.monitor(bounds)
	h.patch(api.DeploymentsResource, "web", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+imageBroken+`","ports":[{"name":"http","containerPort":8080}]}]}}}}`)
	eventually(t, "stuck rollout marked failed", func() error {
		d, err := get[api.Deployment](h, api.DeploymentsResource, "web")
		if err != nil {
			return err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == api.DeploymentProgressing && c.Status == api.ConditionFalse && c.Reason == api.ReasonProgressDeadlineExceeded {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", d.Status.Conditions)
	})
	if problems := stop(); len(problems) > 0 {
		t.Fatalf("stuck rollout broke its bounds:\n%s", strings.Join(problems, "\n"))
	}
	d, _ := get[api.Deployment](h, api.DeploymentsResource, "web")
	if d.Status.AvailableReplicas != 3 || d.Status.UpdatedReplicas != 2 {
		t.Fatalf("stuck rollout: %d available, %d updated; want 3 old pods kept and 2 new ones tried", d.Status.AvailableReplicas, d.Status.UpdatedReplicas)
	}

	// Roll back to the previous revision: the exact digest comes back and
	// the automatic trigger is off, with the reason recorded.
	ops := &workloads.Operations{Service: h.svc, Catalogue: h.cat}
	if _, err := ops.Rollback(h.ctx, "web", api.DeploymentRollback{}); err != nil {
		t.Fatal(err)
	}
	d, _ = get[api.Deployment](h, api.DeploymentsResource, "web")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Fatalf("rolled back to %s, want %s", img, imageV2)
	}
	if d.Spec.Triggers[0].ImageChange.Automatic {
		t.Fatal("the image trigger is still automatic after a rollback")
	}
	if note := d.Metadata.Annotations[api.RollbackAnnotation]; !strings.Contains(note, "revision 2") || !strings.Contains(note, "web:latest") {
		t.Fatalf("rollback annotation %q", note)
	}
	waitRolledOut(t, h, "web", imageV2)
	// The old ReplicaSet came back as the newest revision.
	if got := revisions(h, "web"); got["4"] != imageV2 || got["3"] != imageBroken || got["1"] != imageV1 {
		t.Fatalf("revisions after rollback %v", got)
	}

	// An explicit revision; an unknown one is refused.
	if _, err := ops.Rollback(h.ctx, "web", api.DeploymentRollback{ToRevision: 9}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("rollback to a missing revision: %v", err)
	}
	if _, err := ops.Rollback(h.ctx, "web", api.DeploymentRollback{ToRevision: 1}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, h, "web", imageV1)

	// History beyond revisionHistoryLimit is pruned.
	h.patch(api.DeploymentsResource, "web", `{"spec":{"revisionHistoryLimit":1}}`)
	eventually(t, "history pruned", func() error {
		if got := revisions(h, "web"); len(got) != 2 {
			return fmt.Errorf("revisions %v", got)
		}
		return nil
	})

	// Deleting the deployment deletes its ReplicaSets and pods.
	if _, _, err := h.svc.Delete(h.ctx, h.res(api.DeploymentsResource), "web", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deployment and dependents gone", func() error {
		if _, err := get[api.Deployment](h, api.DeploymentsResource, "web"); !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("deployment: %v", err)
		}
		if n := len(list[api.ReplicaSet](h, api.ReplicaSetsResource, "")); n > 0 {
			return fmt.Errorf("%d replica sets left", n)
		}
		if n := len(list[api.Pod](h, api.PodsResource, "")); n > 0 {
			return fmt.Errorf("%d pods left", n)
		}
		return nil
	})
}

// Recreate stops every old pod before the first new one starts.
func TestRecreate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newStore(t), nil)
	h.create(api.DeploymentsResource, deployment("db", 3, imageV1, func(s *api.DeploymentSpec) {
		s.Strategy = api.Strategy{Type: api.RecreateStrategy}
	}))
	waitRolledOut(t, h, "db", imageV1)
	stop := h.monitor(func(pods map[string]*api.Pod) string {
		images := map[string]bool{}
		for _, p := range pods {
			if p.Metadata.Labels[api.DeploymentLabel] == "db" {
				images[p.Spec.Containers[0].Image] = true // terminating ones too
			}
		}
		if len(images) > 1 {
			return "old and new pods exist at once"
		}
		return ""
	})
	h.patch(api.DeploymentsResource, "db", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+imageV2+`"}]}}}}`)
	waitRolledOut(t, h, "db", imageV2)
	if problems := stop(); len(problems) > 0 {
		t.Fatalf("recreate overlapped:\n%s", strings.Join(problems, "\n"))
	}
	// Once rolled out, nothing writes: no controller loops on its own writes.
	before, err := h.svc.Store().CurrentRevision(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-time.After(500 * time.Millisecond) // an observation window, not a synchronisation
	if after, _ := h.svc.Store().CurrentRevision(h.ctx); after != before {
		t.Fatalf("the store moved from revision %d to %d with nothing to do", before, after)
	}
}

// A paused deployment does not roll out template changes until resumed.
func TestPausedDeploymentDoesNotRoll(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newStore(t), nil)
	h.create(api.DeploymentsResource, deployment("api", 2, imageV1, nil))
	waitRolledOut(t, h, "api", imageV1)
	h.patch(api.DeploymentsResource, "api", `{"spec":{"paused":true,"template":{"spec":{"containers":[{"name":"app","image":"`+imageV2+`"}]}}}}`)
	eventually(t, "paused condition", func() error {
		d, _ := get[api.Deployment](h, api.DeploymentsResource, "api")
		for _, c := range d.Status.Conditions {
			if c.Reason == api.ReasonDeploymentPaused && d.Status.ObservedGeneration == d.Metadata.Generation {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", d.Status.Conditions)
	})
	if got := revisions(h, "api"); len(got) != 1 {
		t.Fatalf("a paused deployment created a revision: %v", got)
	}
	h.patch(api.DeploymentsResource, "api", `{"spec":{"paused":false}}`)
	waitRolledOut(t, h, "api", imageV2)
}
