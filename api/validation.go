package api

import (
	"fmt"
	"strings"

	"github.com/slipway/slipway/api/errdefs"
)

// MaxAnnotationsBytes bounds the total size of an object's annotations.
const MaxAnnotationsBytes = 256 << 10

// ValidateName checks a DNS-1123 label: at most 63 lower-case alphanumerics
// or '-', starting and ending with an alphanumeric.
func ValidateName(field, name string) error {
	if name == "" {
		return errdefs.Invalidf(field, "is required")
	}
	if msg := dns1123Label(name); msg != "" {
		return errdefs.Invalidf(field, "%q is not a valid name: %s", name, msg)
	}
	return nil
}

func dns1123Label(s string) string {
	if len(s) > 63 {
		return "must be no more than 63 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return "must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
		}
	}
	return ""
}

// ValidateQualifiedName checks a label or annotation key: an optional
// DNS-1123 subdomain prefix and '/', then a name of at most 63 characters
// of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric.
func ValidateQualifiedName(field, key string) error {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix {
		if prefix == "" || len(prefix) > 253 {
			return errdefs.Invalidf(field, "key %q: prefix must be a non-empty DNS subdomain of at most 253 characters", key)
		}
		for _, part := range strings.Split(prefix, ".") {
			if part == "" || dns1123Label(part) != "" {
				return errdefs.Invalidf(field, "key %q: prefix must be a DNS subdomain", key)
			}
		}
	}
	if msg := labelValue(name); msg != "" || name == "" {
		if name == "" {
			msg = "name part must not be empty"
		}
		return errdefs.Invalidf(field, "key %q: %s", key, msg)
	}
	return nil
}

// ValidateLabelValue checks a label value: empty, or at most 63
// alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric.
func ValidateLabelValue(field, v string) error {
	if msg := labelValue(v); msg != "" {
		return errdefs.Invalidf(field, "value %q: %s", v, msg)
	}
	return nil
}

func labelValue(s string) string {
	if len(s) > 63 {
		return "must be no more than 63 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && ((c != '-' && c != '_' && c != '.') || i == 0 || i == len(s)-1) {
			return "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
		}
	}
	return ""
}

// ValidateMetadata checks the user-owned metadata fields.
func ValidateMetadata(m *ObjectMeta) error {
	if err := ValidateName("metadata.name", m.Name); err != nil {
		return err
	}
	for k, v := range m.Labels {
		field := fmt.Sprintf("metadata.labels[%s]", k)
		if err := ValidateQualifiedName(field, k); err != nil {
			return err
		}
		if err := ValidateLabelValue(field, v); err != nil {
			return err
		}
	}
	size := 0
	for k, v := range m.Annotations {
		if err := ValidateQualifiedName(fmt.Sprintf("metadata.annotations[%s]", k), k); err != nil {
			return err
		}
		size += len(k) + len(v)
	}
	if size > MaxAnnotationsBytes {
		return errdefs.Invalidf("metadata.annotations", "total size %d bytes exceeds %d", size, MaxAnnotationsBytes)
	}
	seen := make(map[string]bool, len(m.Finalizers))
	for i, f := range m.Finalizers {
		field := fmt.Sprintf("metadata.finalizers[%d]", i)
		if err := ValidateQualifiedName(field, f); err != nil {
			return err
		}
		if seen[f] {
			return errdefs.Invalidf(field, "duplicate finalizer %q", f)
		}
		seen[f] = true
	}
	return nil
}
