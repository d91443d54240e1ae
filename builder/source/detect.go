package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUndetected says that no builder matches a repository's files.
var ErrUndetected = errors.New("no go.mod, requirements.txt, pyproject.toml, package.json or index.html")

// builderProbes are the files that name a builder, in order of precedence.
var builderProbes = []struct{ file, builder string }{
	{"go.mod", "go"}, {"requirements.txt", "python"}, {"pyproject.toml", "python"},
	{"package.json", "nodejs"}, {"index.html", "static"},
}

// Detection is what DetectBuilder found.
type Detection struct {
	// Builder is go, python, nodejs or static.
	Builder string `json:"builder"`
	// File is the file that decided it, relative to the context dir.
	File string `json:"file"`
}

// DetectBuilder picks the builder from the files at the top of dir:
// go.mod → go, requirements.txt or pyproject.toml → python, package.json
// → nodejs, index.html → static; ErrUndetected when none is there.
func DetectBuilder(dir string) (Detection, error) {
	for _, p := range builderProbes {
		// Lstat: a link counts as the file, its target is not looked at.
		if _, err := os.Lstat(filepath.Join(dir, p.file)); err == nil {
			return Detection{Builder: p.builder, File: p.file}, nil
		}
	}
	return Detection{}, ErrUndetected
}

// Detect clones g shallowly (no credentials: public repositories) into a
// temporary directory and detects the builder from the files in its
// context dir. A ref that is not a branch or tag (a commit) is judged on
// the default branch. Errors wrap ErrInvalid, ErrFetch or ErrUndetected.
func (f Fetcher) Detect(ctx context.Context, g Git) (Detection, error) {
	if f.Git == "" {
		f.Git = "git"
	}
	uri, userinfo, err := checkURI(g.URI)
	if err != nil {
		return Detection{}, err
	}
	if userinfo != nil {
		return Detection{}, fmt.Errorf("%w: git uri: credentials in the URI are not used to detect a builder", ErrInvalid)
	}
	if strings.HasPrefix(g.Ref, "-") || strings.ContainsAny(g.Ref, " \t\n:~^?*[\\") {
		return Detection{}, fmt.Errorf("%w: ref %q", ErrInvalid, g.Ref)
	}
	ctxDir, err := cleanContextDir(g.ContextDir)
	if err != nil {
		return Detection{}, err
	}
	dir, err := os.MkdirTemp("", "slipway-detect-")
	if err != nil {
		return Detection{}, err
	}
	defer os.RemoveAll(dir)
	target := filepath.Join(dir, "src")
	clone := func(args ...string) error {
		_ = os.RemoveAll(target)
		cmd := exec.CommandContext(ctx, f.Git, append([]string{"clone", "--quiet", "--depth", "1", "--no-tags"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false",
			"GIT_SSH_COMMAND=ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: git clone %s: %v: %s", ErrFetch, uri, err, lastLine(string(out)))
		}
		return nil
	}
	if g.Ref != "" {
		err = clone("--branch", g.Ref, "--", uri, target)
	}
	if g.Ref == "" || err != nil {
		err = clone("--", uri, target)
	}
	if err != nil {
		return Detection{}, err
	}
	// The context dir must stay inside the checkout (a link in the
	// repository must not make the server look at its own files).
	root, err := filepath.EvalSymlinks(target)
	if err != nil {
		return Detection{}, err
	}
	at, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(ctxDir)))
	if err != nil {
		return Detection{}, fmt.Errorf("%w: context dir %q: not in the repository", ErrInvalid, g.ContextDir)
	}
	if rel, err := filepath.Rel(root, at); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return Detection{}, fmt.Errorf("%w: context dir %q leads out of the repository", ErrInvalid, g.ContextDir)
	}
	d, err := DetectBuilder(at)
	if err != nil {
		return Detection{}, fmt.Errorf("%s: %w", g.URI, err)
	}
	return d, nil
}
