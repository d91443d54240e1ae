package oidc

import (
	"fmt"
	"slices"
	"strings"
)

// mapClaims turns verified ID-token claims into an Identity.
func mapClaims(provider, subject string, claims map[string]any, m ClaimMapping) (Identity, error) {
	id := Identity{Provider: provider, Subject: subject, Groups: []string{}}
	if subject == "" {
		return Identity{}, fmt.Errorf("%w: sub", ErrMissingClaim)
	}
	username, ok := stringClaim(claims, m.Username)
	if !ok || username == "" {
		return Identity{}, fmt.Errorf("%w: %s (username)", ErrMissingClaim, m.Username)
	}
	id.Username = username
	id.DisplayName, _ = stringClaim(claims, m.DisplayName)
	if email, ok := stringClaim(claims, m.Email); ok {
		// An address the provider has not verified must not be trusted to
		// link accounts; absent email_verified means the provider does not say.
		if verified, present := claims["email_verified"].(bool); !present || verified {
			id.Email = email
		}
	}
	if v, ok := lookupClaim(claims, m.Groups); ok {
		switch g := v.(type) {
		case string:
			if g != "" {
				id.Groups = []string{g}
			}
		case []any:
			for _, item := range g {
				s, ok := item.(string)
				if !ok {
					return Identity{}, fmt.Errorf("%w: %s holds a %T, want strings", ErrMissingClaim, m.Groups, item)
				}
				if s != "" {
					id.Groups = append(id.Groups, s)
				}
			}
		default:
			return Identity{}, fmt.Errorf("%w: %s holds a %T, want a list of strings", ErrMissingClaim, m.Groups, v)
		}
	}
	slices.Sort(id.Groups)
	id.Groups = slices.Compact(id.Groups)
	return id, nil
}

// lookupClaim finds a claim by name, or by a dotted path into nested objects
// when no claim has the literal name.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func stringClaim(claims map[string]any, name string) (string, bool) {
	v, ok := lookupClaim(claims, name)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}
