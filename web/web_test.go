package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func builtConsole() fstest.MapFS {
	return fstest.MapFS{
		"index.html":              {Data: []byte(`<!doctype html><title>Slipway</title><script type="module" src="/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js":  {Data: []byte(`console.log("app")`)},
		"assets/index-abc123.css": {Data: []byte(`body{}`)},
		"favicon.svg":             {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		".gitkeep":                {Data: nil},
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		files        fstest.MapFS
		method       string
		path         string
		wantCode     int
		wantBody     string // substring
		wantType     string // prefix
		wantCache    string
		wantNoHeader string
	}{
		{name: "root is the index", files: builtConsole(), path: "/", wantCode: 200, wantBody: "<title>Slipway</title>", wantType: "text/html", wantCache: "no-cache"},
		{name: "client route falls back to the index", files: builtConsole(), path: "/projects", wantCode: 200, wantBody: "<title>Slipway</title>", wantType: "text/html", wantCache: "no-cache"},
		{name: "deep client route falls back to the index", files: builtConsole(), path: "/projects/shop/apps/web", wantCode: 200, wantBody: "<title>Slipway</title>", wantCache: "no-cache"},
		{name: "index.html by name", files: builtConsole(), path: "/index.html", wantCode: 200, wantBody: "<title>Slipway</title>", wantCache: "no-cache"},
		{name: "hashed asset is cached for long", files: builtConsole(), path: "/assets/index-abc123.js", wantCode: 200, wantBody: `console.log("app")`, wantType: "text/javascript", wantCache: "public, max-age=31536000, immutable"},
		{name: "stylesheet", files: builtConsole(), path: "/assets/index-abc123.css", wantCode: 200, wantType: "text/css", wantCache: "public, max-age=31536000, immutable"},
		{name: "unhashed file is revalidated", files: builtConsole(), path: "/favicon.svg", wantCode: 200, wantType: "image/svg+xml", wantCache: "no-cache"},
		{name: "missing asset is not answered with html", files: builtConsole(), path: "/assets/index-old.js", wantCode: 404},
		{name: "missing script outside assets", files: builtConsole(), path: "/old.js", wantCode: 404},
		{name: "assets directory is not listed", files: builtConsole(), path: "/assets/", wantCode: 404, wantNoHeader: "Content-Security-Policy"},
		{name: "dot files are hidden", files: builtConsole(), path: "/.gitkeep", wantCode: 200, wantBody: "<title>Slipway</title>"},
		{name: "api path is not the console", files: builtConsole(), path: "/api/v1/nope", wantCode: 404, wantNoHeader: "Content-Security-Policy"},
		{name: "auth path is not the console", files: builtConsole(), path: "/auth/nope", wantCode: 404},
		{name: "registry path is not the console", files: builtConsole(), path: "/v2/", wantCode: 404},
		{name: "healthz is not the console", files: builtConsole(), path: "/healthz", wantCode: 404},
		{name: "dot-dot stays inside", files: builtConsole(), path: "/assets/../index.html", wantCode: 200, wantBody: "<title>Slipway</title>"},
		{name: "head", files: builtConsole(), method: http.MethodHead, path: "/projects", wantCode: 200, wantCache: "no-cache"},
		{name: "post is refused", files: builtConsole(), method: http.MethodPost, path: "/projects", wantCode: 405},
		{name: "not built", files: fstest.MapFS{".gitkeep": {}}, path: "/", wantCode: 503, wantBody: "The console is not built: run <code>make build</code>", wantType: "text/html", wantCache: "no-store"},
		{name: "not built, deep route", files: fstest.MapFS{".gitkeep": {}}, path: "/projects", wantCode: 503, wantBody: "The console is not built"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			newHandler(tc.files).ServeHTTP(rec, httptest.NewRequest(method, tc.path, nil))
			if rec.Code != tc.wantCode {
				t.Fatalf("%s %s: code %d, want %d; body %q", method, tc.path, rec.Code, tc.wantCode, rec.Body.String())
			}
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tc.wantBody)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, tc.wantType) {
				t.Errorf("Content-Type %q, want %q…", got, tc.wantType)
			}
			if tc.wantCache != "" {
				if got := rec.Header().Get("Cache-Control"); got != tc.wantCache {
					t.Errorf("Cache-Control %q, want %q", got, tc.wantCache)
				}
			}
			if tc.wantNoHeader != "" && rec.Header().Get(tc.wantNoHeader) != "" {
				t.Errorf("unexpected header %s: %q", tc.wantNoHeader, rec.Header().Get(tc.wantNoHeader))
			}
			if method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered a body of %d bytes", rec.Body.Len())
			}
		})
	}
}

func TestIndexRevalidates(t *testing.T) {
	t.Parallel()
	h := newHandler(builtConsole())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/projects", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("index has no ETag")
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Error("index has no Content-Security-Policy")
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation answered %d, want 304", rec.Code)
	}
}

// TestEmbeddedHandler checks the real embedded build: whichever state dist
// is in (built or not), the root answers a page.
func TestEmbeddedHandler(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK && rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET / answered %d", rec.Code)
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("GET / answered %q", rec.Header().Get("Content-Type"))
	}
}
