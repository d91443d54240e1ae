package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/labels"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
	"github.com/slipway/slipway/server/watch"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var catalogue = api.NewCatalogue()

func resource(t testing.TB, plural string) *api.Resource {
	r, ok := catalogue.Lookup(plural)
	if !ok {
		t.Fatalf("no resource %q", plural)
	}
	return r
}

func newStore(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	cfg.DSN = storetest.NewDatabase(t)
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func project(name string, lbls map[string]string) *api.Object {
	return &api.Object{Kind: "Project", APIVersion: "v1",
		Metadata: api.ObjectMeta{Name: name, Labels: lbls}, Spec: json.RawMessage(`{"displayName":"x"}`)}
}

func configMap(project, name string) *api.Object {
	return &api.Object{Kind: "ConfigMap", APIVersion: "v1",
		Metadata: api.ObjectMeta{Name: name, Project: project}, Data: json.RawMessage(`{"k":"v"}`)}
}

func TestCRUDAndErrorClasses(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{})
	projects := resource(t, "projects")

	created, err := s.Create(ctx, projects, project("shop", nil))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Metadata.ResourceVersion == "" {
		t.Fatal("create returned no resourceVersion")
	}
	got, err := s.Get(ctx, projects, "shop")
	if err != nil || got.Metadata.ResourceVersion != created.Metadata.ResourceVersion {
		t.Fatalf("get = %+v, %v", got, err)
	}

	stale := *got
	got.Spec = json.RawMessage(`{"displayName":"y"}`)
	updated, err := s.Update(ctx, projects, got)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.Metadata.ResourceVersion == stale.Metadata.ResourceVersion {
		t.Fatal("update kept the old resourceVersion")
	}

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"create existing", func() error { _, err := s.Create(ctx, projects, project("shop", nil)); return err }, errdefs.ErrAlreadyExists},
		{"update stale", func() error { _, err := s.Update(ctx, projects, &stale); return err }, errdefs.ErrConflict},
		{"delete stale", func() error { _, err := s.Delete(ctx, projects, &stale); return err }, errdefs.ErrConflict},
		{"get missing", func() error { _, err := s.Get(ctx, projects, "nope"); return err }, errdefs.ErrNotFound},
		{"update missing", func() error {
			o := project("nope", nil)
			o.Metadata.ResourceVersion = "1"
			_, err := s.Update(ctx, projects, o)
			return err
		}, errdefs.ErrNotFound},
		{"bad resourceVersion", func() error {
			o := project("shop", nil)
			o.Metadata.ResourceVersion = "abc"
			_, err := s.Update(ctx, projects, o)
			return err
		}, errdefs.ErrInvalid},
		{"project-scoped without project", func() error {
			_, err := s.Create(ctx, resource(t, "configmaps"), configMap("", "c"))
			return err
		}, errdefs.ErrBadRequest},
		{"in a missing project", func() error {
			_, err := s.Create(store.WithProject(ctx, "ghost"), resource(t, "configmaps"), configMap("ghost", "c"))
			return err
		}, errdefs.ErrNotFound},
		{"project mismatch", func() error {
			_, err := s.Create(store.WithProject(ctx, "shop"), resource(t, "configmaps"), configMap("other", "c"))
			return err
		}, errdefs.ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want class %v", err, tc.want)
			}
		})
	}

	if _, err := s.Delete(ctx, projects, updated); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Get(ctx, projects, "shop"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestCreateInTerminatingProjectIsForbidden(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{})
	p, err := s.Create(ctx, resource(t, "projects"), project("shop", nil))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p.Metadata.DeletionTimestamp = &now
	if _, err := s.Update(ctx, resource(t, "projects"), p); err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(store.WithProject(ctx, "shop"), resource(t, "configmaps"), configMap("shop", "c"))
	if !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("err = %v, want Forbidden", err)
	}
}

func TestListSelectorsAndScope(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{})
	projects := resource(t, "projects")
	for i, env := range []string{"prod", "prod", "dev", ""} {
		lbls := map[string]string{"team": "a"}
		if env != "" {
			lbls["env"] = env
		}
		if _, err := s.Create(ctx, projects, project(fmt.Sprintf("p%d", i), lbls)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		selector string
		want     []string
	}{
		{"", []string{"p0", "p1", "p2", "p3"}},
		{"env=prod", []string{"p0", "p1"}},
		{"env!=prod", []string{"p2", "p3"}},
		{"env in (dev,prod)", []string{"p0", "p1", "p2"}},
		{"env notin (prod)", []string{"p2", "p3"}},
		{"env", []string{"p0", "p1", "p2"}},
		{"!env", []string{"p3"}},
		{"team=a,env=dev", []string{"p2"}},
		{"team=b", nil},
	}
	for _, tc := range tests {
		t.Run(tc.selector, func(t *testing.T) {
			sel, err := labels.Parse(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.List(ctx, projects, store.ListOptions{Selector: sel})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Items); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if res.Revision == 0 {
				t.Fatal("list carries no revision")
			}
		})
	}

	// Config maps in two projects: a project sees its own; AllProjects sees both.
	for _, p := range []string{"p0", "p1"} {
		if _, err := s.Create(store.WithProject(ctx, p), resource(t, "configmaps"), configMap(p, "cfg")); err != nil {
			t.Fatal(err)
		}
	}
	own, err := s.List(store.WithProject(ctx, "p0"), resource(t, "configmaps"), store.ListOptions{})
	if err != nil || len(own.Items) != 1 || own.Items[0].Metadata.Project != "p0" {
		t.Fatalf("list in p0 = %v, %v", own, err)
	}
	all, err := s.List(store.WithProject(ctx, store.AllProjects), resource(t, "configmaps"), store.ListOptions{})
	if err != nil || len(all.Items) != 2 {
		t.Fatalf("list across projects = %v, %v", all, err)
	}
}

