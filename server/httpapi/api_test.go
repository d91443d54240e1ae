package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/internal/testwait"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
	"github.com/slipway/slipway/server/store"
	"github.com/slipway/slipway/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	catalogue  = api.NewCatalogue()
	projects   = mustLookup("projects")
	configmaps = mustLookup("configmaps")
	quiet      = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func mustLookup(plural string) *api.Resource {
	r, ok := catalogue.Lookup(plural)
	if !ok {
		panic(plural)
	}
	return r
}

// env is a real API server for these tests (servertest), with shorthands.
type env struct {
	*servertest.Env
	url    string
	client *client.Client // logged in as the bootstrap admin
	store  *store.Store
	srv    *server.Server
}

const adminPassword = servertest.AdminPassword

// newEnv runs the real API server (authentication, authorisation,
// controllers) over a real store on a loopback port, and logs in as admin.
func newEnv(t testing.TB, storeCfg store.Config) *env {
	t.Helper()
	return envOf(servertest.Start(t, server.Config{Store: storeCfg, BookmarkEvery: 50 * time.Millisecond}))
}

func envOf(se *servertest.Env) *env {
	return &env{Env: se, url: se.Server.URL(), client: se.Admin, store: se.Server.Store(), srv: se.Server}
}

// login logs a user in with a password and returns a client using the token.
func (e *env) login(t testing.TB, user, password string) *client.Client {
	return e.Login(t, user, password)
}

func (e *env) clientWithToken(t testing.TB, token string) *client.Client { return e.Client(t, token) }

