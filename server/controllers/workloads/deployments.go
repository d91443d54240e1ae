package workloads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
)

// Deployments rolls each Deployment's pods from ReplicaSet to ReplicaSet.
// Every distinct pod template is one ReplicaSet named <deployment>-<hash of
// the template>, numbered by the deployment.slipway.io/revision annotation;
// returning to an earlier template (a rollback) reuses its ReplicaSet under
// a new number. RollingUpdate scales the new ReplicaSet up and the old ones
// down in steps bounded by maxSurge and maxUnavailable, counting only pods
// that have been ready for minReadySeconds; Recreate scales the old ones to
// zero, waits for their pods to be gone, then scales the new one up.
//
// The controller acts only when every ReplicaSet's controller has observed
// its latest spec (status.observedGeneration), so the counts it steps from
// are current; each step is one write, and the ReplicaSet's status update
// brings the next reconcile.
type Deployments struct {
	deps
}

// NewDeployments returns the deployment reconciler.
func NewDeployments(d Deps) reconcile.Reconciler { return &Deployments{newDeps(d)} }

// rollout is the state one reconcile works from.
type rollout struct {
	d      *api.Deployment
	obj    *api.Object
	newRS  *api.ReplicaSet
	oldRSs []*api.ReplicaSet // by revision, oldest first
	all    []*api.ReplicaSet
	// created and scaled say what this reconcile did, for the Progressing
	// condition.
	created, scaled bool
}

