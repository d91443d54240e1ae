package router

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Layout of Options.Dir:
//
//	haproxy.cfg -> conf-<n>/haproxy.cfg   symlink HAProxy loads on every reload
//	conf-<n>/                             one configuration generation: cfg, maps, certs
//	master.sock, admin.sock, https.sock   master CLI, runtime API, internal TLS hop
//	haproxy.pid, haproxy.log
//
// A new generation is written and checked beside the live one, so a
// configuration HAProxy rejects never replaces the one in force.
const (
	configLink      = "haproxy.cfg"
	generationGlob  = "conf-"
	runtimeSocket   = "admin.sock"
	terminateSocket = "https.sock"
)

func (r *Router) generationDir(n int) string {
	return filepath.Join(r.opts.Dir, generationGlob+strconv.Itoa(n))
}

// writeGeneration writes files into a fresh generation directory.
func writeGeneration(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("write configuration: %w", err)
		}
		if err := os.WriteFile(path, files[name], 0o600); err != nil {
			return fmt.Errorf("write configuration: %w", err)
		}
	}
	return nil
}

// replaceFile writes data to path atomically (temporary file and rename), so
// a reload never reads half a file.
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// pointConfigAt swaps the configuration symlink to generation dir.
func (r *Router) pointConfigAt(dir string) error {
	link := filepath.Join(r.opts.Dir, configLink)
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Join(dir, "haproxy.cfg"), tmp); err != nil {
		return fmt.Errorf("switch configuration: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("switch configuration: %w", err)
	}
	return nil
}

// linkedGeneration is the generation the configuration link points at, if
// its configuration is on disk.
func (r *Router) linkedGeneration() (int, bool) {
	target, err := os.Readlink(filepath.Join(r.opts.Dir, configLink))
	if err != nil {
		return 0, false
	}
	name, ok := strings.CutPrefix(filepath.Base(filepath.Dir(target)), generationGlob)
	if !ok {
		return 0, false
	}
	gen, err := strconv.Atoi(name)
	if err != nil || gen <= 0 {
		return 0, false
	}
	if _, err := os.Stat(target); err != nil {
		return 0, false
	}
	return gen, true
}

// removeGenerations deletes generation directories other than keep.
func (r *Router) removeGenerations(keep ...int) error {
	entries, err := os.ReadDir(r.opts.Dir)
	if err != nil {
		return fmt.Errorf("clean configuration generations: %w", err)
	}
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), generationGlob)
		if !ok || !e.IsDir() {
			continue
		}
		if g, err := strconv.Atoi(n); err == nil && slices.Contains(keep, g) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.opts.Dir, e.Name())); err != nil {
			return fmt.Errorf("clean configuration generations: %w", err)
		}
	}
	return nil
}