func TestBadInputGetsAStatusNamingTheProblem(t *testing.T) {
	e := newEnv(t, store.Config{})
	httpc := clientFor(t, e)
	var before api.List[api.Project]
	if err := e.client.List(context.Background(), projects, "", api.ListOptions{}, &before); err != nil {
		t.Fatal(err)
	}
	big := `{"metadata":{"name":"big"},"spec":{"description":"` + strings.Repeat("x", 3<<20) + `"}}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantCode    int
		wantReason  string
		wantField   string
		wantMessage string
	}{
		{"malformed JSON", "POST", "/api/v1/projects", "application/json", `{"metadata":`, 400, "BadRequest", "", "malformed JSON"},
		{"malformed YAML", "POST", "/api/v1/projects", "application/yaml", "metadata: [", 400, "BadRequest", "", "malformed YAML"},
		{"unknown top-level field", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a"},"bogus":1}`, 400, "BadRequest", "bogus", "unknown field"},
		{"unknown metadata field", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a","nam":"b"}}`, 400, "BadRequest", "metadata.nam", "unknown field"},
		{"unknown spec field", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a"},"spec":{"displayname":"x"}}`, 400, "BadRequest", "spec.displayname", "unknown field"},
		{"wrong type", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a"},"spec":{"displayName":7}}`, 400, "BadRequest", "spec.displayName", "expected string"},
		{"invalid name", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"Shop_1"}}`, 422, "Invalid", "metadata.name", "not a valid name"},
		{"missing name", "POST", "/api/v1/projects", "application/json", `{"metadata":{}}`, 422, "Invalid", "metadata.name", "is required"},
		{"long name", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"` + strings.Repeat("a", 64) + `"}}`, 422, "Invalid", "metadata.name", "63 characters"},
		{"invalid label", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a","labels":{"a b":"c"}}}`, 422, "Invalid", "metadata.labels[a b]", "key"},
		{"resourceVersion on create", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a","resourceVersion":"5"}}`, 422, "Invalid", "metadata.resourceVersion", "must not be set"},
		{"wrong kind", "POST", "/api/v1/projects", "application/json", `{"kind":"ConfigMap","metadata":{"name":"a"}}`, 400, "BadRequest", "kind", "does not match"},
		{"wrong apiVersion", "POST", "/api/v1/projects", "application/json", `{"apiVersion":"v2","metadata":{"name":"a"}}`, 400, "BadRequest", "apiVersion", "unsupported version"},
		{"trailing data", "POST", "/api/v1/projects", "application/json", `{"metadata":{"name":"a"}} {}`, 400, "BadRequest", "", "after top-level value"},
		{"empty body", "POST", "/api/v1/projects", "application/json", ``, 400, "BadRequest", "", "empty request body"},
		{"oversized body", "POST", "/api/v1/projects", "application/json", big, 413, "RequestEntityTooLarge", "", "exceeds"},
		{"wrong content type", "POST", "/api/v1/projects", "text/plain", `{}`, 415, "UnsupportedMediaType", "", "text/plain"},
		{"patch without merge-patch type", "PATCH", "/api/v1/projects/a", "application/json", `{}`, 415, "UnsupportedMediaType", "", "merge patch"},
		{"unknown resource", "GET", "/api/v1/widgets", "", ``, 404, "NotFound", "", "unknown resource"},
		{"bad limit", "GET", "/api/v1/projects?limit=x", "", ``, 400, "BadRequest", "limit", "non-negative"},
		{"bad selector", "GET", "/api/v1/projects?labelSelector=a%3E1", "", ``, 400, "BadRequest", "labelSelector", "term"},
		{"bad watch revision", "GET", "/api/v1/projects?watch=true&resourceVersion=x", "", ``, 400, "BadRequest", "resourceVersion", "not a resource version"},
		{"configmap in a project that does not exist", "POST", "/api/v1/projects/ghost/configmaps", "application/json", `{"metadata":{"name":"c"}}`, 404, "NotFound", "", `project "ghost" not found`},
		{"project-scoped item without project", "GET", "/api/v1/configmaps/c", "", ``, 400, "BadRequest", "", "project-scoped"},
		{"spec on a configmap", "POST", "/api/v1/projects/p/configmaps", "application/json", `{"metadata":{"name":"c"},"spec":{}}`, 400, "BadRequest", "spec", "no spec"},
		{"unknown subresource", "GET", "/api/v1/projects/a/scale", "", ``, 404, "NotFound", "", "no subresource"},
		{"method not allowed", "POST", "/api/v1/projects/a", "application/json", `{}`, 405, "MethodNotAllowed", "", "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.url+tc.path, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var st api.Status
			if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
				t.Fatalf("answer is not a Status: %s", data)
			}
			if resp.StatusCode != tc.wantCode || st.Code != tc.wantCode || st.Reason != tc.wantReason {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, st.Reason, st.Message, tc.wantCode, tc.wantReason)
			}
			if tc.wantField != "" && (st.Details == nil || st.Details.Field != tc.wantField) {
				t.Fatalf("details %+v, want field %q (message %q)", st.Details, tc.wantField, st.Message)
			}
			if !strings.Contains(st.Message, tc.wantMessage) {
				t.Fatalf("message %q does not contain %q", st.Message, tc.wantMessage)
			}
		})
	}
	// Nothing half-written: no project was created by any of the above.
	var after api.List[api.Project]
	if err := e.client.List(context.Background(), projects, "", api.ListOptions{}, &after); err != nil || len(after.Items) != len(before.Items) {
		t.Fatalf("store holds %d projects after bad requests, %d before (%v)", len(after.Items), len(before.Items), err)
	}
}

// clientFor is a raw HTTP client that presents the admin's token.
func clientFor(t testing.TB, e *env) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: insecureTLS()}
	t.Cleanup(tr.CloseIdleConnections)
	token := e.adminToken(t)
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("Authorization", "Bearer "+token)
		return tr.RoundTrip(r)
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (e *env) adminToken(t testing.TB) string { return e.Token(t, "admin", adminPassword) }

