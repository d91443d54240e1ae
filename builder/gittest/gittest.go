// Package gittest creates Git repositories for tests with the real git
// binary and serves them over smart HTTP (git http-backend behind Go's CGI
// handler) on loopback, optionally private behind a token.
package gittest

import (
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/testpeer"
)

// Repo is a bare repository with a work tree used to commit to it.
type Repo struct {
	t    testing.TB
	Bare string // the bare repository (file:// URI: "file://" + Bare)
	work string
}

// Author is the identity of every commit.
const Author = "Test Author <author@example.com>"

// New creates an empty repository whose default branch is "main".
func New(t testing.TB) *Repo {
	t.Helper()
	testpeer.RequireBinary(t, "git", "git")
	dir := t.TempDir()
	r := &Repo{t: t, Bare: filepath.Join(dir, "repo.git"), work: filepath.Join(dir, "work")}
	r.git(dir, "init", "-q", "--bare", "-b", "main", r.Bare)
	r.git(dir, "clone", "-q", r.Bare, r.work)
	r.git(r.work, "checkout", "-q", "-b", "main")
	return r
}

// URI is the repository's file:// URI.
func (r *Repo) URI() string { return "file://" + r.Bare }

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+filepath.Dir(r.Bare),
		"GIT_AUTHOR_NAME=Test Author", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Author", "GIT_COMMITTER_EMAIL=author@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit replaces the work tree's files with files (path → content; a path
// under .s2i/bin/ or ending in ".sh" is executable), commits them with
// message on branch (created from the current commit if new), pushes, and
// returns the commit's SHA.
func (r *Repo) Commit(branch, message string, files map[string]string) string {
	r.t.Helper()
	if branch != "" {
		r.git(r.work, "checkout", "-q", "-B", branch)
	}
	entries, _ := os.ReadDir(r.work)
	for _, e := range entries {
		if e.Name() != ".git" {
			os.RemoveAll(filepath.Join(r.work, e.Name()))
		}
	}
	for p, content := range files {
		full := filepath.Join(r.work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, ".s2i/bin/") || strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "-q", "--allow-empty", "-m", message)
	r.git(r.work, "push", "-q", "-f", "origin", "HEAD")
	return r.git(r.work, "rev-parse", "HEAD")
}

// CommitDir commits the files of a directory on the host (a sample app).
func (r *Repo) CommitDir(branch, message, dir string) string {
	r.t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return r.Commit(branch, message, files)
}

// Tag creates an annotated tag at the current commit and pushes it.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	r.git(r.work, "tag", "-a", "-m", "tag "+name, name)
	r.git(r.work, "push", "-q", "origin", name)
}

// Serve serves the repository over smart HTTP on loopback and returns its
// URL. A non-empty token makes it private: requests must carry it as the
// Basic-auth password (any user name).
func (r *Repo) Serve(token string) string {
	r.t.Helper()
	backend := testpeer.RequireBinary(r.t, "git http-backend", "/usr/lib/git-core/git-http-backend")
	h := &cgi.Handler{
		Path: backend,
		Root: "/git",
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Bare), "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if token != "" {
			_, pass, ok := req.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, req)
	}))
	r.t.Cleanup(srv.Close)
	return srv.URL + "/git/" + filepath.Base(r.Bare)
}
