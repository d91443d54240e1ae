package s2i

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// Ignore is the parsed .s2iignore: glob patterns (path.Match syntax)
// relative to the source root, one per line, '#' comments and blank lines
// skipped. As in s2i, a pattern matches paths at its own depth ("*.log"
// matches "debug.log", not "logs/debug.log"), and a matched directory is
// left out with everything below it. Negation ("!") is not supported.
type Ignore struct {
	patterns []string
}

// ParseIgnore reads a .s2iignore file. A pattern path.Match rejects, or a
// "!" negation, is an error naming the line.
func ParseIgnore(r io.Reader) (*Ignore, error) {
	ig := &Ignore{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			return nil, fmt.Errorf("%s line %d: %w: negation is not supported", IgnoreFile, n, ErrInvalid)
		}
		p := strings.Trim(path.Clean("/"+line), "/")
		if p == "" {
			return nil, fmt.Errorf("%s line %d: %w: pattern %q ignores the whole source", IgnoreFile, n, ErrInvalid, line)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%s line %d: %w: pattern %q: %v", IgnoreFile, n, ErrInvalid, line, err)
		}
		ig.patterns = append(ig.patterns, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", IgnoreFile, err)
	}
	return ig, nil
}

// Match reports whether rel (slash-separated, relative to the source root)
// is ignored, itself or through an ignored parent directory. A nil Ignore
// ignores nothing.
func (ig *Ignore) Match(rel string) bool {
	if ig == nil {
		return false
	}
	rel = strings.Trim(path.Clean("/"+rel), "/")
	for p := rel; p != "" && p != "."; p = path.Dir(p) {
		for _, pat := range ig.patterns {
			if ok, _ := path.Match(pat, p); ok {
				return true
			}
		}
		if !strings.Contains(p, "/") {
			break
		}
	}
	return false
}
