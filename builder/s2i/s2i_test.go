package s2i_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slipway/slipway/builder/s2i"
)

func set(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

func TestResolve(t *testing.T) {
	imageLabels := map[string]string{s2i.ScriptsURLLabel: "image:///usr/libexec/s2i"}
	tests := []struct {
		name    string
		lookup  s2i.Lookup
		want    map[string]string // name → origin:path[:fetch]
		wantErr error
	}{
		{
			name:   "image label only",
			lookup: s2i.Lookup{ImageLabels: imageLabels, ImageHas: set("/usr/libexec/s2i/assemble", "/usr/libexec/s2i/run", "/usr/libexec/s2i/save-artifacts")},
			want: map[string]string{
				"assemble": "image:/usr/libexec/s2i/assemble", "run": "image:/usr/libexec/s2i/run",
				"save-artifacts": "image:/usr/libexec/s2i/save-artifacts",
			},
		},
		{
			name:   "no label: the conventional default",
			lookup: s2i.Lookup{ImageHas: set("/usr/libexec/s2i/assemble", "/usr/libexec/s2i/run")},
			want:   map[string]string{"assemble": "image:/usr/libexec/s2i/assemble", "run": "image:/usr/libexec/s2i/run"},
		},
		{
			name: "source .s2i/bin overrides the image",
			lookup: s2i.Lookup{ImageLabels: imageLabels, SourceHas: set("assemble"),
				ImageHas: set("/usr/libexec/s2i/assemble", "/usr/libexec/s2i/run")},
			want: map[string]string{"assemble": "source:/tmp/scripts/assemble:.s2i/bin/assemble", "run": "image:/usr/libexec/s2i/run"},
		},
		{
			name: "BuildConfig URL overrides the source",
			lookup: s2i.Lookup{URL: "https://scripts.example/s2i/", URLHas: set("run"), SourceHas: set("run", "assemble"),
				ImageLabels: imageLabels},
			want: map[string]string{
				"assemble": "source:/tmp/scripts/assemble:.s2i/bin/assemble", "run": "url:/tmp/scripts/run:https://scripts.example/s2i/run",
				"save-artifacts": "image:/usr/libexec/s2i/save-artifacts", "usage": "image:/usr/libexec/s2i/usage",
			},
		},
		{
			name:   "BuildConfig image:// URL",
			lookup: s2i.Lookup{URL: "image:///opt/s2i", ImageHas: set("/opt/s2i/assemble", "/opt/s2i/run")},
			want:   map[string]string{"assemble": "url:/opt/s2i/assemble", "run": "url:/opt/s2i/run"},
		},
		{
			name: "destination label moves injected scripts",
			lookup: s2i.Lookup{SourceHas: set("assemble", "run"), ImageHas: set(),
				ImageLabels: map[string]string{s2i.DestinationLabel: "/opt/s2i-dest"}},
			want: map[string]string{"assemble": "source:/opt/s2i-dest/scripts/assemble:.s2i/bin/assemble", "run": "source:/opt/s2i-dest/scripts/run:.s2i/bin/run"},
		},
		{
			name:    "run missing",
			lookup:  s2i.Lookup{ImageLabels: imageLabels, ImageHas: set("/usr/libexec/s2i/assemble")},
			wantErr: s2i.ErrMissingScript,
		},
		{
			name:    "bad URL scheme",
			lookup:  s2i.Lookup{URL: "ftp://x/y"},
			wantErr: s2i.ErrInvalid,
		},
		{
			name:    "relative image path",
			lookup:  s2i.Lookup{ImageLabels: map[string]string{s2i.ScriptsURLLabel: "image:relative"}},
			wantErr: s2i.ErrInvalid,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s2i.Resolve(tc.lookup)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			flat := map[string]string{}
			for n, s := range got {
				v := string(s.Origin) + ":" + s.Path
				if s.Fetch != "" {
					v += ":" + s.Fetch
				}
				flat[n] = v
			}
			if !reflect.DeepEqual(flat, tc.want) {
				t.Errorf("got %v\nwant %v", flat, tc.want)
			}
		})
	}
}

