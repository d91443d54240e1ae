package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/slipway/slipway/builder/s2i"
)

// plan is what the build will do, decided before anything runs.
type plan struct {
	srcDir      string      // the source on the host (context dir applied)
	scripts     s2i.Scripts // resolved scripts
	scriptFiles map[string]string
	dest        string // parent of src/, scripts/, artifacts/ in the container
	ignore      *s2i.Ignore
	fileEnv     []s2i.EnvVar
	strategyEnv []s2i.EnvVar
	uid, gid    int64
	artifacts   string // host tar of the previous build's artifacts, "" if none
}

func (e *Executor) plan(ctx context.Context, j *job, srcDir string, cfg ocispec.ImageConfig) (*plan, error) {
	p := &plan{srcDir: srcDir, dest: s2i.Destination(cfg.Labels), scriptFiles: map[string]string{}}
	p.uid, p.gid = parseUser(cfg.User)
	for _, v := range j.build.Spec.Strategy.SourceStrategy.Env {
		p.strategyEnv = append(p.strategyEnv, s2i.EnvVar{Name: v.Name, Value: v.Value})
	}
	if f, err := os.Open(filepath.Join(srcDir, s2i.EnvironmentFile)); err == nil {
		p.fileEnv, err = s2i.ParseEnvironment(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(j.log, "Using %s (%d variables)\n", s2i.EnvironmentFile, len(p.fileEnv))
	}
	if f, err := os.Open(filepath.Join(srcDir, s2i.IgnoreFile)); err == nil {
		p.ignore, err = s2i.ParseIgnore(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	scriptsDir := filepath.Join(j.dir, "scripts")
	if err := os.MkdirAll(scriptsDir, 0o755); err != nil {
		return nil, fmt.Errorf("create scripts dir: %w", err)
	}
	hc := &http.Client{}
	lookup := s2i.Lookup{
		URL:         j.build.Spec.Strategy.SourceStrategy.Scripts,
		ImageLabels: cfg.Labels,
		SourceHas: func(name string) bool {
			fi, err := os.Stat(filepath.Join(srcDir, s2i.SourceScriptsDir, name))
			return err == nil && fi.Mode().IsRegular()
		},
		URLHas: func(name string) bool {
			url := j.build.Spec.Strategy.SourceStrategy.Scripts
			if url == "" {
				return false
			}
			err := download(ctx, hc, url+"/"+name, filepath.Join(scriptsDir, name))
			if err != nil && !errors.Is(err, errNotFound) {
				fmt.Fprintf(j.log, "warning: script %s from %s: %v\n", name, url, err)
			}
			return err == nil
		},
	}
	scripts, err := s2i.Resolve(lookup)
	if err != nil {
		return nil, err
	}
	p.scripts = scripts
	for _, name := range []string{s2i.Assemble, s2i.Run, s2i.SaveArtifacts} {
		sc, ok := scripts[name]
		if !ok {
			continue
		}
		switch sc.Origin {
		case s2i.FromURL:
			if sc.Fetch != "" {
				p.scriptFiles[name] = filepath.Join(scriptsDir, name)
			}
		case s2i.FromSource:
			p.scriptFiles[name] = filepath.Join(srcDir, sc.Fetch)
		}
		fmt.Fprintf(j.log, "Using %s script from %s (%s)\n", name, sc.Origin, sc.Path)
	}
	return p, nil
}

var errNotFound = errors.New("not found")

// download saves url to path; a 404 is errNotFound.
func download(ctx context.Context, hc *http.Client, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 16<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
