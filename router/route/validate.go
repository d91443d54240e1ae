package route

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// ErrInvalid classes a route the router cannot serve as written.
var ErrInvalid = errors.New("invalid route")

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	hostName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// A path is what HAProxy's path fetch yields: no spaces, no query, no
	// fragment, nothing that would break a map file line.
	pathPattern = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`)
)

// maxTimeout stays well inside HAProxy's limit (2^31 ms).
const maxTimeout = 24 * time.Hour

// Validate reports, wrapped in ErrInvalid, the first reason r cannot be
// served. It parses certificates and keys so that one tenant's bad material
// is rejected here instead of failing the whole HAProxy configuration.
func Validate(r *Route) error {
	if err := validate(r); err != nil {
		return fmt.Errorf("route %s: %w: %w", r.Key(), ErrInvalid, err)
	}
	return nil
}

func validate(r *Route) error {
	if !dnsLabel.MatchString(r.Project) {
		return fmt.Errorf("project %q is not a DNS-1123 label", r.Project)
	}
	if !dnsLabel.MatchString(r.Name) {
		return fmt.Errorf("name %q is not a DNS-1123 label", r.Name)
	}
	if len(r.Host) > 253 || !hostName.MatchString(r.Host) {
		return fmt.Errorf("host %q is not a lower-case DNS name", r.Host)
	}
	if r.Path != "" && !pathPattern.MatchString(r.Path) {
		return fmt.Errorf("path %q must start with / and hold only URL path characters", r.Path)
	}
	switch r.Balance {
	case "", BalanceRoundRobin, BalanceLeastConn, BalanceSource:
	default:
		return fmt.Errorf("balance %q is not one of roundrobin, leastconn, source", r.Balance)
	}
	if r.Timeout < 0 || r.Timeout > maxTimeout {
		return fmt.Errorf("timeout %s is outside 0..%s", r.Timeout, maxTimeout)
	}
	if strings.ContainsAny(r.HSTS, "\"\\\r\n") {
		return fmt.Errorf("HSTS value %q holds quotes, backslashes or line breaks", r.HSTS)
	}
	if err := validateTLS(r); err != nil {
		return err
	}
	if len(r.Backends) == 0 {
		return errors.New("no backend service")
	}
	seen := map[string]bool{}
	for i := range r.Backends {
		b := &r.Backends[i]
		if !dnsLabel.MatchString(b.Name) {
			return fmt.Errorf("backend name %q is not a DNS-1123 label", b.Name)
		}
		if seen[b.Name] {
			return fmt.Errorf("backend %q listed twice", b.Name)
		}
		seen[b.Name] = true
		if w := b.EffectiveWeight(); w < 0 || w > MaxWeight {
			return fmt.Errorf("backend %q: weight %d outside 0..%d", b.Name, w, MaxWeight)
		}
		for _, e := range b.Endpoints {
			if _, err := e.AddrPort(); err != nil {
				return fmt.Errorf("backend %q: %w", b.Name, err)
			}
		}
	}
	return nil
}

func validateTLS(r *Route) error {
	t := r.TLS
	if t == nil {
		if r.HSTS != "" {
			return errors.New("HSTS needs TLS")
		}
		return nil
	}
	switch t.InsecureEdgeTerminationPolicy {
	case "", InsecureNone, InsecureRedirect:
	case InsecureAllow:
		if t.Termination == TerminationPassthrough {
			return errors.New("insecure policy Allow is not possible with passthrough termination")
		}
	default:
		return fmt.Errorf("insecure policy %q is not one of None, Allow, Redirect", t.InsecureEdgeTerminationPolicy)
	}
	switch t.Termination {
	case TerminationPassthrough:
		if r.Path != "" {
			return errors.New("passthrough routes cannot have a path: the router sees only the SNI")
		}
		if r.Sticky {
			return errors.New("passthrough routes cannot use sticky cookies; use balance source")
		}
		if r.HSTS != "" || t.Certificate != "" || t.Key != "" || t.CACertificate != "" || t.DestinationCACertificate != "" {
			return errors.New("passthrough routes carry no certificates and no HSTS header")
		}
		return nil
	case TerminationEdge, TerminationReencrypt:
	default:
		return fmt.Errorf("termination %q is not one of edge, passthrough, reencrypt", t.Termination)
	}
	if t.DestinationCACertificate != "" {
		if t.Termination != TerminationReencrypt {
			return errors.New("a destination CA certificate needs reencrypt termination")
		}
		if err := parseCertificates("destination CA certificate", t.DestinationCACertificate); err != nil {
			return err
		}
	}
	if (t.Certificate == "") != (t.Key == "") {
		return errors.New("certificate and key go together")
	}
	if t.Certificate == "" {
		if t.CACertificate != "" {
			return errors.New("a CA certificate needs a certificate")
		}
		return nil
	}
	if strings.Contains(t.Key, "ENCRYPTED") {
		return errors.New("encrypted private keys are not supported")
	}
	if _, err := tls.X509KeyPair([]byte(t.Certificate), []byte(t.Key)); err != nil {
		return fmt.Errorf("certificate and key: %w", err)
	}
	if t.CACertificate != "" {
		if err := parseCertificates("CA certificate", t.CACertificate); err != nil {
			return err
		}
	}
	return nil
}

func parseCertificates(what, data string) error {
	rest := []byte(data)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("%s: unexpected PEM block %q", what, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("%s: not a sequence of PEM certificates", what)
	}
	return nil
}

// AddrPort parses the endpoint's address.
func (e Endpoint) AddrPort() (netip.AddrPort, error) {
	ip, err := netip.ParseAddr(e.IP)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: IP %q is not an IPv4 or IPv6 address", e.Name, e.IP)
	}
	if e.Port < 1 || e.Port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: port %d outside 1..65535", e.Name, e.Port)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(e.Port)), nil
}
