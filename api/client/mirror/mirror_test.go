package mirror_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client/mirror"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestMirrorFollowsListAndWatch: objects that exist before the mirror
// starts are listed, later creations, updates and deletions arrive through
// the watch, and changed is called for each.
func TestMirrorFollowsListAndWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := servertest.Start(t, server.Config{})
	catalogue := api.NewCatalogue()
	projects, _ := catalogue.Lookup(api.ProjectsResource)
	configmaps, _ := catalogue.Lookup("configmaps")
	for _, p := range []string{"a", "b"} {
		if err := e.Admin.Create(ctx, projects, "", api.Project{Metadata: api.ObjectMeta{Name: p}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Projects become usable asynchronously.
	create := func(project, name, value string) {
		t.Helper()
		cm := api.ConfigMap{Metadata: api.ObjectMeta{Name: name}, Data: map[string]string{"v": value}}
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := e.Admin.Create(ctx, configmaps, project, cm, nil)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	create("a", "before", "1")

	changes := make(chan struct{}, 100)
	m := mirror.New(e.Admin, configmaps, func(c *api.ConfigMap) *api.ObjectMeta { return &c.Metadata },
		func() { changes <- struct{}{} }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func() error) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			err := cond()
			if err == nil {
				return
			}
			select {
			case <-changes:
			case <-deadline:
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	waitFor("the listed object", func() error {
		if c := m.Get("a", "before"); c == nil || c.Data["v"] != "1" {
			return fmt.Errorf("a/before = %+v", c)
		}
		if _, synced := m.Snapshot(); !synced {
			return fmt.Errorf("not synced")
		}
		return nil
	})
	create("b", "after", "2")
	waitFor("the watched creation", func() error {
		if c := m.Get("b", "after"); c == nil || c.Data["v"] != "2" {
			return fmt.Errorf("b/after = %+v", c)
		}
		return nil
	})
	if err := e.Admin.Delete(ctx, configmaps, "a", "before", nil); err != nil {
		t.Fatal(err)
	}
	waitFor("the watched deletion", func() error {
		if items, _ := m.Snapshot(); len(items) != 1 || mirror.Key(&items[0].Metadata) != "b/after" {
			return fmt.Errorf("%d objects", len(items))
		}
		return nil
	})
}
