package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/store"
)

// Quota admission. A pod or counted object is admitted when the project's
// usage — what the store holds plus what this API server has admitted but
// may not have stored yet (reservations) — plus the new object stays within
// every ResourceQuota of the project.
//
// The check and the reservation happen under a per-project mutex, so two
// creates through this API server cannot both take the last slot; the mutex
// is not held across I/O (the store is listed first, and a reservation is
// ignored once the list it is compared with holds its object). Several API
// servers do not share reservations and could race each other past a
// quota; the quota's status is informational, written best-effort after
// each admission, and never consulted for a decision.

// reservationTTL bounds how long an admitted object that never appears in
// the store (its create failed after admission) still counts.
const reservationTTL = 15 * time.Second

// reservation is an admitted object's usage. Lists are taken without the
// gate's lock and may be older than others already compared, so once a
// list at revision seenAt holds the object, only lists at least as new may
// treat its absence as a deletion.
type reservation struct {
	uid, name string
	usage     map[string]int64
	expires   time.Time
	seenAt    int64
}

// quotaGate holds one API server's admission reservations.
type quotaGate struct {
	now func() time.Time
	mu  sync.Mutex
	// reserved is keyed by project, then resource plural.
	reserved map[string]map[string][]reservation
}

func newQuotaGate() *quotaGate {
	return &quotaGate{now: time.Now, reserved: map[string]map[string][]reservation{}}
}

func (h *Handler) quotaGate() *quotaGate { return h.quotas }

// projectQuotas returns the project's quotas: from memory when an informer
// mirrors them (every create of a counted kind asks), else from the store.
func (h *Handler) projectQuotas(ctx context.Context, quotaRes *api.Resource, project string) ([]*api.Object, error) {
	inf := h.cfg.Informers[api.ResourceQuotasResource]
	if inf == nil {
		return h.listAll(ctx, quotaRes, project)
	}
	var out []*api.Object
	for _, q := range inf.List() {
		if q.Metadata.Project == project {
			out = append(out, q)
		}
	}
	return out, nil
}

// listAll returns every object of res in project.
func (h *Handler) listAll(ctx context.Context, res *api.Resource, project string) ([]*api.Object, error) {
	out, _, err := h.listAllAt(ctx, res, project)
	return out, err
}

// listAllAt returns every object of res in project and the store revision
// the list reflects.
func (h *Handler) listAllAt(ctx context.Context, res *api.Resource, project string) ([]*api.Object, int64, error) {
	ctx = store.WithProject(ctx, project)
	var out []*api.Object
	opts := api.ListOptions{}
	for {
		page, err := h.cfg.Service.List(ctx, res, opts)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, page.Items...)
		if page.Continue == "" {
			return out, page.Revision, nil
		}
		opts.Continue = page.Continue
	}
}

