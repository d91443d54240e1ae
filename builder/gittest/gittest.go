// Package gittest creates Git repositories for tests with the real git
// binary and serves them over smart HTTP (git http-backend behind Go's CGI
// handler) on loopback, optionally private behind a token.
package gittest

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// ServeSSH serves the repository over SSH: a private sshd on a loopback
// port accepting only a key made for this test, as the current user. It
// returns the ssh:// URI and the private key (OpenSSH PEM). sshd refuses to
// run without /run/sshd, which it creates if missing.
func (r *Repo) ServeSSH() (uri string, key []byte) {
	r.t.Helper()
	testpeer.RequireRoot(r.t)
	sshd := testpeer.RequireBinary(r.t, "sshd (Debian package openssh-server)", "/usr/sbin/sshd")
	keygen := testpeer.RequireBinary(r.t, "ssh-keygen", "ssh-keygen")
	dir := r.t.TempDir()
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			r.t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		r.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	config := fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\nPidFile %s\n"+
		"PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n",
		port, filepath.Join(dir, "host"), filepath.Join(dir, "client.pub"), filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o600); err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var logBuf strings.Builder
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start sshd: %v", err)
	}
	r.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("sshd not listening within 10 s: %v\n%s", err, logBuf.String())
		}
		time.Sleep(20 * time.Millisecond) // bounded poll of a starting daemon
	}
	key, err = os.ReadFile(filepath.Join(dir, "client"))
	if err != nil {
		r.t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		r.t.Fatal(err)
	}
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", u.Username, port, r.Bare), key
}
