package source_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/builder/gittest"
	"github.com/slipway/slipway/builder/source"
)

func TestFetchGit(t *testing.T) {
	repo := gittest.New(t)
	first := repo.Commit("main", "first", map[string]string{"index.html": "v1", "app/main.go": "package main"})
	repo.Tag("v1.0")
	second := repo.Commit("main", "second", map[string]string{"index.html": "v2", "app/main.go": "package main"})
	feature := repo.Commit("feature", "on a branch", map[string]string{"index.html": "feature"})
	const token = "s3cret-token-value"
	private := gittest.New(t)
	privSHA := private.Commit("main", "private", map[string]string{"index.html": "private"})

	tests := []struct {
		name       string
		git        source.Git
		auth       source.Auth
		wantSHA    string
		wantFile   string // content of index.html (or the context dir's file)
		wantMsg    string
		wantErr    error
		fileInCtx  string
		privateURL bool
		ssh        []byte
	}{
		{name: "default branch", git: source.Git{URI: repo.URI()}, wantSHA: second, wantFile: "v2", wantMsg: "second"},
		{name: "branch", git: source.Git{URI: repo.URI(), Ref: "feature"}, wantSHA: feature, wantFile: "feature"},
		{name: "annotated tag", git: source.Git{URI: repo.URI(), Ref: "v1.0"}, wantSHA: first, wantFile: "v1"},
		{name: "full commit", git: source.Git{URI: repo.URI(), Ref: first}, wantSHA: first, wantFile: "v1"},
		{name: "abbreviated commit", git: source.Git{URI: repo.URI(), Ref: first[:8]}, wantSHA: first, wantFile: "v1"},
		{name: "context dir", git: source.Git{URI: repo.URI(), ContextDir: "app"}, wantSHA: second, fileInCtx: "main.go"},
		{name: "missing context dir", git: source.Git{URI: repo.URI(), ContextDir: "nope"}, wantErr: source.ErrInvalid},
		{name: "context dir escaping", git: source.Git{URI: repo.URI(), ContextDir: "../etc"}, wantErr: source.ErrInvalid},
		{name: "missing branch", git: source.Git{URI: repo.URI(), Ref: "nope"}, wantErr: source.ErrFetch},
		{name: "option injection in ref", git: source.Git{URI: repo.URI(), Ref: "--upload-pack=touch"}, wantErr: source.ErrInvalid},
		{name: "unsupported scheme", git: source.Git{URI: "ftp://example.com/x.git"}, wantErr: source.ErrInvalid},
		{name: "private over HTTP with token", privateURL: true, auth: source.Auth{Token: token}, wantSHA: privSHA, wantFile: "private"},
		{name: "private over HTTP without token", privateURL: true, wantErr: source.ErrFetch},
		{name: "private over HTTP with a wrong token", privateURL: true, auth: source.Auth{Token: "wrong"}, wantErr: source.ErrFetch},
		{name: "over SSH with the key", ssh: []byte("key"), wantSHA: privSHA, wantFile: "private"},
		{name: "over SSH with another key", ssh: []byte("other"), wantErr: source.ErrFetch},
	}
	privateURL := private.Serve(token)
	sshURI, sshKey := private.ServeSSH()
	otherPath := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	otherKey, err := os.ReadFile(otherPath) // valid, but not authorised
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.git
			if tc.privateURL {
				g.URI = privateURL
			}
			switch string(tc.ssh) {
			case "key":
				g.URI, tc.auth.SSHKey = sshURI, sshKey
			case "other":
				g.URI, tc.auth.SSHKey = sshURI, otherKey
			}
			var log bytes.Buffer
			res, err := source.Fetcher{}.FetchGit(context.Background(), filepath.Join(t.TempDir(), "src"), g, tc.auth, &log)
			if strings.Contains(log.String(), token) || (err != nil && strings.Contains(err.Error(), token)) {
				t.Fatalf("token leaked into the log or error: %s %v", log.String(), err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FetchGit: %v\nlog:\n%s", err, log.String())
			}
			if res.Commit.SHA != tc.wantSHA {
				t.Errorf("commit = %s, want %s", res.Commit.SHA, tc.wantSHA)
			}
			if res.Commit.Author != gittest.Author {
				t.Errorf("author = %q", res.Commit.Author)
			}
			if tc.wantMsg != "" && res.Commit.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q", res.Commit.Message, tc.wantMsg)
			}
			name := "index.html"
			if tc.fileInCtx != "" {
				name = tc.fileInCtx
			}
			b, err := os.ReadFile(filepath.Join(res.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantFile != "" && string(b) != tc.wantFile {
				t.Errorf("%s = %q, want %q", name, b, tc.wantFile)
			}
			if _, err := os.Stat(filepath.Join(res.Root, ".git")); !os.IsNotExist(err) {
				t.Errorf(".git left in the source: %v", err)
			}
		})
	}
}

func tarGz(t *testing.T, entries []tar.Header, content map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		c := content[h.Name]
		h.Size = int64(len(c))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(c))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestFetchBinary(t *testing.T) {
	good := tarGz(t, []tar.Header{
		{Name: "site/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "site/index.html", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "site/link", Typeflag: tar.TypeSymlink, Linkname: "index.html"},
	}, map[string]string{"site/index.html": "binary"})
	escape := tarGz(t, []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}}, nil)
	throughLink := tarGz(t, []tar.Header{
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
		{Name: "l/evil", Typeflag: tar.TypeReg, Mode: 0o644},
	}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/good":
			w.Write(good)
		case "/escape":
			w.Write(escape)
		case "/link":
			w.Write(throughLink)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name, path, token, ctxDir string
		wantErr                   error
	}{
		{name: "archive", path: "/good", token: "tok", ctxDir: "site"},
		{name: "unauthorised", path: "/good", token: "bad", wantErr: source.ErrFetch},
		{name: "entry escaping", path: "/escape", token: "tok", wantErr: source.ErrInvalid},
		{name: "write through a symlink", path: "/link", token: "tok", wantErr: source.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			res, err := source.FetchBinary(context.Background(), dir, source.Binary{URL: srv.URL + tc.path, Token: tc.token, ContextDir: tc.ctxDir}, nil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(res.Dir, "link"))
			if err != nil || string(b) != "binary" {
				t.Errorf("link → %q, %v", b, err)
			}
		})
	}
}

// TestExtractTarNeverFollowsLinks: an archive that plants a symbolic link
// and then writes a file of the same name replaces the link; nothing is
// written outside the directory.
func TestExtractTarNeverFollowsLinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := tarGz(t, []tar.Header{
		{Name: "a", Typeflag: tar.TypeSymlink, Linkname: outside},
		{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644},
	}, map[string]string{"a": "overwritten"})
	dir := t.TempDir()
	if err := source.ExtractTarGz(dir, bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Errorf("a file outside the directory was written: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "a")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("a = %v, %v; want the regular file", fi, err)
	}
}
