package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// Authority signs certificates with the cluster's CA: node agents' serving
// certificates (from their certificate requests) and the API server's
// client certificate for calling node agents.
type Authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// LoadAuthority reads the CA written by Ensure.
func (f Files) LoadAuthority() (*Authority, error) {
	cert, key, err := loadPair(f.CACert, f.CAKey)
	if err != nil {
		return nil, fmt.Errorf("load certificate authority: %w", err)
	}
	return &Authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// CACertPEM is the CA certificate clients and agents trust.
func (a *Authority) CACertPEM() []byte { return a.pem }

// Pool is a certificate pool holding the CA.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// nodeCertLifetime is how long a node's serving certificate lasts; agents
// renew it at start-up and when it nears expiry.
const nodeCertLifetime = 90 * 24 * time.Hour

// SignNodeServing signs a node agent's certificate request for serving
// its endpoints: the subject and names come from the request, usage is
// restricted to serving.
func (a *Authority) SignNodeServing(csrPEM []byte, node string, now time.Time) ([]byte, error) {
	return a.signNode(csrPEM, node, x509.ExtKeyUsageServerAuth, now)
}

// SignNodeClient signs a node's certificate request for a client
// certificate, usage restricted to that: the node's OVN chassis presents it
// to the Southbound database.
func (a *Authority) SignNodeClient(csrPEM []byte, node string, now time.Time) ([]byte, error) {
	return a.signNode(csrPEM, node, x509.ExtKeyUsageClientAuth, now)
}

func (a *Authority) signNode(csrPEM []byte, node string, usage x509.ExtKeyUsage, now time.Time) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errdefs.BadRequestf("csr", "must be a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, errdefs.BadRequestf("csr", "unreadable certificate request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errdefs.BadRequestf("csr", "bad signature: %v", err)
	}
	if len(csr.DNSNames)+len(csr.IPAddresses) == 0 || len(csr.DNSNames)+len(csr.IPAddresses) > 16 {
		return nil, errdefs.Invalidf("csr", "must name 1 to 16 DNS names or IP addresses")
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "system:node:" + node, Organization: []string{"Slipway nodes"}},
		DNSNames:     csr.DNSNames,
		IPAddresses:  csr.IPAddresses,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(nodeCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, csr.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("sign node certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// APIServerClientCN is the name node agents require of their callers.
const APIServerClientCN = "slipway-apiserver"

// ClientCertificate issues a short-lived client certificate with the given
// common name (the API server's, for calling node agents).
func (a *Authority) ClientCertificate(cn string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	sn, err := serial()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Slipway"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// NewCertificateRequest makes a key and a certificate request for the
// given names; the agent side of SignNodeServing.
func NewCertificateRequest(names []string, ips []string) (csrPEM []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "slipway-node"}, DNSNames: names}
	for _, ip := range ips {
		if parsed := parseIP(ip); parsed != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, parsed)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), key, nil
}

// IssueServing issues a serving certificate for hosts (DNS names, wildcards
// allowed, or IP addresses) signed by the CA, returned as PEM certificate
// and key: the router's default certificate for the apps domain.
func (a *Authority) IssueServing(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	cert, key, err := newServing(a.cert, a.key, hosts, now)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
