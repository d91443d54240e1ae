// Package manifest reads the objects of `slip apply -f`: YAML or JSON
// files, directories of them, or standard input, each holding one object,
// several YAML documents separated by ---, or a List.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Document is one object read from a manifest, as JSON.
type Document struct {
	// Source says where it came from: "web.yaml (document 2)".
	Source string
	JSON   json.RawMessage
}

// extensions are the files a directory contributes.
var extensions = []string{".yaml", ".yml", ".json"}

// Read reads every document of the named files and directories; "-" is
// stdin.
func Read(paths []string, stdin io.Reader) ([]Document, error) {
	var docs []Document
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			d, err := Parse("standard input", data)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			d, err := Parse(f, data)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

func expand(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(extensions, strings.ToLower(filepath.Ext(e.Name()))) {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no .yaml, .yml or .json file", p)
	}
	return out, nil
}

// Parse splits data into its documents, converting YAML to JSON and
// unpacking Lists.
func Parse(source string, data []byte) ([]Document, error) {
	parts := splitYAML(data)
	var docs []Document
	for i, part := range parts {
		where := source
		if len(parts) > 1 {
			where = fmt.Sprintf("%s (document %d)", source, i+1)
		}
		if isBlank(part) {
			continue
		}
		js, err := yaml.YAMLToJSON(part)
		if err != nil {
			return nil, fmt.Errorf("%s: malformed YAML or JSON: %w", where, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var head struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s: not an object: %w", where, err)
		}
		if strings.HasSuffix(head.Kind, "List") && head.Items != nil {
			for j, item := range head.Items {
				docs = append(docs, Document{Source: fmt.Sprintf("%s (item %d)", where, j+1), JSON: item})
			}
			continue
		}
		docs = append(docs, Document{Source: where, JSON: js})
	}
	return docs, nil
}

// splitYAML cuts a stream at its "---" document separators.
func splitYAML(data []byte) [][]byte {
	var parts [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("---")) && len(bytes.TrimSpace(line[3:])) == 0 {
			parts = append(parts, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	return append(parts, cur.Bytes())
}

func isBlank(doc []byte) bool {
	for line := range bytes.SplitSeq(doc, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}
