// Package s2i is OpenShift's source-to-image builder-image contract, as pure
// functions: where the assemble, run and save-artifacts scripts come from,
// which environment the assemble script and the output image get, which
// labels record the build, how .s2i/environment and .s2iignore are read, and
// what the output image's configuration is. It runs nothing; the build
// executor (package builder) applies its answers with containerd.
package s2i

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Script names of the contract.
const (
	Assemble      = "assemble"
	Run           = "run"
	SaveArtifacts = "save-artifacts"
	Usage         = "usage"
)

// Paths and names fixed by the contract.
const (
	// ScriptsURLLabel is the builder image label naming where its scripts
	// are, conventionally "image:///usr/libexec/s2i".
	ScriptsURLLabel = "io.openshift.s2i.scripts-url"
	// DestinationLabel names the directory receiving src/, artifacts/ and
	// scripts/ in the build container; default "/tmp".
	DestinationLabel = "io.openshift.s2i.destination"
	// DefaultScriptsURL is used when the image has no ScriptsURLLabel.
	DefaultScriptsURL = "image:///usr/libexec/s2i"
	// SourceScriptsDir is where a repository overrides scripts.
	SourceScriptsDir = ".s2i/bin"
	// EnvironmentFile holds KEY=VALUE lines given to assemble and persisted
	// into the output image.
	EnvironmentFile = ".s2i/environment"
	// IgnoreFile lists glob patterns of source files not given to assemble.
	IgnoreFile = ".s2iignore"
	// DefaultDestination is the parent of src/, artifacts/ and scripts/.
	DefaultDestination = "/tmp"
)

// ErrInvalid marks bad input: a malformed scripts URL or environment file.
// ErrMissingScript marks a required script found nowhere.
var (
	ErrInvalid       = errors.New("invalid")
	ErrMissingScript = errors.New("missing required script")
)

// Origin says where a script was found.
type Origin string

const (
	// FromURL is the BuildConfig's scripts URL (spec.strategy.sourceStrategy.scripts).
	FromURL Origin = "url"
	// FromSource is the repository's .s2i/bin directory.
	FromSource Origin = "source"
	// FromImage is the builder image's scripts-url label (or its default).
	FromImage Origin = "image"
)

// Script is one resolved script.
type Script struct {
	Name   string
	Origin Origin
	// Path is the script's path inside the build container. Scripts from
	// the image are run where they are; scripts from a URL or the source
	// are copied to Dest/scripts/<name> first.
	Path string
	// Fetch says where to take an injected script from: an http(s) URL
	// for FromURL, a path relative to the source root for FromSource;
	// empty for FromImage.
	Fetch string
}

// Scripts are the scripts of one build, by name. Assemble and Run are
// always present; SaveArtifacts only if found.
type Scripts map[string]Script

// Lookup is what Resolve needs to know about a build.
type Lookup struct {
	// URL is the BuildConfig's scripts URL, "" if none: image:///dir,
	// http(s)://host/dir (scripts fetched as dir/<name>) or file:///dir (a
	// directory inside the builder image too, as OpenShift accepts).
	URL string
	// URLHas reports whether URL serves a script (only asked for http(s)
	// URLs; the executor answers by fetching it).
	URLHas func(name string) bool
	// SourceHas reports whether the source holds .s2i/bin/<name>.
	SourceHas func(name string) bool
	// ImageLabels are the builder image's labels.
	ImageLabels map[string]string
	// ImageHas reports whether the builder image holds a file at an
	// absolute path; nil means "assume yes" (the image is trusted to
	// follow its label).
	ImageHas func(path string) bool
}

// Destination is the directory holding src/, artifacts/ and scripts/ in the
// build container, from the image's DestinationLabel.
func Destination(labels map[string]string) string {
	if d := labels[DestinationLabel]; d != "" && path.IsAbs(d) {
		return path.Clean(d)
	}
	return DefaultDestination
}

// Resolve finds each script in the contract's order: the BuildConfig's
// scripts URL, then the source's .s2i/bin, then the builder image's label.
// assemble and run are required; save-artifacts and usage are optional.
func Resolve(l Lookup) (Scripts, error) {
	dest := Destination(l.ImageLabels)
	bcKind, bcDir, err := parseScriptsURL(l.URL)
	if err != nil {
		return nil, fmt.Errorf("scripts URL %q: %w", l.URL, err)
	}
	imgURL := l.ImageLabels[ScriptsURLLabel]
	if imgURL == "" {
		imgURL = DefaultScriptsURL
	}
	imgKind, imgDir, err := parseScriptsURL(imgURL)
	if err != nil {
		return nil, fmt.Errorf("image label %s=%q: %w", ScriptsURLLabel, imgURL, err)
	}
	if imgKind == kindRemote {
		return nil, fmt.Errorf("image label %s=%q: %w: only image:// and file:// locations are supported", ScriptsURLLabel, imgURL, ErrInvalid)
	}
	out := Scripts{}
	for _, name := range []string{Assemble, Run, SaveArtifacts, Usage} {
		injected := path.Join(dest, "scripts", name)
		switch {
		case bcKind == kindRemote && l.URLHas != nil && l.URLHas(name):
			out[name] = Script{Name: name, Origin: FromURL, Path: injected, Fetch: strings.TrimSuffix(bcDir, "/") + "/" + name}
		case bcKind == kindImage && imageHas(l, path.Join(bcDir, name)):
			out[name] = Script{Name: name, Origin: FromURL, Path: path.Join(bcDir, name)}
		case l.SourceHas != nil && l.SourceHas(name):
			out[name] = Script{Name: name, Origin: FromSource, Path: injected, Fetch: path.Join(SourceScriptsDir, name)}
		case imageHas(l, path.Join(imgDir, name)):
			out[name] = Script{Name: name, Origin: FromImage, Path: path.Join(imgDir, name)}
		}
	}
	for _, name := range []string{Assemble, Run} {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("%w: %s (looked in %s)", ErrMissingScript, name, lookedIn(l, imgURL))
		}
	}
	return out, nil
}

func imageHas(l Lookup, p string) bool { return l.ImageHas == nil || l.ImageHas(p) }

func lookedIn(l Lookup, imgURL string) string {
	var where []string
	if l.URL != "" {
		where = append(where, l.URL)
	}
	return strings.Join(append(where, SourceScriptsDir, imgURL), ", ")
}

type urlKind int

const (
	kindNone urlKind = iota
	kindImage
	kindRemote
)

// parseScriptsURL splits a scripts URL into its kind and directory (an
// absolute path inside the image, or the http(s) URL itself).
func parseScriptsURL(raw string) (urlKind, string, error) {
	if raw == "" {
		return kindNone, "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch u.Scheme {
	case "image", "file":
		p := u.Path
		if u.Host != "" { // image://usr/libexec/s2i, a common typo, means the same
			p = "/" + u.Host + p
		}
		if !path.IsAbs(p) {
			return 0, "", fmt.Errorf("%w: path must be absolute", ErrInvalid)
		}
		return kindImage, path.Clean(p), nil
	case "http", "https":
		if u.Host == "" {
			return 0, "", fmt.Errorf("%w: no host", ErrInvalid)
		}
		return kindRemote, raw, nil
	}
	return 0, "", fmt.Errorf("%w: scheme must be image, file, http or https", ErrInvalid)
}