func TestCreateGetUpdatePatchDelete(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	c := e.client

	// YAML is accepted.
	var p api.Project
	yamlBody := []byte("metadata:\n  name: shop\n  labels:\n    team: a\nspec:\n  displayName: Shop\nstatus:\n  phase: Terminating\n")
	if err := c.Do(ctx, "POST", "/api/v1/projects", "application/yaml", yamlBody, &p); err != nil {
		t.Fatal(err)
	}
	if p.Kind != "Project" || p.APIVersion != "v1" || p.Metadata.UID == "" || p.Metadata.Generation != 1 ||
		p.Metadata.CreationTimestamp == nil || p.Spec.DisplayName != "Shop" {
		t.Fatalf("created %+v", p)
	}
	if p.Status.Phase != "" {
		t.Fatalf("status %q was accepted on create; the status subresource owns it", p.Status.Phase)
	}
	// The project controller marks it Active (a status write: the
	// generation stays).
	eventually(t, "project Active", func() error {
		if err := c.Get(ctx, projects, "", "shop", &p); err != nil {
			return err
		}
		if p.Status.Phase != api.ProjectActive || p.Metadata.Generation != 1 {
			return fmt.Errorf("phase %q generation %d", p.Status.Phase, p.Metadata.Generation)
		}
		return nil
	})

	// PUT needs the current resourceVersion.
	stale := p
	p.Spec.Description = "shoes"
	var updated api.Project
	if err := c.Update(ctx, projects, "", "shop", p, &updated); err != nil {
		t.Fatal(err)
	}
	if updated.Metadata.Generation != 2 || updated.Spec.Description != "shoes" {
		t.Fatalf("updated %+v", updated)
	}
	stale.Spec.Description = "boots"
	if err := c.Update(ctx, projects, "", "shop", stale, nil); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("stale PUT: %v, want Conflict", err)
	}
	noRV := updated
	noRV.Metadata.ResourceVersion = ""
	if err := c.Update(ctx, projects, "", "shop", noRV, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("PUT without resourceVersion: %v, want Invalid", err)
	}
	// Changing only labels does not bump the generation.
	updated.Metadata.Labels = map[string]string{"team": "b"}
	if err := c.Update(ctx, projects, "", "shop", updated, &updated); err != nil || updated.Metadata.Generation != 2 {
		t.Fatalf("label update: gen %d, %v", updated.Metadata.Generation, err)
	}

	// Status is its own subresource.
	var withStatus api.Project
	if err := c.Patch(ctx, projects, "", "shop", map[string]any{"status": map[string]any{"phase": "Active"}}, true, &withStatus); err != nil {
		t.Fatal(err)
	}
	if withStatus.Status.Phase != api.ProjectActive || withStatus.Metadata.Generation != 2 {
		t.Fatalf("status patch: %+v", withStatus)
	}
	withStatus.Status.Phase = "Bogus"
	if err := c.UpdateStatus(ctx, projects, "", "shop", withStatus, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("invalid status: %v", err)
	}
	// A spec PUT cannot change status.
	var afterPut api.Project
	withStatus.Status.Phase = api.ProjectTerminating
	if err := c.Update(ctx, projects, "", "shop", withStatus, &afterPut); err != nil || afterPut.Status.Phase != api.ProjectActive {
		t.Fatalf("PUT changed status to %q (%v)", afterPut.Status.Phase, err)
	}

	// Merge patch: null removes, objects merge.
	var patched api.Project
	if err := c.Patch(ctx, projects, "", "shop", []byte(`{"metadata":{"labels":{"team":null,"tier":"gold"}},"spec":{"description":null}}`), false, &patched); err != nil {
		t.Fatal(err)
	}
	if patched.Spec.Description != "" || patched.Spec.DisplayName != "Shop" || patched.Metadata.Labels["tier"] != "gold" || patched.Metadata.Labels["team"] != "" {
		t.Fatalf("patched %+v", patched)
	}
	if err := c.Patch(ctx, projects, "", "shop", []byte(`{"metadata":{"resourceVersion":"1"},"spec":{"description":"x"}}`), false, nil); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("conditional patch on a stale revision: %v", err)
	}
	if err := c.Patch(ctx, projects, "", "shop", []byte(`{"metadata":{"uid":"forged"}}`), false, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("patching uid: %v", err)
	}
	if err := c.Patch(ctx, projects, "", "nope", []byte(`{}`), false, nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("patch missing: %v", err)
	}

	// Config maps live in the project.
	var cm api.ConfigMap
	if err := c.Create(ctx, configmaps, "shop", map[string]any{"metadata": map[string]any{"name": "settings"}, "data": map[string]string{"color": "blue"}}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Metadata.Project != "shop" || cm.Data["color"] != "blue" {
		t.Fatalf("configmap %+v", cm)
	}
	if err := c.Create(ctx, configmaps, "shop", map[string]any{"metadata": map[string]any{"name": "settings", "project": "other"}}, nil); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Fatalf("project mismatch: %v", err)
	}

	// Delete without finalizers removes at once.
	if err := c.Delete(ctx, configmaps, "shop", "settings", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, configmaps, "shop", "settings", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestFinalizersHoldDeletion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	c := e.client
	var p api.Project
	if err := c.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "shop", "finalizers": []string{"example.com/cleanup"}}}, &p); err != nil {
		t.Fatal(err)
	}
	// DELETE answers 202 with the object marked for deletion.
	code, _, body := e.rawClient(t, "DELETE", "/api/v1/projects/shop", "", "")
	if code != http.StatusAccepted {
		t.Fatalf("DELETE with a finalizer: %d %s", code, body)
	}
	var marked api.Project
	if err := c.Get(ctx, projects, "", "shop", &marked); err != nil {
		t.Fatal(err)
	}
	if marked.Metadata.DeletionTimestamp == nil || marked.Metadata.Generation != 2 {
		t.Fatalf("not marked for deletion: %+v", marked.Metadata)
	}
	// Deleting again changes nothing; adding a finalizer now is refused.
	if err := c.Delete(ctx, projects, "", "shop", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(ctx, projects, "", "shop", []byte(`{"metadata":{"finalizers":["example.com/cleanup","example.com/more"]}}`), false, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("adding a finalizer during deletion: %v", err)
	}
	// Nothing new may be created in a terminating project.
	if err := c.Create(ctx, configmaps, "shop", map[string]any{"metadata": map[string]any{"name": "c"}}, nil); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("create in terminating project: %v", err)
	}
	// Removing the last finalizer lets the object go.
	if err := c.Patch(ctx, projects, "", "shop", []byte(`{"metadata":{"finalizers":null}}`), false, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, projects, "", "shop", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("object still there after its last finalizer went: %v", err)
	}
}

