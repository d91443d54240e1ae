package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
)

// Names of the builder images.
const (
	Static = "s2i-static"
	Go     = "s2i-go"
	Python = "s2i-python"
)

// usage is the usage script of an image.
func usage(name, what string) string {
	return fmt.Sprintf(`#!/bin/sh
cat <<'USAGE'
This is the Slipway builder image %s: %s

Use it as the builder of an S2I build, for example:
  slip new-build --image %s https://git.example.com/you/app.git
Scripts (override any of them in your repository's .s2i/bin):
  assemble        installs /tmp/src into %s/src
  run             starts the application on $PORT (default 8080)
  save-artifacts  streams reusable build output for incremental builds
USAGE
`, name, what, Ref("", name), AppRoot)
}

// copySource is the common first step of assemble scripts: restore the
// previous build's artifacts (restore_artifacts is defined by the script),
// then install the source.
const copySource = `if [ -d /tmp/artifacts ] && [ -n "$(ls -A /tmp/artifacts 2>/dev/null)" ]; then
  echo "---> Restoring build artifacts from the previous image"
  restore_artifacts
fi
echo "---> Installing application source from /tmp/src"
cp -Rf /tmp/src/. ` + AppRoot + `/src/
`

// StaticSpec is busybox httpd serving AppRoot/src.
func StaticSpec() Spec {
	return Spec{
		Name:        Static,
		Description: "Static web sites served by busybox httpd",
		Path:        AppRoot + "/bin:/bin",
		Scripts: map[string]string{
			"assemble": "#!/bin/sh\nset -e\nrestore_artifacts() { :; }\n" + copySource +
				"rm -rf " + AppRoot + "/src/.s2i\necho \"---> Static site ready: $(find " + AppRoot + "/src -type f | wc -l) files\"\n",
			// httpd as PID 1 ignores SIGTERM: the shell stops it.
			"run": "#!/bin/sh\nhttpd -f -p \"${PORT:-8080}\" -h " + AppRoot + "/src & pid=$!\n" +
				"trap 'kill $pid; wait $pid; exit 0' TERM INT\nwait $pid\n",
			"save-artifacts": "#!/bin/sh\n# A static site has nothing to reuse: an empty archive.\nhead -c 1024 /dev/zero # an empty tar archive\n",
			"usage":          usage(Static, "static web sites (index.html) served by busybox httpd"),
		},
	}
}

