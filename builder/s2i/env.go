package s2i

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// Build describes the build the environment and labels record.
type Build struct {
	Name      string // the Build's name, e.g. "app-3"
	Namespace string // its project
	// SourceURI, Ref and ContextDir are the Git source as the BuildConfig
	// names it (Ref may be empty: the default branch).
	SourceURI  string
	Ref        string
	ContextDir string
	// Commit is what was fetched.
	Commit        string
	CommitAuthor  string // "Name <email>"
	CommitMessage string // subject line
	// BuilderImage is the builder image's full reference.
	BuilderImage string
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseEnvironment reads a .s2i/environment file: KEY=VALUE lines, blank
// lines and '#' comments skipped, the value taken verbatim (no quotes
// removed, as s2i does). A malformed line is an error naming its number.
func ParseEnvironment(r io.Reader) ([]EnvVar, error) {
	var out []EnvVar
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || !envName.MatchString(name) {
			return nil, fmt.Errorf("%s line %d: %w: want NAME=value with NAME of letters, digits and '_'", EnvironmentFile, n, ErrInvalid)
		}
		out = append(out, EnvVar{Name: name, Value: value})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", EnvironmentFile, err)
	}
	return out, nil
}

// BuildEnv is the environment describing the build, under OpenShift's
// names and Slipway's alongside. It is given to assemble and persisted into
// the output image, as OpenShift does.
func BuildEnv(b Build) []EnvVar {
	var out []EnvVar
	add := func(suffix, value string) {
		if value == "" {
			return
		}
		out = append(out, EnvVar{"OPENSHIFT_BUILD_" + suffix, value}, EnvVar{"SLIPWAY_BUILD_" + suffix, value})
	}
	add("NAME", b.Name)
	add("NAMESPACE", b.Namespace)
	add("SOURCE", b.SourceURI)
	add("REFERENCE", b.Ref)
	add("COMMIT", b.Commit)
	return out
}

// AssembleEnv is the environment of the assemble (and save-artifacts)
// process, later entries winning: the build's own variables, then
// .s2i/environment, then the BuildConfig's strategy env. The image's own
// Env is beneath all of these (the runtime applies it first).
func AssembleEnv(b Build, fileEnv, strategyEnv []EnvVar) []EnvVar {
	return merge(BuildEnv(b), fileEnv, strategyEnv)
}

// ImageEnv is what the output image's Env gains over the builder image's:
// the same variables as AssembleEnv, so the running application sees
// .s2i/environment and the BuildConfig's env.
func ImageEnv(builderEnv []string, b Build, fileEnv, strategyEnv []EnvVar) []string {
	var base []EnvVar
	for _, kv := range builderEnv {
		name, value, _ := strings.Cut(kv, "=")
		base = append(base, EnvVar{name, value})
	}
	merged := merge(base, BuildEnv(b), fileEnv, strategyEnv)
	out := make([]string, len(merged))
	for i, e := range merged {
		out[i] = e.Name + "=" + e.Value
	}
	return out
}

// merge concatenates lists; a later variable replaces an earlier one of
// the same name in place, so the order of first appearance is kept.
func merge(lists ...[]EnvVar) []EnvVar {
	var out []EnvVar
	index := map[string]int{}
	for _, l := range lists {
		for _, e := range l {
			if i, ok := index[e.Name]; ok {
				out[i] = e
				continue
			}
			index[e.Name] = len(out)
			out = append(out, e)
		}
	}
	return out
}

// Labels are the output image's labels recording the build, under
// OpenShift's names; empty values are left out.
func Labels(b Build) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("io.openshift.build.name", b.Name)
	set("io.openshift.build.namespace", b.Namespace)
	set("io.openshift.build.source-location", b.SourceURI)
	set("io.openshift.build.source-context-dir", b.ContextDir)
	set("io.openshift.build.commit.ref", b.Ref)
	set("io.openshift.build.commit.id", b.Commit)
	set("io.openshift.build.commit.author", b.CommitAuthor)
	set("io.openshift.build.commit.message", b.CommitMessage)
	set("io.openshift.build.image", b.BuilderImage)
	return out
}
