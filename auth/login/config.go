// Package login turns a successful authentication with any configured
// identity provider (local accounts, an htpasswd file, LDAP, OIDC) into a
// Slipway user and a Slipway token: it maps the provider's identity to a
// user (creating it on first login), keeps the provider's groups current,
// rate-limits attempts, and issues the token.
package login

import (
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth/ldap"
	"github.com/slipway/slipway/auth/oidc"
)

// Provider types.
const (
	TypeLocal    = "local"
	TypeHtpasswd = "htpasswd"
	TypeLDAP     = "ldap"
	TypeOIDC     = "oidc"
)

// Config is the identity part of Slipway's configuration file.
type Config struct {
	IdentityProviders []ProviderConfig `yaml:"identityProviders"`
	// TokenMaxAge is the lifetime of login tokens (default 24 h).
	TokenMaxAge time.Duration `yaml:"tokenMaxAge,omitempty"`
	// LDAPGroupSync is how often LDAP groups are synced (default 1 h; 0
	// uses the default, a negative value disables the periodic sync).
	LDAPGroupSync time.Duration `yaml:"ldapGroupSync,omitempty"`
}

// ProviderConfig configures one named identity provider.
type ProviderConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// File is the htpasswd file of a htpasswd provider.
	File string       `yaml:"file,omitempty"`
	LDAP *ldap.Config `yaml:"ldap,omitempty"`
	OIDC *oidc.Config `yaml:"oidc,omitempty"`
}

// DefaultConfig has one provider: Slipway's own local accounts.
func DefaultConfig() Config {
	return Config{IdentityProviders: []ProviderConfig{{Name: "local", Type: TypeLocal}}}
}

// LoadConfig reads the YAML configuration file; fields it does not know are
// errors.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	var file struct {
		Config `yaml:",inline"`
	}
	if err := yaml.UnmarshalStrict(b, &file); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg := file.Config
	if len(cfg.IdentityProviders) == 0 {
		cfg.IdentityProviders = DefaultConfig().IdentityProviders
	}
	return cfg, cfg.Validate()
}

// Validate checks names, types and that each type has its section.
func (c Config) Validate() error {
	seen := map[string]bool{}
	for i, p := range c.IdentityProviders {
		field := fmt.Sprintf("identityProviders[%d]", i)
		if err := api.ValidateName(field+".name", p.Name); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("%s.name: provider %q defined twice", field, p.Name)
		}
		seen[p.Name] = true
		switch p.Type {
		case TypeLocal:
		case TypeHtpasswd:
			if p.File == "" {
				return fmt.Errorf("%s.file: an htpasswd provider needs a file", field)
			}
		case TypeLDAP:
			if p.LDAP == nil {
				return fmt.Errorf("%s.ldap: an ldap provider needs its ldap section", field)
			}
		case TypeOIDC:
			if p.OIDC == nil {
				return fmt.Errorf("%s.oidc: an oidc provider needs its oidc section", field)
			}
		default:
			return fmt.Errorf("%s.type: must be local, htpasswd, ldap or oidc, got %q", field, p.Type)
		}
	}
	return nil
}
