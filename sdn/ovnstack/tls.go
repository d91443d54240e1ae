package ovnstack

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// TLSFiles are the PEM files an OVSDB connection over SSL is made with: the
// daemon's (or client's) own key and certificate, and the CA certificate
// its peer's must chain to. OVS verifies the chain, not the names.
type TLSFiles struct {
	PrivateKey, Certificate, CACert string
}

// WriteTLSFiles writes a key, its certificate and the CA certificate (PEM)
// as key.pem, cert.pem and ca.pem under dir, readable by root only.
func WriteTLSFiles(dir string, key, cert, ca []byte) (*TLSFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("OVSDB TLS files: %w", err)
	}
	f := &TLSFiles{PrivateKey: filepath.Join(dir, "key.pem"), Certificate: filepath.Join(dir, "cert.pem"), CACert: filepath.Join(dir, "ca.pem")}
	for path, data := range map[string][]byte{f.PrivateKey: key, f.Certificate: cert, f.CACert: ca} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("OVSDB TLS files: %w", err)
		}
	}
	return f, nil
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