// admitLimitRanges applies the project's LimitRange defaults to a new pod's
// containers (rewriting obj.Spec) and refuses containers outside the
// ranges' bounds.
func (h *Handler) admitLimitRanges(ctx context.Context, obj *api.Object, spec *api.PodSpec) error {
	res, _ := h.cfg.Catalogue.Lookup(api.LimitRangesResource)
	ranges, err := h.listAll(ctx, res, obj.Metadata.Project)
	if err != nil {
		return fmt.Errorf("read the limit ranges of project %q: %w", obj.Metadata.Project, err)
	}
	if len(ranges) == 0 {
		return nil
	}
	for _, r := range ranges {
		var lr api.LimitRangeSpec
		if err := json.Unmarshal(r.Spec, &lr); err != nil {
			return fmt.Errorf("limit range %q: %w", r.Metadata.Name, err)
		}
		for _, item := range lr.Limits {
			if item.Type != api.LimitTypeContainer {
				continue
			}
			for i := range spec.Containers {
				if err := applyLimitRange(&spec.Containers[i], r.Metadata.Name, item); err != nil {
					return err
				}
			}
		}
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("after applying the project's limit range defaults: %w", err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	obj.Spec = raw
	return nil
}

// applyLimitRange defaults c's limits and requests from item and checks
// them against its bounds.
func applyLimitRange(c *api.Container, rangeName string, item api.LimitRangeItem) error {
	r := &c.Resources
	for _, name := range []string{api.ResourceCPU, api.ResourceMemory} {
		if r.Limits[name] == "" && item.Default[name] != "" {
			r.Limits = setQuantity(r.Limits, name, item.Default[name])
		}
		if r.Requests[name] == "" {
			switch {
			case item.DefaultRequest[name] != "":
				r.Requests = setQuantity(r.Requests, name, item.DefaultRequest[name])
			case r.Limits[name] != "":
				r.Requests = setQuantity(r.Requests, name, r.Limits[name])
			}
		}
		for _, v := range []struct{ kind, q string }{{"request", r.Requests[name]}, {"limit", r.Limits[name]}} {
			if v.q == "" {
				continue
			}
			n, err := api.ParseResource(name, v.q)
			if err != nil {
				return errdefs.Invalidf("spec.containers", "container %q: %v", c.Name, err)
			}
			if lo := item.Min[name]; lo != "" {
				if m, _ := api.ParseResource(name, lo); n < m {
					return forbiddenf("container %q: %s %s %s is below the minimum %s of limit range %q",
						c.Name, name, v.kind, v.q, lo, rangeName)
				}
			}
			if hi := item.Max[name]; hi != "" {
				if m, _ := api.ParseResource(name, hi); n > m {
					return forbiddenf("container %q: %s %s %s is above the maximum %s of limit range %q",
						c.Name, name, v.kind, v.q, hi, rangeName)
				}
			}
		}
	}
	return nil
}

func setQuantity(l api.ResourceList, name, q string) api.ResourceList {
	if l == nil {
		l = api.ResourceList{}
	}
	l[name] = q
	return l
}

// podUsage is what a pod charges against the compute quotas. missing names
// the first quota key a container leaves unstated ("" when none).
func podUsage(spec *api.PodSpec) (usage map[string]int64, missing map[string]string) {
	usage = map[string]int64{api.QuotaPods: 1}
	missing = map[string]string{}
	keys := map[string]struct{ list, name string }{
		api.QuotaRequestsCPU: {"requests", api.ResourceCPU}, api.QuotaRequestsMemory: {"requests", api.ResourceMemory},
		api.QuotaLimitsCPU: {"limits", api.ResourceCPU}, api.QuotaLimitsMemory: {"limits", api.ResourceMemory},
	}
	for _, c := range spec.Containers {
		for key, k := range keys {
			list := c.Resources.Requests
			if k.list == "limits" {
				list = c.Resources.Limits
			}
			q := list[k.name]
			if q == "" {
				if missing[key] == "" {
					missing[key] = c.Name
				}
				continue
			}
			n, _ := api.ParseResource(k.name, q)
			usage[key] += n
		}
	}
	return usage, missing
}

// liveUsage is what a stored object charges: nothing once it is being
// deleted or, for a pod, once it has finished.
func liveUsage(res *api.Resource, obj *api.Object) map[string]int64 {
	if obj.Metadata.DeletionTimestamp != nil {
		return nil
	}
	if res.Plural != api.PodsResource {
		key, _ := api.QuotaCountKey(res.Plural)
		return map[string]int64{key: 1}
	}
	var pod struct {
		Spec   api.PodSpec   `json:"spec"`
		Status api.PodStatus `json:"status"`
	}
	if err := json.Unmarshal(obj.Spec, &pod.Spec); err != nil {
		return nil
	}
	_ = json.Unmarshal(obj.Status, &pod.Status)
	if pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
		return nil
	}
	u, _ := podUsage(&pod.Spec)
	return u
}

// admitQuota refuses a new object of res (a pod, or a counted kind) that
// would take its project past one of its ResourceQuotas, and otherwise
// reserves its usage until the store has it.
func (h *Handler) admitQuota(ctx context.Context, res *api.Resource, obj *api.Object, spec *api.PodSpec) error {
	project := obj.Metadata.Project
	quotaRes, _ := h.cfg.Catalogue.Lookup(api.ResourceQuotasResource)
	quotas, err := h.projectQuotas(ctx, quotaRes, project)
	if err != nil {
		return fmt.Errorf("read the quotas of project %q: %w", project, err)
	}
	var usage map[string]int64
	missing := map[string]string{}
	if spec != nil {
		usage, missing = podUsage(spec)
	} else {
		key, _ := api.QuotaCountKey(res.Plural)
		usage = map[string]int64{key: 1}
	}
	type bound struct {
		quota    *api.Object
		key, raw string
		limit    int64
	}
	var bounds []bound
	for _, q := range quotas {
		var qs api.ResourceQuotaSpec
		if err := json.Unmarshal(q.Spec, &qs); err != nil {
			return fmt.Errorf("quota %q: %w", q.Metadata.Name, err)
		}
		for _, key := range slices.Sorted(maps.Keys(qs.Hard)) {
			if c := missing[key]; c != "" {
				return forbiddenf("quota %q in project %q limits %s, so container %q must state resources.%s (or the project needs a limit range default)",
					q.Metadata.Name, project, key, c, key)
			}
			if _, charged := usage[key]; !charged {
				continue
			}
			limit, err := api.ParseQuota(key, qs.Hard[key])
			if err != nil {
				return fmt.Errorf("quota %q: %w", q.Metadata.Name, err)
			}
			bounds = append(bounds, bound{q, key, qs.Hard[key], limit})
		}
	}
	if len(bounds) == 0 {
		return nil
	}
	stored, revision, err := h.listAllAt(ctx, res, project)
	if err != nil {
		return fmt.Errorf("read the %s of project %q: %w", res.Plural, project, err)
	}
	used := map[string]int64{}
	uids := map[string]bool{}
	names := map[string]string{}
	for _, o := range stored {
		uids[o.Metadata.UID] = true
		names[o.Metadata.Name] = o.Metadata.UID
		for k, v := range liveUsage(res, o) {
			used[k] += v
		}
	}

	g := h.quotaGate()
	g.mu.Lock()
	now := g.now()
	byRes := g.reserved[project]
	if byRes == nil {
		byRes = map[string][]reservation{}
		g.reserved[project] = byRes
	}
	kept := byRes[res.Plural][:0]
	for _, r := range byRes[res.Plural] {
		if now.After(r.expires) {
			continue
		}
		if uids[r.uid] && (r.seenAt == 0 || revision < r.seenAt) {
			r.seenAt = revision
		}
		kept = append(kept, r)
		switch {
		case uids[r.uid]:
			continue // counted from the list
		case r.seenAt != 0 && revision >= r.seenAt:
			continue // stored, then deleted before this list
		case names[r.name] != "" && names[r.name] != r.uid:
			continue // its create lost to an existing object
		}
		for k, v := range r.usage {
			used[k] += v
		}
	}
	byRes[res.Plural] = kept
	for _, b := range bounds {
		if used[b.key]+usage[b.key] > b.limit {
			g.mu.Unlock()
			return forbiddenf("exceeded quota %q in project %q: requested %s=%s, used %s, limited to %s",
				b.quota.Metadata.Name, project, b.key, api.FormatQuota(b.key, usage[b.key]), api.FormatQuota(b.key, used[b.key]), b.raw)
		}
	}
	byRes[res.Plural] = append(byRes[res.Plural], reservation{uid: obj.Metadata.UID, name: obj.Metadata.Name, usage: usage, expires: now.Add(reservationTTL)})
	g.mu.Unlock()

	for k, v := range usage {
		used[k] += v
	}
	h.recordQuotaUsage(ctx, quotaRes, quotas, used)
	return nil
}

// recordQuotaUsage writes the quotas' status best-effort: it is
// informational, and a failed write only leaves it stale until the next
// admission. The quotas come from the informer and may be a version behind
// the last admission's write: a conflict is retried on the stored object.
func (h *Handler) recordQuotaUsage(ctx context.Context, quotaRes *api.Resource, quotas []*api.Object, used map[string]int64) {
	for _, q := range quotas {
		ctx := store.WithProject(ctx, q.Metadata.Project)
		for attempt := 0; ; attempt++ {
			err := h.writeQuotaUsage(ctx, quotaRes, q, used)
			if errors.Is(err, errdefs.ErrConflict) && attempt < 3 {
				fresh, getErr := h.cfg.Service.Get(ctx, quotaRes, q.Metadata.Name)
				if getErr == nil {
					q = fresh
					continue
				}
				err = getErr
			}
			if err != nil {
				h.log.DebugContext(ctx, "recording quota usage failed", "project", q.Metadata.Project, "name", q.Metadata.Name, "err", err)
			}
			break
		}
	}
}

// writeQuotaUsage writes one quota's status unless it already says so.
func (h *Handler) writeQuotaUsage(ctx context.Context, quotaRes *api.Resource, q *api.Object, used map[string]int64) error {
	var rq api.ResourceQuota
	if err := json.Unmarshal(q.Spec, &rq.Spec); err != nil {
		return fmt.Errorf("decode the spec of quota %q: %w", q.Metadata.Name, err)
	}
	_ = json.Unmarshal(q.Status, &rq.Status)
	status := api.ResourceQuotaStatus{Hard: rq.Spec.Hard, Used: api.ResourceList{}}
	for key := range rq.Spec.Hard {
		// Keys this write does not charge keep their last recorded use.
		if v, ok := used[key]; ok {
			status.Used[key] = api.FormatQuota(key, v)
		} else if old, ok := rq.Status.Used[key]; ok {
			status.Used[key] = old
		}
	}
	if maps.Equal(status.Hard, rq.Status.Hard) && maps.Equal(status.Used, rq.Status.Used) {
		return nil
	}
	raw, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("encode the status of quota %q: %w", q.Metadata.Name, err)
	}
	next := *q
	next.Status = raw
	_, err = h.cfg.Service.UpdateStatus(ctx, quotaRes, q.Metadata.Name, &next)
	return err
}

// forbiddenf is a Forbidden error whose message is exactly the text given,
// as the user sees it in the API's Status.
func forbiddenf(format string, args ...any) error {
	return &errdefs.FieldError{Class: errdefs.ErrForbidden, Message: fmt.Sprintf(format, args...)}
}
