// Package web serves Slipway's web console: a TypeScript single-page app
// (sources beside this file, built with npm into dist/) embedded in the
// binary. Hashed assets are served with long cache lifetimes; every other
// path that is not the API's answers index.html, so the app's own router
// handles deep links.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// assetsDir holds Vite's output whose file names carry a content hash.
const assetsDir = "assets/"

// apiPrefixes are the server's own paths: a request for one that reaches
// the console is a mistake (a wrong URL, or an API route not mounted), and a
// 404 says so better than the app's HTML would.
var apiPrefixes = []string{"/api/", "/auth/", "/v2/"}

// apiPaths are the server's exact non-console paths.
var apiPaths = map[string]bool{
	"/api": true, "/v2": true, "/healthz": true, "/readyz": true, "/version": true, "/metrics": true,
}

// contentSecurityPolicy confines the console to its own origin: the app
// needs no inline script, no third-party host and no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the embedded console. When dist holds no index.html (npm
// has not run), every page says how to build it.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: this cannot fail
	}
	return newHandler(sub)
}

// console serves one build of the app.
type console struct {
	files fs.FS
	index []byte // nil when the console is not built
	etag  string
}

func newHandler(files fs.FS) http.Handler {
	c := &console{files: files}
	if index, err := fs.ReadFile(files, "index.html"); err == nil {
		sum := sha256.Sum256(index)
		c.index, c.etag = index, `"`+hex.EncodeToString(sum[:8])+`"`
	}
	return c
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if isAPIPath(p) {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name != "" && name != "index.html" && c.serveFile(w, r, name) {
		return
	}
	if name+"/" == assetsDir || strings.HasPrefix(name, assetsDir) || path.Ext(name) == ".js" || path.Ext(name) == ".css" {
		// A missing script or stylesheet (an old page asking for a
		// replaced build) must not be answered with HTML.
		http.NotFound(w, r)
		return
	}
	c.serveIndex(w, r)
}

func isAPIPath(p string) bool {
	if apiPaths[p] {
		return true
	}
	for _, prefix := range apiPrefixes {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// serveFile serves a regular file of the build and reports whether it
// existed. Directories are never listed.
func (c *console) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	f, err := c.files.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.IsDir() || strings.HasPrefix(path.Base(name), ".") {
		return false
	}
	content, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, "cannot read "+name, http.StatusInternalServerError)
			return true
		}
		content = bytes.NewReader(b)
	}
	if strings.HasPrefix(name, assetsDir) {
		// The name changes whenever the content does.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, info.ModTime(), content)
	return true
}

// serveIndex answers the app's page, revalidated on every load so a new
// build is picked up at once.
func (c *console) serveIndex(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if c.index == nil {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, notBuiltPage)
		}
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("ETag", c.etag)
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(c.index))
}

// notBuiltPage answers every page while dist holds no build.
const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Slipway console not built</title></head>
<body><main>
<h1>Slipway</h1>
<p>The console is not built: run <code>make build</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>) and restart the server.</p>
<p>The API answers at <code>/api/v1</code> all the same.</p>
</main></body></html>
`
