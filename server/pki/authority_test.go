package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

func TestNodeServingAndClientCertificates(t *testing.T) {
	now := time.Now()
	f, err := Ensure(t.TempDir(), []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := f.LoadAuthority()
	if err != nil {
		t.Fatal(err)
	}
	csr, _, err := NewCertificateRequest([]string{"node-1"}, []string{"10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNodeServing(csr, "node-1", now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "10.0.0.5", Roots: ca.Pool()}); err != nil {
		t.Fatalf("node certificate does not verify for its IP: %v", err)
	}
	if cert.Subject.CommonName != "system:node:node-1" {
		t.Fatalf("subject %q", cert.Subject.CommonName)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("a node serving certificate verifies as a client certificate")
	}
	// The node's OVN client certificate: a client, never a server.
	clientPEM, err := ca.SignNodeClient(csr, "node-1", now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(clientPEM)
	nodeClient, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeClient.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("node client certificate: %v", err)
	}
	if _, err := nodeClient.Verify(x509.VerifyOptions{DNSName: "10.0.0.5", Roots: ca.Pool()}); err == nil {
		t.Fatal("a node client certificate verifies as a serving certificate")
	}
	client, err := ca.ClientCertificate(APIServerClientCN, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(client.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate: %v", err)
	}

	for name, bad := range map[string][]byte{"not PEM": []byte("junk"), "wrong block": certPEM} {
		if _, err := ca.SignNodeServing(bad, "n", now); !errors.Is(err, errdefs.ErrBadRequest) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
