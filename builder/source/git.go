// Package source fetches a build's source onto the node: a Git repository
// with the real git binary (a branch, tag or commit, or the default branch;
// an HTTP token or an SSH key that never appears in argv or logs), or a
// binary archive (tar.gz) uploaded through the API. It returns the fetched
// commit for the build's record.
package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrInvalid marks a bad source definition (URI, ref, context dir);
// ErrFetch marks a fetch that failed (unreachable, denied, no such ref).
var (
	ErrInvalid = errors.New("invalid source")
	ErrFetch   = errors.New("fetch failed")
)

// Git is a BuildConfig's spec.source.git plus spec.source.contextDir.
type Git struct {
	URI string
	// Ref is a branch, tag or commit (full or abbreviated); empty for the
	// repository's default branch.
	Ref string
	// ContextDir is the subdirectory holding the application; empty for
	// the root.
	ContextDir string
}

// Auth is the source secret. At most one of Token and SSHKey is set.
type Auth struct {
	// Username goes with Token over HTTP(S); default "git" (GitHub and
	// Slipway ignore it, GitLab wants "oauth2").
	Username string
	// Token is an HTTP password or access token, handed to git through
	// GIT_ASKPASS from the environment, never through argv or the URL.
	Token string
	// SSHKey is a private key (PEM) for ssh:// and scp-like URIs, written
	// to a 0600 temporary file for the fetch only.
	SSHKey []byte
}

// Commit identifies what was fetched.
type Commit struct {
	SHA     string `json:"commit"`
	Author  string `json:"author"`  // "Name <email>"
	Message string `json:"message"` // subject line
}

// Result is a fetched source.
type Result struct {
	// Root is the checkout; Dir is Root joined with the context dir, the
	// directory the build uses.
	Root, Dir string
	Commit    Commit
}

// Fetcher runs git.
type Fetcher struct {
	// Git is the git binary; default "git" from PATH.
	Git string
}

var hexRef = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// FetchGit checks g out into dir (created, must be empty or absent). git's
// progress goes to log. On error dir may hold a partial checkout; the
// caller removes it.
func (f Fetcher) FetchGit(ctx context.Context, dir string, g Git, auth Auth, log io.Writer) (Result, error) {
	if f.Git == "" {
		f.Git = "git"
	}
	if log == nil {
		log = io.Discard
	}
	uri, userinfo, err := checkURI(g.URI)
	if err != nil {
		return Result{}, err
	}
	if strings.HasPrefix(g.Ref, "-") || strings.ContainsAny(g.Ref, " \t\n:~^?*[\\") {
		return Result{}, fmt.Errorf("%w: ref %q", ErrInvalid, g.Ref)
	}
	ctxDir, err := cleanContextDir(g.ContextDir)
	if err != nil {
		return Result{}, err
	}
	if userinfo != nil && auth.Token == "" {
		// Credentials written into the URI are used, but never shown.
		auth.Username = userinfo.Username()
		auth.Token, _ = userinfo.Password()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create source dir: %w", err)
	}
	home, err := os.MkdirTemp("", "slipway-git-")
	if err != nil {
		return Result{}, fmt.Errorf("create git home: %w", err)
	}
	defer os.RemoveAll(home)
	env, err := gitEnv(home, auth)
	if err != nil {
		return Result{}, err
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, f.Git, append([]string{"-c", "credential.helper=", "-c", "protocol.version=2"}, args...)...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = log, io.MultiWriter(log, &stderr)
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("git %s: %w: %s", args[0], err, lastLine(stderr.String()))
		}
		return nil
	}
	fmt.Fprintf(log, "Cloning %q ...\n", uri)
	if err := run("init", "-q"); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if err := run("remote", "add", "origin", uri); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	want := g.Ref
	if want == "" {
		want = "HEAD"
	}
	// A shallow fetch of the ref works for branches and tags, and for
	// commits on servers that allow it; otherwise fetch everything.
	err = run("fetch", "-q", "--depth=1", "--no-tags", "origin", want)
	if err == nil {
		err = run("checkout", "-q", "--detach", "FETCH_HEAD")
	} else if hexRef.MatchString(g.Ref) && ctx.Err() == nil {
		err = run("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*")
		if err == nil {
			err = run("checkout", "-q", "--detach", g.Ref+"^{commit}")
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, fmt.Errorf("%w: %s at %q: %w", ErrFetch, uri, want, err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, f.Git, "log", "-1", "--format=%H%x00%an <%ae>%x00%s")
	cmd.Dir, cmd.Env, cmd.Stdout = dir, env, &out
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("%w: read commit: %w", ErrFetch, err)
	}
	parts := strings.SplitN(strings.TrimRight(out.String(), "\n"), "\x00", 3)
	if len(parts) != 3 {
		return Result{}, fmt.Errorf("%w: unexpected git log output %q", ErrFetch, out.String())
	}
	res := Result{Root: dir, Dir: filepath.Join(dir, ctxDir), Commit: Commit{SHA: parts[0], Author: parts[1], Message: parts[2]}}
	if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		return Result{}, fmt.Errorf("remove .git: %w", err)
	}
	if fi, err := os.Lstat(res.Dir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("%w: context dir %q is not a directory at %s", ErrInvalid, g.ContextDir, res.Commit.SHA)
	}
	fmt.Fprintf(log, "Commit:\t%s (%s)\nAuthor:\t%s\n", res.Commit.SHA, res.Commit.Message, res.Commit.Author)
	return res, nil
}