func names(objs []*api.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Metadata.Name)
	}
	return out
}

// Objects that exist throughout a paginated listing appear exactly once,
// however the collection changes between pages.
func TestPaginationUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{})
	projects := resource(t, "projects")
	stable := map[string]bool{}
	for i := 0; i < 120; i++ {
		name := fmt.Sprintf("stable-%03d", i)
		stable[name] = true
		if _, err := s.Create(ctx, projects, project(name, nil)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Names that sort between and around the stable ones.
				name := fmt.Sprintf("stable-%03d-churn-%d-%d", i%120, w, i)
				o, err := s.Create(ctx, projects, project(name, nil))
				if err != nil {
					t.Errorf("churn create: %v", err)
					return
				}
				if _, err := s.Delete(ctx, projects, o); err != nil {
					t.Errorf("churn delete: %v", err)
					return
				}
			}
		}(w)
	}
	seen := map[string]int{}
	opts := store.ListOptions{Limit: 7}
	var firstRevision int64
	for page := 0; ; page++ {
		res, err := s.List(ctx, projects, opts)
		if err != nil {
			t.Fatal(err)
		}
		if page == 0 {
			firstRevision = res.Revision
		} else if res.Revision != firstRevision {
			t.Fatalf("page %d reports revision %d, first page %d", page, res.Revision, firstRevision)
		}
		if len(res.Items) > 7 {
			t.Fatalf("page of %d items, limit 7", len(res.Items))
		}
		for _, o := range res.Items {
			seen[o.Metadata.Name]++
		}
		if res.Continue == "" {
			break
		}
		opts.Continue = res.Continue
	}
	close(stop)
	wg.Wait()
	for name := range stable {
		if seen[name] != 1 {
			t.Errorf("%s seen %d times, want exactly once", name, seen[name])
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("%s seen %d times", name, n)
		}
	}
	if _, err := s.List(ctx, projects, store.ListOptions{Continue: "garbage"}); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Fatalf("bad continue token: %v", err)
	}
}

func nextEvent(t *testing.T, w *store.Watch) watch.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := w.Next(ctx, nil)
	if err != nil {
		t.Fatalf("watch next: %v", err)
	}
	return ev
}

// With many concurrent writers, a watcher sees every change exactly once,
// in strictly increasing revision order, and the revisions it sees are
// exactly those the writers were given.
func TestWatchOrderingWithConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{})
	projects := resource(t, "projects")
	start, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, projects, store.WatchOptions{After: start})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	const writers, perWriter = 12, 100
	// The watcher consumes while the writers write.
	type seen struct {
		revs []int64
		err  error
	}
	got := make(chan seen, 1)
	total := writers * perWriter * 3 / 2
	go func() {
		var out seen
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		for len(out.revs) < total {
			ev, err := w.Next(wctx, nil)
			if err != nil {
				out.err = err
				break
			}
			out.revs = append(out.revs, ev.Revision)
		}
		got <- out
	}()
	written := make(chan int64, total)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < perWriter; j++ {
				o, err := s.Create(ctx, projects, project(fmt.Sprintf("w%d-%d", i, j), nil))
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				rv, _ := store.ParseRevision(o.Metadata.ResourceVersion)
				written <- rv
				if j%2 == 0 {
					o.Spec = json.RawMessage(`{"description":"changed"}`)
					if o, err = s.Update(ctx, projects, o); err != nil {
						t.Errorf("update: %v", err)
						return
					}
					rv, _ := store.ParseRevision(o.Metadata.ResourceVersion)
					written <- rv
				}
			}
		}(i)
	}
	wg.Wait()
	close(written)
	want := map[int64]bool{}
	for rv := range written {
		want[rv] = true
	}
	if len(want) != total {
		t.Fatalf("writers got %d distinct revisions, want %d", len(want), total)
	}
	res := <-got
	if res.err != nil {
		t.Fatalf("watcher stopped after %d events: %v", len(res.revs), res.err)
	}
	last := start
	for _, rv := range res.revs {
		if rv <= last {
			t.Fatalf("revision %d after %d: out of order or duplicated", rv, last)
		}
		last = rv
		if !want[rv] {
			t.Fatalf("event at revision %d that no writer made", rv)
		}
		delete(want, rv)
	}
	if len(want) != 0 {
		t.Fatalf("%d writes never seen by the watcher", len(want))
	}
}

