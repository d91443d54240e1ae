package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/store"
)

// syncImage makes the repository's Image object (created if missing) list
// the repository's tags as the store has them now. It is level-based: a
// tag's history grows when its digest differs from the one in status, so
// repeating it, or two pushes racing, converge on the store's state. ctx
// carries the repository's project.
func (reg *Registry) syncImage(ctx context.Context, repo repository) error {
	tags, err := reg.cfg.Store.RegistryTagDigests(ctx, repo.name)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 8; attempt++ {
		obj, err := reg.cfg.Service.Get(ctx, reg.images, repo.name)
		if errors.Is(err, errdefs.ErrNotFound) {
			obj, err = reg.cfg.Service.Create(ctx, reg.images, &api.Object{Metadata: api.ObjectMeta{Name: repo.name}, Spec: json.RawMessage(`{}`)})
			if errors.Is(err, errdefs.ErrAlreadyExists) {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("image %s: %w", repo, err)
		}
		var status api.ImageStatus
		if len(obj.Status) > 0 {
			if err := json.Unmarshal(obj.Status, &status); err != nil {
				return fmt.Errorf("image %s: read status: %w", repo, err)
			}
		}
		next := imageStatus(reg.cfg.Host()+"/"+repo.String(), status, tags)
		raw, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if string(raw) == string(obj.Status) {
			return nil
		}
		obj.Status = raw
		_, err = reg.cfg.Service.UpdateStatus(ctx, reg.images, repo.name, obj)
		if errors.Is(err, errdefs.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("image %s: update status: %w", repo, err)
		}
		return nil
	}
	return fmt.Errorf("image %s: status kept changing under concurrent pushes: %w", repo, errdefs.ErrConflict)
}

// imageStatus computes an Image's status from the repository's tags and
// the previous status (whose histories it extends).
func imageStatus(repository string, old api.ImageStatus, tags []store.RegistryTag) api.ImageStatus {
	next := api.ImageStatus{Repository: repository}
	for _, t := range tags {
		ref := repository + "@" + t.Digest
		prev := old.Tag(t.Tag)
		if prev != nil && prev.Digest == t.Digest {
			next.Tags = append(next.Tags, *prev)
			continue
		}
		created := t.Updated.UTC().Truncate(time.Second)
		entry := api.ImageTag{Tag: t.Tag, Digest: t.Digest, Image: ref, Created: created,
			History: []api.ImageTagEvent{{Digest: t.Digest, Image: ref, Created: created}}}
		if prev != nil {
			entry.History = append(entry.History, prev.History...)
		}
		if len(entry.History) > api.MaxImageTagHistory {
			entry.History = entry.History[:api.MaxImageTagHistory]
		}
		next.Tags = append(next.Tags, entry)
	}
	slices.SortFunc(next.Tags, func(a, b api.ImageTag) int {
		switch {
		case a.Tag < b.Tag:
			return -1
		case a.Tag > b.Tag:
			return 1
		}
		return 0
	})
	return next
}