// GoSpec is the Go toolchain at goroot (GOROOT of the host's go) in
// /usr/local/go. Builds have no network: modules must be vendored
// (GOFLAGS=-mod=vendor is set when vendor/ exists) or absent, GOPROXY=off.
// The build cache is kept in the image and handed over by save-artifacts,
// so incremental builds recompile only what changed.
//
// warm lists packages compiled into that cache when the image is built
// (e.g. net/http), so that a first build does not compile them: the
// toolchain and GOROOT path are the image's, and GOROOT packages' cache
// keys do not depend on where GOROOT is, so the entries are valid there.
func GoSpec(goroot string, warm ...string) Spec {
	return Spec{
		Name:        Go,
		Description: "Go applications built with go build (modules vendored; no network)",
		Path:        AppRoot + "/bin:/usr/local/go/bin:/bin",
		Env: []string{"GOROOT=/usr/local/go", "GOPATH=" + AppRoot + "/go", "GOCACHE=" + AppRoot + "/.cache/go-build",
			"CGO_ENABLED=0", "GOPROXY=off", "GOTOOLCHAIN=local", "GOTELEMETRY=off", "GOFLAGS=-buildvcs=false"},
		Scripts: map[string]string{
			"assemble": `#!/bin/sh
set -e
restore_artifacts() {
  if [ -d /tmp/artifacts/go-build ]; then
    mkdir -p "$GOCACHE" && cp -Rf /tmp/artifacts/go-build/. "$GOCACHE"/
  fi
}
` + copySource + `cd ` + AppRoot + `/src
if [ -d vendor ]; then export GOFLAGS="$GOFLAGS -mod=vendor"; fi
echo "---> Building ${GO_BUILD_TARGET:-.} with $(go version)"
go build -trimpath -o ` + AppRoot + `/bin/app ${GO_BUILD_TARGET:-.}
echo "---> Built ` + AppRoot + `/bin/app"
`,
			"run": "#!/bin/sh\nexec " + AppRoot + "/bin/app \"$@\"\n",
			"save-artifacts": `#!/bin/sh
# The Go build cache, so the next build recompiles only what changed;
# without the entries the image ships (go-build.warm).
cd "$(dirname "$GOCACHE")" 2>/dev/null && [ -d go-build ] || { head -c 1024 /dev/zero; exit 0; }
warm=` + ScriptsDir + `/go-build.warm
if [ -f "$warm" ]; then
  find go-build -type f | grep -vxFf "$warm" > /tmp/save-artifacts.list || true
  if [ -s /tmp/save-artifacts.list ]; then exec tar -cf - $(cat /tmp/save-artifacts.list); fi
  head -c 1024 /dev/zero # an empty tar archive
  exit 0
fi
exec tar -cf - go-build
`,
			"usage": usage(Go, "Go applications, built offline with go build (vendor your modules)"),
		},
		Add: func(l *layer) error {
			if _, err := os.Stat(filepath.Join(goroot, "bin", "go")); err != nil {
				return fmt.Errorf("go installation at %s: %w", goroot, err)
			}
			l.dir(AppRoot+"/.cache", 0o775, UID)
			l.dir(AppRoot+"/go", 0o775, UID)
			if len(warm) > 0 {
				cache, err := os.MkdirTemp("", "slipway-gocache-")
				if err != nil {
					return err
				}
				l.cleanup = append(l.cleanup, func() { os.RemoveAll(cache) })
				cmd := exec.Command(filepath.Join(goroot, "bin", "go"), append([]string{"build", "-trimpath"}, warm...)...)
				cmd.Env = append(os.Environ(), "GOCACHE="+cache, "GOROOT="+goroot, "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN=local",
					"GOTELEMETRY=off", "GOOS=linux", "GOARCH="+goruntime.GOARCH, "GOAMD64=", "GOEXPERIMENT=",
					// No module index in the cache: it describes the host's GOROOT
					// tree (with src/cmd and tests), not the image's.
					"GODEBUG=goindex=0")
				cmd.Dir = cache
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("warm the Go build cache: %w: %s", err, out)
				}
				if err := l.treeOwned(AppRoot+"/.cache/go-build", cache, UID, nil); err != nil {
					return err
				}
				var list strings.Builder
				err = filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						rel, _ := filepath.Rel(cache, p)
						list.WriteString("go-build/" + filepath.ToSlash(rel) + "\n")
					}
					return err
				})
				if err != nil {
					return err
				}
				l.file(ScriptsDir+"/go-build.warm", 0o644, []byte(list.String()))
			}
			return l.tree("/usr/local/go", goroot, func(rel string, dir bool) bool {
				switch {
				case dir && (rel == "api" || rel == "doc" || rel == "misc" || rel == "test" || rel == "src/cmd" ||
					strings.HasSuffix(rel, "/testdata") || rel == "pkg/obj" || rel == "pkg/bootstrap"):
					return true
				case !dir && strings.HasSuffix(rel, "_test.go"):
					return true
				}
				return false
			})
		},
	}
}

