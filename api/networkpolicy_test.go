package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestNetworkPolicyValidation(t *testing.T) {
	policies, ok := NewCatalogue().Lookup(NetworkPoliciesResource)
	if !ok || policies.Kind != "NetworkPolicy" || policies.Scope != ProjectScoped {
		t.Fatalf("networkpolicies resource = %+v", policies)
	}
	tests := []struct {
		name      string
		spec      string
		wantErr   error
		wantField string
	}{
		{"every pod from everyone", `{"podSelector":{},"ingress":[{}]}`, nil, ""},
		{"from a project on a port", `{"podSelector":{"matchLabels":{"app":"db"}},"policyTypes":["Ingress"],"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"web"}},"podSelector":{"matchLabels":{"app":"api"}}}],"ports":[{"protocol":"TCP","port":5432},{"protocol":"UDP"}]}]}`, nil, ""},
		{"egress", `{"podSelector":{},"policyTypes":["Egress"]}`, errdefs.ErrInvalid, "spec.policyTypes[0]"},
		{"empty peer", `{"podSelector":{},"ingress":[{"from":[{}]}]}`, errdefs.ErrInvalid, "spec.ingress[0].from[0]"},
		{"bad label key", `{"podSelector":{"matchLabels":{"a b":"x"}}}`, errdefs.ErrInvalid, "spec.podSelector.matchLabels"},
		{"bad protocol", `{"podSelector":{},"ingress":[{"ports":[{"protocol":"SCTP"}]}]}`, errdefs.ErrInvalid, "spec.ingress[0].ports[0].protocol"},
		{"named port", `{"podSelector":{},"ingress":[{"ports":[{"port":"http"}]}]}`, errdefs.ErrInvalid, "spec.ingress[0].ports[0].port"},
		{"port zero", `{"podSelector":{},"ingress":[{"ports":[{"port":0}]}]}`, errdefs.ErrInvalid, "spec.ingress[0].ports[0].port"},
		{"match expressions", `{"podSelector":{"matchExpressions":[]}}`, errdefs.ErrBadRequest, "spec.podSelector.matchExpressions"},
		{"egress rules", `{"podSelector":{},"egress":[]}`, errdefs.ErrBadRequest, "spec.egress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := policies.Validate(&Object{Metadata: ObjectMeta{Name: "p"}, Spec: json.RawMessage(tc.spec)})
			if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("Validate = %v, want %v", err, tc.wantErr)
			}
			var fe *errdefs.FieldError
			if tc.wantErr != nil && (!errors.As(err, &fe) || fe.Field != tc.wantField) {
				t.Errorf("Validate = %v, want field %q", err, tc.wantField)
			}
		})
	}
}
