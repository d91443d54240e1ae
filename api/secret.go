package api

import (
	"fmt"

	"github.com/slipway/slipway/api/errdefs"
)

// Secret holds credentials (a repository token, an SSH key, a webhook
// secret), shaped like Kubernetes' Secret: "type" and base64 "data" at the
// top level. The view role cannot read secrets; edit and admin can.
type Secret struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Metadata   ObjectMeta `json:"metadata"`
	Type       string     `json:"type,omitempty"`
	// Data maps keys to values, base64-encoded in JSON.
	Data map[string][]byte `json:"data,omitempty"`
}

// Secret types (Kubernetes' names).
const (
	SecretTypeOpaque    = "Opaque"
	SecretTypeBasicAuth = "kubernetes.io/basic-auth"
	SecretTypeSSHAuth   = "kubernetes.io/ssh-auth"
	// SecretTypeToken holds a Slipway API token (key "token"), e.g. a
	// build's push credentials.
	SecretTypeToken = "slipway.io/token"
)

// Keys of the typed secrets.
const (
	BasicAuthUsernameKey = "username"
	BasicAuthPasswordKey = "password"
	SSHAuthPrivateKey    = "ssh-privatekey"
	TokenKey             = "token"
)

// MaxSecretBytes bounds the total size of a Secret's data.
const MaxSecretBytes = 1 << 20

// SecretsResource is the plural name of secrets.
const SecretsResource = "secrets"

// SecretData is a Secret's payload.
type SecretData map[string][]byte

// Validate checks keys and the total size.
func (d *SecretData) Validate() error {
	size := 0
	for k, v := range *d {
		if k == "" || len(k) > 253 {
			return errdefs.Invalidf("data", "key %q must be 1 to 253 characters", k)
		}
		for _, c := range k {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return errdefs.Invalidf(fmt.Sprintf("data[%s]", k), "key may contain only alphanumerics, '-', '_' and '.'")
			}
		}
		size += len(k) + len(v)
	}
	if size > MaxSecretBytes {
		return errdefs.Invalidf("data", "total size %d bytes exceeds %d", size, MaxSecretBytes)
	}
	return nil
}

func validateSecretType(typ string, data SecretData) error {
	switch typ {
	case "", SecretTypeOpaque:
	case SecretTypeBasicAuth:
		if len(data[BasicAuthUsernameKey]) == 0 && len(data[BasicAuthPasswordKey]) == 0 {
			return errdefs.Invalidf("data", "a %s secret needs %s or %s", typ, BasicAuthUsernameKey, BasicAuthPasswordKey)
		}
	case SecretTypeSSHAuth:
		if len(data[SSHAuthPrivateKey]) == 0 {
			return errdefs.Invalidf("data["+SSHAuthPrivateKey+"]", "is required for a %s secret", typ)
		}
	case SecretTypeToken:
		if len(data[TokenKey]) == 0 {
			return errdefs.Invalidf("data["+TokenKey+"]", "is required for a %s secret", typ)
		}
	default:
		return errdefs.Invalidf("type", "must be Opaque, %s, %s or %s, got %q", SecretTypeBasicAuth, SecretTypeSSHAuth, SecretTypeToken, typ)
	}
	return nil
}

func secretResource() *Resource {
	return &Resource{
		Plural: SecretsResource, Kind: "Secret", Scope: ProjectScoped, HasType: true,
		validateSpec: func(obj *Object) error {
			if err := forbid(obj.Spec, "spec", "Secret"); err != nil {
				return err
			}
			if err := forbid(obj.Status, "status", "Secret"); err != nil {
				return err
			}
			var data SecretData
			if len(obj.Data) > 0 && string(obj.Data) != "null" {
				if err := DecodeStrict(obj.Data, &data, "data"); err != nil {
					return err
				}
			}
			if err := data.Validate(); err != nil {
				return err
			}
			return validateSecretType(obj.Type, data)
		},
	}
}