// PythonSpec is Debian's python3 (the interpreter at python, its standard
// library and every shared library they load). There is no pip: builds are
// offline, applications use the standard library.
func PythonSpec(python string) Spec {
	return Spec{
		Name:        Python,
		Description: "Python 3 applications (standard library only; no network for pip)",
		Path:        AppRoot + "/bin:/usr/bin:/bin",
		Env:         []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8"},
		Scripts: map[string]string{
			"assemble": "#!/bin/sh\nset -e\nrestore_artifacts() { :; }\n" + copySource + `cd ` + AppRoot + `/src
if [ -s requirements.txt ] && grep -qv '^[[:space:]]*\(#\|$\)' requirements.txt; then
  echo "---> WARNING: requirements.txt is not installed: builds have no network and this image has no pip"
fi
echo "---> Python application ready ($(python3 --version))"
`,
			"run": `#!/bin/sh
cd ` + AppRoot + `/src
if [ -n "$APP_FILE" ]; then exec python3 "$APP_FILE"; fi
if [ -f app.py ]; then exec python3 app.py; fi
exec python3 -m http.server "${PORT:-8080}"
`,
			"save-artifacts": "#!/bin/sh\nhead -c 1024 /dev/zero # an empty tar archive\n",
			"usage":          usage(Python, "Python 3 applications: app.py (or $APP_FILE) runs, else http.server serves the files"),
		},
		Add: func(l *layer) error {
			ctx := context.Background()
			real, err := filepath.EvalSymlinks(python)
			if err != nil {
				return fmt.Errorf("python at %s: %w", python, err)
			}
			out, err := exec.CommandContext(ctx, real, "-c", "import sys, sysconfig; print(sysconfig.get_paths()['stdlib']); print(sys.version_info[0], sys.version_info[1])").Output()
			if err != nil {
				return fmt.Errorf("ask %s for its standard library: %w", real, err)
			}
			lines := strings.Fields(string(out))
			if len(lines) != 3 {
				return fmt.Errorf("ask %s for its standard library: unexpected answer %q", real, out)
			}
			stdlib, ver := lines[0], lines[1]+"."+lines[2]
			l.hostFile("/usr/bin/python"+ver, real, 0o755)
			l.symlink("/usr/bin/python3", "python"+ver)
			l.symlink("/usr/bin/python", "python"+ver)
			if err := l.tree(stdlib, stdlib, func(rel string, dir bool) bool {
				return dir && (rel == "test" || rel == "idlelib" || rel == "tkinter" || rel == "turtledemo" ||
					rel == "ensurepip" || rel == "lib2to3" || strings.HasPrefix(rel, "config-") ||
					rel == "site-packages" || rel == "dist-packages")
			}); err != nil {
				return err
			}
			mods, _ := filepath.Glob(filepath.Join(stdlib, "lib-dynload", "*.so"))
			return sharedLibraries(ctx, l, append([]string{real}, mods...)...)
		},
	}
}

// Options say where the host's toolchains are.
type Options struct {
	// GoRoot is the Go installation copied into s2i-go; default `go env GOROOT`.
	GoRoot string
	// Python is the python3 interpreter; default /usr/bin/python3 (Debian's).
	Python string
	// Host prefixes the references, e.g. the registry's host:port.
	Host string
	// Only limits the build to these names; empty for all three.
	Only []string
	// GoWarm are packages precompiled into s2i-go's build cache (GoSpec).
	GoWarm []string
}

// BuildAll builds the builder images into dir and returns their archive
// paths by name.
func BuildAll(ctx context.Context, dir string, opts Options) (map[string]string, error) {
	want := func(name string) bool {
		if len(opts.Only) == 0 {
			return true
		}
		for _, n := range opts.Only {
			if n == name {
				return true
			}
		}
		return false
	}
	if opts.GoRoot == "" && want(Go) {
		out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
		if err != nil {
			return nil, fmt.Errorf("images: find the Go installation: %w", err)
		}
		opts.GoRoot = strings.TrimSpace(string(out))
	}
	if opts.Python == "" {
		opts.Python = "/usr/bin/python3"
	}
	out := map[string]string{}
	for _, spec := range []Spec{StaticSpec(), GoSpec(opts.GoRoot, opts.GoWarm...), PythonSpec(opts.Python)} {
		if !want(spec.Name) {
			continue
		}
		p, err := Build(ctx, dir, Ref(opts.Host, spec.Name), spec)
		if err != nil {
			return nil, err
		}
		out[spec.Name] = p
	}
	return out, nil
}
