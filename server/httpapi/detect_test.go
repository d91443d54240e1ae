package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/server/store"
)

// TestBuilderDetection: the server clones a repository and names its
// builder from its files (the console's import form asks it); bad input
// names its field, and only who may create build configurations in the
// project may ask.
func TestBuilderDetection(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	if err := e.client.Create(ctx, projects, "", api.Project{Metadata: api.ObjectMeta{Name: "shop"}}, nil); err != nil {
		t.Fatal(err)
	}
	repo := gittest.New(t)
	repo.Commit("main", "an app", map[string]string{"go.mod": "module shop\n", "site/index.html": "<h1>hi</h1>\n"})

	detect := func(c interface {
		Do(context.Context, string, string, string, []byte, any) error
	}, body string) (map[string]string, error) {
		var out map[string]string
		err := c.Do(ctx, http.MethodPost, "/api/v1/projects/shop/builderdetections", "application/json", []byte(body), &out)
		return out, err
	}
	got, err := detect(e.client, `{"git":{"uri":"`+repo.URI()+`"}}`)
	if err != nil || got["builder"] != "go" || got["file"] != "go.mod" {
		t.Fatalf("repository root: %v, %v; want go from go.mod", got, err)
	}
	got, err = detect(e.client, `{"git":{"uri":"`+repo.URI()+`","ref":"main"},"contextDir":"site"}`)
	if err != nil || got["builder"] != "static" {
		t.Fatalf("context dir site: %v, %v; want static", got, err)
	}

	for _, c := range []struct{ body, field string }{
		{`{"git":{"uri":"ftp://example.com/x.git"}}`, "git.uri"},
		{`{"git":{"uri":"` + repo.URI() + `"},"contextDir":"nowhere"}`, "git"},
		{`{"git":{"uri":"` + repo.URI() + `"},"contextDir":"../.."}`, "git"},
	} {
		_, err := detect(e.client, c.body)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v; want Invalid naming %s", c.body, err, c.field)
		}
	}
	empty := gittest.New(t)
	empty.Commit("main", "nothing to build", map[string]string{"README": "hello\n"})
	if _, err := detect(e.client, `{"git":{"uri":"`+empty.URI()+`"}}`); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "choose the builder") {
		t.Errorf("a repository without a known file: %v", err)
	}
	if _, err := detect(e.client, `{"git":{"uri":"file:///nonexistent/repo.git"}}`); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("a repository that cannot be cloned: %v; want BadRequest", err)
	}

	e.createUser(t, "mallory", "mallory-password")
	if _, err := detect(e.login(t, "mallory", "mallory-password"), `{"git":{"uri":"`+repo.URI()+`"}}`); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("a user without a role in the project: %v; want Forbidden", err)
	}
}