// Reconcile implements reconcile.Reconciler.
func (c *Deployments) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := c.Service.Get(ctx, c.deployments, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return reconcile.Result{}, releaseDependents(ctx, c.Service, c.deployments, obj, []*api.Resource{c.replicaSets}, api.DeploymentLabel)
	}
	d, err := decodeAs[api.Deployment](obj)
	if err != nil {
		return reconcile.Result{}, err
	}
	r := &rollout{d: d, obj: obj}
	if r.all, err = c.ownedReplicaSets(ctx, d); err != nil {
		return reconcile.Result{}, err
	}
	r.newRS, r.oldRSs = splitReplicaSets(d, r.all)
	if !d.Spec.Paused {
		if r.newRS == nil {
			if err := c.createNewReplicaSet(ctx, r); err != nil {
				return reconcile.Result{}, err
			}
		} else if err := c.renumber(ctx, r); err != nil {
			return reconcile.Result{}, err
		}
	}
	if synced(r.all) && !r.created {
		if err := c.step(ctx, r); err != nil {
			return reconcile.Result{}, err
		}
		if !r.scaled {
			if err := c.pruneHistory(ctx, r); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	return c.updateStatus(ctx, r)
}

// ownedReplicaSets lists the deployment's ReplicaSets sorted by revision.
func (c *Deployments) ownedReplicaSets(ctx context.Context, d *api.Deployment) ([]*api.ReplicaSet, error) {
	list, err := c.Service.List(ctx, c.replicaSets, api.ListOptions{LabelSelector: api.DeploymentLabel + "=" + d.Metadata.Name})
	if err != nil {
		return nil, fmt.Errorf("list replica sets of deployment %q: %w", d.Metadata.Name, err)
	}
	var out []*api.ReplicaSet
	for _, obj := range list.Items {
		if obj.Metadata.Annotations[api.OwnerUIDAnnotation] != d.Metadata.UID || obj.Metadata.DeletionTimestamp != nil {
			continue
		}
		rs, err := decodeAs[api.ReplicaSet](obj)
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	slices.SortStableFunc(out, func(a, b *api.ReplicaSet) int { return int(revision(a) - revision(b)) })
	return out, nil
}

// splitReplicaSets finds the ReplicaSet of the current template.
func splitReplicaSets(d *api.Deployment, all []*api.ReplicaSet) (newRS *api.ReplicaSet, old []*api.ReplicaSet) {
	want := templateKey(d.Spec.Template)
	for _, rs := range all {
		if newRS == nil && templateKey(podTemplateWithout(rs.Spec.Template, api.PodTemplateHashLabel)) == want {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

func templateKey(t api.PodTemplate) string {
	raw, _ := json.Marshal(t) // maps marshal sorted: a canonical form
	return string(raw)
}

// templateHash names a template's ReplicaSet; collisions (another template
// with the same name) bump status.collisionCount and rehash.
func templateHash(t api.PodTemplate, collisions int32) string {
	h := fnv.New32a()
	h.Write([]byte(templateKey(t)))
	if collisions > 0 {
		h.Write([]byte(strconv.Itoa(int(collisions))))
	}
	v := h.Sum32()
	out := make([]byte, 0, 10)
	for range 10 {
		out = append(out, suffixAlphabet[v%uint32(len(suffixAlphabet))])
		v /= uint32(len(suffixAlphabet))
	}
	return string(out)
}

func revision(rs *api.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Metadata.Annotations[api.RevisionAnnotation], 10, 64)
	return n
}

func maxRevision(rss []*api.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// synced tells whether every ReplicaSet's controller has acted on its
// latest spec.
func synced(rss []*api.ReplicaSet) bool {
	for _, rs := range rss {
		if rs.Status.ObservedGeneration < rs.Metadata.Generation {
			return false
		}
	}
	return true
}

func replicasOf(rs *api.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return rs.Spec.EffectiveReplicas()
}

// createNewReplicaSet creates the ReplicaSet of the current template, with
// no pods yet (Recreate and RollingUpdate scale it up), or with every
// replica when it is the deployment's first.
func (c *Deployments) createNewReplicaSet(ctx context.Context, r *rollout) error {
	d := r.d
	var collisions int32
	if d.Status.CollisionCount != nil {
		collisions = *d.Status.CollisionCount
	}
	hash := templateHash(d.Spec.Template, collisions)
	tmpl := d.Spec.Template
	tmpl.Metadata.Labels = maps.Clone(tmpl.Metadata.Labels)
	if tmpl.Metadata.Labels == nil {
		tmpl.Metadata.Labels = map[string]string{}
	}
	tmpl.Metadata.Labels[api.PodTemplateHashLabel] = hash
	selector := &api.LabelSelector{MatchLabels: maps.Clone(d.Spec.Selector.MatchLabels)}
	selector.MatchLabels[api.PodTemplateHashLabel] = hash
	labels := maps.Clone(d.Spec.Template.Metadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[api.DeploymentLabel] = d.Metadata.Name
	labels[api.PodTemplateHashLabel] = hash
	var replicas int32
	if len(r.all) == 0 {
		replicas = d.Spec.EffectiveReplicas()
	}
	rs := &api.ReplicaSet{Kind: "ReplicaSet", APIVersion: api.Version,
		Metadata: api.ObjectMeta{Name: childName(d.Metadata.Name, hash), Labels: labels, Annotations: map[string]string{
			api.OwnerUIDAnnotation: d.Metadata.UID,
			api.RevisionAnnotation: strconv.FormatInt(maxRevision(r.all)+1, 10),
		}},
		Spec: api.ReplicaSetSpec{Replicas: &replicas, MinReadySeconds: d.Spec.MinReadySeconds, Selector: selector, Template: tmpl},
	}
	obj, err := encode(rs)
	if err != nil {
		return err
	}
	obj.Status = nil
	created, err := c.Service.Create(ctx, c.replicaSets, obj)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		existing, getErr := c.Service.Get(ctx, c.replicaSets, rs.Metadata.Name)
		if getErr != nil {
			return fmt.Errorf("read replica set %q: %w", rs.Metadata.Name, getErr)
		}
		if ours, err := decodeAs[api.ReplicaSet](existing); err == nil && ours.Metadata.DeletionTimestamp == nil &&
			ours.Metadata.Annotations[api.OwnerUIDAnnotation] == d.Metadata.UID &&
			templateKey(podTemplateWithout(ours.Spec.Template, api.PodTemplateHashLabel)) == templateKey(d.Spec.Template) {
			// This template's ReplicaSet was made after the list above
			// (by an earlier pass or another controller): not a collision.
			return fmt.Errorf("replica set %q of deployment %q appeared meanwhile: %w", rs.Metadata.Name, d.Metadata.Name, errdefs.ErrConflict)
		}
		// Another template hashed to the same name: count the collision
		// and come back with a new hash.
		d.Status.CollisionCount = ptr(collisions + 1)
		if err := writeStatus(ctx, c.Service, c.deployments, r.obj, d.Status); err != nil {
			return err
		}
		return fmt.Errorf("replica set name %q is taken; rehashing: %w", rs.Metadata.Name, errdefs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create replica set for deployment %q: %w", d.Metadata.Name, err)
	}
	if r.newRS, err = decodeAs[api.ReplicaSet](created); err != nil {
		return err
	}
	r.all = append(r.all, r.newRS)
	r.created = true
	c.Logger.InfoContext(ctx, "new revision", "project", d.Metadata.Project, "kind", "Deployment", "name", d.Metadata.Name,
		"replicaset", r.newRS.Metadata.Name, "revision", rs.Metadata.Annotations[api.RevisionAnnotation])
	return nil
}

// renumber gives the current template's ReplicaSet the newest revision
// when an older template came back (a rollback).
func (c *Deployments) renumber(ctx context.Context, r *rollout) error {
	top := maxRevision(r.oldRSs)
	if revision(r.newRS) > top {
		return nil
	}
	next, err := c.updateReplicaSet(ctx, r.newRS, func(rs *api.ReplicaSet) {
		rs.Metadata.Annotations[api.RevisionAnnotation] = strconv.FormatInt(top+1, 10)
	})
	if err != nil {
		return err
	}
	r.replace(next)
	return nil
}

func (r *rollout) replace(rs *api.ReplicaSet) {
	for i, x := range r.all {
		if x.Metadata.Name == rs.Metadata.Name {
			r.all[i] = rs
		}
	}
	for i, x := range r.oldRSs {
		if x.Metadata.Name == rs.Metadata.Name {
			r.oldRSs[i] = rs
		}
	}
	if r.newRS != nil && r.newRS.Metadata.Name == rs.Metadata.Name {
		r.newRS = rs
	}
}

// updateReplicaSet writes a change to a ReplicaSet's spec or metadata.
func (c *Deployments) updateReplicaSet(ctx context.Context, rs *api.ReplicaSet, change func(*api.ReplicaSet)) (*api.ReplicaSet, error) {
	next := *rs
	next.Metadata.Annotations = maps.Clone(rs.Metadata.Annotations)
	change(&next)
	obj, err := encode(&next)
	if err != nil {
		return nil, err
	}
	updated, err := c.Service.Update(ctx, c.replicaSets, rs.Metadata.Name, obj)
	if err != nil {
		return nil, fmt.Errorf("update replica set %q: %w", rs.Metadata.Name, err)
	}
	return decodeAs[api.ReplicaSet](updated)
}

// scaleTo sets a ReplicaSet's replicas.
func (c *Deployments) scaleTo(ctx context.Context, r *rollout, rs *api.ReplicaSet, n int32) error {
	if replicasOf(rs) == n {
		return nil
	}
	next, err := c.updateReplicaSet(ctx, rs, func(rs *api.ReplicaSet) { rs.Spec.Replicas = ptr(n) })
	if err != nil {
		return err
	}
	r.replace(next)
	r.scaled = true
	return nil
}

// step takes the rollout one step towards its goal.
func (c *Deployments) step(ctx context.Context, r *rollout) error {
	d := r.d
	replicas := d.Spec.EffectiveReplicas()
	if d.Spec.Paused {
		// A paused deployment still scales when it has one active
		// ReplicaSet; it does not roll.
		if r.newRS != nil && activeCount(r.oldRSs) == 0 {
			return c.scaleTo(ctx, r, r.newRS, replicas)
		}
		return nil
	}
	if d.Spec.IsRecreate() {
		return c.recreate(ctx, r, replicas)
	}
	return c.rollingUpdate(ctx, r, replicas)
}

func activeCount(rss []*api.ReplicaSet) int {
	n := 0
	for _, rs := range rss {
		if replicasOf(rs) > 0 || rs.Status.Replicas > 0 {
			n++
		}
	}
	return n
}

func (c *Deployments) recreate(ctx context.Context, r *rollout, replicas int32) error {
	for _, rs := range r.oldRSs {
		if err := c.scaleTo(ctx, r, rs, 0); err != nil {
			return err
		}
	}
	if r.scaled {
		return nil
	}
	// The old pods must be gone, terminating ones included, before the new
	// ones start.
	list, err := c.Service.List(ctx, c.pods, api.ListOptions{LabelSelector: api.DeploymentLabel + "=" + r.d.Metadata.Name})
	if err != nil {
		return fmt.Errorf("list pods of deployment %q: %w", r.d.Metadata.Name, err)
	}
	for _, p := range list.Items {
		if p.Metadata.Labels[api.ReplicaSetLabel] != r.newRS.Metadata.Name {
			return nil // its deletion brings the next reconcile
		}
	}
	return c.scaleTo(ctx, r, r.newRS, replicas)
}

// rollingUpdate scales the new ReplicaSet up within maxSurge, then the old
// ones down within maxUnavailable, as Kubernetes' deployment controller
// does.
func (c *Deployments) rollingUpdate(ctx context.Context, r *rollout, replicas int32) error {
	surge, maxUnavailable := r.d.Spec.SurgeAndUnavailable()
	// Scale up (or down to the target) the new ReplicaSet.
	newReplicas := replicasOf(r.newRS)
	switch {
	case newReplicas > replicas:
		return c.scaleTo(ctx, r, r.newRS, replicas)
	case newReplicas < replicas:
		var total int32
		for _, rs := range r.all {
			total += max(replicasOf(rs), rs.Status.Replicas)
		}
		if room := replicas + surge - total; room > 0 {
			if err := c.scaleTo(ctx, r, r.newRS, min(replicas, newReplicas+room)); err != nil {
				return err
			}
			if r.scaled {
				return nil
			}
		}
	}
	// Scale the old ones down.
	var oldReplicas, allReplicas, available int32
	for _, rs := range r.all {
		allReplicas += replicasOf(rs)
		available += rs.Status.AvailableReplicas
	}
	for _, rs := range r.oldRSs {
		oldReplicas += replicasOf(rs)
	}
	if oldReplicas == 0 {
		return nil
	}
	minAvailable := replicas - maxUnavailable
	newUnavailable := replicasOf(r.newRS) - r.newRS.Status.AvailableReplicas
	budget := allReplicas - minAvailable - newUnavailable
	if budget <= 0 {
		return nil
	}
	// First the old pods that are not available anyway…
	for _, rs := range r.oldRSs {
		if budget == 0 {
			break
		}
		unhealthy := replicasOf(rs) - rs.Status.AvailableReplicas
		if unhealthy <= 0 {
			continue
		}
		cut := min(unhealthy, budget)
		if err := c.scaleTo(ctx, r, rs, replicasOf(rs)-cut); err != nil {
			return err
		}
		budget -= cut
	}
	// …then available ones, as far as availability allows, oldest first.
	budget = min(budget, available-minAvailable)
	for _, rs := range r.oldRSs {
		if budget <= 0 {
			break
		}
		cut := min(replicasOf(rs), budget)
		if cut == 0 {
			continue
		}
		if err := c.scaleTo(ctx, r, rs, replicasOf(rs)-cut); err != nil {
			return err
		}
		budget -= cut
	}
	return nil
}

// pruneHistory deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit.
func (c *Deployments) pruneHistory(ctx context.Context, r *rollout) error {
	var idle []*api.ReplicaSet
	for _, rs := range r.oldRSs {
		if replicasOf(rs) == 0 && rs.Status.Replicas == 0 {
			idle = append(idle, rs)
		}
	}
	for _, rs := range idle[:max(0, len(idle)-r.d.Spec.HistoryLimit())] {
		if _, _, err := c.Service.Delete(ctx, c.replicaSets, rs.Metadata.Name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("prune replica set %q: %w", rs.Metadata.Name, err)
		}
	}
	return nil
}

// updateStatus writes the counts and conditions and, while a rollout is
// under way, comes back when its progress deadline would pass.
func (c *Deployments) updateStatus(ctx context.Context, r *rollout) (reconcile.Result, error) {
	d := r.d
	now := c.Now().UTC().Truncate(time.Millisecond)
	replicas := d.Spec.EffectiveReplicas()
	old := d.Status
	st := api.DeploymentStatus{ObservedGeneration: d.Metadata.Generation, CollisionCount: old.CollisionCount,
		Conditions: slices.Clone(old.Conditions)}
	for _, rs := range r.all {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if r.newRS != nil {
		st.UpdatedReplicas = r.newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(0, replicas-st.AvailableReplicas)

	_, maxUnavailable := d.Spec.SurgeAndUnavailable()
	if d.Spec.IsRecreate() {
		maxUnavailable = 0
	}
	if st.AvailableReplicas >= replicas-maxUnavailable {
		setCondition(&st, api.DeploymentAvailable, api.ConditionTrue, api.ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", now, false)
	} else {
		setCondition(&st, api.DeploymentAvailable, api.ConditionFalse, api.ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now, false)
	}

	complete := r.newRS != nil && synced(r.all) && st.UpdatedReplicas == replicas && st.Replicas == replicas &&
		st.AvailableReplicas == replicas && replicasOf(r.newRS) == replicas
	progressed := r.created || r.scaled || st.UpdatedReplicas > old.UpdatedReplicas || st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas || st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas
	progressing := findCondition(st.Conditions, api.DeploymentProgressing)
	var requeue time.Duration
	newName := ""
	if r.newRS != nil {
		newName = r.newRS.Metadata.Name
	}
	switch {
	case d.Spec.Paused:
		setCondition(&st, api.DeploymentProgressing, api.ConditionUnknown, api.ReasonDeploymentPaused, "Deployment is paused.", now, false)
	case complete:
		setCondition(&st, api.DeploymentProgressing, api.ConditionTrue, api.ReasonNewReplicaSetAvailable,
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", newName), now, progressing == nil || progressing.Reason != api.ReasonNewReplicaSetAvailable)
	case r.created:
		setCondition(&st, api.DeploymentProgressing, api.ConditionTrue, api.ReasonNewReplicaSetCreated,
			fmt.Sprintf("Created new replica set %q.", newName), now, true)
	case progressed || progressing == nil || progressing.Reason == api.ReasonDeploymentPaused || progressing.Reason == api.ReasonNewReplicaSetAvailable:
		setCondition(&st, api.DeploymentProgressing, api.ConditionTrue, api.ReasonReplicaSetUpdated,
			fmt.Sprintf("ReplicaSet %q is progressing.", newName), now, true)
	}
	if p := findCondition(st.Conditions, api.DeploymentProgressing); !complete && !d.Spec.Paused && p != nil && p.Status == api.ConditionTrue && p.LastUpdateTime != nil {
		deadline := p.LastUpdateTime.Add(d.Spec.ProgressDeadline())
		if !now.Before(deadline) {
			setCondition(&st, api.DeploymentProgressing, api.ConditionFalse, api.ReasonProgressDeadlineExceeded,
				fmt.Sprintf("ReplicaSet %q has timed out progressing.", newName), now, true)
			c.Logger.WarnContext(ctx, "rollout exceeded its progress deadline", "project", d.Metadata.Project,
				"kind", "Deployment", "name", d.Metadata.Name, "replicaset", newName)
		} else {
			requeue = deadline.Sub(now) + 10*time.Millisecond
		}
	}
	if err := writeStatus(ctx, c.Service, c.deployments, r.obj, st); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

func findCondition(conds []api.DeploymentCondition, typ string) *api.DeploymentCondition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// setCondition sets a condition; the transition time moves when the status
// flips, the update time when it flips or touch is set (progress).
func setCondition(st *api.DeploymentStatus, typ, status, reason, msg string, now time.Time, touch bool) {
	c := findCondition(st.Conditions, typ)
	if c == nil {
		st.Conditions = append(st.Conditions, api.DeploymentCondition{Type: typ})
		c = &st.Conditions[len(st.Conditions)-1]
	}
	if c.Status != status {
		c.LastTransitionTime = &now
		touch = true
	}
	if touch || c.LastUpdateTime == nil {
		c.LastUpdateTime = &now
	}
	c.Status, c.Reason, c.Message = status, reason, msg
}
