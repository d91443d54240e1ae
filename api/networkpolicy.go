package api

import (
	"fmt"
	"strings"

	"github.com/slipway/slipway/api/errdefs"
)

// NetworkPolicy opens access to a project's pods from other projects, in
// Kubernetes' shape (networking.k8s.io/v1 NetworkPolicy) trimmed to what the
// SDN enforces. By default a pod is reached only by pods of its own project,
// by the node hosts (router, probes) and by nothing else; each policy adds
// allowed sources, it never removes the project's own access. Only Ingress
// policies exist, and selectors take matchLabels only.
type NetworkPolicy struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   ObjectMeta        `json:"metadata"`
	Spec       NetworkPolicySpec `json:"spec"`
}

// NetworkPolicySpec selects the project's pods the policy opens and who
// may reach them.
type NetworkPolicySpec struct {
	// PodSelector picks the pods of this project the policy applies to; an
	// empty selector ({}) picks every pod of the project.
	PodSelector LabelSelector `json:"podSelector"`
	// Ingress rules each allow some sources on some ports.
	Ingress []NetworkPolicyIngressRule `json:"ingress,omitempty"`
	// PolicyTypes may only be ["Ingress"].
	PolicyTypes []string `json:"policyTypes,omitempty"`
}

// NetworkPolicyIngressRule allows traffic from any of From (everyone when
// empty) to any of Ports (every port when empty).
type NetworkPolicyIngressRule struct {
	From  []NetworkPolicyPeer `json:"from,omitempty"`
	Ports []NetworkPolicyPort `json:"ports,omitempty"`
}

// NetworkPolicyPeer is a set of source pods. NamespaceSelector picks
// projects by their labels ({} is every project); PodSelector picks pods by
// theirs ({} is every pod) — in the policy's own project when
// NamespaceSelector is absent, as in Kubernetes. Both given: pods matching
// PodSelector in the projects matching NamespaceSelector.
type NetworkPolicyPeer struct {
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	PodSelector       *LabelSelector `json:"podSelector,omitempty"`
}

// NetworkPolicyPort is a destination port: Protocol TCP (default) or UDP,
// and a port number (nil: every port of the protocol).
type NetworkPolicyPort struct {
	Protocol string       `json:"protocol,omitempty"`
	Port     *IntOrString `json:"port,omitempty"`
}

// NetworkPoliciesResource is the plural name of network policies.
const NetworkPoliciesResource = "networkpolicies"

// SelectsAll reports whether s is empty: it selects everything.
func (s LabelSelector) SelectsAll() bool { return len(s.MatchLabels) == 0 }

// SelectsLabels reports whether s (empty: everything) matches labels.
func (s LabelSelector) SelectsLabels(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Validate checks the spec; errors name the field.
func (s *NetworkPolicySpec) Validate() error {
	if err := validateMatchLabels("spec.podSelector", s.PodSelector); err != nil {
		return err
	}
	for i, t := range s.PolicyTypes {
		if t != "Ingress" {
			return errdefs.Invalidf(fmt.Sprintf("spec.policyTypes[%d]", i), "must be Ingress (the only policy type Slipway enforces), got %q", t)
		}
	}
	for i, r := range s.Ingress {
		field := fmt.Sprintf("spec.ingress[%d]", i)
		for j, p := range r.From {
			pf := fmt.Sprintf("%s.from[%d]", field, j)
			if p.NamespaceSelector == nil && p.PodSelector == nil {
				return errdefs.Invalidf(pf, "needs namespaceSelector or podSelector")
			}
			if p.NamespaceSelector != nil {
				if err := validateMatchLabels(pf+".namespaceSelector", *p.NamespaceSelector); err != nil {
					return err
				}
			}
			if p.PodSelector != nil {
				if err := validateMatchLabels(pf+".podSelector", *p.PodSelector); err != nil {
					return err
				}
			}
		}
		for j, p := range r.Ports {
			pf := fmt.Sprintf("%s.ports[%d]", field, j)
			switch strings.ToUpper(p.Protocol) {
			case "", "TCP", "UDP":
			default:
				return errdefs.Invalidf(pf+".protocol", "must be TCP or UDP, got %q", p.Protocol)
			}
			if p.Port != nil {
				if p.Port.IsStr {
					return errdefs.Invalidf(pf+".port", "must be a port number (named ports are not supported), got %q", p.Port.StrVal)
				}
				if p.Port.IntVal < 1 || p.Port.IntVal > 65535 {
					return errdefs.Invalidf(pf+".port", "must be between 1 and 65535, got %d", p.Port.IntVal)
				}
			}
		}
	}
	return nil
}

func validateMatchLabels(field string, s LabelSelector) error {
	for k, v := range s.MatchLabels {
		if err := ValidateQualifiedName(field+".matchLabels", k); err != nil {
			return err
		}
		if err := ValidateLabelValue(field+".matchLabels", v); err != nil {
			return err
		}
	}
	return nil
}

func networkPolicyResource() *Resource {
	return &Resource{Plural: NetworkPoliciesResource, Kind: "NetworkPolicy", Scope: ProjectScoped,
		validateSpec: func(o *Object) error {
			if err := forbid(o.Data, "data", "NetworkPolicy"); err != nil {
				return err
			}
			if err := forbid(o.Status, "status", "NetworkPolicy"); err != nil {
				return err
			}
			return strictField[NetworkPolicySpec](o.Spec, "spec")
		}}
}