func (e *env) rawClient(t testing.TB, method, path, contentType, body string) (int, api.Status, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := clientFor(t, e).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var st api.Status
	_ = json.Unmarshal(data, &st)
	return resp.StatusCode, st, data
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	for i := 0; i < 25; i++ {
		if err := e.client.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": fmt.Sprintf("p%02d", i), "labels": map[string]string{"even": fmt.Sprint(i%2 == 0)}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := api.ListOptions{Limit: 4, LabelSelector: "even=true"}
	for {
		var page api.List[api.Project]
		if err := e.client.List(ctx, projects, "", opts, &page); err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			names = append(names, p.Metadata.Name)
		}
		if page.Metadata.Continue == "" {
			break
		}
		opts.Continue = page.Metadata.Continue
	}
	if len(names) != 13 || names[0] != "p00" || names[12] != "p24" {
		t.Fatalf("paged names %v", names)
	}
}

func readEvent(t *testing.T, w *client.Watcher) client.Event {
	t.Helper()
	type result struct {
		ev  client.Event
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ev, err := w.Next()
		ch <- result{ev, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("watch: %v", r.err)
		}
		return r.ev
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event within 20 s")
	}
	return client.Event{}
}

func nextNonBookmark(t *testing.T, w *client.Watcher) client.Event {
	t.Helper()
	for {
		if ev := readEvent(t, w); ev.Type != api.Bookmark {
			return ev
		}
	}
}

