package api

import (
	"fmt"
	"net/netip"

	"github.com/slipway/slipway/api/errdefs"
)

// Service is a stable virtual address for the pods its selector picks, in
// Kubernetes' shape (core/v1 Service). Slipway supports type ClusterIP.
type Service struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Metadata   ObjectMeta    `json:"metadata"`
	Spec       ServiceSpec   `json:"spec"`
	Status     ServiceStatus `json:"status,omitempty"`
}

// Service types.
const ServiceTypeClusterIP = "ClusterIP"

// ServiceSpec is the desired state of a Service.
type ServiceSpec struct {
	// Selector picks the pods behind the service; without one the service's
	// Endpoints are the user's to write.
	Selector map[string]string `json:"selector,omitempty"`
	Ports    []ServicePort     `json:"ports"`
	// Type is ClusterIP (the default and, for now, the only type).
	Type string `json:"type,omitempty"`
	// ClusterIP is the service's virtual address. The service controller
	// allocates it from the service network when it is empty (a user may
	// ask for a free one inside it) and restores it if it is changed: it
	// cannot change once allocated.
	ClusterIP string `json:"clusterIP,omitempty"`
}

// ServicePort is a port the service serves and where it sends traffic.
type ServicePort struct {
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol,omitempty"` // TCP (default) or UDP
	Port     int32  `json:"port"`
	// TargetPort is the pods' port, by number or by container port name
	// (default: port).
	TargetPort *IntOrString `json:"targetPort,omitempty"`
}

// Validate checks a service's spec.
func (s *ServiceSpec) Validate() error {
	if err := validateLabelMap("spec.selector", s.Selector); err != nil {
		return err
	}
	switch s.Type {
	case "", ServiceTypeClusterIP:
	default:
		return errdefs.Invalidf("spec.type", "must be ClusterIP (the only type Slipway supports), got %q", s.Type)
	}
	if s.ClusterIP != "" {
		if ip, err := netip.ParseAddr(s.ClusterIP); err != nil || !ip.Is4() {
			return errdefs.Invalidf("spec.clusterIP", "%q is not an IPv4 address", s.ClusterIP)
		}
	}
	if len(s.Ports) == 0 {
		return errdefs.Invalidf("spec.ports", "at least one port is required")
	}
	names := map[string]bool{}
	ports := map[string]bool{}
	for i, p := range s.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if len(s.Ports) > 1 && p.Name == "" {
			return errdefs.Invalidf(field+".name", "is required when the service has more than one port")
		}
		if p.Name != "" {
			if err := ValidateName(field+".name", p.Name); err != nil {
				return err
			}
			if names[p.Name] {
				return errdefs.Invalidf(field+".name", "duplicate port name %q", p.Name)
			}
			names[p.Name] = true
		}
		if p.Port < 1 || p.Port > 65535 {
			return errdefs.Invalidf(field+".port", "must be between 1 and 65535")
		}
		switch p.Protocol {
		case "", "TCP", "UDP":
		default:
			return errdefs.Invalidf(field+".protocol", "must be TCP or UDP")
		}
		key := fmt.Sprintf("%d/%s", p.Port, protocolOrTCP(p.Protocol))
		if ports[key] {
			return errdefs.Invalidf(field+".port", "port %s listed twice", key)
		}
		ports[key] = true
		if p.TargetPort != nil {
			if err := validatePort(field+".targetPort", *p.TargetPort); err != nil {
				return err
			}
		}
	}
	return nil
}

func protocolOrTCP(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

// ServiceStatus is written by the service controller.
type ServiceStatus struct {
	// ClusterIP records the address the controller allocated (Slipway's
	// addition): the record spec.clusterIP is held to.
	ClusterIP  string      `json:"clusterIP,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// Validate accepts the controller's status after a strict decode.
func (s *ServiceStatus) Validate() error { return nil }

// Service condition types and reasons.
const (
	ServiceClusterIPAllocated  = "ClusterIPAllocated"
	ReasonClusterIPUnavailable = "ClusterIPUnavailable"
)

// Endpoints are the addresses behind a Service, named after it. The
// endpoints controller writes them for services with a selector; users
// write them for services without one. Kubernetes keeps subsets at the top
// level of the object; Slipway's envelope holds them in spec.
type Endpoints struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Metadata   ObjectMeta    `json:"metadata"`
	Spec       EndpointsSpec `json:"spec"`
}

// EndpointsSpec lists the service's addresses, grouped by the ports they
// serve.
type EndpointsSpec struct {
	Subsets []EndpointSubset `json:"subsets,omitempty"`
}

// EndpointSubset is a set of addresses serving the same ports.
type EndpointSubset struct {
	// Addresses are ready to serve; NotReadyAddresses are not (yet).
	Addresses         []EndpointAddress `json:"addresses,omitempty"`
	NotReadyAddresses []EndpointAddress `json:"notReadyAddresses,omitempty"`
	Ports             []EndpointPort    `json:"ports,omitempty"`
}

// EndpointAddress is one backend.
type EndpointAddress struct {
	IP        string           `json:"ip"`
	NodeName  string           `json:"nodeName,omitempty"`
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
}

// ObjectReference names an object (a Pod, for endpoints).
type ObjectReference struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Project string `json:"project,omitempty"`
	UID     string `json:"uid,omitempty"`
}

// EndpointPort is a port of the backends, named after the service port.
type EndpointPort struct {
	Name     string `json:"name,omitempty"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol,omitempty"`
}

// Validate checks the addresses and ports.
func (s *EndpointsSpec) Validate() error {
	for i, sub := range s.Subsets {
		field := fmt.Sprintf("spec.subsets[%d]", i)
		for kind, addrs := range map[string][]EndpointAddress{"addresses": sub.Addresses, "notReadyAddresses": sub.NotReadyAddresses} {
			for j, a := range addrs {
				if _, err := netip.ParseAddr(a.IP); err != nil {
					return errdefs.Invalidf(fmt.Sprintf("%s.%s[%d].ip", field, kind, j), "%q is not an IP address", a.IP)
				}
			}
		}
		for j, p := range sub.Ports {
			pf := fmt.Sprintf("%s.ports[%d]", field, j)
			if p.Port < 1 || p.Port > 65535 {
				return errdefs.Invalidf(pf+".port", "must be between 1 and 65535")
			}
			switch p.Protocol {
			case "", "TCP", "UDP":
			default:
				return errdefs.Invalidf(pf+".protocol", "must be TCP or UDP")
			}
		}
	}
	return nil
}

// Plural names.
const (
	ServicesResource  = "services"
	EndpointsResource = "endpoints"
)

// DefaultServiceCIDR is the service network cluster IPs come from, as in
// OpenShift.
const DefaultServiceCIDR = "172.30.0.0/16"