func TestParseEnvironment(t *testing.T) {
	got, err := s2i.ParseEnvironment(strings.NewReader("# comment\n\nGREETING=hello world\nEMPTY=\nQUOTED=\"x=y\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []s2i.EnvVar{{"GREETING", "hello world"}, {"EMPTY", ""}, {"QUOTED", `"x=y"`}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"NOEQUALS\n", "1BAD=x\n", "A=1\nB-C=2\n"} {
		if _, err := s2i.ParseEnvironment(strings.NewReader(bad)); !errors.Is(err, s2i.ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", bad, err)
		}
	}
	_, err = s2i.ParseEnvironment(strings.NewReader("A=1\nB-C=2\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v, want it to name line 2", err)
	}
}

func TestIgnore(t *testing.T) {
	ig, err := s2i.ParseIgnore(strings.NewReader("# secrets\n*.log\nsecret/\n/tmp/cache\ndocs/*.md\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{"debug.log", true},
		{"logs/debug.log", false}, // s2i patterns match at their own depth
		{"secret", true},
		{"secret/key.pem", true},
		{"secretive", false},
		{"tmp/cache/x", true},
		{"docs/readme.md", true},
		{"docs/sub/readme.md", false},
		{"app.py", false},
	}
	for _, tc := range tests {
		if got := ig.Match(tc.path); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	var none *s2i.Ignore
	if none.Match("x") {
		t.Error("nil Ignore matched")
	}
	for _, bad := range []string{"!keep.log\n", "[\n", "/\n"} {
		if _, err := s2i.ParseIgnore(strings.NewReader(bad)); !errors.Is(err, s2i.ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestOutputConfig(t *testing.T) {
	b := s2i.Build{Name: "web-2", Namespace: "shop", SourceURI: "https://git.example/web.git", Ref: "main",
		Commit: "0123abc", CommitAuthor: "Ann <ann@example.com>", CommitMessage: "fix", BuilderImage: "reg/slipway-system/s2i-go:latest"}
	builder := ocispec.ImageConfig{
		User: "1001", WorkingDir: "/opt/app-root/src", Entrypoint: nil, Cmd: []string{"/usr/libexec/s2i/usage"},
		Env:    []string{"PATH=/bin", "GREETING=builder"},
		Labels: map[string]string{s2i.ScriptsURLLabel: "image:///usr/libexec/s2i"},
	}
	scripts := s2i.Scripts{"run": {Name: "run", Origin: s2i.FromSource, Path: "/tmp/scripts/run"}}
	got := s2i.OutputConfig(builder, b, scripts,
		[]s2i.EnvVar{{"GREETING", "file"}, {"FROM_FILE", "1"}}, []s2i.EnvVar{{"FROM_FILE", "2"}})
	wantEnv := []string{"PATH=/bin", "GREETING=file",
		"OPENSHIFT_BUILD_NAME=web-2", "SLIPWAY_BUILD_NAME=web-2", "OPENSHIFT_BUILD_NAMESPACE=shop", "SLIPWAY_BUILD_NAMESPACE=shop",
		"OPENSHIFT_BUILD_SOURCE=https://git.example/web.git", "SLIPWAY_BUILD_SOURCE=https://git.example/web.git",
		"OPENSHIFT_BUILD_REFERENCE=main", "SLIPWAY_BUILD_REFERENCE=main",
		"OPENSHIFT_BUILD_COMMIT=0123abc", "SLIPWAY_BUILD_COMMIT=0123abc", "FROM_FILE=2"}
	if !reflect.DeepEqual(got.Env, wantEnv) {
		t.Errorf("Env = %q\nwant  %q", got.Env, wantEnv)
	}
	if !reflect.DeepEqual(got.Cmd, []string{"/tmp/scripts/run"}) || got.User != "1001" || got.WorkingDir != "/opt/app-root/src" {
		t.Errorf("Cmd/User/WorkingDir = %q %q %q", got.Cmd, got.User, got.WorkingDir)
	}
	for k, v := range map[string]string{
		"io.openshift.build.name": "web-2", "io.openshift.build.namespace": "shop",
		"io.openshift.build.source-location": "https://git.example/web.git", "io.openshift.build.commit.id": "0123abc",
		"io.openshift.build.commit.author": "Ann <ann@example.com>", "io.openshift.build.commit.message": "fix",
		"io.openshift.build.image": "reg/slipway-system/s2i-go:latest", s2i.ScriptsURLLabel: "image:///usr/libexec/s2i",
	} {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
		}
	}
	if _, ok := builder.Labels["io.openshift.build.name"]; ok {
		t.Error("OutputConfig changed the builder's labels")
	}
}
