// Package config reads and writes slip's configuration file: the contexts
// (server, user, credential, project, trusted CA) a user has logged into and
// which one is current. The file is YAML, private to its owner (mode 0600),
// at $SLIPCONFIG, else $XDG_CONFIG_HOME/slip/config, else
// ~/.config/slip/config.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Context is one server and user slip can talk to, with the project
// commands use by default.
type Context struct {
	// Name identifies the context: "<host:port>/<user>".
	Name   string `json:"name"`
	Server string `json:"server"`
	User   string `json:"user,omitempty"`
	// Token is the bearer token of the login; empty after logout.
	Token   string `json:"token,omitempty"`
	Project string `json:"project,omitempty"`
	// CertificateAuthority is a PEM file of the CA that signed the
	// server's certificate.
	CertificateAuthority  string `json:"certificateAuthority,omitempty"`
	InsecureSkipTLSVerify bool   `json:"insecureSkipTLSVerify,omitempty"`
}

// Config is the whole file.
type Config struct {
	CurrentContext string     `json:"currentContext,omitempty"`
	Contexts       []*Context `json:"contexts,omitempty"`

	path string
}

// Getenv reads an environment variable; tests substitute their own.
type Getenv func(string) string

// Path returns where the configuration lives.
func Path(getenv Getenv) (string, error) {
	if p := getenv("SLIPCONFIG"); p != "" {
		return p, nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "slip", "config"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("find the configuration file: set $HOME, $XDG_CONFIG_HOME or $SLIPCONFIG: %w", err)
		}
	}
	return filepath.Join(home, ".config", "slip", "config"), nil
}

// Load reads the configuration at path; a missing file is an empty
// configuration.
func Load(path string) (*Config, error) {
	c := &Config{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	return c, nil
}

// Path is the file the configuration was loaded from.
func (c *Config) Path() string { return c.path }

// Save writes the configuration atomically, readable only by its owner
// (it holds tokens).
func (c *Config) Save() error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".config-*")
	if err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save configuration: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	return nil
}

// Context returns the named context.
func (c *Config) Context(name string) (*Context, bool) {
	for _, ctx := range c.Contexts {
		if ctx.Name == name {
			return ctx, true
		}
	}
	return nil, false
}

// Current returns the current context, if any.
func (c *Config) Current() (*Context, bool) {
	if c.CurrentContext == "" {
		return nil, false
	}
	return c.Context(c.CurrentContext)
}

// Upsert stores ctx, replacing the context of the same name, and makes it
// current.
func (c *Config) Upsert(ctx *Context) {
	c.Contexts = slices.DeleteFunc(c.Contexts, func(o *Context) bool { return o.Name == ctx.Name })
	c.Contexts = append(c.Contexts, ctx)
	slices.SortFunc(c.Contexts, func(a, b *Context) int { return strings.Compare(a.Name, b.Name) })
	c.CurrentContext = ctx.Name
}

// ForServer returns the contexts of a server, the current one first.
func (c *Config) ForServer(server string) []*Context {
	var out []*Context
	for _, ctx := range c.Contexts {
		if SameServer(ctx.Server, server) {
			if ctx.Name == c.CurrentContext {
				out = append([]*Context{ctx}, out...)
			} else {
				out = append(out, ctx)
			}
		}
	}
	return out
}

// ContextName names the context of a user on a server.
func ContextName(server, user string) string {
	host := server
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		host = u.Host
	}
	return host + "/" + user
}

// SameServer reports whether two server URLs name the same API.
func SameServer(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// Delete forgets a context; it reports whether there was one.
func (c *Config) Delete(name string) bool {
	n := len(c.Contexts)
	c.Contexts = slices.DeleteFunc(c.Contexts, func(o *Context) bool { return o.Name == name })
	if c.CurrentContext == name {
		c.CurrentContext = ""
	}
	return len(c.Contexts) != n
}