// nextFor returns the next event for the named object, skipping others
// (the project controller's writes to other projects, bookmarks).
func nextFor(t *testing.T, w *client.Watcher, name string) client.Event {
	t.Helper()
	for {
		ev := nextNonBookmark(t, w)
		if n, _ := objectName(t, ev); n == name {
			return ev
		}
	}
}

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	testwait.Until(t, 20*time.Second, what, cond)
}

func objectName(t *testing.T, ev client.Event) (string, string) {
	var o api.Object
	if err := json.Unmarshal(ev.Object, &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata.Name, o.Metadata.ResourceVersion
}

// Watches use config maps: no controller writes them, so the test knows
// every event to expect.
func TestWatchOverHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, store.Config{RetainFor: time.Nanosecond, RetainEvents: 1})
	c := e.client
	if err := c.Create(ctx, projects, "", map[string]any{"metadata": map[string]any{"name": "w"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, configmaps, "w", map[string]any{"metadata": map[string]any{"name": "existing"}}, nil); err != nil {
		t.Fatal(err)
	}
	// Without a resourceVersion: existing objects first, then changes.
	w, err := c.Watch(ctx, configmaps, "w", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev := nextNonBookmark(t, w); ev.Type != api.Added {
		t.Fatalf("first event %s", ev.Type)
	} else if name, _ := objectName(t, ev); name != "existing" {
		t.Fatalf("first event for %s", name)
	}
	if err := c.Create(ctx, configmaps, "w", map[string]any{"metadata": map[string]any{"name": "cfg"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(ctx, configmaps, "w", "cfg", []byte(`{"data":{"a":"b"}}`), false, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, configmaps, "w", "cfg", nil); err != nil {
		t.Fatal(err)
	}
	var revs []string
	for _, want := range []api.EventType{api.Added, api.Modified, api.Deleted} {
		ev := nextNonBookmark(t, w)
		name, rv := objectName(t, ev)
		if ev.Type != want || name != "cfg" {
			t.Fatalf("got %s %s, want %s cfg", ev.Type, name, want)
		}
		revs = append(revs, rv)
	}
	// Bookmarks arrive when idle, at or past the newest revision.
	for {
		ev := readEvent(t, w)
		if ev.Type != api.Bookmark {
			t.Fatalf("unexpected %s while idle", ev.Type)
		}
		_, rv := objectName(t, ev)
		n, _ := strconv.Atoi(rv)
		last, _ := strconv.Atoi(revs[2])
		if n >= last {
			break
		}
	}

	// Resume from the ADDED revision: the rest replays.
	w2, err := c.Watch(ctx, configmaps, "w", api.ListOptions{ResourceVersion: revs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	for _, want := range []api.EventType{api.Modified, api.Deleted} {
		if ev := nextNonBookmark(t, w2); ev.Type != want {
			t.Fatalf("resume: got %s, want %s", ev.Type, want)
		}
	}
	// After compaction the old revision is Gone.
	if _, err := e.store.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Watch(ctx, configmaps, "w", api.ListOptions{ResourceVersion: "1"}); !errors.Is(err, errdefs.ErrGone) {
		t.Fatalf("watch from a compacted revision: %v, want Gone (410)", err)
	}
}

func TestHealthReadinessMetrics(t *testing.T) {
	e := newEnv(t, store.Config{})
	for _, path := range []string{"/healthz", "/readyz", "/api/v1"} {
		code, _, body := e.rawClient(t, "GET", path, "", "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
	}
	_, _, _ = e.rawClient(t, "GET", "/api/v1/projects", "", "")
	code, _, body := e.rawClient(t, "GET", "/metrics", "", "")
	if code != 200 || !bytes.Contains(body, []byte(`slipway_apiserver_requests_total{code="200",resource="projects",verb="list"}`)) {
		t.Fatalf("metrics: %d %s", code, body)
	}
	if !bytes.Contains(body, []byte("slipway_store_operation_duration_seconds")) {
		t.Fatal("no store metrics")
	}
}
