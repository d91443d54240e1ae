package ovnstack

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles are the PEM files an OVSDB connection over SSL is made with: the
// daemon's (or client's) own key and certificate, and the CA certificate
// its peer's must chain to. OVS verifies the chain, not the names.
type TLSFiles struct {
	PrivateKey, Certificate, CACert string
}

// args are the OVS daemons' options for the files.
func (f TLSFiles) args() []string {
	return []string{"--private-key=" + f.PrivateKey, "--certificate=" + f.Certificate, "--ca-cert=" + f.CACert}
}

// ClientConfig is the TLS configuration of Slipway's own OVSDB client for
// the files: it presents the certificate and accepts a server whose
// serving certificate the CA signed. Like OVS it does not match names: a
// database listening on 0.0.0.0 is reached by whichever address routes.
func (f TLSFiles) ClientConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Certificate, f.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("OVSDB TLS key pair: %w", err)
	}
	caPEM, err := os.ReadFile(f.CACert)
	if err != nil {
		return nil, fmt.Errorf("OVSDB TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("OVSDB TLS CA: no certificate in " + f.CACert)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// The chain is verified below, against the CA only, for serving.
		InsecureSkipVerify: true, //nolint:gosec // names are not checked, the chain is
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the OVSDB server presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		},
	}, nil
}