func TestWatchResumeAndGone(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{RetainFor: time.Nanosecond, RetainEvents: 2})
	projects := resource(t, "projects")
	var revs []int64
	for i := 0; i < 5; i++ {
		o, err := s.Create(ctx, projects, project(fmt.Sprintf("p%d", i), map[string]string{"i": fmt.Sprint(i % 2)}))
		if err != nil {
			t.Fatal(err)
		}
		rv, _ := store.ParseRevision(o.Metadata.ResourceVersion)
		revs = append(revs, rv)
	}
	// Resume after the second write: the third, fourth and fifth replay.
	w, err := s.Watch(ctx, projects, store.WatchOptions{After: revs[1]})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range revs[2:] {
		if ev := nextEvent(t, w); ev.Revision != want || ev.Type != api.Added {
			t.Fatalf("got %s@%d, want ADDED@%d", ev.Type, ev.Revision, want)
		}
	}
	w.Stop()

	// A selector applies to the replay too.
	sel, _ := labels.Parse("i=0")
	w, err = s.Watch(ctx, projects, store.WatchOptions{After: revs[0], Selector: sel})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{revs[2], revs[4]} {
		if ev := nextEvent(t, w); ev.Revision != want {
			t.Fatalf("selector replay got %d, want %d", ev.Revision, want)
		}
	}
	w.Stop()

	n, err := s.Compact(ctx)
	if err != nil || n != 3 {
		t.Fatalf("compact removed %d, %v; want 3 (all but the newest 2)", n, err)
	}
	if _, err := s.Watch(ctx, projects, store.WatchOptions{After: revs[0]}); !errors.Is(err, errdefs.ErrGone) {
		t.Fatalf("watch from compacted revision: %v, want Gone", err)
	}
	w, err = s.Watch(ctx, projects, store.WatchOptions{After: revs[2]})
	if err != nil {
		t.Fatalf("watch from the compaction point: %v", err)
	}
	if ev := nextEvent(t, w); ev.Revision != revs[3] {
		t.Fatalf("got %d, want %d", ev.Revision, revs[3])
	}
	w.Stop()
}

func TestSlowWatcherIsDroppedAndOthersContinue(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{WatchBuffer: 8})
	projects := resource(t, "projects")
	rv, _ := s.CurrentRevision(ctx)
	slow, err := s.Watch(ctx, projects, store.WatchOptions{After: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(ctx, projects, store.WatchOptions{After: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	// The fast watcher takes each event as it comes; the slow one never
	// reads. Writers are never held up by the slow one.
	for i := 0; i < 40; i++ {
		o, err := s.Create(ctx, projects, project(fmt.Sprintf("p%d", i), nil))
		if err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, fast); ev.Type != api.Added || ev.Name != o.Metadata.Name {
			t.Fatalf("fast watcher got %s %s, want ADDED %s", ev.Type, ev.Name, o.Metadata.Name)
		}
	}
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for n := 0; ; n++ {
		_, err := slow.Next(deadline, nil)
		if errors.Is(err, store.ErrWatcherTooSlow) {
			if n > 8 {
				t.Fatalf("slow watcher received %d events with a buffer of 8", n)
			}
			break
		}
		if err != nil {
			t.Fatalf("slow watcher: %v, want ErrWatcherTooSlow", err)
		}
	}
}

func TestBookmarkOnlyWhenCaughtUp(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, store.Config{})
	projects := resource(t, "projects")
	rv, _ := s.CurrentRevision(ctx)
	w, err := s.Watch(ctx, projects, store.WatchOptions{After: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	o, err := s.Create(ctx, projects, project("a", nil))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := store.ParseRevision(o.Metadata.ResourceVersion)
	tick := make(chan time.Time, 1)
	tick <- time.Now()
	// The event comes first even with a bookmark pending; bookmarks never
	// overtake events.
	ev, err := w.Next(ctx, tick)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type == api.Bookmark && ev.Revision >= want {
		t.Fatalf("bookmark at %d overtook the event at %d", ev.Revision, want)
	}
	if ev.Type == api.Bookmark {
		ev = nextEvent(t, w)
	}
	if ev.Revision != want {
		t.Fatalf("got %s@%d, want ADDED@%d", ev.Type, ev.Revision, want)
	}
	// The first Next may have returned the event with the tick unread: fill
	// the channel without blocking.
	select {
	case tick <- time.Now():
	default:
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, err = w.Next(bctx, tick)
	if err != nil || ev.Type != api.Bookmark {
		t.Fatalf("no bookmark once caught up: %s, %v", ev.Type, err)
	}
	if ev.Revision < want {
		t.Fatalf("bookmark went backwards: %d < %d", ev.Revision, want)
	}
}