// checkURI accepts http(s), ssh, git, file URIs and scp-like
// user@host:path; it returns the URI without userinfo and that userinfo.
func checkURI(raw string) (string, *url.Userinfo, error) {
	if raw == "" {
		return "", nil, fmt.Errorf("%w: git uri is required", ErrInvalid)
	}
	if strings.HasPrefix(raw, "-") {
		return "", nil, fmt.Errorf("%w: git uri %q", ErrInvalid, raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		if scpLike.MatchString(raw) {
			return raw, nil, nil
		}
		return "", nil, fmt.Errorf("%w: git uri %q: want http(s)://, ssh://, git://, file:// or user@host:path", ErrInvalid, raw)
	}
	switch u.Scheme {
	case "http", "https":
		ui := u.User
		u.User = nil
		return u.String(), ui, nil
	case "ssh", "git", "file":
		return raw, nil, nil
	}
	return "", nil, fmt.Errorf("%w: git uri %q: scheme %q not supported", ErrInvalid, raw, u.Scheme)
}

var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:/.*$`)

func cleanContextDir(d string) (string, error) {
	if d == "" {
		return ".", nil
	}
	c := filepath.Clean("/" + d)
	if strings.Contains(d, "..") {
		return "", fmt.Errorf("%w: context dir %q must not contain '..'", ErrInvalid, d)
	}
	return strings.TrimPrefix(c, "/"), nil
}

// gitEnv is a minimal environment: no user or system git configuration,
// no prompts, credentials from askpass reading the environment.
func gitEnv(home string, auth Auth) ([]string, error) {
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
	if auth.Token != "" {
		askpass := filepath.Join(home, "askpass")
		// Reads the answer from the environment: the token is in no file
		// and no argument list.
		script := "#!/bin/sh\ncase \"$1\" in\n[Uu]sername*) printf '%s\\n' \"$SLIPWAY_GIT_USERNAME\" ;;\n*) printf '%s\\n' \"$SLIPWAY_GIT_TOKEN\" ;;\nesac\n"
		if err := os.WriteFile(askpass, []byte(script), 0o700); err != nil {
			return nil, fmt.Errorf("write askpass: %w", err)
		}
		user := auth.Username
		if user == "" {
			user = "git"
		}
		env = append(env, "GIT_ASKPASS="+askpass, "SLIPWAY_GIT_USERNAME="+user, "SLIPWAY_GIT_TOKEN="+auth.Token)
	}
	if len(auth.SSHKey) > 0 {
		key := filepath.Join(home, "id")
		data := auth.SSHKey
		if !bytes.HasSuffix(data, []byte("\n")) {
			data = append(append([]byte(nil), data...), '\n')
		}
		if err := os.WriteFile(key, data, 0o600); err != nil {
			return nil, fmt.Errorf("write ssh key: %w", err)
		}
		// No known_hosts exists on a node: the first key seen is accepted
		// for this fetch only.
		env = append(env, "GIT_SSH_COMMAND=ssh -F /dev/null -i "+key+
			" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
	}
	return env, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
