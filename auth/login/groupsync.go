package login

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

// GroupChange is one change a group sync makes (or would make).
type GroupChange struct {
	Group   string   `json:"group"`
	Action  string   `json:"action"` // create, update, delete
	Users   []string `json:"users"`
	Applied bool     `json:"applied"`
}

// SyncLDAPGroups makes Slipway's groups from an LDAP provider match the
// directory: it creates, updates and deletes groups labelled with the
// provider. With confirm false it only reports what it would do.
func (s *Service) SyncLDAPGroups(ctx context.Context, providerName string, confirm bool) ([]GroupChange, error) {
	p := s.find(providerName)
	if p == nil || p.ldap == nil {
		return nil, fmt.Errorf("no LDAP provider %q: %w", providerName, errdefs.ErrNotFound)
	}
	dir, err := p.ldap.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("read groups from %s: %w", p.name, errdefs.ErrUnavailable)
	}
	ctx = store.WithProject(ctx, "")
	res := s.resource(api.GroupsResource)
	list, err := s.deps.Service.List(ctx, res, api.ListOptions{LabelSelector: SourceLabel + "=" + p.name})
	if err != nil {
		return nil, err
	}
	have := map[string]*api.Object{}
	for _, o := range list.Items {
		have[o.Metadata.Name] = o
	}
	var changes []GroupChange
	seen := map[string]bool{}
	for _, g := range dir {
		name, err := GroupName(g.Name)
		if err != nil {
			continue
		}
		seen[name] = true
		var users []string
		for _, m := range g.Members {
			if u, err := UserName(m); err == nil && !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
		slices.Sort(users)
		spec, _ := json.Marshal(api.GroupSpec{Users: users})
		obj, exists := have[name]
		switch {
		case !exists:
			c := GroupChange{Group: name, Action: "create", Users: users}
			if confirm {
				_, err := s.deps.Service.Create(ctx, res, &api.Object{
					Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{SourceLabel: p.name}}, Spec: spec})
				if err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
					return changes, fmt.Errorf("create group %q: %w", name, err)
				}
				c.Applied = true
			}
			changes = append(changes, c)
		default:
			var cur api.GroupSpec
			_ = json.Unmarshal(obj.Spec, &cur)
			slices.Sort(cur.Users)
			if slices.Equal(cur.Users, users) {
				continue
			}
			c := GroupChange{Group: name, Action: "update", Users: users}
			if confirm {
				obj.Spec = spec
				if _, err := s.deps.Service.Update(ctx, res, name, obj); err != nil {
					return changes, fmt.Errorf("update group %q: %w", name, err)
				}
				c.Applied = true
			}
			changes = append(changes, c)
		}
	}
	for name := range have {
		if seen[name] {
			continue
		}
		c := GroupChange{Group: name, Action: "delete"}
		if confirm {
			if _, _, err := s.deps.Service.Delete(ctx, res, name, ""); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return changes, fmt.Errorf("delete group %q: %w", name, err)
			}
			c.Applied = true
		}
		changes = append(changes, c)
	}
	slices.SortFunc(changes, func(a, b GroupChange) int {
		if a.Group < b.Group {
			return -1
		}
		if a.Group > b.Group {
			return 1
		}
		return 0
	})
	return changes, nil
}

// LDAPProviders names the LDAP providers, for the periodic sync.
func (s *Service) LDAPProviders() []string {
	var out []string
	for _, p := range s.providers {
		if p.ldap != nil {
			out = append(out, p.name)
		}
	}
	return out
}

// RunGroupSync syncs every LDAP provider's groups periodically until ctx
// ends.
func (s *Service) RunGroupSync(ctx context.Context) {
	every := s.cfg.LDAPGroupSync
	if every < 0 || len(s.LDAPProviders()) == 0 {
		return
	}
	if every == 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, name := range s.LDAPProviders() {
			changes, err := s.SyncLDAPGroups(ctx, name, true)
			if err != nil {
				s.deps.Logger.WarnContext(ctx, "LDAP group sync failed", "provider", name, "error", err)
				continue
			}
			if len(changes) > 0 {
				s.deps.Logger.InfoContext(ctx, "LDAP groups synced", "provider", name, "changes", len(changes))
			}
		}
	}
}
